# -*- coding: utf-8 -*-
"""module_utils/dicomweb.py: QIDO-RS, WADO-RS and STOW-RS helpers and DICOM JSON values against real
loopback servers (the fake PACS of tests/unit/plugins/conftest.py or plain http.server answers)."""
from __future__ import absolute_import, division, print_function

import json

import pytest

from ansible_collections.medimg.pacs.plugins.module_utils import dicomweb as dw
from ansible_collections.medimg.pacs.plugins.module_utils.dicom_files import build_test_instance
from ansible_collections.medimg.pacs.plugins.module_utils.http_client import DicomWebError, HttpClient
from ansible_collections.medimg.pacs.plugins.module_utils import http_client as hc
from ansible_collections.medimg.pacs.plugins.module_utils.multipart import build_multipart, parse_multipart_related


def _json_answer(data, status=200, ctype='application/dicom+json'):
    return lambda handler: (status, {'Content-Type': ctype}, json.dumps(data).encode())


def test_qido_ok(http_server):
    server = http_server(_json_answer([{'0020000D': {'vr': 'UI', 'Value': ['1.2.3']}}]))
    response, studies = dw.qido_studies(HttpClient(timeout=5), server.base + '/dicom-web')
    assert response.status == 200
    assert dw.dicom_json_value(studies[0], '0020000D') == '1.2.3'
    assert response.latency_ms >= 0


def test_qido_204_is_an_empty_result(http_server):
    server = http_server(lambda handler: (204, {}, b''))
    dummy, studies = dw.qido_studies(HttpClient(timeout=5), server.base + '/dicom-web')
    assert studies == []


def test_html_answer_is_not_dicomweb(http_server):
    server = http_server(lambda handler: (200, {'Content-Type': 'text/html; charset=utf-8'},
                                          b'<!DOCTYPE html><html><body>Welcome to nginx!</body></html>'))
    with pytest.raises(DicomWebError) as err:
        dw.qido_studies(HttpClient(timeout=5), server.base + '/dicom-web')
    assert err.value.kind == hc.KIND_NOT_DICOMWEB
    assert 'not a DICOMweb service' in err.value.message


def test_html_without_content_type_is_not_dicomweb(http_server):
    server = http_server(lambda handler: (200, {}, b'  <html><head></head></html>'))
    with pytest.raises(DicomWebError) as err:
        dw.qido_studies(HttpClient(timeout=5), server.base)
    assert err.value.kind == hc.KIND_NOT_DICOMWEB


@pytest.mark.parametrize('body', [b'this is plain text', b'{"not": "a list"}', b'[1, 2]'])
def test_non_dicom_json_is_not_dicomweb(http_server, body):
    server = http_server(lambda handler: (200, {'Content-Type': 'application/json'}, body))
    with pytest.raises(DicomWebError) as err:
        dw.qido_studies(HttpClient(timeout=5), server.base)
    assert err.value.kind == hc.KIND_NOT_DICOMWEB


def test_stow_builds_multipart_and_reports_failures(http_server):
    received = {}

    def respond(handler):
        received['ctype'] = handler.headers.get('Content-Type')
        received['body'] = handler.request_body
        answer = {'00081198': {'vr': 'SQ', 'Value': [{'00081197': {'vr': 'US', 'Value': [272]}}]}}
        return 200, {'Content-Type': 'application/dicom+json'}, json.dumps(answer).encode()

    server = http_server(respond)
    data, _uids = build_test_instance()
    with pytest.raises(DicomWebError) as err:
        dw.stow_instances(HttpClient(timeout=5), server.base, [data])
    assert 'refused 1 instance' in err.value.message and '272' in err.value.message
    parts = parse_multipart_related(received['body'], received['ctype'])
    assert parts[0][1] == data


# ---------------------------------------------------------------------------------------------
# STOW-RS answers
# ---------------------------------------------------------------------------------------------
ORTHANC_PARTIAL = {
    '00080005': {'Value': ['ISO_IR 100'], 'vr': 'CS'},
    '00081198': {'vr': 'SQ'},
    '00081199': {'Value': [{'00081150': {'Value': ['1.2.840.10008.5.1.4.1.1.2'], 'vr': 'UI'},
                            '00081155': {'Value': ['1.2.3.4'], 'vr': 'UI'}}], 'vr': 'SQ'},
}


def test_parse_stow_response_orthanc_shape():
    stored, failed, listed = dw.parse_stow_response(json.dumps(ORTHANC_PARTIAL).encode())
    assert stored == {'1.2.3.4'} and failed == {} and listed


def test_parse_stow_response_failed_sequence():
    body = {'00081198': {'vr': 'SQ', 'Value': [
        {'00081155': {'vr': 'UI', 'Value': ['9.9']}, '00081197': {'vr': 'US', 'Value': [0xC122]}},
        {'00081155': {'vr': 'UI', 'Value': ['9.8']}, '00081197': {'vr': 'US', 'Value': [0xA7FF]}},
        {'00081155': {'vr': 'UI', 'Value': ['9.7']}}]}}
    stored, failed, listed = dw.parse_stow_response(json.dumps([body]).encode())
    assert listed and not stored
    assert failed['9.9'] == 'STOW-RS failure reason 0xC122 (transfer syntax not supported)'
    assert failed['9.8'] == 'STOW-RS failure reason 0xA7FF (out of resources)'
    assert failed['9.7'].startswith('STOW-RS failure reason')


@pytest.mark.parametrize('body', [b'', b'<html>nope</html>', b'{}', b'[]', b'"x"', b'\xff\xfe'])
def test_parse_stow_response_unlisted(body):
    assert dw.parse_stow_response(body) == (set(), {}, False)


def test_dicom_json_values():
    item = {'00080018': {'vr': 'UI', 'Value': ['1.2', '1.3']}, '0020000d': {'vr': 'UI', 'Value': ['9']}}
    assert dw.dicom_json_values(item, '00080018') == ['1.2', '1.3']
    assert dw.dicom_json_value(item, '0020000D') == '9'
    assert dw.dicom_json_value(item, '00100010', 'none') == 'none'
    assert dw.dicom_json_values('not a dict', '00080018') == []


def test_wado_instance_picks_the_dicom_part(http_server):
    data, _uids = build_test_instance()
    body, ctype = build_multipart([data])
    server = http_server(lambda h: (200, {'Content-Type': ctype}, body))
    _response, instance = dw.wado_instance(HttpClient(timeout=5), server.base, '1', '2', '3')
    assert instance == data


def test_wado_instance_not_multipart(http_server):
    server = http_server(lambda h: (200, {'Content-Type': 'application/json'}, b'{}'))
    with pytest.raises(DicomWebError) as err:
        dw.wado_instance(HttpClient(timeout=5), server.base, '1', '2', '3')
    assert err.value.kind == hc.KIND_PROTOCOL


def test_qido_instance_uids_pages(fake_pacs):
    study = '1.2.3'
    fake_pacs.stored = dict(('1.2.3.%d' % i, (study, b'')) for i in range(7))
    fake_pacs.page_limit = 3
    client = HttpClient(timeout=5)
    assert dw.qido_instance_uids(client, fake_pacs.url, study, page_size=5) == set(fake_pacs.stored)
    offsets = [p for m, p, _n in fake_pacs.requests if 'offset=' in p]
    assert any('offset=3' in p for p in offsets) and any('offset=6' in p for p in offsets)
    assert dw.qido_instance_uids(client, fake_pacs.url, '9.9') == set()  # 204


def test_qido_instance_uids_errors(http_server):
    server = http_server(lambda h: (401, {}, b''))
    with pytest.raises(DicomWebError) as err:
        dw.qido_instance_uids(HttpClient(timeout=5), server.base, '1.2')
    assert err.value.kind == hc.KIND_UNAUTHORIZED
