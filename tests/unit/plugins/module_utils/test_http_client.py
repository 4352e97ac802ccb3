# -*- coding: utf-8 -*-
"""module_utils/http_client.py: the one HTTP layer against real loopback servers (http.server), a
self-signed TLS server and a closed port; the client is never mocked."""
from __future__ import absolute_import, division, print_function

import json
import threading
import time

import pytest

from ansible_collections.medimg.pacs.plugins.module_utils import http_client as hc
from ansible_collections.medimg.pacs.plugins.module_utils.dicomweb import qido_studies


# ---------------------------------------------------------------------------
# Failure classification against real loopback servers
# ---------------------------------------------------------------------------
def _json_answer(data, status=200, ctype='application/dicom+json'):
    return lambda handler: (status, {'Content-Type': ctype}, json.dumps(data).encode())


def test_basic_and_bearer_auth_headers(http_server):
    seen = []

    def respond(handler):
        seen.append(handler.headers.get('Authorization'))
        return 200, {'Content-Type': 'application/json'}, b'[]'

    server = http_server(respond)
    qido_studies(hc.HttpClient(username='admin', password='s3cret', timeout=5), server.base)
    qido_studies(hc.HttpClient(bearer_token='tok123', timeout=5), server.base)
    assert seen[0].startswith('Basic ') and seen[1] == 'Bearer tok123'


@pytest.mark.parametrize('status', [401, 403, 404, 500, 418])
def test_http_status_classification(http_server, status):
    """Answers go through the one error mapping (its messages: test_http_errors.py)."""
    server = http_server(lambda handler: (status, {'Content-Type': 'text/plain'}, b'nope'))
    with pytest.raises(hc.DicomWebError) as err:
        qido_studies(hc.HttpClient(timeout=5), server.base + '/dicom-web')
    expected = hc.http_error(server.base + '/dicom-web/studies?limit=1', status, None, b'nope', {})
    assert (err.value.kind, err.value.status) == (expected.kind, status)
    assert err.value.message.startswith('HTTP %d' % status)


def test_slow_answer_times_out(http_server):
    def respond(handler):
        time.sleep(3)
        return 200, {'Content-Type': 'application/json'}, b'[]'

    server = http_server(respond)
    started = time.time()
    with pytest.raises(hc.DicomWebError) as err:
        qido_studies(hc.HttpClient(timeout=1), server.base)
    assert err.value.kind == hc.KIND_TIMEOUT
    assert 'within 1 seconds' in err.value.message
    assert time.time() - started < 2.9


def test_refused_port(closed_port):
    with pytest.raises(hc.DicomWebError) as err:
        qido_studies(hc.HttpClient(timeout=5), 'http://127.0.0.1:%d/dicom-web' % closed_port)
    assert err.value.kind == hc.KIND_REFUSED
    assert 'Connection refused by 127.0.0.1:%d' % closed_port in err.value.message


def test_refused_port_retries_then_gives_up(closed_port):
    client = hc.HttpClient(timeout=2, retries=2, delay=0)
    with pytest.raises(hc.DicomWebError) as err:
        qido_studies(client, 'http://127.0.0.1:%d/' % closed_port)
    assert 'after 3 attempts' in err.value.message


def test_retry_until_service_answers(http_server):
    calls = []

    def respond(handler):
        calls.append(1)
        if len(calls) < 3:
            return 503, {'Content-Type': 'text/plain'}, b'starting'
        return 200, {'Content-Type': 'application/json'}, b'[]'

    server = http_server(respond)
    response, dummy = qido_studies(hc.HttpClient(timeout=5, retries=5, delay=0), server.base)
    assert response.attempts == 3


def test_auth_failures_are_not_retried(http_server):
    calls = []

    def respond(handler):
        calls.append(1)
        return 401, {}, b''

    server = http_server(respond)
    with pytest.raises(hc.DicomWebError):
        qido_studies(hc.HttpClient(timeout=5, retries=5, delay=0), server.base)
    assert len(calls) == 1


def test_unresolvable_host():
    with pytest.raises(hc.DicomWebError) as err:
        qido_studies(hc.HttpClient(timeout=5), 'http://nonexistent.invalid/dicom-web')
    assert err.value.kind == hc.KIND_DNS
    assert "'nonexistent.invalid'" in err.value.message


def test_tls_verification_failure(tls_server):
    server, _ca = tls_server
    with pytest.raises(hc.DicomWebError) as err:
        qido_studies(hc.HttpClient(timeout=5), server.base + '/dicom-web')
    assert err.value.kind == hc.KIND_TLS
    assert 'certificate verification failed' in err.value.message
    assert 'ca_path' in err.value.message


def test_tls_with_ca_path_and_without_validation(tls_server):
    server, ca_path = tls_server
    response, studies = qido_studies(hc.HttpClient(timeout=5, ca_path=ca_path), server.base + '/dicom-web')
    assert response.status == 200 and studies == []
    response, dummy = qido_studies(hc.HttpClient(timeout=5, validate_certs=False), server.base + '/dicom-web')
    assert response.status == 200


def test_plain_http_to_tls_port_is_a_connection_error(tls_server):
    server, _ca = tls_server
    with pytest.raises(hc.DicomWebError) as err:
        qido_studies(hc.HttpClient(timeout=5), 'http://127.0.0.1:%d/' % server.port)
    assert err.value.kind in (hc.KIND_CONNECTION, hc.KIND_HTTP)


def test_keepalive_one_connection_per_thread(http_server):
    ports = []

    def respond(handler):
        ports.append(handler.client_address[1])
        return 200, {'Content-Type': 'application/json'}, b'[]'

    server = http_server(respond)
    client = hc.HttpClient(timeout=5)
    for _i in range(5):
        client.get_json(server.base + '/x')
    assert len(set(ports)) == 1
    threads = [threading.Thread(target=client.get_json, args=(server.base + '/y',)) for _i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(set(ports)) == 4
    client.close()


def test_server_closing_keepalive_is_not_an_error(http_server):
    server = http_server(lambda h: (200, {'Content-Type': 'application/json', 'Connection': 'close'}, b'[]'))
    client = hc.HttpClient(timeout=5)
    for _i in range(3):
        assert client.request('GET', server.base + '/x').status == 200


def test_streamed_body_with_content_length_is_sent_again_on_retry(http_server):
    seen = []

    def respond(handler):
        seen.append(handler.request_body)
        if len(seen) == 1:
            return 503, {'Retry-After': '0'}, b'busy'
        return 200, {'Content-Type': 'application/json'}, b'{}'

    server = http_server(respond)
    client = hc.HttpClient(timeout=5, retries=2, delay=30)  # Retry-After: 0 wins over the 30 s delay
    started = time.time()
    response = client.request('POST', server.base + '/s', data=lambda: iter([b'abc', b'def']), content_length=6)
    assert response.status == 200 and response.attempts == 2
    assert seen == [b'abcdef', b'abcdef']
    assert time.time() - started < 10


def test_retry_policy_backoff_and_retry_after():
    policy = hc.RetryPolicy(retries=5, delay=1.0, backoff=2.0, max_delay=15.0)
    assert [policy.wait(attempt) for attempt in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 15.0, 15.0]
    assert policy.wait(1, '7') == 7.0
    assert policy.wait(1, '100000') == policy.max_retry_after
    assert policy.wait(3, 'not a date') == 4.0
    assert 0.0 <= policy.wait(1, 'Wed, 21 Oct 2015 07:28:00 GMT') <= 0.0  # in the past: at once
    assert hc.RetryPolicy(retries=2, delay=3).wait(2) == 3.0  # backoff 1: the fixed delay of the REST modules


@pytest.mark.parametrize('status', [429, 502, 503, 504, 408])
def test_transient_statuses_are_retried(http_server, status):
    calls = []

    def respond(handler):
        calls.append(1)
        return (status, {}, b'') if len(calls) == 1 else (200, {'Content-Type': 'application/json'}, b'[]')

    server = http_server(respond)
    assert hc.HttpClient(timeout=5, retries=1, delay=0).request('GET', server.base).attempts == 2


def test_500_is_not_retried(http_server):
    calls = []

    def respond(handler):
        calls.append(1)
        return 500, {}, b''

    server = http_server(respond)
    with pytest.raises(hc.DicomWebError) as err:
        hc.HttpClient(timeout=5, retries=3, delay=0).request('GET', server.base)
    assert err.value.kind == hc.KIND_SERVER_ERROR and len(calls) == 1


def test_redirects_followed_for_get_only(http_server):
    def respond(handler):
        if handler.path == '/old':
            return 302, {'Location': '/new'}, b''
        return 200, {'Content-Type': 'application/json'}, b'{"at": "%s"}' % handler.path.encode()

    server = http_server(respond)
    client = hc.HttpClient(timeout=5)
    _response, data = client.get_json(server.base + '/old')
    assert data == {'at': '/new'}
    with pytest.raises(hc.DicomWebError) as err:
        client.request('POST', server.base + '/old', data=b'x')
    assert 'HTTP 302 redirect' in err.value.message and '/new' in err.value.message
    no_follow = hc.HttpClient(timeout=5, follow_redirects=False)
    assert no_follow.request('GET', server.base + '/old', raise_for_status=False).status == 302


def test_proxy_from_the_environment(http_server, monkeypatch):
    seen = []

    def respond(handler):
        seen.append((handler.path, handler.headers.get('Proxy-Authorization')))
        return 200, {'Content-Type': 'application/json'}, b'[]'

    proxy = http_server(respond)
    monkeypatch.setenv('http_proxy', 'http://pu:pp@127.0.0.1:%d' % proxy.port)
    monkeypatch.delenv('no_proxy', raising=False)
    monkeypatch.delenv('NO_PROXY', raising=False)
    hc.HttpClient(timeout=5).get_json('http://pacs.invalid:8042/dicom-web/studies')
    assert seen[0][0] == 'http://pacs.invalid:8042/dicom-web/studies'
    assert seen[0][1].startswith('Basic ')
    with pytest.raises(hc.DicomWebError):
        hc.HttpClient(timeout=5, use_proxy=False).get_json('http://pacs.invalid:8042/dicom-web/studies')


def test_credentials_never_in_messages(http_server, closed_port):
    server = http_server(lambda h: (401, {}, b''))
    for url in (server.base + '/x', 'http://127.0.0.1:%d/x' % closed_port):
        with pytest.raises(hc.DicomWebError) as err:
            hc.HttpClient(username='admin', password='s3cret-pw', bearer_token=None, timeout=5).request('GET', url)
        assert 's3cret-pw' not in err.value.message
    with pytest.raises(hc.DicomWebError) as err:
        hc.HttpClient(timeout=5).request('GET', 'http://admin:s3cret-pw@127.0.0.1:%d/x' % closed_port)
    assert 's3cret-pw' not in err.value.message and err.value.kind == hc.KIND_REFUSED


def test_argument_specs():
    spec = hc.http_argument_spec(retry=True)
    assert spec['url_password']['no_log'] and spec['bearer_token']['no_log']
    assert set(spec) == {'url_username', 'url_password', 'bearer_token', 'validate_certs', 'ca_path', 'timeout',
                         'retries', 'delay'}
    client = hc.http_client_from_params(dict((k, v.get('default')) for k, v in spec.items()))
    assert client.timeout == 10 and client.retry.retries == 0 and client.validate_certs is True
