# -*- coding: utf-8 -*-
"""module_utils/dicomweb.py: URL validation, multipart, test instance, failure classification.

The failure classification runs against real loopback servers (http.server), a
self-signed TLS server and a closed port; the client is never mocked.
"""
from __future__ import absolute_import, division, print_function

import io
import json
import struct
import time

import pytest

from ansible_collections.medimg.pacs.plugins.module_utils import dicomweb as dw


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
    assert dw.validate_url(url) is None


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
    error = dw.validate_url(url, 'url')
    assert error is not None and fragment in error, error


def test_join_url_quotes_segments_and_query():
    url = dw.join_url('http://h/dicom-web/', 'studies', '1.2.3', limit=1, StudyInstanceUID=None)
    assert url == 'http://h/dicom-web/studies/1.2.3?limit=1'
    assert dw.join_url('http://h', 'modalities', 'a b/c') == 'http://h/modalities/a%20b%2Fc'


# ---------------------------------------------------------------------------
# multipart/related
# ---------------------------------------------------------------------------
def test_multipart_roundtrip():
    parts = [('application/dicom', b'\x00\x01binary\r\n--not-a-boundary'), ('application/dicom', b'second')]
    body, ctype = dw.build_multipart_related(parts, boundary='XyZ')
    media, params = dw.content_type_params(ctype)
    assert media == 'multipart/related'
    assert params == {'type': 'application/dicom', 'boundary': 'XyZ'}
    assert body.startswith(b'--XyZ\r\nContent-Type: application/dicom\r\n\r\n')
    assert body.endswith(b'--XyZ--\r\n')
    parsed = dw.parse_multipart_related(body, ctype)
    assert [p[1] for p in parsed] == [parts[0][1], parts[1][1]]
    assert parsed[0][0]['content-type'] == 'application/dicom'


def test_multipart_boundary_collision_is_avoided():
    payload = b'abc--XyZdef'
    body, ctype = dw.build_multipart_related([('application/dicom', payload)], boundary='XyZ')
    assert 'boundary=XyZ' not in ctype
    assert dw.parse_multipart_related(body, ctype)[0][1] == payload


def test_multipart_parse_quoted_boundary_and_preamble():
    body = (b'preamble\r\n--b1\r\nContent-Type: application/dicom\r\n'
            b'Content-Location: x\r\n\r\nDATA\r\n--b1--\r\nepilogue')
    parts = dw.parse_multipart_related(body, 'multipart/related; type="application/dicom"; boundary="b1"')
    assert len(parts) == 1
    assert parts[0][1] == b'DATA'
    assert parts[0][0]['content-location'] == 'x'


@pytest.mark.parametrize('ctype', ['application/json', 'multipart/related; type="application/dicom"'])
def test_multipart_parse_errors(ctype):
    with pytest.raises(dw.DicomWebError):
        dw.parse_multipart_related(b'', ctype)


# ---------------------------------------------------------------------------
# Generated test instance
# ---------------------------------------------------------------------------
def test_builtin_instance_reads_back_with_pydicom():
    pydicom = pytest.importorskip('pydicom')
    data, uids = dw.build_test_instance(use_pydicom=False)
    assert uids['builder'] == 'builtin'
    assert data[128:132] == b'DICM'
    assert len(data) % 2 == 0
    ds = pydicom.dcmread(io.BytesIO(data))  # strict Part 10 parsing (no force)
    assert ds.file_meta.TransferSyntaxUID == dw.EXPLICIT_VR_LITTLE_ENDIAN
    assert ds.file_meta.MediaStorageSOPClassUID == dw.SECONDARY_CAPTURE_SOP_CLASS
    assert ds.file_meta.MediaStorageSOPInstanceUID == uids['sop_uid']
    assert ds.SOPInstanceUID == uids['sop_uid']
    assert ds.StudyInstanceUID == uids['study_uid']
    assert ds.SeriesInstanceUID == uids['series_uid']
    assert ds.PatientID == dw.PROBE_PATIENT_ID
    assert str(ds.PatientName) == dw.PROBE_PATIENT_NAME
    assert ds.Modality == 'OT'
    assert (ds.Rows, ds.Columns, ds.BitsAllocated, ds.SamplesPerPixel) == (4, 4, 8, 1)
    assert ds.PhotometricInterpretation == 'MONOCHROME2'
    assert len(ds.PixelData) == 16
    # group length of the file meta information is right
    group_length = struct.unpack('<I', data[132 + 8:132 + 12])[0]
    meta_end = 132 + 12 + group_length
    assert data[meta_end:meta_end + 2] == b'\x08\x00'  # next element is in group 0008
    # every element in the data set has an even length and tags ascend
    tags = [elem.tag for elem in ds]
    assert tags == sorted(tags)
    # pixel data decodes (numpy optional)
    numpy = pytest.importorskip('numpy')
    pixels = ds.pixel_array
    assert pixels.shape == (4, 4)
    assert int(numpy.max(pixels)) == 255 and int(numpy.min(pixels)) == 0


def test_builtin_and_pydicom_builders_agree():
    pytest.importorskip('pydicom')
    kwargs = dict(study_uid='1.2.3', series_uid='1.2.3.4', sop_uid='1.2.3.4.5')
    builtin, dummy = dw.build_test_instance(use_pydicom=False, **kwargs)
    via_pydicom, uids = dw.build_test_instance(use_pydicom=True, **kwargs)
    assert uids['builder'] == 'pydicom'
    import pydicom
    a = pydicom.dcmread(io.BytesIO(builtin))
    b = pydicom.dcmread(io.BytesIO(via_pydicom))
    for keyword in ('SOPClassUID', 'SOPInstanceUID', 'StudyInstanceUID', 'SeriesInstanceUID', 'PatientID',
                    'Rows', 'Columns', 'PixelData', 'StudyDescription'):
        assert getattr(a, keyword) == getattr(b, keyword), keyword


def test_uids_are_valid_and_unique():
    uids = set(dw.generate_uid() for dummy in range(200))
    assert len(uids) == 200
    for uid in uids:
        assert uid.startswith('2.25.') and len(uid) <= 64
        assert all(part.isdigit() and (part == '0' or not part.startswith('0')) for part in uid.split('.'))


def test_odd_length_values_are_padded():
    element = dw._element(0x0008, 0x0018, 'UI', '1.2.3')
    assert element[-1:] == b'\x00' and len(element) % 2 == 0
    element = dw._element(0x0010, 0x0010, 'PN', 'ABC')
    assert element[-1:] == b' '


# ---------------------------------------------------------------------------
# Failure classification against real loopback servers
# ---------------------------------------------------------------------------
def _json_answer(data, status=200, ctype='application/dicom+json'):
    return lambda handler: (status, {'Content-Type': ctype}, json.dumps(data).encode())


def test_qido_ok(http_server):
    server = http_server(_json_answer([{'0020000D': {'vr': 'UI', 'Value': ['1.2.3']}}]))
    response, studies = dw.qido_studies(dw.HttpClient(timeout=5), server.base + '/dicom-web')
    assert response.status == 200
    assert dw.dicom_json_value(studies[0], '0020000D') == '1.2.3'
    assert response.latency_ms >= 0


def test_qido_204_is_an_empty_result(http_server):
    server = http_server(lambda handler: (204, {}, b''))
    dummy, studies = dw.qido_studies(dw.HttpClient(timeout=5), server.base + '/dicom-web')
    assert studies == []


def test_basic_and_bearer_auth_headers(http_server):
    seen = []

    def respond(handler):
        seen.append(handler.headers.get('Authorization'))
        return 200, {'Content-Type': 'application/json'}, b'[]'

    server = http_server(respond)
    dw.qido_studies(dw.HttpClient(username='admin', password='s3cret', timeout=5), server.base)
    dw.qido_studies(dw.HttpClient(bearer_token='tok123', timeout=5), server.base)
    assert seen[0].startswith('Basic ') and seen[1] == 'Bearer tok123'


@pytest.mark.parametrize('status,kind,fragment', [
    (401, dw.KIND_UNAUTHORIZED, 'url_username/url_password or bearer_token'),
    (403, dw.KIND_FORBIDDEN, 'may not use this resource'),
    (404, dw.KIND_NOT_FOUND, 'check the path'),
    (500, dw.KIND_SERVER_ERROR, 'HTTP 500'),
    (418, dw.KIND_HTTP, 'HTTP 418'),
])
def test_http_status_classification(http_server, status, kind, fragment):
    server = http_server(lambda handler: (status, {'Content-Type': 'text/plain'}, b'nope'))
    with pytest.raises(dw.DicomWebError) as err:
        dw.qido_studies(dw.HttpClient(timeout=5), server.base + '/dicom-web')
    assert err.value.kind == kind
    assert err.value.status == status
    assert fragment in err.value.message


def test_html_answer_is_not_dicomweb(http_server):
    server = http_server(lambda handler: (200, {'Content-Type': 'text/html; charset=utf-8'},
                                          b'<!DOCTYPE html><html><body>Welcome to nginx!</body></html>'))
    with pytest.raises(dw.DicomWebError) as err:
        dw.qido_studies(dw.HttpClient(timeout=5), server.base + '/dicom-web')
    assert err.value.kind == dw.KIND_NOT_DICOMWEB
    assert 'not a DICOMweb service' in err.value.message


def test_html_without_content_type_is_not_dicomweb(http_server):
    server = http_server(lambda handler: (200, {}, b'  <html><head></head></html>'))
    with pytest.raises(dw.DicomWebError) as err:
        dw.qido_studies(dw.HttpClient(timeout=5), server.base)
    assert err.value.kind == dw.KIND_NOT_DICOMWEB


@pytest.mark.parametrize('body', [b'this is plain text', b'{"not": "a list"}', b'[1, 2]'])
def test_non_dicom_json_is_not_dicomweb(http_server, body):
    server = http_server(lambda handler: (200, {'Content-Type': 'application/json'}, body))
    with pytest.raises(dw.DicomWebError) as err:
        dw.qido_studies(dw.HttpClient(timeout=5), server.base)
    assert err.value.kind == dw.KIND_NOT_DICOMWEB


def test_slow_answer_times_out(http_server):
    def respond(handler):
        time.sleep(3)
        return 200, {'Content-Type': 'application/json'}, b'[]'

    server = http_server(respond)
    started = time.time()
    with pytest.raises(dw.DicomWebError) as err:
        dw.qido_studies(dw.HttpClient(timeout=1), server.base)
    assert err.value.kind == dw.KIND_TIMEOUT
    assert 'within 1 seconds' in err.value.message
    assert time.time() - started < 2.9


def test_refused_port(closed_port):
    with pytest.raises(dw.DicomWebError) as err:
        dw.qido_studies(dw.HttpClient(timeout=5), 'http://127.0.0.1:%d/dicom-web' % closed_port)
    assert err.value.kind == dw.KIND_REFUSED
    assert 'Connection refused by 127.0.0.1:%d' % closed_port in err.value.message


def test_refused_port_retries_then_gives_up(closed_port):
    client = dw.HttpClient(timeout=2, retries=2, delay=0)
    with pytest.raises(dw.DicomWebError) as err:
        dw.qido_studies(client, 'http://127.0.0.1:%d/' % closed_port)
    assert 'after 3 attempts' in err.value.message


def test_retry_until_service_answers(http_server):
    calls = []

    def respond(handler):
        calls.append(1)
        if len(calls) < 3:
            return 503, {'Content-Type': 'text/plain'}, b'starting'
        return 200, {'Content-Type': 'application/json'}, b'[]'

    server = http_server(respond)
    response, dummy = dw.qido_studies(dw.HttpClient(timeout=5, retries=5, delay=0), server.base)
    assert response.attempts == 3


def test_auth_failures_are_not_retried(http_server):
    calls = []

    def respond(handler):
        calls.append(1)
        return 401, {}, b''

    server = http_server(respond)
    with pytest.raises(dw.DicomWebError):
        dw.qido_studies(dw.HttpClient(timeout=5, retries=5, delay=0), server.base)
    assert len(calls) == 1


def test_unresolvable_host():
    with pytest.raises(dw.DicomWebError) as err:
        dw.qido_studies(dw.HttpClient(timeout=5), 'http://nonexistent.invalid/dicom-web')
    assert err.value.kind == dw.KIND_DNS
    assert "'nonexistent.invalid'" in err.value.message


def test_tls_verification_failure(tls_server):
    server, _ca = tls_server
    with pytest.raises(dw.DicomWebError) as err:
        dw.qido_studies(dw.HttpClient(timeout=5), server.base + '/dicom-web')
    assert err.value.kind == dw.KIND_TLS
    assert 'certificate verification failed' in err.value.message
    assert 'ca_path' in err.value.message


def test_tls_with_ca_path_and_without_validation(tls_server):
    server, ca_path = tls_server
    response, studies = dw.qido_studies(dw.HttpClient(timeout=5, ca_path=ca_path), server.base + '/dicom-web')
    assert response.status == 200 and studies == []
    response, dummy = dw.qido_studies(dw.HttpClient(timeout=5, validate_certs=False), server.base + '/dicom-web')
    assert response.status == 200


def test_plain_http_to_tls_port_is_a_connection_error(tls_server):
    server, _ca = tls_server
    with pytest.raises(dw.DicomWebError) as err:
        dw.qido_studies(dw.HttpClient(timeout=5), 'http://127.0.0.1:%d/' % server.port)
    assert err.value.kind in (dw.KIND_CONNECTION, dw.KIND_HTTP)


def test_stow_builds_multipart_and_reports_failures(http_server):
    received = {}

    def respond(handler):
        received['ctype'] = handler.headers.get('Content-Type')
        received['body'] = handler.request_body
        answer = {'00081198': {'vr': 'SQ', 'Value': [{'00081197': {'vr': 'US', 'Value': [272]}}]}}
        return 200, {'Content-Type': 'application/dicom+json'}, json.dumps(answer).encode()

    server = http_server(respond)
    data, _uids = dw.build_test_instance(use_pydicom=False)
    with pytest.raises(dw.DicomWebError) as err:
        dw.stow_instances(dw.HttpClient(timeout=5), server.base, [data])
    assert 'refused 1 instance' in err.value.message and '272' in err.value.message
    parts = dw.parse_multipart_related(received['body'], received['ctype'])
    assert parts[0][1] == data


def test_dcm4chee_and_orthanc_roots():
    assert dw.split_orthanc_root('http://h:8042/dicom-web/') == 'http://h:8042'
    assert dw.split_orthanc_root('http://h:8042/other') is None
    assert dw.dcm4chee_archive_root('http://h:8080/dcm4chee-arc/aets/DCM4CHEE/rs') == (
        'http://h:8080/dcm4chee-arc', 'DCM4CHEE')
    assert dw.dcm4chee_archive_root('http://h:8042/dicom-web') == (None, None)
