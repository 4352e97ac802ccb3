# -*- coding: utf-8 -*-
"""dicomweb_health as a real subprocess against loopback servers: bad input, failures, round trip."""
from __future__ import absolute_import, division, print_function

import pytest


@pytest.mark.parametrize('args,fragment', [
    (dict(url='http://127.0.0.1:8042/dicom-web', endpoints=[{'url': 'http://x'}]), 'mutually exclusive'),
    (dict(), 'one of the following is required'),
    (dict(url='127.0.0.1:8042/dicom-web'), 'no scheme'),
    (dict(url='http://127.0.0.1:8042/dicom-web', timeout=0), 'timeout'),
    (dict(url='http://nonexistent.invalid/dicom-web'), 'Cannot resolve the host name'),
])
def test_dicomweb_health_bad_input(assert_clean_failure, run_module, args, fragment):
    result, out, err = run_module('dicomweb_health', args)
    assert_clean_failure(result, out, err, fragment)


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


def test_dicomweb_health_tls_failure(assert_clean_failure, run_module, tls_server):
    server, ca_path = tls_server
    result, out, err = run_module('dicomweb_health', dict(url=server.base + '/dicom-web'))
    assert_clean_failure(result, out, err, 'TLS certificate verification failed')
    result, _out, _err = run_module('dicomweb_health', dict(url=server.base + '/dicom-web', ca_path=ca_path))
    assert result['healthy'] is True


def test_dicomweb_health_roundtrip_against_the_fake_orthanc(run_module, fake_pacs):
    pytest.importorskip('pydicom')
    result, _out, _err = run_module('dicomweb_health', dict(url=fake_pacs.url, roundtrip=True))
    assert result['healthy'] is True and result['changed'] is False, result
    roundtrip = result['endpoints'][0]['probes']['roundtrip']
    assert set(roundtrip['steps']) == {'stow', 'qido', 'wado', 'delete'} and roundtrip['ok'] is True
    assert fake_pacs.stored == {}


def test_dicomweb_health_roundtrip_needs_pydicom(assert_clean_failure, run_module, fake_pacs, no_pydicom):
    result, out, err = run_module('dicomweb_health', dict(url=fake_pacs.url, roundtrip=True))
    assert_clean_failure(result, out, err, 'pydicom')
    result, _out, _err = run_module('dicomweb_health', dict(url=fake_pacs.url))
    assert result['healthy'] is True  # the probes alone need no pydicom
