# -*- coding: utf-8 -*-
"""module_utils/health.py: endpoint configuration, server detection and the STOW/QIDO/WADO/delete round trip
against the fake Orthanc of tests/unit/plugins/conftest.py."""
from __future__ import absolute_import, division, print_function

import pytest

from ansible_collections.medimg.pacs.plugins.module_utils import health
from ansible_collections.medimg.pacs.plugins.module_utils.http_client import HttpClient


def _params(**kwargs):
    params = dict(url=None, name=None, endpoints=None, url_username=None, url_password=None, bearer_token=None,
                  validate_certs=True, ca_path=None, timeout=5, retries=0, delay=0, study_uid=None, roundtrip=False,
                  server_type='auto', api_url=None, use_proxy=True)
    params.update(kwargs)
    return params


def test_endpoint_configs_merge_module_options():
    configs = health.endpoint_configs(_params(url='http://a/dicom-web', endpoints=[
        {'url': 'http://b/dicom-web', 'name': 'b', 'roundtrip': True, 'url_username': 'u'}], timeout=7))
    assert [c['name'] for c in configs] == ['http://a/dicom-web', 'b']
    assert configs[1]['roundtrip'] is True and configs[1]['timeout'] == 7 and configs[1]['url_username'] == 'u'
    assert 'mutually exclusive' in health.config_error(dict(url='http://a/', bearer_token='t', url_username='u'))
    assert 'no scheme' in health.config_error(dict(url='a/dicom-web'))


def test_detect_server(fake_pacs):
    client = HttpClient(timeout=5)
    assert health.detect_server(client, fake_pacs.url)[0] == 'orthanc'
    assert health.detect_server(client, 'http://h:8080/dcm4chee-arc/aets/DCM4CHEE/rs') == (
        'dcm4chee', {'archive_url': 'http://h:8080/dcm4chee-arc', 'aet': 'DCM4CHEE'})
    assert health.detect_server(client, fake_pacs.root + '/other') == ('generic', {})


def test_roundtrip_through_the_fake_orthanc(fake_pacs):
    pytest.importorskip('pydicom')
    result = health.probe_endpoint(dict(_params(url=fake_pacs.url, roundtrip=True), name='fake'))
    probes = result['probes']
    assert probes['qido']['ok'] is True and result['server_type'] == 'orthanc'
    steps = probes['roundtrip']['steps']
    assert all(step['ok'] for step in steps.values()) and set(steps) == {'stow', 'qido', 'wado', 'delete'}, steps
    assert probes['roundtrip']['ok'] is True and probes['roundtrip']['instance_builder'] == 'pydicom'
    assert fake_pacs.stored == {}  # the test study was deleted again


def test_roundtrip_skipped_in_check_mode_and_for_generic(http_server):
    server = http_server(lambda h: (200, {'Content-Type': 'application/dicom+json'}, b'[]'))
    result = health.probe_endpoint(dict(_params(url=server.base + '/x', roundtrip=True), name='g'))
    assert result['ok'] is True and result['probes']['roundtrip']['skipped'] is True
    result = health.probe_endpoint(dict(_params(url=server.base + '/dicom-web', roundtrip=True), name='c'),
                                   check_mode=True)
    assert 'check mode' in result['probes']['roundtrip']['msg']
    assert health.summarize([result]) == 'all 1 DICOMweb endpoint(s) healthy'
