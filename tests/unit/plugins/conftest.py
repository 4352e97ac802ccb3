# -*- coding: utf-8 -*-
"""Fixtures of the plugin unit tests: a fake DICOMweb/Orthanc server on loopback and a DICOM tree.

Built on the ``http_server`` fixture of ``tests/unit/conftest.py`` (a real loopback
``http.server``); nothing is mocked on the client side.
"""
from __future__ import absolute_import, division, print_function

import base64
import json
import os
import threading

from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from ansible_collections.medimg.pacs.plugins.module_utils.dicom_files import (
    DicomHeaderError, NotDicomError, read_header)
from ansible_collections.medimg.pacs.plugins.module_utils.multipart import build_multipart, parse_multipart_related


def write_instance(path, study, series, sop, pixels=64):
    """A small Secondary Capture Part-10 file (explicit VR little endian)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = '1.2.840.10008.5.1.4.1.1.7'
    meta.MediaStorageSOPInstanceUID = sop
    meta.TransferSyntaxUID = '1.2.840.10008.1.2.1'
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = sop
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.PatientID = 'P'
    ds.add_new(0x7FE00010, 'OB', b'\0' * pixels)
    directory = os.path.dirname(path)
    if directory and not os.path.isdir(directory):
        os.makedirs(directory)
    ds.save_as(path, enforce_file_format=True, implicit_vr=False, little_endian=True)


@pytest.fixture
def assert_clean_failure():
    """assert_clean_failure(result, out, err, fragment): failed, ``fragment`` in msg, no traceback."""
    def check(result, out, err, fragment):
        assert result.get('failed') is True, result
        assert fragment in result['msg'], result['msg']
        assert 'Traceback' not in out + err
        assert 'MODULE FAILURE' not in out + err
    return check


@pytest.fixture
def write_dicom():
    """write_dicom(path, study, series, sop, pixels=64): a small Part-10 file."""
    pytest.importorskip('pydicom')
    return write_instance


@pytest.fixture
def dicom_tree(tmp_path):
    """2 studies x 5 instances + 1 text file; returns (src, {sop: path}, [study uids])."""
    pytest.importorskip('pydicom')
    from pydicom.uid import generate_uid
    src = tmp_path / 'src'
    uids = {}
    studies = []
    for s in range(2):
        study, series = generate_uid(), generate_uid()
        studies.append(study)
        for i in range(5):
            sop = generate_uid()
            path = str(src / ('st%d' % s) / ('%02d.dcm' % i))
            write_instance(path, study, series, sop)
            uids[sop] = path
    (src / 'notes.txt').write_text(u'hello')
    return str(src), uids, studies


class FakePacs:
    """STOW-RS (/dicom-web/studies), paged QIDO-RS instances, Orthanc /tools/lookup, /studies/{id}/instances,
    DELETE /studies/{id} and /system: the state lives in ``stored``; knobs below change the answers."""

    def __init__(self):
        self.stored = {}            # sop -> (study, bytes)
        self.requests = []          # (method, path, number of parts)
        self.connections = set()
        self.lock = threading.Lock()
        self.user = None            # (user, password) basic auth required when set
        self.fail_uids = {}         # sop -> failure reason code (FailedSOPSequence)
        self.reject_batch_with = set()  # batches containing these sops get HTTP 400, no body
        self.transient = []         # statuses to answer to the next POSTs (then normal)
        self.retry_after = None     # Retry-After header of those answers
        self.close_every = False    # answer with Connection: close
        self.page_limit = None      # QIDO: the server caps results at this many
        self.listing = True         # STOW answers list Referenced/FailedSOPSequence
        self.url = None

    def _auth_ok(self, handler):
        if not self.user:
            return True
        want = 'Basic ' + base64.b64encode(('%s:%s' % self.user).encode()).decode()
        return handler.headers.get('Authorization') == want

    def _answer(self, status, body=b'', ctype='application/dicom+json', headers=None):
        out = {'Content-Type': ctype}
        out.update(headers or {})
        if self.close_every:
            out['Connection'] = 'close'
        return status, out, body

    def respond(self, handler):
        with self.lock:
            self.connections.add(handler.client_address)
        if not self._auth_ok(handler):
            with self.lock:
                self.requests.append((handler.command, handler.path, -1))
            return self._answer(401, b'', 'text/plain')
        if handler.command == 'GET':
            return self._get(handler)
        if handler.command == 'DELETE':
            return self._delete(handler)
        return self._post(handler)

    def _get(self, handler):
        with self.lock:
            self.requests.append(('GET', handler.path, 0))
        parts = urlsplit(handler.path)
        segs = [unquote(p) for p in parts.path.split('/') if p]
        query = parse_qs(parts.query)
        if len(segs) == 4 and segs[0] == 'dicom-web' and segs[1] == 'studies' and segs[3] == 'instances':
            with self.lock:
                uids = sorted(sop for sop, (study, _b) in self.stored.items() if study == segs[2])
            offset = int(query.get('offset', ['0'])[0])
            limit = int(query.get('limit', ['100000'])[0])
            if self.page_limit:
                limit = min(limit, self.page_limit)
            page = uids[offset:offset + limit]
            if not uids:
                return self._answer(204)
            body = [{'00080018': {'vr': 'UI', 'Value': [u]}} for u in page]
            more = {}
            if offset + len(page) < len(uids):
                more = {'Warning': '299 127.0.0.1: There are more results that match the query'}
            return self._answer(200, json.dumps(body).encode(), headers=more)
        if segs == ['dicom-web', 'studies']:  # QIDO-RS studies, optionally ?StudyInstanceUID=
            wanted = query.get('StudyInstanceUID', [None])[0]
            with self.lock:
                studies = sorted(set(st for st, _b in self.stored.values() if wanted in (None, st)))
            body = [{'0020000D': {'vr': 'UI', 'Value': [st]}} for st in studies]
            return self._answer(200, json.dumps(body).encode())
        if len(segs) == 7 and segs[:2] == ['dicom-web', 'studies'] and segs[5] == 'instances':  # WADO-RS
            with self.lock:
                found = self.stored.get(segs[6])
            if not found:
                return self._answer(404, b'not found', 'text/plain')
            body, ctype = build_multipart([found[1]])
            return self._answer(200, body, ctype)
        if len(segs) == 3 and segs[0] == 'studies' and segs[2] == 'instances':  # Orthanc REST
            wanted = segs[1][len('orthanc-'):]
            with self.lock:
                uids = sorted(sop for sop, (study, _b) in self.stored.items() if study == wanted)
            body = [{'MainDicomTags': {'SOPInstanceUID': u}} for u in uids]
            return self._answer(200, json.dumps(body).encode(), 'application/json')
        if segs == ['system']:
            return self._answer(200, b'{"Version": "1.12.0", "DicomAet": "ORTHANC"}', 'application/json')
        return self._answer(404, b'not found', 'text/plain')

    def _delete(self, handler):
        segs = [unquote(p) for p in urlsplit(handler.path).path.split('/') if p]
        with self.lock:
            self.requests.append(('DELETE', handler.path, 0))
            if len(segs) == 2 and segs[0] == 'studies':
                wanted = segs[1][len('orthanc-'):]
                for sop in [sop for sop, (study, _b) in self.stored.items() if study == wanted]:
                    del self.stored[sop]
                return self._answer(200, b'{}', 'application/json')
        return self._answer(404, b'not found', 'text/plain')

    def _post(self, handler):
        body = handler.request_body
        segs = [p for p in urlsplit(handler.path).path.split('/') if p]
        if segs == ['tools', 'lookup']:
            with self.lock:
                self.requests.append(('POST', handler.path, 0))
                known = any(st == body.decode() for st, _b in self.stored.values())
            answer = [{'ID': 'orthanc-' + body.decode(), 'Type': 'Study'}] if known else []
            return self._answer(200, json.dumps(answer).encode(), 'application/json')
        if segs != ['dicom-web', 'studies']:
            return self._answer(404, b'not found', 'text/plain')
        parts = parse_multipart_related(body, handler.headers.get('Content-Type'))
        with self.lock:
            self.requests.append(('POST', handler.path, len(parts)))
            if self.transient:
                status = self.transient.pop(0)
                extra = {'Retry-After': self.retry_after} if self.retry_after is not None else None
                return self._answer(status, b'busy', 'text/plain', extra)
        headers_list = []
        for _headers, payload in parts:
            headers_list.append((_read_payload(payload), payload))
        sops = set(h['sop_instance_uid'] for h, _p in headers_list if h)
        if sops & self.reject_batch_with or any(h is None for h, _p in headers_list):
            return self._answer(400, b'{"Message": "bad batch"}', 'application/json')
        ref, failed = [], []
        for header, payload in headers_list:
            sop = header['sop_instance_uid']
            if sop in self.fail_uids:
                failed.append({'00081155': {'vr': 'UI', 'Value': [sop]},
                               '00081197': {'vr': 'US', 'Value': [self.fail_uids[sop]]}})
                continue
            with self.lock:
                self.stored[sop] = (header['study_instance_uid'], payload)
            ref.append({'00081155': {'vr': 'UI', 'Value': [sop]}})
        answer = {'00081199': {'vr': 'SQ', 'Value': ref}, '00081198': {'vr': 'SQ', 'Value': failed}}
        if not self.listing:
            return self._answer(200, b'')
        return self._answer(409 if failed and ref else (200 if ref else 400), json.dumps(answer).encode())


def _read_payload(payload):
    import tempfile
    fd, path = tempfile.mkstemp(prefix='fakepacs-')
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(payload)
        return read_header(path)
    except (NotDicomError, DicomHeaderError):
        return None
    finally:
        os.unlink(path)


@pytest.fixture
def fake_pacs(http_server):
    """A FakePacs on loopback; ``fake_pacs.url`` is its DICOMweb root (.../dicom-web)."""
    fake = FakePacs()
    server = http_server(fake.respond)
    fake.root = server.base
    fake.url = server.base + '/dicom-web'
    return fake


@pytest.fixture
def tls_fake_pacs(http_server, tmp_path):
    """A FakePacs over HTTPS with a self-signed certificate; ``.ca`` is that certificate."""
    pytest.importorskip('cryptography.x509')
    from ansible_collections.medimg.pacs.tests.helpers.loopback import self_signed_cert, server_tls_context
    cert_path, key_path = self_signed_cert(str(tmp_path), u'medimg-import-test')
    fake = FakePacs()
    server = http_server(fake.respond, server_tls_context(cert_path, key_path))
    fake.root = server.base
    fake.url = server.base + '/dicom-web'
    fake.ca = cert_path
    return fake


@pytest.fixture
def no_pydicom(tmp_path, monkeypatch):
    """Modules run by ``run_module`` find a pydicom that fails to import (a host without pydicom)."""
    shadow = tmp_path / 'no-pydicom' / 'pydicom'
    shadow.mkdir(parents=True)
    (shadow / '__init__.py').write_text(u'raise ImportError("No module named pydicom (simulated)")\n')
    monkeypatch.setenv('PYTHONPATH', str(shadow.parent))
    return str(shadow.parent)
