# -*- coding: utf-8 -*-
"""Re-export of the loopback helpers, which live in ``tests/helpers/loopback.py`` now.

Kept for the unit tests that import ``helpers_common`` directly (``tests/unit`` is on their
path under pytest and ansible-test alike); new code imports
``ansible_collections.medimg.pacs.tests.helpers.loopback``.
"""
from __future__ import absolute_import, division, print_function

from ansible_collections.medimg.pacs.tests.helpers.loopback import (  # noqa: F401  pylint: disable=unused-import
    LoopbackHttpServer,
    free_port,
    make_handler,
    self_signed_cert,
    server_tls_context,
)

__all__ = ['LoopbackHttpServer', 'free_port', 'make_handler', 'self_signed_cert', 'server_tls_context']
