# -*- coding: utf-8 -*-
"""Loopback helpers shared by the unit tests and the integration tests.

Plain functions and classes, no pytest fixtures. Import it as
``ansible_collections.medimg.pacs.tests.helpers.loopback`` (works under ``ansible-test units``
and plain pytest alike; ``tests/unit/helpers_common.py`` re-exports it for older imports).

* :func:`free_port` - a loopback TCP port nothing listens on.
* :class:`LoopbackHttpServer` - a threaded HTTP(S) server on 127.0.0.1 in a daemon thread.
* :func:`make_handler` - a request handler class answering through a ``respond`` callback.
* :func:`self_signed_cert` / :func:`server_tls_context` - a throw-away certificate and the
  server side TLS context using it (needs ``cryptography``; callers skip without it).
"""

from __future__ import absolute_import, division, print_function

import datetime
import ipaddress
import os
import socket
import ssl
import threading

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on (bound, then closed)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


class LoopbackHttpServer:
    """``handler_class`` served on 127.0.0.1 (a free port) in a daemon thread; HTTPS with ``tls_context``."""

    def __init__(self, handler_class, tls_context=None, poll_interval=0.1):
        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), handler_class)
        self.httpd.daemon_threads = True
        self.scheme = 'http'
        if tls_context is not None:
            self.httpd.socket = tls_context.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = 'https'
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={'poll_interval': poll_interval})
        self.thread.daemon = True
        self.thread.start()

    @property
    def base(self):
        return '%s://127.0.0.1:%d' % (self.scheme, self.port)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def make_handler(respond, methods=('GET', 'POST', 'PUT', 'DELETE')):
    """Handler class calling ``respond(handler) -> (status, headers, body_bytes)`` for each of ``methods``.

    The request body is read first and kept in ``handler.request_body``.
    """

    class Handler(BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'

        def log_message(self, *args):  # keep pytest output clean
            pass

        def _handle(self):
            length = int(self.headers.get('Content-Length') or 0)
            self.request_body = self.rfile.read(length) if length else b''
            status, headers, body = respond(self)
            try:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                pass

    for method in methods:
        setattr(Handler, 'do_' + method, Handler._handle)
    return Handler


def self_signed_cert(directory, common_name, ca=True, dns_names=(), cert_name='cert.pem', key_name='key.pem'):
    """Write a fresh self-signed EC certificate for 127.0.0.1 (plus ``dns_names``) and its key.

    With ``ca`` the certificate carries ``BasicConstraints(ca=True)``, so it also serves as its own
    trust anchor (``ca_path``). Returns ``(cert_path, key_path)``.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    alt_names = [x509.DNSName(dns_name) for dns_name in dns_names]
    alt_names.append(x509.IPAddress(ipaddress.ip_address(u'127.0.0.1')))
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.SubjectAlternativeName(alt_names), critical=False))
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    cert = builder.sign(key, hashes.SHA256())
    cert_path = os.path.join(str(directory), cert_name)
    key_path = os.path.join(str(directory), key_name)
    with open(cert_path, 'wb') as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, 'wb') as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return cert_path, key_path


def server_tls_context(cert_path, key_path):
    """Server side TLS context presenting ``cert_path``/``key_path``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context
