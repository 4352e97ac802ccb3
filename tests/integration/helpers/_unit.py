# -*- coding: utf-8 -*-
"""Re-export of ``tests/unit/helpers_common.py`` for the integration helpers.

``ansible-test units`` copies only ``tests/unit``, so the shared loopback helpers live
there; this puts ``tests/unit`` on ``sys.path`` and imports them.
"""
from __future__ import absolute_import, division, print_function

import os
import sys

_UNIT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'unit')
if _UNIT not in sys.path:
    sys.path.insert(0, _UNIT)

# pylint: disable-next=wrong-import-position,unused-import
from helpers_common import LoopbackHttpServer, free_port, make_handler, self_signed_cert, server_tls_context  # noqa: E402,F401
