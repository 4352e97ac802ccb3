# -*- coding: utf-8 -*-
"""Bad input and offline failures of every module: failed=true, a clear msg, never a traceback.

The modules run as real subprocesses; servers are loopback http.server instances.
"""
from __future__ import absolute_import, division, print_function

import json

import pytest


def _assert_clean_failure(result, out, err, fragment):
    assert result.get('failed') is True, result
    assert fragment in result['msg'], result['msg']
    assert 'Traceback' not in out + err
    assert 'MODULE FAILURE' not in out + err


@pytest.mark.parametrize('args,fragment', [
    (dict(url='http://127.0.0.1:8042/dicom-web', endpoints=[{'url': 'http://x'}]), 'mutually exclusive'),
    (dict(), 'one of the following is required'),
    (dict(url='127.0.0.1:8042/dicom-web'), 'no scheme'),
    (dict(url='http://127.0.0.1:8042/dicom-web', timeout=0), 'timeout'),
    (dict(url='http://nonexistent.invalid/dicom-web'), 'Cannot resolve the host name'),
])
def test_dicomweb_health_bad_input(run_module, args, fragment):
    result, out, err = run_module('dicomweb_health', args)
    _assert_clean_failure(result, out, err, fragment)


def test_dicomweb_health_refused_and_html_concurrently(run_module, http_server, closed_port):
    html = http_server(lambda h: (200, {'Content-Type': 'text/html'}, b'<html><body>login</body></html>'))
    good = http_server(lambda h: (200, {'Content-Type': 'application/dicom+json'}, b'[]'))
    args = dict(endpoints=[
        dict(name='refused', url='http://127.0.0.1:%d/dicom-web' % closed_port),
        dict(name='html', url=html.base + '/dicom-web'),
        dict(name='good', url=good.base + '/dicom-web', url_username='u', url_password='topsecret'),
    ], fail_on_unhealthy=False)
    result, out, err = run_module('dicomweb_health', args)
    assert result.get('failed') is not True, result
    assert result['healthy'] is False and result['changed'] is False
    by_name = dict((e['name'], e) for e in result['endpoints'])
    assert by_name['refused']['probes']['qido']['kind'] == 'connection_refused'
    assert by_name['html']['probes']['qido']['kind'] == 'not_dicomweb'
    assert by_name['good']['ok'] is True and by_name['good']['server_type'] == 'generic'
    assert 'topsecret' not in out
    assert '2 of 3' in result['msg']


def test_dicomweb_health_roundtrip_generic_is_skipped(run_module, http_server):
    good = http_server(lambda h: (200, {'Content-Type': 'application/dicom+json'}, b'[]'))
    result, _out, _err = run_module('dicomweb_health', dict(url=good.base + '/x', roundtrip=True))
    assert result['healthy'] is True
    assert result['endpoints'][0]['probes']['roundtrip']['skipped'] is True
    assert 'server_type' in result['endpoints'][0]['notes'][0]


def test_dicomweb_health_roundtrip_check_mode(run_module, http_server):
    good = http_server(lambda h: (200, {'Content-Type': 'application/dicom+json'}, b'[]'))
    result, _out, _err = run_module('dicomweb_health', dict(url=good.base + '/dicom-web', roundtrip=True,
                                                            server_type='orthanc'), check_mode=True)
    assert result['healthy'] is True
    assert 'check mode' in result['endpoints'][0]['probes']['roundtrip']['msg']


def test_dicomweb_health_tls_failure(run_module, tls_server):
    server, ca_path = tls_server
    result, out, err = run_module('dicomweb_health', dict(url=server.base + '/dicom-web'))
    _assert_clean_failure(result, out, err, 'TLS certificate verification failed')
    result, _out, _err = run_module('dicomweb_health', dict(url=server.base + '/dicom-web', ca_path=ca_path))
    assert result['healthy'] is True


@pytest.mark.parametrize('args,fragment', [
    (dict(host='127.0.0.1', port=104, called_aet='THIS-IS-TOO-LONG-X'), 'at most 16'),
    (dict(host='127.0.0.1', port=104, called_aet='A\\B'), 'backslash'),
    (dict(host='127.0.0.1', port=104, called_aet='OK', calling_aet='   '), 'only of spaces'),
    (dict(host='127.0.0.1', port=0, called_aet='OK'), 'port'),
    (dict(host='nonexistent.invalid', port=104, called_aet='OK'), 'Cannot resolve'),
])
def test_dicom_echo_bad_input(run_module, args, fragment):
    result, out, err = run_module('dicom_echo', args)
    _assert_clean_failure(result, out, err, fragment)


def test_dicom_echo_refused(run_module, closed_port):
    pytest.importorskip('pynetdicom')
    result, out, err = run_module('dicom_echo', dict(host='127.0.0.1', port=closed_port, called_aet='X',
                                                     retries=1, delay=0))
    _assert_clean_failure(result, out, err, 'Connection refused')
    assert result['kind'] == 'connection_refused'
    assert 'after 2 attempts' in result['msg']


@pytest.mark.parametrize('args,fragment', [
    (dict(name='bad name', aet='A', host='h', port=104), 'not a valid Orthanc modality name'),
    (dict(name='ws', aet='A\\B', host='h', port=104), 'backslash'),
    (dict(name='ws', aet='A', host='h', port=104, local_aet='X' * 17), 'local_aet'),
    (dict(name='ws', aet='A', host='h', port=99999), 'port'),
    (dict(name='ws', aet='A'), 'missing'),
])
def test_orthanc_modality_bad_input(run_module, closed_port, args, fragment):
    args = dict(args, url='http://127.0.0.1:%d' % closed_port)
    result, out, err = run_module('orthanc_modality', args)
    _assert_clean_failure(result, out, err, fragment)


def test_orthanc_modality_refused(run_module, closed_port):
    result, out, err = run_module('orthanc_modality', dict(url='http://127.0.0.1:%d' % closed_port, name='ws',
                                                           aet='WS', host='h', port=104, url_password='pw123456'))
    _assert_clean_failure(result, out, err, 'Connection refused')
    assert 'pw123456' not in json.dumps(result)
