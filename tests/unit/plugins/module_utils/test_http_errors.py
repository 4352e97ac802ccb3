# -*- coding: utf-8 -*-
"""module_utils/http_errors.py: URL checks, the error mapping of HTTP answers, secrets kept out of messages."""
from __future__ import absolute_import, division, print_function

import json
import socket
import ssl

import pytest

from ansible_collections.medimg.pacs.plugins.module_utils import http_errors as he


# ---------------------------------------------------------------------------
# URL validation
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('url', [
    'http://127.0.0.1:8042/dicom-web',
    'https://pacs.example.org/dicom-web',
    'http://[::1]:8042/dicom-web',
    'http://pacs:8080/dcm4chee-arc/aets/DCM4CHEE/rs',
    'http://localhost',
])
def test_valid_urls(url):
    assert he.validate_url(url) is None


@pytest.mark.parametrize('url,fragment', [
    ('', 'empty'),
    (None, 'empty'),
    ('127.0.0.1:8042/dicom-web', 'scheme'),
    ('pacs.example.org/dicom-web', 'no scheme'),
    ('ftp://pacs.example.org/', "scheme 'ftp'"),
    ('http://', 'no host name'),
    ('http:///dicom-web', 'no host name'),
    ('http://pacs:99999/dicom-web', 'port'),
    ('http://pacs:abc/dicom-web', 'invalid port'),
    ('http://pa cs/dicom-web', 'white space'),
    (' http://pacs/dicom-web', 'white space'),
    ('http://pacs/dicom-web#frag', 'fragment'),
    ('http://pa$cs/dicom-web', 'invalid host name'),
])
def test_invalid_urls(url, fragment):
    error = he.validate_url(url, 'url')
    assert error is not None and fragment in error, error


def test_join_url_quotes_segments_and_query():
    url = he.join_url('http://h/dicom-web/', 'studies', '1.2.3', limit=1, StudyInstanceUID=None)
    assert url == 'http://h/dicom-web/studies/1.2.3?limit=1'
    assert he.join_url('http://h', 'modalities', 'a b/c') == 'http://h/modalities/a%20b%2Fc'


def test_redact_url():
    assert he.redact_url('http://user:s3cret@h:8042/x') == 'http://h:8042/x'
    assert he.redact_url('https://h/x') == 'https://h/x'
    error = he.validate_url('ftp://user:s3cret@h/x')
    assert 's3cret' not in error and 'ftp' in error


@pytest.mark.parametrize('status,kind,fragment', [
    (301, he.KIND_HTTP, 'HTTP 301 redirect from http://h/x to https://other/x'),
    (401, he.KIND_UNAUTHORIZED, 'url_username/url_password or bearer_token'),
    (403, he.KIND_FORBIDDEN, 'may not use this resource'),
    (404, he.KIND_NOT_FOUND, 'check the path'),
    (500, he.KIND_SERVER_ERROR, 'HTTP 500'),
    (503, he.KIND_SERVER_ERROR, 'failed to process the request'),
    (418, he.KIND_HTTP, 'HTTP 418'),
])
def test_http_error_kinds(status, kind, fragment):
    error = he.http_error('http://u:pw@h/x', status, 'Reason', b'', {'location': 'https://other/x'})
    assert error.kind == kind and error.status == status
    assert fragment in error.message.replace('u:pw@', '')
    assert 'pw' not in error.message
    assert error.to_dict()['http_status'] == status


def test_http_error_details_from_json_text_and_not_html():
    body = json.dumps({'Message': 'bad batch', 'Details': 'the reason'}).encode()
    assert he.http_error('http://h/x', 400, 'Bad Request', body, {}).message.endswith(': the reason')
    assert he.http_error('http://h/x', 400, None, b'first line\nsecond', {}).message.endswith(': first line')
    html = he.http_error('http://h/x', 500, 'Oops', b'<html><body>x</body></html>', {'content-type': 'text/html'})
    assert '<html' not in html.message


@pytest.mark.parametrize('exc,kind', [
    (ConnectionRefusedError(111, 'Connection refused'), he.KIND_REFUSED),
    (socket.gaierror(-2, 'Name or service not known'), he.KIND_DNS),
    (socket.timeout('timed out'), he.KIND_TIMEOUT),
    (ConnectionResetError(104, 'reset'), he.KIND_CONNECTION),
    (ssl.SSLError(1, 'WRONG_VERSION_NUMBER'), he.KIND_TLS),
    (OSError(113, 'No route to host'), he.KIND_CONNECTION),
    (ValueError('odd'), he.KIND_CONNECTION),
])
def test_classify_exception(exc, kind):
    error = he.classify_exception(exc, 'http://user:pw@127.0.0.1:9/x', timeout=3)
    assert error.kind == kind
    assert 'pw' not in error.message
    assert he.classify_exception(error, 'http://h/') is error
