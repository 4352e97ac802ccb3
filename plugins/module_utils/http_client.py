# -*- coding: utf-8 -*-
# Copyright: medimg.pacs maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one HTTP layer of the medimg.pacs modules (standard library only).

* :class:`HttpClient`: Basic or bearer authentication, TLS (``validate_certs``, ``ca_path``,
  client certificate), one keep-alive :mod:`http.client` connection per worker thread and
  server, optional proxies from the environment, request bodies as bytes or streamed from an
  iterable with a fixed ``content_length``, and one retry policy (:class:`RetryPolicy`).
* Every failure becomes a :class:`DicomWebError` (see :mod:`http_errors`, re-exported here) whose
  ``kind`` is one of the ``KIND_*`` constants and whose message is written for a human operator.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import email.utils
import json
import re
import socket
import ssl
import threading
import time

from http.client import HTTPConnection, HTTPException, HTTPSConnection
from urllib.parse import unquote, urlsplit
from urllib.request import getproxies, proxy_bypass

# re-exported: the modules and the other module_utils import the error kinds from here
from ansible_collections.medimg.pacs.plugins.module_utils.http_errors import (  # noqa: F401  pylint: disable=unused-import
    DicomWebError, KIND_CONNECTION, KIND_DNS, KIND_FORBIDDEN, KIND_HTTP, KIND_INVALID_URL, KIND_NOT_DICOMWEB,
    KIND_NOT_FOUND, KIND_PROTOCOL, KIND_REFUSED, KIND_SERVER_ERROR, KIND_TIMEOUT, KIND_TLS, KIND_UNAUTHORIZED,
    TRANSIENT_KINDS, TRANSIENT_STATUSES, classify_exception, http_error, join_url, looks_like_html, redact_url,
    validate_url)

REDIRECT_STATUSES = frozenset([301, 302, 303, 307, 308])
MAX_REDIRECTS = 5


# --------------------------------------------------------------------------------------------
# Answers, retries
# --------------------------------------------------------------------------------------------
class HttpResponse:
    """A complete HTTP answer (body already read); ``headers`` has lower-case names."""

    def __init__(self, url, status, reason, headers, body, latency_ms, attempts=1):
        self.url = url
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body or b''
        self.latency_ms = latency_ms
        self.attempts = attempts

    @property
    def content_type(self):
        return self.headers.get('content-type', '')

    def json(self, what='answer'):
        """Decode a JSON body; HTML or anything else is a KIND_NOT_DICOMWEB error."""
        shown = redact_url(self.url)
        if looks_like_html(self.body, self.content_type):
            raise DicomWebError(
                KIND_NOT_DICOMWEB,
                'The server at %s answered with an HTML page (Content-Type %r) instead of JSON: this is not a '
                'DICOMweb service (wrong URL, a web UI or a login/proxy page?)'
                % (shown, self.content_type or 'none'), self.url, self.status, self.body)
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body.decode('utf-8'))
        except (ValueError, UnicodeDecodeError):
            raise DicomWebError(
                KIND_NOT_DICOMWEB, 'The %s from %s is not JSON (Content-Type %r, starts with %r): this is not a '
                                   'DICOMweb service' % (what, shown, self.content_type or 'none', self.body[:40]),
                self.url, self.status, self.body)


class RetryPolicy:
    """Which failures are retried, and how long to wait: ``delay`` seconds, multiplied by
    ``backoff`` after each attempt up to ``max_delay``; a Retry-After header (seconds or an
    HTTP date) of a transient answer replaces the computed delay (at most ``max_retry_after``)."""

    def __init__(self, retries=0, delay=1.0, backoff=1.0, max_delay=None, max_retry_after=120.0):
        self.retries = max(0, int(retries or 0))
        self.delay = max(0.0, float(delay or 0))
        self.backoff = backoff
        self.max_delay = max_delay
        self.max_retry_after = max_retry_after

    def wait(self, attempt, retry_after=None):
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        seconds = self.delay * (self.backoff ** (attempt - 1))
        if self.max_delay is not None:
            seconds = min(seconds, self.max_delay)
        parsed = _retry_after_seconds(retry_after)
        if parsed is not None:
            seconds = min(parsed, self.max_retry_after)
        return max(0.0, seconds)


def _retry_after_seconds(value):
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


# --------------------------------------------------------------------------------------------
# Connections
# --------------------------------------------------------------------------------------------
class Connection:
    """One persistent HTTP(S) connection to one server (optionally through a proxy)."""

    def __init__(self, scheme, host, port, timeout, ssl_context=None, proxy=None):
        self.scheme, self.host, self.port = scheme, host, port
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.proxy = proxy  # (host, port, Proxy-Authorization value or None) or None
        self.conn = None

    def _connect(self):
        if self.proxy:
            phost, pport, pauth = self.proxy
            headers = {'Proxy-Authorization': pauth} if pauth else None
            if self.scheme == 'https':
                conn = HTTPSConnection(phost, pport, timeout=self.timeout, context=self.ssl_context)
                conn.set_tunnel(self.host, self.port, headers=headers)
            else:
                conn = HTTPConnection(phost, pport, timeout=self.timeout)
        elif self.scheme == 'https':
            conn = HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self.ssl_context)
        else:
            conn = HTTPConnection(self.host, self.port, timeout=self.timeout)
        conn.connect()
        try:
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, AttributeError):
            pass
        return conn

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # pylint: disable=broad-except
                pass
            self.conn = None

    def request(self, method, target, headers, body=None):
        """Send one request (``body``: None, bytes or an iterable of bytes); returns
        (status, reason, headers, body, reused). Raises the socket/HTTP exception (connection closed)."""
        reused = self.conn is not None
        try:
            if self.conn is None:
                self.conn = self._connect()
            self.conn.putrequest(method, target, skip_host=False, skip_accept_encoding=True)
            for key, value in headers.items():
                self.conn.putheader(key, value)
            self.conn.endheaders()
            if isinstance(body, bytes):
                self.conn.send(body)
            elif body is not None:
                for chunk in body:
                    self.conn.send(chunk)
            resp = self.conn.getresponse()
            data = resp.read()
            answer_headers = dict((k.lower(), v) for k, v in resp.getheaders())
            if resp.will_close:
                self.close()
        except Exception as exc:
            self.close()
            exc.reused_connection = reused
            raise
        return resp.status, resp.reason, answer_headers, data, reused


# --------------------------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------------------------
class HttpClient:
    """HTTP client of every module; thread-safe (one connection per thread and server)."""

    def __init__(self, username=None, password=None, bearer_token=None, validate_certs=True, ca_path=None,
                 timeout=10, retries=0, delay=3, backoff=1.0, max_delay=None, client_cert=None, client_key=None,
                 use_proxy=True, follow_redirects=True, user_agent='medimg.pacs'):
        self.username = username
        self.password = password
        self.bearer_token = bearer_token
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.timeout = timeout
        self.retry = RetryPolicy(retries, delay, backoff, max_delay)
        self.client_cert = client_cert
        self.client_key = client_key
        self.use_proxy = use_proxy
        self.follow_redirects = follow_redirects
        self.user_agent = user_agent
        self._ssl_context = None
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all = []

    def copy(self, **overrides):
        """A new client with the same settings, some of them overridden (e.g. retries=0)."""
        settings = dict((key, getattr(self, key)) for key in (
            'username', 'password', 'bearer_token', 'validate_certs', 'ca_path', 'timeout', 'client_cert',
            'client_key', 'use_proxy', 'follow_redirects', 'user_agent'))
        settings.update(retries=self.retry.retries, delay=self.retry.delay, backoff=self.retry.backoff,
                        max_delay=self.retry.max_delay)
        settings.update(overrides)
        return HttpClient(**settings)

    # -- plumbing ------------------------------------------------------------------------------
    def ssl_context(self):
        if self._ssl_context is None:
            context = ssl.create_default_context(cafile=self.ca_path or None)
            if not self.validate_certs:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            if self.client_cert:
                context.load_cert_chain(self.client_cert, self.client_key)
            self._ssl_context = context
        return self._ssl_context

    def _proxy_for(self, parts):
        if not self.use_proxy or proxy_bypass(parts.hostname):
            return None
        proxy_url = getproxies().get(parts.scheme)
        if not proxy_url:
            return None
        proxy = urlsplit(proxy_url if '://' in proxy_url else 'http://' + proxy_url)
        auth = None
        if proxy.username is not None:
            auth = 'Basic ' + base64.b64encode(('%s:%s' % (unquote(proxy.username), unquote(proxy.password or '')))
                                               .encode('utf-8')).decode('ascii')
        return proxy.hostname, proxy.port or 8080, auth

    def _connection(self, parts):
        proxy = self._proxy_for(parts)
        port = parts.port or (443 if parts.scheme == 'https' else 80)
        key = (parts.scheme, parts.hostname, port, proxy)
        pool = getattr(self._local, 'pool', None)
        if pool is None:
            pool = self._local.pool = {}
        conn = pool.get(key)
        if conn is None:
            context = self.ssl_context() if parts.scheme == 'https' else None
            conn = pool[key] = Connection(parts.scheme, parts.hostname, port, self.timeout, context, proxy)
            with self._lock:
                self._all.append(conn)
        return conn, proxy

    def close(self):
        """Close every connection this client opened (in any thread)."""
        with self._lock:
            for conn in self._all:
                conn.close()

    def _headers(self, parts, headers, body, content_length, method):
        result = {'User-Agent': self.user_agent}
        username, password = self.username, self.password
        if username is None and parts.username is not None:
            username, password = unquote(parts.username), unquote(parts.password or '')
        if self.bearer_token:
            result['Authorization'] = 'Bearer %s' % self.bearer_token
        elif username is not None:
            token = base64.b64encode(('%s:%s' % (username, password or '')).encode('utf-8')).decode('ascii')
            result['Authorization'] = 'Basic %s' % token
        result.update(headers or {})
        if isinstance(body, bytes):
            result['Content-Length'] = str(len(body))
        elif body is not None:
            result['Content-Length'] = str(content_length)
        elif method in ('POST', 'PUT', 'PATCH'):
            result['Content-Length'] = '0'
        return result

    def _send_once(self, method, url, body, headers, content_length):
        parts = urlsplit(url)
        conn, proxy = self._connection(parts)
        if proxy and parts.scheme == 'http':
            target = '%s://%s%s' % (parts.scheme, parts.netloc.rpartition('@')[2], parts.path or '/')
        else:
            target = parts.path or '/'
        if parts.query:
            target += '?' + parts.query
        all_headers = self._headers(parts, headers, body, content_length, method)
        if proxy and parts.scheme == 'http' and proxy[2]:
            all_headers['Proxy-Authorization'] = proxy[2]
        return conn.request(method, target, all_headers, body)

    # -- the API -------------------------------------------------------------------------------
    def request(self, method, url, data=None, headers=None, retries=None, content_length=None,
                raise_for_status=True, stop_event=None):
        """Perform a request with the retry policy; returns an HttpResponse.

        ``data`` is None, bytes, or a callable returning an iterable of bytes (called again for
        each attempt; ``content_length`` is then required). With ``raise_for_status`` an answer
        of 300 or more (after redirects, when followed) raises DicomWebError; otherwise the
        caller gets it. Transport failures that outlast the retries raise DicomWebError.
        """
        error = validate_url(url)
        if error:
            raise DicomWebError(KIND_INVALID_URL, error, url)
        policy = self.retry if retries is None else RetryPolicy(retries, self.retry.delay, self.retry.backoff,
                                                                self.retry.max_delay)
        started = time.time()
        attempt, redirects, stale_retry_used = 1, 0, False
        while True:
            body = data() if callable(data) else data
            retry_after = None
            try:
                status, reason, answer_headers, answer, reused = self._send_once(method, url, body, headers,
                                                                                 content_length)
            except (OSError, HTTPException) as exc:
                if getattr(exc, 'reused_connection', False) and not stale_retry_used and \
                        isinstance(exc, (HTTPException, ConnectionError)):
                    stale_retry_used = True  # the server closed an idle keep-alive connection: once more at once
                    continue
                failure = classify_exception(exc, url, self.timeout)
                if failure.kind not in TRANSIENT_KINDS or attempt > policy.retries:
                    if attempt > 1 and failure.kind in TRANSIENT_KINDS:
                        failure.message = '%s (after %d attempts)' % (failure.message, attempt)
                        failure.args = (failure.message,)
                    raise failure
            else:
                if status in REDIRECT_STATUSES and self.follow_redirects and method in ('GET', 'HEAD') and \
                        answer_headers.get('location') and redirects < MAX_REDIRECTS:
                    redirects += 1
                    url = _resolve(url, answer_headers['location'])
                    continue
                if status not in TRANSIENT_STATUSES or attempt > policy.retries:
                    latency = int(round((time.time() - started) * 1000))
                    response = HttpResponse(url, status, reason, answer_headers, answer, latency, attempt)
                    if raise_for_status and status >= 300:
                        failure = http_error(url, status, reason, answer, answer_headers)
                        if attempt > 1 and status in TRANSIENT_STATUSES:
                            failure.message = '%s (after %d attempts)' % (failure.message, attempt)
                            failure.args = (failure.message,)
                        raise failure
                    return response
                retry_after = answer_headers.get('retry-after')
            if stop_event is not None and stop_event.is_set():
                raise DicomWebError(KIND_CONNECTION, 'stopped while retrying %s' % redact_url(url), url)
            time.sleep(policy.wait(attempt, retry_after))
            attempt += 1

    def get_json(self, url, accept='application/json', what='answer', retries=None):
        response = self.request('GET', url, headers={'Accept': accept}, retries=retries)
        return response, response.json(what)


def _resolve(base, location):
    if re.match(r'^[A-Za-z][A-Za-z0-9+.\-]*://', location):
        return location
    parts = urlsplit(base)
    if location.startswith('/'):
        return '%s://%s%s' % (parts.scheme, parts.netloc, location)
    return '%s://%s%s/%s' % (parts.scheme, parts.netloc, parts.path.rsplit('/', 1)[0], location)


# --------------------------------------------------------------------------------------------
# Module options
# --------------------------------------------------------------------------------------------
def http_auth_argument_spec():
    """Fresh argument spec of the HTTP authentication options (user name, password, bearer token)."""
    return dict(
        url_username=dict(type='str'),
        url_password=dict(type='str', no_log=True),
        bearer_token=dict(type='str', no_log=True),
    )


def http_argument_spec(retry=False):
    """Fresh argument spec of the options documented by the ``medimg.pacs.http_api`` doc fragment,
    with ``retry=True`` also those of ``medimg.pacs.http_api.retry`` (timeout, retries, delay)."""
    spec = http_auth_argument_spec()
    spec.update(validate_certs=dict(type='bool', default=True), ca_path=dict(type='path'))
    if retry:
        spec.update(timeout=dict(type='int', default=10), retries=dict(type='int', default=0),
                    delay=dict(type='int', default=3))
    return spec


def http_client_from_params(params):
    """:class:`HttpClient` from the module parameters of ``http_argument_spec(retry=True)``
    (``use_proxy`` is honoured when the module has it)."""
    return HttpClient(username=params.get('url_username'), password=params.get('url_password'),
                      bearer_token=params.get('bearer_token'), validate_certs=params.get('validate_certs', True),
                      ca_path=params.get('ca_path'), timeout=params.get('timeout') or 10,
                      retries=params.get('retries') or 0, delay=params.get('delay') or 0,
                      use_proxy=params.get('use_proxy', True))


def rest_module(argument_spec, params_error=None, **kwargs):
    """AnsibleModule of a module that manages one thing over one server's REST API.

    Adds the shared connection options (``http_argument_spec(retry=True)``: the ``medimg.pacs.http_api``
    and ``.retry`` doc fragments), supports check mode, refuses Basic and bearer together, checks
    ``url`` and then the module's own ``params_error(params)`` (a message or None) before anything is
    sent. Returns ``(module, client)``.
    """
    from ansible.module_utils.basic import AnsibleModule

    spec = dict(argument_spec)
    spec.update(http_argument_spec(retry=True))
    kwargs['mutually_exclusive'] = [('url_username', 'bearer_token')] + list(kwargs.get('mutually_exclusive') or [])
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True, **kwargs)
    error = validate_url(module.params['url'], 'url') or (params_error(module.params) if params_error else None)
    if error:
        module.fail_json(msg=error)
    return module, http_client_from_params(module.params)
