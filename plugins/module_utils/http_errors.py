# -*- coding: utf-8 -*-
# Copyright: medimg.pacs maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Error kinds, URL checks and the one mapping of HTTP failures to :class:`DicomWebError`.

Part of the HTTP layer (:mod:`http_client` uses it). Every failure has a ``kind`` (one of the
``KIND_*`` constants, listed in the modules' RETURN documentation) and a message for a human
operator; credentials never appear in a message (URLs are shown without user info).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
import socket
import ssl

from http.client import HTTPException
from urllib.parse import quote, urlencode, urlsplit

KIND_INVALID_URL = 'invalid_url'
KIND_REFUSED = 'connection_refused'
KIND_DNS = 'dns'
KIND_TIMEOUT = 'timeout'
KIND_TLS = 'tls'
KIND_CONNECTION = 'connection'
KIND_UNAUTHORIZED = 'unauthorized'
KIND_FORBIDDEN = 'forbidden'
KIND_NOT_FOUND = 'not_found'
KIND_HTTP = 'http_error'
KIND_SERVER_ERROR = 'server_error'
KIND_NOT_DICOMWEB = 'not_dicomweb'
KIND_PROTOCOL = 'protocol'

#: transport failures worth another try (a service starting up, a dropped connection)
TRANSIENT_KINDS = frozenset([KIND_REFUSED, KIND_DNS, KIND_TIMEOUT, KIND_CONNECTION])
#: HTTP answers worth another try (overloaded or restarting server, proxy without upstream)
TRANSIENT_STATUSES = frozenset([408, 429, 502, 503, 504])


class DicomWebError(Exception):
    """A classified HTTP/DICOMweb failure with a human readable message."""

    def __init__(self, kind, message, url=None, status=None, body=None):
        super(DicomWebError, self).__init__(message)
        self.kind = kind
        self.message = message
        self.url = url
        self.status = status
        self.body = body

    def to_dict(self):
        result = {'kind': self.kind, 'msg': self.message}
        if self.status is not None:
            result['http_status'] = self.status
        return result


# --------------------------------------------------------------------------------------------
# URLs
# --------------------------------------------------------------------------------------------
def validate_url(url, what='url'):
    """Return an error message for a malformed HTTP(S) URL, None when it is usable."""
    if url is None or not isinstance(url, str) or not url.strip():
        return '%s is empty; expected something like http://pacs.example.org:8042/dicom-web' % what
    if url != url.strip() or re.search(r'\s', url):
        return '%s %r contains white space' % (what, redact_url(url))
    shown = redact_url(url)
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return '%s %r is not a valid URL: %s' % (what, shown, exc)
    if parts.scheme not in ('http', 'https'):
        if not parts.scheme:
            return '%s %r has no scheme; write it as http://HOST[:PORT]/PATH or https://...' % (what, shown)
        return '%s %r uses the scheme %r; only http and https are supported' % (what, shown, parts.scheme)
    if not parts.netloc or not parts.hostname:
        return '%s %r has no host name; write it as %s://HOST[:PORT]/PATH' % (what, shown, parts.scheme)
    try:
        port = parts.port
    except ValueError:
        return '%s %r has an invalid port; the port must be a number from 1 to 65535' % (what, shown)
    if port is not None and not 1 <= port <= 65535:
        return '%s %r has the port %d; the port must be from 1 to 65535' % (what, shown, port)
    if not re.match(r'^[A-Za-z0-9._:\-\[\]%]+$', parts.hostname):
        return '%s %r has an invalid host name %r' % (what, shown, parts.hostname)
    if parts.fragment:
        return '%s %r must not contain a fragment (#...)' % (what, shown)
    return None


def redact_url(url):
    """``url`` without user name and password (for messages)."""
    if not isinstance(url, str) or '@' not in url:
        return url
    return re.sub(r'^([A-Za-z][A-Za-z0-9+.\-]*://)[^/@]*@', r'\1', url)


def join_url(base, *segments, **query):
    """Join a base URL and path segments (each URL-quoted) plus an optional query."""
    url = base.rstrip('/')
    for segment in segments:
        url += '/' + quote(str(segment), safe='')
    params = [(k, v) for k, v in sorted(query.items()) if v is not None]
    if params:
        url += '?' + urlencode(params)
    return url


def _host_port(url):
    try:
        parts = urlsplit(url)
        return parts.hostname, parts.port or (443 if parts.scheme == 'https' else 80)
    except ValueError:
        return redact_url(url), None


# --------------------------------------------------------------------------------------------
# Error mapping
# --------------------------------------------------------------------------------------------
def looks_like_html(body, content_type):
    if 'html' in (content_type or '').lower():
        return True
    head = (body or b'')[:512].lstrip().lower()
    return head.startswith(b'<!doctype html') or head.startswith(b'<html')


def _detail(body, content_type):
    text = (body or b'')[:2000].decode('utf-8', 'replace').strip()
    if not text or looks_like_html(body, content_type):
        return ''
    try:
        parsed = json.loads(text)
    except ValueError:
        return text.splitlines()[0][:200]
    if isinstance(parsed, dict):
        return str(parsed.get('Details') or parsed.get('Message') or parsed.get('errorMessage') or '')
    return ''


def http_error(url, status, reason=None, body=None, headers=None):
    """The DicomWebError for a non-success HTTP answer (3xx not followed, 4xx, 5xx)."""
    headers = headers or {}
    shown = redact_url(url)
    detail = _detail(body, headers.get('content-type'))
    suffix = (': %s' % detail) if detail else ''
    if 300 <= status < 400:
        return DicomWebError(
            KIND_HTTP, 'HTTP %d redirect from %s to %s: the redirect was not followed; set the URL to the final '
                       'address' % (status, shown, redact_url(headers.get('location')) or '(no Location header)'),
            url, status, body)
    if status == 401:
        return DicomWebError(
            KIND_UNAUTHORIZED,
            'HTTP 401 Unauthorized from %s: the server rejected the credentials (or none were sent); '
            'check url_username/url_password or bearer_token%s' % (shown, suffix), url, status, body)
    if status == 403:
        return DicomWebError(
            KIND_FORBIDDEN, 'HTTP 403 Forbidden from %s: the credentials were accepted but this user may not use '
                            'this resource%s' % (shown, suffix), url, status, body)
    if status == 404:
        host, port = _host_port(url)
        return DicomWebError(
            KIND_NOT_FOUND, 'HTTP 404 Not Found: %s does not exist on %s:%s; check the path (Orthanc DICOMweb root: '
                            '/dicom-web, DCM4CHEE: /dcm4chee-arc/aets/<AET>/rs)%s' % (shown, host, port, suffix),
            url, status, body)
    if status >= 500:
        return DicomWebError(
            KIND_SERVER_ERROR, 'HTTP %d %s from %s: the server failed to process the request%s'
            % (status, reason or '', shown, suffix), url, status, body)
    return DicomWebError(KIND_HTTP, 'HTTP %d %s from %s%s' % (status, reason or '', shown, suffix), url, status, body)


def classify_exception(exc, url, timeout=None):
    """Turn an exception raised while talking HTTP to ``url`` into a DicomWebError."""
    if isinstance(exc, DicomWebError):
        return exc
    host, port = _host_port(url)
    where = '%s:%s' % (host, port)
    if isinstance(exc, ssl.SSLCertVerificationError) or 'CERTIFICATE_VERIFY_FAILED' in str(exc):
        detail = getattr(exc, 'verify_message', None) or getattr(exc, 'reason', None) or str(exc)
        return DicomWebError(
            KIND_TLS, 'TLS certificate verification failed for %s (%s): the server certificate is not trusted. '
                      'Set ca_path to the CA bundle that signed it (or validate_certs=false for a test system)'
                      % (where, detail), url)
    if isinstance(exc, (ssl.SSLError, ssl.CertificateError)):
        detail = getattr(exc, 'reason', None) or str(exc)
        return DicomWebError(KIND_TLS, 'TLS handshake with %s failed: %s (is it really an https port?)'
                             % (where, detail), url)
    if isinstance(exc, ConnectionRefusedError):
        return DicomWebError(
            KIND_REFUSED, 'Connection refused by %s: nothing is listening on that port (is the service running, '
                          'and are host and port right?)' % where, url)
    if isinstance(exc, socket.gaierror):
        return DicomWebError(
            KIND_DNS, 'Cannot resolve the host name %r (DNS lookup failed: %s); check the host name in the URL'
            % (host, exc.strerror or exc), url)
    if isinstance(exc, (socket.timeout, TimeoutError)) or 'timed out' in str(exc).lower():
        return DicomWebError(
            KIND_TIMEOUT, 'No answer from %s within %s seconds (timeout); the service is down, overloaded or '
                          'filtered by a firewall' % (where, timeout if timeout is not None else '?'), url)
    if isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, HTTPException)):
        return DicomWebError(
            KIND_CONNECTION, 'The connection to %s was closed before a complete HTTP answer arrived (%s: %s); is '
                             'it an HTTP port?' % (where, type(exc).__name__, exc), url)
    if isinstance(exc, OSError):
        return DicomWebError(KIND_CONNECTION, 'Cannot connect to %s: %s' % (where, exc.strerror or exc), url)
    return DicomWebError(KIND_CONNECTION, 'Request to %s failed: %s: %s'
                         % (redact_url(url), type(exc).__name__, exc), url)
