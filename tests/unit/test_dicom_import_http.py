# -*- coding: utf-8 -*-
"""Unit tests of the import pipeline against an in-process fake DICOMweb server on loopback:
keep-alive, batching, bisection of refused batches, retries, auth and connection failures,
skip-existing (QIDO paging, Orthanc REST), limits, check mode and the progress file."""

from __future__ import absolute_import, division, print_function

import json
import os
import sys
import tempfile
import threading

from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_COLLECTIONS = os.path.join(_ROOT, '.collections')
if os.path.isdir(_COLLECTIONS) and _COLLECTIONS not in sys.path:
    sys.path.insert(0, _COLLECTIONS)

from helpers_common import LoopbackHttpServer, free_port, self_signed_cert, server_tls_context  # noqa: E402
from ansible_collections.medimg.pacs.plugins.module_utils import dicom_import as di  # noqa: E402
from ansible_collections.medimg.pacs.plugins.module_utils.dicomweb import parse_multipart_related  # noqa: E402

pydicom = pytest.importorskip('pydicom')
from pydicom.dataset import Dataset, FileMetaDataset  # noqa: E402
from pydicom.uid import generate_uid  # noqa: E402


def write_instance(path, study, series, sop):
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
    ds.add_new(0x7FE00010, 'OB', b'\0' * 64)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    ds.save_as(path, enforce_file_format=True, implicit_vr=False, little_endian=True)


@pytest.fixture
def tree(tmp_path):
    """2 studies x 5 instances + 1 text file; returns (src, {sop: path}, [study uids])."""
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
    (src / 'notes.txt').write_text('hello')
    return str(src), uids, studies


class FakePacs:
    """A DICOMweb server: STOW-RS (/dicom-web/studies), QIDO-RS instances, Orthanc /tools/lookup."""

    def __init__(self):
        self.stored = {}            # sop -> (study, bytes)
        self.requests = []          # (method, path, number of parts)
        self.connections = set()
        self.lock = threading.Lock()
        self.user = None            # (user, password) basic auth required when set
        self.fail_uids = {}         # sop -> failure reason code (FailedSOPSequence)
        self.reject_batch_with = set()  # batches containing these sops get HTTP 400, no body
        self.transient = []         # statuses to answer to the next POSTs (then normal)
        self.close_every = False    # answer with Connection: close
        self.page_limit = None      # QIDO: the server caps results at this many
        self.listing = True         # STOW answers list Referenced/FailedSOPSequence
        self.tmp = tempfile.mkdtemp()

    def handler(self):
        pacs = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *args):
                pass

            def _send(self, status, body=b'', ctype='application/dicom+json', warning=None):
                self.send_response(status)
                self.send_header('Content-Type', ctype)
                if warning:
                    self.send_header('Warning', warning)
                self.send_header('Content-Length', str(len(body)))
                if pacs.close_every:
                    self.send_header('Connection', 'close')
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(body)

            def _auth_ok(self):
                if not pacs.user:
                    return True
                import base64
                want = 'Basic ' + base64.b64encode(('%s:%s' % pacs.user).encode()).decode()
                return self.headers.get('Authorization') == want

            def do_GET(self):
                with pacs.lock:
                    pacs.connections.add(self.client_address)
                    pacs.requests.append(('GET', self.path, 0))
                if not self._auth_ok():
                    return self._send(401, b'', 'text/plain')
                parts = urlsplit(self.path)
                segs = [unquote(p) for p in parts.path.split('/') if p]
                query = parse_qs(parts.query)
                if len(segs) == 4 and segs[0] == 'dicom-web' and segs[1] == 'studies' and segs[3] == 'instances':
                    with pacs.lock:
                        uids = sorted(sop for sop, (study, _b) in pacs.stored.items() if study == segs[2])
                    offset = int(query.get('offset', ['0'])[0])
                    limit = int(query.get('limit', ['100000'])[0])
                    if pacs.page_limit:
                        limit = min(limit, pacs.page_limit)
                    page = uids[offset:offset + limit]
                    if not uids:
                        return self._send(204)
                    body = [{'00080018': {'vr': 'UI', 'Value': [u]}} for u in page]
                    more = None
                    if offset + len(page) < len(uids):
                        more = '299 127.0.0.1: There are more results that match the query'
                    return self._send(200, json.dumps(body).encode(), warning=more)
                if len(segs) == 3 and segs[0] == 'studies' and segs[2] == 'instances':  # Orthanc REST
                    with pacs.lock:
                        wanted = segs[1][len('orthanc-'):]
                        uids = sorted(sop for sop, (study, _b) in pacs.stored.items() if study == wanted)
                    body = [{'MainDicomTags': {'SOPInstanceUID': u}} for u in uids]
                    return self._send(200, json.dumps(body).encode(), 'application/json')
                return self._send(404, b'not found', 'text/plain')

            def do_POST(self):
                length = int(self.headers.get('Content-Length') or 0)
                body = self.rfile.read(length)
                segs = [p for p in urlsplit(self.path).path.split('/') if p]
                with pacs.lock:
                    pacs.connections.add(self.client_address)
                if not self._auth_ok():
                    with pacs.lock:
                        pacs.requests.append(('POST', self.path, -1))
                    return self._send(401, b'', 'text/plain')
                if segs == ['tools', 'lookup']:
                    with pacs.lock:
                        pacs.requests.append(('POST', self.path, 0))
                        known = any(st == body.decode() for st, _b in pacs.stored.values())
                    answer = [{'ID': 'orthanc-' + body.decode(), 'Type': 'Study'}] if known else []
                    return self._send(200, json.dumps(answer).encode(), 'application/json')
                if segs != ['dicom-web', 'studies']:
                    return self._send(404, b'not found', 'text/plain')
                parts = parse_multipart_related(body, self.headers.get('Content-Type'))
                with pacs.lock:
                    pacs.requests.append(('POST', self.path, len(parts)))
                    if pacs.transient:
                        status = pacs.transient.pop(0)
                        return self._send(status, b'busy', 'text/plain')
                headers_list = []
                for idx, (headers, payload) in enumerate(parts):
                    path = os.path.join(pacs.tmp, '%d-%d' % (threading.get_ident(), idx))
                    with open(path, 'wb') as handle:
                        handle.write(payload)
                    try:
                        header = di.read_part10_header(path)
                    except (di.NotDicomError, di.DicomHeaderError):
                        header = None
                    headers_list.append((header, payload))
                sops = set(h['sop_instance_uid'] for h, _p in headers_list if h)
                if sops & pacs.reject_batch_with or any(h is None for h, _p in headers_list):
                    return self._send(400, b'{"Message": "bad batch"}', 'application/json')
                ref, failed = [], []
                for header, payload in headers_list:
                    sop = header['sop_instance_uid']
                    if sop in pacs.fail_uids:
                        failed.append({'00081155': {'vr': 'UI', 'Value': [sop]},
                                       '00081197': {'vr': 'US', 'Value': [pacs.fail_uids[sop]]}})
                        continue
                    with pacs.lock:
                        pacs.stored[sop] = (header['study_instance_uid'], payload)
                    ref.append({'00081155': {'vr': 'UI', 'Value': [sop]}})
                answer = {'00081199': {'vr': 'SQ', 'Value': ref}, '00081198': {'vr': 'SQ', 'Value': failed}}
                if not pacs.listing:
                    return self._send(200, b'')
                return self._send(409 if failed and ref else (200 if ref else 400), json.dumps(answer).encode())

        return Handler


@pytest.fixture
def pacs():
    fake = FakePacs()
    server = LoopbackHttpServer(fake.handler(), poll_interval=0.05)
    fake.url = server.base + '/dicom-web'
    yield fake
    server.stop()


def run(src, url, **kwargs):
    kwargs.setdefault('retries', 0)
    summary, error, kind = di.run_import(di.ImportOptions(src=src, url=url, **kwargs))
    return summary, error, kind


def post_sizes(pacs):
    return [n for method, path, n in pacs.requests if method == 'POST' and path.endswith('/studies')]


def test_import_batches_over_keepalive(pacs, tree):
    src, uids, _studies = tree
    summary, error, _kind = run(src, pacs.url, workers=2, batch_size=3)
    assert error is None
    assert summary['sent'] == 10 and summary['dicom_files'] == 10 and summary['studies'] == 2
    assert summary['files_scanned'] == 11 and summary['non_dicom_count'] == 1
    assert summary['non_dicom'][0]['path'].endswith('notes.txt')
    assert sorted(post_sizes(pacs)) == [1, 3, 3, 3]
    # every byte arrived unchanged
    for sop, path in uids.items():
        with open(path, 'rb') as handle:
            assert pacs.stored[sop][1] == handle.read()
    # 2 QIDO + 4 STOW over at most `workers` connections per phase
    assert len(pacs.connections) <= 4
    assert summary['bytes_sent'] == sum(os.path.getsize(p) for p in uids.values())
    # second run: nothing to do
    pacs.requests[:] = []
    summary, error, _kind = run(src, pacs.url, workers=2, batch_size=3)
    assert error is None and summary['sent'] == 0 and summary['skipped_existing'] == 10
    assert post_sizes(pacs) == []


def test_batch_bytes_limit(pacs, tree):
    src, uids, _studies = tree
    size = max(os.path.getsize(p) for p in uids.values())
    summary, error, _kind = run(src, pacs.url, workers=1, batch_size=50, batch_bytes=size * 2)
    assert error is None and summary['sent'] == 10
    assert max(post_sizes(pacs)) <= 2


def test_failed_sop_sequence_is_reported(pacs, tree):
    src, uids, _studies = tree
    bad = sorted(uids)[3]
    pacs.fail_uids[bad] = 0xA900
    summary, error, _kind = run(src, pacs.url, batch_size=50)
    assert error is None
    assert summary['sent'] == 9 and summary['rejected_count'] == 1
    rej = summary['rejected'][0]
    assert rej['sop_instance_uid'] == bad and rej['path'] == uids[bad]
    assert rej['reason'] == 'STOW-RS failure reason 0xA900 (data set does not match SOP class)'


def test_refused_batch_is_bisected(pacs, tree):
    src, uids, _studies = tree
    bad = sorted(uids)[0]
    pacs.reject_batch_with.add(bad)
    summary, error, _kind = run(src, pacs.url, workers=1, batch_size=10)
    assert error is None
    assert summary['sent'] == 9 and summary['rejected_count'] == 1
    assert summary['rejected'][0]['sop_instance_uid'] == bad
    assert 'HTTP 400' in summary['rejected'][0]['reason'] and 'bad batch' in summary['rejected'][0]['reason']
    assert len(post_sizes(pacs)) <= 1 + 2 * 4  # log2 splitting, not one request per file


def test_answer_without_listing_means_all_stored(pacs, tree):
    src, _uids, _studies = tree
    pacs.listing = False
    summary, error, _kind = run(src, pacs.url)
    assert error is None and summary['sent'] == 10


def test_transient_errors_are_retried(pacs, tree, monkeypatch):
    src, _uids, _studies = tree
    monkeypatch.setattr(di.time, 'sleep', lambda _s: None)
    pacs.transient = [503, 429, 502]
    summary, error, _kind = run(src, pacs.url, workers=1, batch_size=10, retries=3)
    assert error is None and summary['sent'] == 10
    assert post_sizes(pacs) == [10, 10, 10, 10]


def test_transient_errors_exhaust_retries(pacs, tree, monkeypatch):
    src, _uids, _studies = tree
    monkeypatch.setattr(di.time, 'sleep', lambda _s: None)
    pacs.transient = [503] * 50
    summary, error, _kind = run(src, pacs.url, workers=1, batch_size=10, retries=1, skip_existing=False)
    # a single-instance 503 after retries is a rejection; a PACS that keeps failing stops the import
    assert summary['sent'] == 0
    assert error is None or 'HTTP 503' in error


def test_keepalive_survives_server_closing(pacs, tree):
    src, _uids, _studies = tree
    pacs.close_every = True
    summary, error, _kind = run(src, pacs.url, workers=1, batch_size=2)
    assert error is None and summary['sent'] == 10


def test_unauthorized_is_fatal_with_a_clear_message(pacs, tree):
    src, _uids, _studies = tree
    pacs.user = ('u', 'right')
    summary, error, kind = run(src, pacs.url, username='u', password='wrong')
    assert kind == 'unauthorized' and 'HTTP 401' in error and 'url_username' in error
    assert summary['sent'] == 0
    summary, error, kind = run(src, pacs.url, username='u', password='wrong', skip_existing=False)
    assert kind == 'unauthorized' and summary['sent'] == 0
    summary, error, kind = run(src, pacs.url, username='u', password='right')
    assert error is None and summary['sent'] == 10


def test_connection_refused():
    port = free_port()
    src = tempfile.mkdtemp()
    write_instance(os.path.join(src, 'a.dcm'), generate_uid(), generate_uid(), generate_uid())
    summary, error, kind = run(src, 'http://127.0.0.1:%d/dicom-web' % port)
    assert kind == 'connection_refused' and 'Connection refused' in error
    assert summary['sent'] == 0


def test_not_a_dicomweb_root(pacs, tree):
    src, _uids, _studies = tree
    summary, error, kind = run(src, pacs.url.replace('/dicom-web', '/nothing-here'), skip_existing=False)
    assert kind == 'not_found' and 'HTTP 404' in error and summary['sent'] == 0


def test_qido_paging(pacs, tree):
    src, uids, _studies = tree
    summary, error, _kind = run(src, pacs.url, max_instances=7)
    assert error is None and summary['sent'] == 7 and summary['remaining'] == 3
    pacs.page_limit = 2  # the server returns at most 2 per page: the client pages with offset
    pacs.requests[:] = []
    summary, error, _kind = run(src, pacs.url)
    assert error is None and summary['skipped_existing'] == 7 and summary['sent'] == 3
    qido = [p for m, p, _n in pacs.requests if m == 'GET']
    assert any('offset=2' in p for p in qido) and any('offset=4' in p for p in qido)
    assert sorted(pacs.stored) == sorted(uids)


def test_orthanc_lookup(pacs, tree):
    src, _uids, _studies = tree
    summary, error, _kind = run(src, pacs.url, server_type='orthanc', max_instances=4)
    assert error is None and summary['sent'] == 4
    pacs.requests[:] = []
    summary, error, _kind = run(src, pacs.url, server_type='orthanc')
    assert error is None and summary['skipped_existing'] == 4 and summary['sent'] == 6
    assert any(p.endswith('/tools/lookup') for _m, p, _n in pacs.requests)
    assert not any('/dicom-web/studies/' in p for _m, p, _n in pacs.requests)


def test_check_mode_sends_nothing(pacs, tree):
    src, uids, _studies = tree
    summary, error, _kind = run(src, pacs.url, check_mode=True)
    assert error is None and summary['would_send'] == 10 and summary['sent'] == 0
    assert summary['would_send_bytes'] == sum(os.path.getsize(p) for p in uids.values())
    assert post_sizes(pacs) == []


def test_max_seconds_leaves_remaining(pacs, tree):
    src, _uids, _studies = tree
    opts = di.ImportOptions(src=src, url=pacs.url, workers=1, batch_size=1, retries=0, max_seconds=1)
    ticks = iter(range(0, 10000))
    importer = di.Importer(opts, clock=lambda: float(next(ticks)) / 4)  # 0.25 s per clock read
    summary, error, _kind = importer.run()
    assert error is None
    assert summary['sent'] < 10 and summary['sent'] + summary['remaining'] == 10


def test_duplicates_sent_once(pacs, tree, tmp_path):
    src, uids, _studies = tree
    first = sorted(uids)[0]
    with open(uids[first], 'rb') as handle:
        data = handle.read()
    with open(os.path.join(src, 'copy.dcm'), 'wb') as handle:
        handle.write(data)
    summary, error, _kind = run(src, pacs.url)
    assert error is None and summary['sent'] == 10 and len(summary['duplicates']) == 1
    assert summary['duplicates'][0]['sop_instance_uid'] == first


def test_progress_file(pacs, tree, tmp_path):
    src, _uids, _studies = tree
    progress = str(tmp_path / 'progress.jsonl')
    summary, error, _kind = run(src, pacs.url, progress_file=progress, progress_interval=0.0, batch_size=2)
    assert error is None
    records = [json.loads(line) for line in open(progress)]
    phases = [r['phase'] for r in records]
    assert phases[0] == 'scan' and phases[-1] == 'done' and 'check' in phases and 'send' in phases
    assert records[-1]['sent'] == 10 and records[-1]['files_scanned'] == 11
    sends = [r['sent'] for r in records]
    assert sends == sorted(sends)  # monotonic
    for key in ('time', 'elapsed', 'instances_per_second', 'bytes_sent', 'to_send', 'eta_seconds'):
        assert key in records[-1]
    assert summary['instances_per_second'] > 0


def test_unreadable_header_is_rejected_not_sent(pacs, tree):
    src, _uids, _studies = tree
    with open(os.path.join(src, 'broken.dcm'), 'wb') as handle:
        handle.write(b'\0' * 128 + b'DICM' + b'\xff' * 40)
    summary, error, _kind = run(src, pacs.url, header_parser='builtin')
    assert error is None and summary['sent'] == 10 and summary['rejected_count'] == 1
    assert summary['rejected'][0]['sop_instance_uid'] is None
    assert 'unreadable DICOM header' in summary['rejected'][0]['reason']


# ---------------------------------------------------------------------------------------------
# TLS and redirects
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def tls_pacs(tmp_path):
    pytest.importorskip('cryptography.x509')
    cert_path, key_path = self_signed_cert(str(tmp_path), u'medimg-import-test')
    fake = FakePacs()
    server = LoopbackHttpServer(fake.handler(), server_tls_context(cert_path, key_path), poll_interval=0.05)
    fake.url = server.base + '/dicom-web'
    fake.ca = cert_path
    yield fake
    server.stop()


def test_tls_verification(tls_pacs, tree):
    src, uids, _studies = tree
    summary, error, kind = run(src, tls_pacs.url)
    assert kind == 'tls' and 'ca_path' in error and summary['sent'] == 0
    summary, error, kind = run(src, tls_pacs.url, ca_path=tls_pacs.ca, workers=2, batch_size=3)
    assert error is None and summary['sent'] == 10
    assert sorted(tls_pacs.stored) == sorted(uids)
    summary, error, kind = run(src, tls_pacs.url, validate_certs=False)
    assert error is None and summary['skipped_existing'] == 10


def test_redirect_is_reported_not_followed(tree):
    class Redirect(BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'

        def log_message(self, *args):
            pass

        def _go(self):
            length = int(self.headers.get('Content-Length') or 0)
            if length:
                self.rfile.read(length)
            self.send_response(301)
            self.send_header('Location', 'https://pacs.invalid/dicom-web' + self.path[len('/dicom-web'):])
            self.send_header('Content-Length', '0')
            self.end_headers()

        do_GET = do_POST = _go

    server = LoopbackHttpServer(Redirect, poll_interval=0.05)
    try:
        src, _uids, _studies = tree
        url = server.base + '/dicom-web'
        for skip in (True, False):
            summary, error, _kind = run(src, url, skip_existing=skip)
            assert 'HTTP 301 redirect' in error and 'https://pacs.invalid/dicom-web' in error
            assert summary['sent'] == 0 and summary['rejected_count'] == 0
    finally:
        server.stop()


def test_check_mode_writes_no_progress(pacs, tree, tmp_path):
    src, _uids, _studies = tree
    progress = tmp_path / 'p.jsonl'
    summary, error, _kind = run(src, pacs.url, check_mode=True, progress_file=str(progress))
    assert error is None and summary['would_send'] == 10 and not progress.exists()
