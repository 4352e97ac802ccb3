# -*- coding: utf-8 -*-
"""Tiny loopback HTTP(S) servers for failure cases (HTML answer, self-signed TLS).

Built on :mod:`.loopback` (shared with the unit tests).
"""
from __future__ import absolute_import, division, print_function

from .loopback import LoopbackHttpServer, make_handler, self_signed_cert, server_tls_context


class LoopbackServer(LoopbackHttpServer):
    """Answers every GET and POST with the same ``status``, ``content_type`` and ``body``."""

    def __init__(self, status, content_type, body, tls_context=None):
        def respond(_handler):
            return status, {'Content-Type': content_type}, body

        super(LoopbackServer, self).__init__(make_handler(respond, methods=('GET', 'POST')), tls_context)


def self_signed_context(workdir):
    """SSL server context with a freshly generated self-signed certificate; returns (context, cert_path)."""
    cert_path, key_path = self_signed_cert(workdir, u'medimg-integration-selfsigned', ca=False,
                                           cert_name='selfsigned.pem', key_name='selfsigned.key')
    return server_tls_context(cert_path, key_path), cert_path
