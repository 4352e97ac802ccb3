# -*- coding: utf-8 -*-
# Copyright: medimg.pacs maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP / DICOMweb client used by the medimg.pacs modules.

Only the Python standard library and ``ansible.module_utils`` are used, so the
code runs on any managed host (no ``requests``, no ``pydicom`` needed).

* :class:`HttpClient` wraps :class:`ansible.module_utils.urls.Request` with
  basic or bearer authentication, CA bundle / certificate validation,
  timeouts and retries with a delay.
* Every failure becomes a :class:`DicomWebError` whose ``kind`` is one of the
  ``KIND_*`` constants and whose message is written for a human operator.
* QIDO-RS, WADO-RS, STOW-RS helpers, multipart/related building and parsing,
  deletion through the Orthanc or DCM4CHEE REST APIs, and a generated minimal
  test instance (see :func:`build_test_instance`).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import re
import socket
import ssl
import struct
import time
import uuid

from http.client import HTTPException
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode, urlsplit

from ansible.module_utils.urls import Request, SSLValidationError
from ansible.module_utils.urls import ConnectionError as UrlsConnectionError

# --------------------------------------------------------------------------
# Failure classification
# --------------------------------------------------------------------------
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

#: failures worth another try when the caller asked for retries (service starting up)
RETRYABLE_KINDS = frozenset([KIND_REFUSED, KIND_DNS, KIND_TIMEOUT, KIND_CONNECTION,
                             KIND_SERVER_ERROR])

DICOM_JSON_TYPES = ('application/dicom+json', 'application/json')


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


def validate_url(url, what='url'):
    """Return an error message for a malformed HTTP(S) URL, None when it is usable."""
    if url is None or not isinstance(url, str) or not url.strip():
        return '%s is empty; expected something like http://pacs.example.org:8042/dicom-web' % what
    if url != url.strip() or re.search(r'\s', url):
        return '%s %r contains white space' % (what, url)
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return '%s %r is not a valid URL: %s' % (what, url, exc)
    if parts.scheme not in ('http', 'https'):
        if not parts.scheme:
            return ('%s %r has no scheme; write it as http://HOST[:PORT]/PATH or https://...'
                    % (what, url))
        return '%s %r uses the scheme %r; only http and https are supported' % (what, url, parts.scheme)
    if not parts.netloc or not parts.hostname:
        return '%s %r has no host name; write it as %s://HOST[:PORT]/PATH' % (what, url, parts.scheme)
    try:
        port = parts.port
    except ValueError:
        return '%s %r has an invalid port; the port must be a number from 1 to 65535' % (what, url)
    if port is not None and not 1 <= port <= 65535:
        return '%s %r has the port %d; the port must be from 1 to 65535' % (what, url, port)
    host = parts.hostname
    if not re.match(r'^[A-Za-z0-9._:\-\[\]%]+$', host):
        return '%s %r has an invalid host name %r' % (what, url, host)
    if parts.fragment:
        return '%s %r must not contain a fragment (#...)' % (what, url)
    return None


def _host_port(url):
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == 'https' else 80)
        return parts.hostname, port
    except ValueError:
        return url, None


def _looks_like_html(body, content_type):
    ctype = (content_type or '').lower()
    if 'html' in ctype:
        return True
    head = (body or b'')[:512].lstrip().lower()
    return head.startswith(b'<!doctype html') or head.startswith(b'<html')


def _unwrap_reason(exc):
    """Follow URLError.reason / __cause__ to the innermost exception."""
    seen = 0
    current = exc
    while seen < 5:
        seen += 1
        reason = getattr(current, 'reason', None)
        if isinstance(reason, BaseException):
            current = reason
            continue
        cause = getattr(current, '__cause__', None)
        if isinstance(cause, BaseException) and not isinstance(current, (ssl.SSLError, OSError)):
            current = cause
            continue
        break
    return current


def _http_error(url, status, reason, body, content_type):
    host, port = _host_port(url)
    detail = ''
    text = (body or b'')[:2000].decode('utf-8', 'replace')
    if text and not _looks_like_html(body, content_type):
        try:
            parsed = json.loads(text)
            if isinstance(parsed, dict):
                detail = parsed.get('Details') or parsed.get('Message') or parsed.get('errorMessage') or ''
        except ValueError:
            detail = text.strip().splitlines()[0][:200] if text.strip() else ''
    suffix = (': %s' % detail) if detail else ''
    if status == 401:
        return DicomWebError(
            KIND_UNAUTHORIZED,
            'HTTP 401 Unauthorized from %s: the server rejected the credentials (or none were sent); '
            'check url_username/url_password or bearer_token%s' % (url, suffix), url, status, body)
    if status == 403:
        return DicomWebError(
            KIND_FORBIDDEN,
            'HTTP 403 Forbidden from %s: the credentials were accepted but this user may not use this '
            'resource%s' % (url, suffix), url, status, body)
    if status == 404:
        return DicomWebError(
            KIND_NOT_FOUND,
            'HTTP 404 Not Found: %s does not exist on %s:%s; check the path (Orthanc DICOMweb root: '
            '/dicom-web, DCM4CHEE: /dcm4chee-arc/aets/<AET>/rs)%s' % (url, host, port, suffix),
            url, status, body)
    if status >= 500:
        return DicomWebError(
            KIND_SERVER_ERROR,
            'HTTP %d %s from %s: the server failed to process the request%s'
            % (status, reason or '', url, suffix), url, status, body)
    return DicomWebError(KIND_HTTP, 'HTTP %d %s from %s%s' % (status, reason or '', url, suffix),
                         url, status, body)


def classify_exception(exc, url, timeout=None):
    """Turn any exception raised while talking HTTP to ``url`` into a DicomWebError."""
    if isinstance(exc, DicomWebError):
        return exc
    host, port = _host_port(url)
    where = '%s:%s' % (host, port)
    if isinstance(exc, HTTPError):
        try:
            body = exc.read()
        except Exception:  # pylint: disable=broad-except
            body = b''
        ctype = exc.headers.get('Content-Type', '') if exc.headers is not None else ''
        return _http_error(url, exc.code, exc.reason, body, ctype)
    inner = _unwrap_reason(exc)
    if isinstance(inner, (ssl.SSLError, ssl.CertificateError)) or isinstance(exc, SSLValidationError):
        detail = getattr(inner, 'verify_message', None) or getattr(inner, 'reason', None) or str(inner)
        if isinstance(exc, SSLValidationError) and not isinstance(inner, ssl.SSLError):
            detail = str(exc).splitlines()[0]
        verify = isinstance(inner, getattr(ssl, 'SSLCertVerificationError', ())) or \
            'CERTIFICATE_VERIFY_FAILED' in str(inner) or isinstance(exc, SSLValidationError)
        if verify:
            return DicomWebError(
                KIND_TLS,
                'TLS certificate verification failed for %s (%s): the server certificate is not trusted. '
                'Set ca_path to the CA bundle that signed it (or validate_certs=false for a test system)'
                % (where, detail), url)
        return DicomWebError(KIND_TLS, 'TLS handshake with %s failed: %s (is it really an https '
                                       'port?)' % (where, detail), url)
    if isinstance(inner, ConnectionRefusedError):
        return DicomWebError(
            KIND_REFUSED,
            'Connection refused by %s: nothing is listening on that port (is the service running, '
            'and are host and port right?)' % where, url)
    if isinstance(inner, socket.gaierror):
        return DicomWebError(
            KIND_DNS,
            'Cannot resolve the host name %r (DNS lookup failed: %s); check the host name in the URL'
            % (host, getattr(inner, 'strerror', None) or inner), url)
    if isinstance(inner, (socket.timeout, TimeoutError)) or 'timed out' in str(inner).lower():
        return DicomWebError(
            KIND_TIMEOUT,
            'No answer from %s within %s seconds (timeout); the service is down, overloaded or '
            'filtered by a firewall' % (where, timeout if timeout is not None else '?'), url)
    if isinstance(inner, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)) or \
            isinstance(inner, HTTPException):
        return DicomWebError(
            KIND_CONNECTION,
            'The connection to %s was closed before a complete HTTP answer arrived (%s: %s); is it '
            'an HTTP port?' % (where, type(inner).__name__, inner), url)
    if isinstance(inner, OSError):
        return DicomWebError(
            KIND_CONNECTION, 'Cannot connect to %s: %s' % (where, getattr(inner, 'strerror', None) or inner),
            url)
    if isinstance(exc, (URLError, UrlsConnectionError)):
        return DicomWebError(KIND_CONNECTION, 'Cannot connect to %s: %s' % (where, inner), url)
    return DicomWebError(KIND_CONNECTION, 'Request to %s failed: %s: %s'
                         % (url, type(exc).__name__, exc), url)


# --------------------------------------------------------------------------
# HTTP client
# --------------------------------------------------------------------------
class HttpResponse:
    """A complete HTTP answer (body already read)."""

    def __init__(self, url, status, headers, body, latency_ms, attempts=1):
        self.url = url
        self.status = status
        self.headers = dict((k.lower(), v) for k, v in (headers or {}).items())
        self.body = body or b''
        self.latency_ms = latency_ms
        self.attempts = attempts

    @property
    def content_type(self):
        return self.headers.get('content-type', '')

    def json(self, what='answer'):
        """Decode a JSON body, raising KIND_NOT_DICOMWEB/KIND_PROTOCOL errors on HTML/garbage."""
        if _looks_like_html(self.body, self.content_type):
            raise DicomWebError(
                KIND_NOT_DICOMWEB,
                'The server at %s answered with an HTML page (Content-Type %r) instead of JSON: this '
                'is not a DICOMweb service (wrong URL, a web UI or a login/proxy page?)'
                % (self.url, self.content_type or 'none'), self.url, self.status, self.body)
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body.decode('utf-8'))
        except (ValueError, UnicodeDecodeError):
            raise DicomWebError(
                KIND_NOT_DICOMWEB,
                'The %s from %s is not JSON (Content-Type %r, starts with %r): this is not a DICOMweb '
                'service' % (what, self.url, self.content_type or 'none', self.body[:40]),
                self.url, self.status, self.body)


def http_auth_argument_spec():
    """Fresh argument spec of the HTTP authentication options (user name, password, bearer token)."""
    return dict(
        url_username=dict(type='str'),
        url_password=dict(type='str', no_log=True),
        bearer_token=dict(type='str', no_log=True),
    )


def http_argument_spec(retry=False):
    """Fresh argument spec of the options documented by the ``medimg.pacs.http`` doc fragment,
    with ``retry=True`` also those of ``medimg.pacs.http.retry`` (timeout, retries, delay)."""
    spec = http_auth_argument_spec()
    spec.update(
        validate_certs=dict(type='bool', default=True),
        ca_path=dict(type='path'),
    )
    if retry:
        spec.update(
            timeout=dict(type='int', default=10),
            retries=dict(type='int', default=0),
            delay=dict(type='int', default=3),
        )
    return spec


def http_client_from_params(params):
    """:class:`HttpClient` built from the module parameters of ``http_argument_spec(retry=True)``
    (``use_proxy`` is honoured when the module has it)."""
    return HttpClient(username=params['url_username'], password=params['url_password'],
                      bearer_token=params['bearer_token'], validate_certs=params['validate_certs'],
                      ca_path=params['ca_path'], timeout=params['timeout'], retries=params['retries'],
                      delay=params['delay'], use_proxy=params.get('use_proxy', True))


class HttpClient:
    """Small HTTP client on top of ansible.module_utils.urls.Request."""

    def __init__(self, username=None, password=None, bearer_token=None, validate_certs=True,
                 ca_path=None, timeout=10, retries=0, delay=2, client_cert=None, client_key=None,
                 use_proxy=True, user_agent='medimg.pacs'):
        self.username = username
        self.password = password
        self.bearer_token = bearer_token
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.timeout = timeout
        self.retries = max(0, int(retries or 0))
        self.delay = max(0.0, float(delay or 0))
        self.client_cert = client_cert
        self.client_key = client_key
        self.use_proxy = use_proxy
        self.user_agent = user_agent

    def copy(self, **overrides):
        """A new client with the same settings, some of them overridden (e.g. retries=0)."""
        settings = dict(username=self.username, password=self.password, bearer_token=self.bearer_token,
                        validate_certs=self.validate_certs, ca_path=self.ca_path, timeout=self.timeout,
                        retries=self.retries, delay=self.delay, client_cert=self.client_cert,
                        client_key=self.client_key, use_proxy=self.use_proxy, user_agent=self.user_agent)
        settings.update(overrides)
        return HttpClient(**settings)

    def _request_once(self, method, url, data, headers):
        request_headers = {}
        if self.bearer_token:
            request_headers['Authorization'] = 'Bearer %s' % self.bearer_token
        request_headers.update(headers or {})
        kwargs = dict(method=method, data=data, headers=request_headers, timeout=self.timeout,
                      validate_certs=self.validate_certs, use_proxy=self.use_proxy,
                      http_agent=self.user_agent, follow_redirects='safe',
                      client_cert=self.client_cert, client_key=self.client_key)
        if self.ca_path:
            kwargs['ca_path'] = self.ca_path
        if self.username is not None and not self.bearer_token:
            kwargs.update(url_username=self.username, url_password=self.password or '',
                          force_basic_auth=True)
        started = time.time()
        try:
            response = Request().open(url=url, use_netrc=False, **kwargs)
            body = response.read()
            status = getattr(response, 'status', None) or response.getcode()
            resp_headers = dict(response.headers.items()) if response.headers is not None else {}
        except Exception as exc:  # pylint: disable=broad-except
            raise classify_exception(exc, url, self.timeout)
        latency = int(round((time.time() - started) * 1000))
        return HttpResponse(url, status, resp_headers, body, latency)

    def request(self, method, url, data=None, headers=None, retries=None):
        """Perform a request, retrying retryable failures; returns HttpResponse or raises DicomWebError."""
        error = validate_url(url)
        if error:
            raise DicomWebError(KIND_INVALID_URL, error, url)
        attempts = 1 + (self.retries if retries is None else max(0, retries))
        last = None
        for attempt in range(1, attempts + 1):
            try:
                response = self._request_once(method, url, data, headers)
                response.attempts = attempt
                return response
            except DicomWebError as exc:
                last = exc
                if exc.kind not in RETRYABLE_KINDS or attempt == attempts:
                    break
                time.sleep(self.delay)
        if attempts > 1 and last is not None and last.kind in RETRYABLE_KINDS:
            last.message = '%s (after %d attempts)' % (last.message, attempts)
            last.args = (last.message,)
        raise last

    def get_json(self, url, accept='application/json', what='answer', retries=None):
        response = self.request('GET', url, headers={'Accept': accept}, retries=retries)
        return response, response.json(what)


def join_url(base, *segments, **query):
    """Join a base URL and path segments (each URL-quoted) plus an optional query."""
    url = base.rstrip('/')
    for segment in segments:
        url += '/' + quote(str(segment), safe='')
    params = [(k, v) for k, v in sorted(query.items()) if v is not None]
    if params:
        url += '?' + urlencode(params)
    return url


# --------------------------------------------------------------------------
# multipart/related (RFC 2387) as used by STOW-RS and WADO-RS
# --------------------------------------------------------------------------
def build_multipart_related(parts, boundary=None, root_type='application/dicom'):
    """Build a multipart/related body.

    ``parts`` is a list of ``(content_type, payload_bytes)`` pairs. Returns
    ``(body_bytes, content_type_header)``.
    """
    if boundary is None:
        boundary = 'medimg-%s' % uuid.uuid4().hex
    for _ctype, payload in parts:
        if ('--' + boundary).encode('ascii') in payload:
            return build_multipart_related(parts, None, root_type)
    chunks = []
    for ctype, payload in parts:
        chunks.append(b'--' + boundary.encode('ascii') + b'\r\n')
        chunks.append(b'Content-Type: ' + ctype.encode('ascii') + b'\r\n\r\n')
        chunks.append(payload)
        chunks.append(b'\r\n')
    chunks.append(b'--' + boundary.encode('ascii') + b'--\r\n')
    header = 'multipart/related; type="%s"; boundary=%s' % (root_type, boundary)
    return b''.join(chunks), header


def content_type_params(content_type):
    """Split a Content-Type header into (media_type, {param: value})."""
    pieces = re.split(r';(?=(?:[^"]*"[^"]*")*[^"]*$)', content_type or '')
    media = pieces[0].strip().lower() if pieces else ''
    params = {}
    for piece in pieces[1:]:
        if '=' in piece:
            key, value = piece.split('=', 1)
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            params[key.strip().lower()] = value
    return media, params


def parse_multipart_related(body, content_type):
    """Parse a multipart/related body into a list of ``(headers_dict, payload_bytes)``."""
    media, params = content_type_params(content_type)
    if not media.startswith('multipart/'):
        raise DicomWebError(KIND_PROTOCOL, 'Expected a multipart answer, got Content-Type %r' % content_type)
    boundary = params.get('boundary')
    if not boundary:
        raise DicomWebError(KIND_PROTOCOL, 'The multipart answer has no boundary parameter (%r)' % content_type)
    delimiter = b'--' + boundary.encode('ascii')
    sections = body.split(delimiter)
    parts = []
    # sections[0] is the preamble, the last one starts with '--' (close delimiter)
    for section in sections[1:]:
        if section.startswith(b'--'):
            break
        if section.startswith(b'\r\n'):
            section = section[2:]
        elif section.startswith(b'\n'):
            section = section[1:]
        if section.endswith(b'\r\n'):
            section = section[:-2]
        elif section.endswith(b'\n'):
            section = section[:-1]
        head, sep, payload = section.partition(b'\r\n\r\n')
        if not sep:
            head, sep, payload = section.partition(b'\n\n')
            if not sep:
                head, payload = section, b''
        headers = {}
        for line in head.decode('latin-1').splitlines():
            if ':' in line:
                key, value = line.split(':', 1)
                headers[key.strip().lower()] = value.strip()
        parts.append((headers, payload))
    return parts


# --------------------------------------------------------------------------
# Minimal test instance (Secondary Capture, Explicit VR Little Endian)
# --------------------------------------------------------------------------
SECONDARY_CAPTURE_SOP_CLASS = '1.2.840.10008.5.1.4.1.1.7'
EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1'
#: UUID derived UID root (ISO/IEC 9834-8, DICOM PS3.5 B.2)
UUID_UID_ROOT = '2.25.'
IMPLEMENTATION_CLASS_UID = '2.25.90462217893153373040357282935218106437'
IMPLEMENTATION_VERSION_NAME = 'MEDIMG_PACS_01'
PROBE_PATIENT_ID = 'MEDIMG-HEALTH-PROBE'
PROBE_PATIENT_NAME = 'HEALTH^PROBE'
PROBE_STUDY_DESCRIPTION = 'medimg.pacs health probe (deleted after the check)'

_LONG_VRS = frozenset(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV'])


def generate_uid():
    """A new UUID derived UID (2.25.<decimal UUID>), at most 44 characters."""
    return UUID_UID_ROOT + str(uuid.uuid4().int)


def _element(group, elem, vr, value):
    """Encode one Explicit VR Little Endian data element."""
    if isinstance(value, str):
        raw = value.encode('ascii')
        if len(raw) % 2:
            raw += b'\x00' if vr == 'UI' else b' '
    elif isinstance(value, int) and vr == 'US':
        raw = struct.pack('<H', value)
    elif isinstance(value, int) and vr == 'UL':
        raw = struct.pack('<I', value)
    else:
        raw = bytes(value)
        if len(raw) % 2:
            raw += b'\x00'
    tag = struct.pack('<HH', group, elem)
    if vr in _LONG_VRS:
        return tag + vr.encode('ascii') + b'\x00\x00' + struct.pack('<I', len(raw)) + raw
    if len(raw) > 0xFFFF:
        raise ValueError('value too long for VR %s' % vr)
    return tag + vr.encode('ascii') + struct.pack('<H', len(raw)) + raw


def build_test_instance_bytes(study_uid, series_uid, sop_uid, now=None, rows=4, columns=4):
    """Hand-build a DICOM Part 10 file (no pydicom): a tiny MONOCHROME2 Secondary Capture image."""
    now = now or datetime.datetime.now()
    pixels = bytes(bytearray((i * 255 // max(1, rows * columns - 1)) for i in range(rows * columns)))
    meta = b''.join([
        _element(0x0002, 0x0001, 'OB', b'\x00\x01'),
        _element(0x0002, 0x0002, 'UI', SECONDARY_CAPTURE_SOP_CLASS),
        _element(0x0002, 0x0003, 'UI', sop_uid),
        _element(0x0002, 0x0010, 'UI', EXPLICIT_VR_LITTLE_ENDIAN),
        _element(0x0002, 0x0012, 'UI', IMPLEMENTATION_CLASS_UID),
        _element(0x0002, 0x0013, 'SH', IMPLEMENTATION_VERSION_NAME),
    ])
    meta = _element(0x0002, 0x0000, 'UL', len(meta)) + meta
    dataset = b''.join([
        _element(0x0008, 0x0005, 'CS', 'ISO_IR 100'),
        _element(0x0008, 0x0016, 'UI', SECONDARY_CAPTURE_SOP_CLASS),
        _element(0x0008, 0x0018, 'UI', sop_uid),
        _element(0x0008, 0x0020, 'DA', now.strftime('%Y%m%d')),
        _element(0x0008, 0x0030, 'TM', now.strftime('%H%M%S')),
        _element(0x0008, 0x0050, 'SH', ''),
        _element(0x0008, 0x0060, 'CS', 'OT'),
        _element(0x0008, 0x0064, 'CS', 'WSD'),
        _element(0x0008, 0x0090, 'PN', ''),
        _element(0x0008, 0x1030, 'LO', PROBE_STUDY_DESCRIPTION),
        _element(0x0008, 0x103E, 'LO', 'health probe'),
        _element(0x0010, 0x0010, 'PN', PROBE_PATIENT_NAME),
        _element(0x0010, 0x0020, 'LO', PROBE_PATIENT_ID),
        _element(0x0010, 0x0030, 'DA', ''),
        _element(0x0010, 0x0040, 'CS', 'O'),
        _element(0x0020, 0x000D, 'UI', study_uid),
        _element(0x0020, 0x000E, 'UI', series_uid),
        _element(0x0020, 0x0010, 'SH', '1'),
        _element(0x0020, 0x0011, 'IS', '1'),
        _element(0x0020, 0x0013, 'IS', '1'),
        _element(0x0020, 0x0020, 'CS', ''),
        _element(0x0028, 0x0002, 'US', 1),
        _element(0x0028, 0x0004, 'CS', 'MONOCHROME2'),
        _element(0x0028, 0x0010, 'US', rows),
        _element(0x0028, 0x0011, 'US', columns),
        _element(0x0028, 0x0100, 'US', 8),
        _element(0x0028, 0x0101, 'US', 8),
        _element(0x0028, 0x0102, 'US', 7),
        _element(0x0028, 0x0103, 'US', 0),
        _element(0x7FE0, 0x0010, 'OB', pixels),
    ])
    return b'\x00' * 128 + b'DICM' + meta + dataset


def _build_with_pydicom(study_uid, series_uid, sop_uid, now):  # pragma: no cover - exercised when pydicom exists
    import io
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID

    rows = columns = 4
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(SECONDARY_CAPTURE_SOP_CLASS)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = UID(EXPLICIT_VR_LITTLE_ENDIAN)
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = 'ISO_IR 100'
    ds.SOPClassUID = SECONDARY_CAPTURE_SOP_CLASS
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = now.strftime('%Y%m%d')
    ds.StudyTime = now.strftime('%H%M%S')
    ds.AccessionNumber = ''
    ds.Modality = 'OT'
    ds.ConversionType = 'WSD'
    ds.ReferringPhysicianName = ''
    ds.StudyDescription = PROBE_STUDY_DESCRIPTION
    ds.SeriesDescription = 'health probe'
    ds.PatientName = PROBE_PATIENT_NAME
    ds.PatientID = PROBE_PATIENT_ID
    ds.PatientBirthDate = ''
    ds.PatientSex = 'O'
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = '1'
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.PatientOrientation = ''
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = 'MONOCHROME2'
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = bytes(bytearray((i * 255 // (rows * columns - 1)) for i in range(rows * columns)))
    buf = io.BytesIO()
    try:
        ds.save_as(buf, enforce_file_format=True)  # pydicom >= 3
    except TypeError:
        ds.is_little_endian = True
        ds.is_implicit_VR = False
        ds.save_as(buf, write_like_original=False)  # pydicom 2
    return buf.getvalue()


def build_test_instance(use_pydicom=None, study_uid=None, series_uid=None, sop_uid=None, now=None):
    """Return ``(part10_bytes, uids)`` for a fresh minimal test instance.

    ``use_pydicom``: None = use pydicom when importable, False = always the
    hand-built encoder, True = require pydicom.
    ``uids`` has the keys study_uid, series_uid, sop_uid, sop_class_uid, builder.
    """
    uids = {
        'study_uid': study_uid or generate_uid(),
        'series_uid': series_uid or generate_uid(),
        'sop_uid': sop_uid or generate_uid(),
        'sop_class_uid': SECONDARY_CAPTURE_SOP_CLASS,
    }
    now = now or datetime.datetime.now()
    data = None
    if use_pydicom is not False:
        try:
            data = _build_with_pydicom(uids['study_uid'], uids['series_uid'], uids['sop_uid'], now)
            uids['builder'] = 'pydicom'
        except ImportError:
            if use_pydicom:
                raise
    if data is None:
        data = build_test_instance_bytes(uids['study_uid'], uids['series_uid'], uids['sop_uid'], now)
        uids['builder'] = 'builtin'
    return data, uids


# --------------------------------------------------------------------------
# DICOMweb operations
# --------------------------------------------------------------------------
def dicom_json_value(dataset, tag, default=None):
    """First value of ``tag`` (8 hex digits) in a DICOM JSON dataset."""
    element = (dataset or {}).get(tag.upper()) or (dataset or {}).get(tag.lower())
    if not isinstance(element, dict):
        return default
    values = element.get('Value')
    if not values:
        return default
    return values[0]


def _expect_dicom_json_list(response, what):
    if response.status == 204:
        return []
    data = response.json(what)
    if data is None:
        return []
    if not isinstance(data, list):
        raise DicomWebError(
            KIND_NOT_DICOMWEB,
            'The %s from %s is JSON but not a DICOM JSON array (got %s): this is not a DICOMweb '
            'service' % (what, response.url, type(data).__name__), response.url, response.status)
    for item in data:
        if not isinstance(item, dict):
            raise DicomWebError(KIND_NOT_DICOMWEB, 'The %s from %s is not a list of DICOM JSON datasets'
                                % (what, response.url), response.url, response.status)
    return data


def qido_studies(client, base_url, limit=1, **filters):
    """QIDO-RS search for studies. Returns (HttpResponse, list_of_datasets)."""
    query = dict(filters)
    if limit is not None:
        query['limit'] = limit
    url = join_url(base_url, 'studies', **query)
    response = client.request('GET', url, headers={'Accept': 'application/dicom+json'})
    return response, _expect_dicom_json_list(response, 'QIDO-RS answer')


def wado_study_metadata(client, base_url, study_uid):
    """WADO-RS metadata of a study. Returns (HttpResponse, list_of_datasets)."""
    url = join_url(base_url, 'studies', study_uid, 'metadata')
    response = client.request('GET', url, headers={'Accept': 'application/dicom+json'})
    return response, _expect_dicom_json_list(response, 'WADO-RS metadata answer')


def wado_instance(client, base_url, study_uid, series_uid, sop_uid):
    """WADO-RS retrieve of one instance. Returns (HttpResponse, part10_bytes)."""
    url = join_url(base_url, 'studies', study_uid, 'series', series_uid, 'instances', sop_uid)
    response = client.request('GET', url, headers={
        'Accept': 'multipart/related; type="application/dicom"; transfer-syntax=*'})
    if _looks_like_html(response.body, response.content_type):
        response.json('WADO-RS answer')  # raises the "not DICOMweb" error
    parts = parse_multipart_related(response.body, response.content_type)
    dicom_parts = [payload for headers, payload in parts
                   if headers.get('content-type', 'application/dicom').lower().startswith('application/dicom')]
    if not dicom_parts:
        raise DicomWebError(KIND_PROTOCOL, 'The WADO-RS answer from %s holds no application/dicom part' % url,
                            url, response.status)
    return response, dicom_parts[0]


def stow_instances(client, base_url, instances, study_uid=None):
    """STOW-RS the given Part 10 byte strings. Returns (HttpResponse, response_dataset)."""
    body, ctype = build_multipart_related([('application/dicom', data) for data in instances])
    url = join_url(base_url, 'studies', study_uid) if study_uid else join_url(base_url, 'studies')
    response = client.request('POST', url, data=body, headers={
        'Content-Type': ctype, 'Accept': 'application/dicom+json'})
    dataset = response.json('STOW-RS answer') if response.body.strip() else {}
    if isinstance(dataset, list):
        dataset = dataset[0] if dataset else {}
    if not isinstance(dataset, dict):
        raise DicomWebError(KIND_NOT_DICOMWEB, 'The STOW-RS answer from %s is not a DICOM JSON dataset' % url,
                            url, response.status)
    failed = (dataset.get('00081198') or {}).get('Value') or []
    if failed:
        reasons = [str(dicom_json_value(item, '00081197', '?')) for item in failed]
        raise DicomWebError(KIND_PROTOCOL, 'STOW-RS to %s refused %d instance(s) (failure reason %s)'
                            % (url, len(failed), ', '.join(reasons)), url, response.status)
    return response, dataset


def split_orthanc_root(dicomweb_url):
    """Guess the Orthanc REST root from a DICOMweb URL ending with /dicom-web."""
    url = dicomweb_url.rstrip('/')
    if url.endswith('/dicom-web'):
        return url[:-len('/dicom-web')] or url
    return None


def dcm4chee_archive_root(dicomweb_url):
    """Return (archive_root, aet) for .../dcm4chee-arc/aets/<AET>/rs URLs, else (None, None)."""
    match = re.match(r'^(.*?/dcm4chee-arc)/aets/([^/]+)/rs/?$', dicomweb_url.rstrip('/'))
    if not match:
        return None, None
    return match.group(1), match.group(2)


def orthanc_delete_study(client, orthanc_root, study_uid):
    """Delete a study by StudyInstanceUID through the Orthanc REST API. Returns True if deleted."""
    response = client.request('POST', join_url(orthanc_root, 'tools', 'lookup'), data=study_uid.encode('ascii'),
                              headers={'Content-Type': 'text/plain', 'Accept': 'application/json'})
    matches = response.json('Orthanc /tools/lookup answer') or []
    deleted = False
    for match in matches:
        if isinstance(match, dict) and match.get('Type') == 'Study' and match.get('ID'):
            client.request('DELETE', join_url(orthanc_root, 'studies', match['ID']))
            deleted = True
    return deleted


#: Rejection note code used before deleting a study in DCM4CHEE (Data Retention Policy Expired)
DCM4CHEE_REJECTION_CODE = '113039^DCM'


def dcm4chee_delete_study(client, dicomweb_url, study_uid, rejection_code=DCM4CHEE_REJECTION_CODE):
    """Reject then permanently delete a study through the DCM4CHEE archive REST API."""
    base = dicomweb_url.rstrip('/')
    reject_url = '%s/studies/%s/reject/%s' % (base, quote(study_uid, safe=''), quote(rejection_code, safe='^'))
    client.request('POST', reject_url, headers={'Accept': 'application/json'})
    client.request('DELETE', join_url(base, 'studies', study_uid))
    return True


def detect_server(client, dicomweb_url, api_url=None):
    """Return (server_type, server_info) for a DICOMweb URL: orthanc, dcm4chee or generic."""
    arc_root, aet = dcm4chee_archive_root(dicomweb_url)
    if arc_root and not api_url:
        return 'dcm4chee', {'archive_url': arc_root, 'aet': aet}
    root = api_url or split_orthanc_root(dicomweb_url)
    if root:
        try:
            _response, info = client.get_json(join_url(root, 'system'), what='Orthanc /system answer', retries=0)
            if isinstance(info, dict) and 'Version' in info and 'DicomAet' in info:
                return 'orthanc', info
        except DicomWebError:
            pass
    return 'generic', {}
