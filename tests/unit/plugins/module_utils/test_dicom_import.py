# -*- coding: utf-8 -*-
"""module_utils/dicom_import.py: the import pipeline against the fake DICOMweb server on loopback
(tests/unit/plugins/conftest.py): keep-alive, batching, bisection of refused batches, retries, auth and
connection failures, skip-existing (QIDO paging, Orthanc REST), limits, check mode, the progress file."""

from __future__ import absolute_import, division, print_function

import json
import os

import pytest

from ansible_collections.medimg.pacs.plugins.module_utils import dicom_import as di

pydicom = pytest.importorskip('pydicom')
from pydicom.uid import generate_uid  # noqa: E402  pylint: disable=wrong-import-position


def test_make_batches_by_count_and_bytes():
    opts = di.ImportOptions(src='/', url='http://127.0.0.1:9/dicom-web', batch_size=3, batch_bytes=100)
    imp = di.Importer(opts)
    recs = [{'path': '/p%02d' % i, 'size': 10, 'uid': str(i), 'study': 's%d' % (i % 2), 'series': 'x'}
            for i in range(8)]
    batches = imp.make_batches(recs)
    assert [len(b) for b in batches] == [3, 3, 2]
    # sorted by study, so a study's instances travel together
    assert [r['study'] for b in batches for r in b] == ['s0'] * 4 + ['s1'] * 4
    big = [{'path': '/b%d' % i, 'size': 60, 'uid': str(i), 'study': 's', 'series': 'x'} for i in range(3)]
    assert [len(b) for b in imp.make_batches(big)] == [1, 1, 1]
    huge = [{'path': '/h', 'size': 10 ** 9, 'uid': 'h', 'study': 's', 'series': 'x'}]
    assert [len(b) for b in imp.make_batches(huge)] == [1]


@pytest.mark.parametrize('kwargs, fragment', [
    (dict(src='/nonexistent/dir'), 'does not exist'),
    (dict(url='ftp://x/dicom-web'), "scheme 'ftp'"),
    (dict(url='127.0.0.1:8042/dicom-web'), 'scheme'),
    (dict(url='http://exa mple/'), 'white space'),
    (dict(url='http://h:99999/dicom-web'), 'port'),
    (dict(workers=0), 'workers must be at least 1'),
    (dict(workers=1000), 'workers must be at most 64'),
    (dict(batch_size=0), 'batch_size'),
    (dict(server_type='orthanc', url='http://h/other'), 'orthanc_url'),
    (dict(ca_path='/nonexistent.pem'), 'ca_path'),
    (dict(progress_file='/nonexistent/dir/p.jsonl'), 'progress_file'),
    (dict(bearer_token='t', username='u'), 'either bearer_token'),
])
def test_validate_options(tmp_path, kwargs, fragment):
    args = dict(src=str(tmp_path), url='http://127.0.0.1:8042/dicom-web')
    args.update(kwargs)
    problems = di.validate_options(di.ImportOptions(**args))
    assert any(fragment in p for p in problems), problems


def run(src, url, **kwargs):
    kwargs.setdefault('retries', 0)
    summary, error, kind = di.run_import(di.ImportOptions(src=src, url=url, **kwargs))
    return summary, error, kind


def post_sizes(pacs):
    return [n for method, path, n in pacs.requests if method == 'POST' and path.endswith('/studies')]


def test_import_batches_over_keepalive(fake_pacs, dicom_tree):
    src, uids, _studies = dicom_tree
    summary, error, _kind = run(src, fake_pacs.url, workers=2, batch_size=3)
    assert error is None
    assert summary['sent'] == 10 and summary['dicom_files'] == 10 and summary['studies'] == 2
    assert summary['files_scanned'] == 11 and summary['non_dicom_count'] == 1
    assert summary['non_dicom'][0]['path'].endswith('notes.txt')
    assert sorted(post_sizes(fake_pacs)) == [1, 3, 3, 3]
    # every byte arrived unchanged
    for sop, path in uids.items():
        with open(path, 'rb') as handle:
            assert fake_pacs.stored[sop][1] == handle.read()
    # 2 QIDO + 4 STOW over at most `workers` connections per phase
    assert len(fake_pacs.connections) <= 4
    assert summary['bytes_sent'] == sum(os.path.getsize(p) for p in uids.values())
    # second run: nothing to do
    fake_pacs.requests[:] = []
    summary, error, _kind = run(src, fake_pacs.url, workers=2, batch_size=3)
    assert error is None and summary['sent'] == 0 and summary['skipped_existing'] == 10
    assert post_sizes(fake_pacs) == []


def test_batch_bytes_limit(fake_pacs, dicom_tree):
    src, uids, _studies = dicom_tree
    size = max(os.path.getsize(p) for p in uids.values())
    summary, error, _kind = run(src, fake_pacs.url, workers=1, batch_size=50, batch_bytes=size * 2)
    assert error is None and summary['sent'] == 10
    assert max(post_sizes(fake_pacs)) <= 2


def test_failed_sop_sequence_is_reported(fake_pacs, dicom_tree):
    src, uids, _studies = dicom_tree
    bad = sorted(uids)[3]
    fake_pacs.fail_uids[bad] = 0xA900
    summary, error, _kind = run(src, fake_pacs.url, batch_size=50)
    assert error is None
    assert summary['sent'] == 9 and summary['rejected_count'] == 1
    rej = summary['rejected'][0]
    assert rej['sop_instance_uid'] == bad and rej['path'] == uids[bad]
    assert rej['reason'] == 'STOW-RS failure reason 0xA900 (data set does not match SOP class)'


def test_refused_batch_is_bisected(fake_pacs, dicom_tree):
    src, uids, _studies = dicom_tree
    bad = sorted(uids)[0]
    fake_pacs.reject_batch_with.add(bad)
    summary, error, _kind = run(src, fake_pacs.url, workers=1, batch_size=10)
    assert error is None
    assert summary['sent'] == 9 and summary['rejected_count'] == 1
    assert summary['rejected'][0]['sop_instance_uid'] == bad
    assert 'HTTP 400' in summary['rejected'][0]['reason'] and 'bad batch' in summary['rejected'][0]['reason']
    assert len(post_sizes(fake_pacs)) <= 1 + 2 * 4  # log2 splitting, not one request per file


def test_answer_without_listing_means_all_stored(fake_pacs, dicom_tree):
    src, _uids, _studies = dicom_tree
    fake_pacs.listing = False
    summary, error, _kind = run(src, fake_pacs.url)
    assert error is None and summary['sent'] == 10


def test_transient_errors_are_retried(fake_pacs, dicom_tree, monkeypatch):
    src, _uids, _studies = dicom_tree
    monkeypatch.setattr(di.time, 'sleep', lambda _s: None)
    fake_pacs.transient = [503, 429, 502]
    summary, error, _kind = run(src, fake_pacs.url, workers=1, batch_size=10, retries=3)
    assert error is None and summary['sent'] == 10
    assert post_sizes(fake_pacs) == [10, 10, 10, 10]


def test_retry_after_is_honoured(fake_pacs, dicom_tree, monkeypatch):
    src, _uids, _studies = dicom_tree
    waits = []
    monkeypatch.setattr(di.time, 'sleep', waits.append)
    fake_pacs.transient = [503, 503]
    fake_pacs.retry_after = '7'
    summary, error, _kind = run(src, fake_pacs.url, workers=1, batch_size=10, retries=3, skip_existing=False)
    assert error is None and summary['sent'] == 10
    assert waits == [7.0, 7.0]


def test_transient_backoff_doubles(fake_pacs, dicom_tree, monkeypatch):
    src, _uids, _studies = dicom_tree
    waits = []
    monkeypatch.setattr(di.time, 'sleep', waits.append)
    fake_pacs.transient = [503, 504, 502, 429]
    summary, error, _kind = run(src, fake_pacs.url, workers=1, batch_size=10, retries=4, skip_existing=False)
    assert error is None and summary['sent'] == 10
    assert waits == [1.0, 2.0, 4.0, 8.0]


def test_transient_errors_exhaust_retries(fake_pacs, dicom_tree, monkeypatch):
    src, _uids, _studies = dicom_tree
    monkeypatch.setattr(di.time, 'sleep', lambda _s: None)
    fake_pacs.transient = [503] * 50
    summary, error, _kind = run(src, fake_pacs.url, workers=1, batch_size=10, retries=1, skip_existing=False)
    # a single-instance 503 after retries is a rejection; a PACS that keeps failing stops the import
    assert summary['sent'] == 0
    assert error is None or 'HTTP 503' in error


def test_keepalive_survives_server_closing(fake_pacs, dicom_tree):
    src, _uids, _studies = dicom_tree
    fake_pacs.close_every = True
    summary, error, _kind = run(src, fake_pacs.url, workers=1, batch_size=2)
    assert error is None and summary['sent'] == 10


def test_unauthorized_is_fatal_with_a_clear_message(fake_pacs, dicom_tree):
    src, _uids, _studies = dicom_tree
    fake_pacs.user = ('u', 'right')
    summary, error, kind = run(src, fake_pacs.url, username='u', password='wrong')
    assert kind == 'unauthorized' and 'HTTP 401' in error and 'url_username' in error
    assert summary['sent'] == 0
    summary, error, kind = run(src, fake_pacs.url, username='u', password='wrong', skip_existing=False)
    assert kind == 'unauthorized' and summary['sent'] == 0
    summary, error, kind = run(src, fake_pacs.url, username='u', password='right')
    assert error is None and summary['sent'] == 10


def test_connection_refused(closed_port, tmp_path, write_dicom):
    src = str(tmp_path)
    write_dicom(os.path.join(src, 'a.dcm'), generate_uid(), generate_uid(), generate_uid())
    summary, error, kind = run(src, 'http://127.0.0.1:%d/dicom-web' % closed_port)
    assert kind == 'connection_refused' and 'Connection refused' in error
    assert summary['sent'] == 0


def test_not_a_dicomweb_root(fake_pacs, dicom_tree):
    src, _uids, _studies = dicom_tree
    summary, error, kind = run(src, fake_pacs.url.replace('/dicom-web', '/nothing-here'), skip_existing=False)
    assert kind == 'not_found' and 'HTTP 404' in error and summary['sent'] == 0


def test_qido_paging(fake_pacs, dicom_tree):
    src, uids, _studies = dicom_tree
    summary, error, _kind = run(src, fake_pacs.url, max_instances=7)
    assert error is None and summary['sent'] == 7 and summary['remaining'] == 3
    fake_pacs.page_limit = 2  # the server returns at most 2 per page: the client pages with offset
    fake_pacs.requests[:] = []
    summary, error, _kind = run(src, fake_pacs.url)
    assert error is None and summary['skipped_existing'] == 7 and summary['sent'] == 3
    qido = [p for m, p, _n in fake_pacs.requests if m == 'GET']
    assert any('offset=2' in p for p in qido) and any('offset=4' in p for p in qido)
    assert sorted(fake_pacs.stored) == sorted(uids)


def test_orthanc_lookup(fake_pacs, dicom_tree):
    src, _uids, _studies = dicom_tree
    summary, error, _kind = run(src, fake_pacs.url, server_type='orthanc', max_instances=4)
    assert error is None and summary['sent'] == 4
    fake_pacs.requests[:] = []
    summary, error, _kind = run(src, fake_pacs.url, server_type='orthanc')
    assert error is None and summary['skipped_existing'] == 4 and summary['sent'] == 6
    assert any(p.endswith('/tools/lookup') for _m, p, _n in fake_pacs.requests)
    assert not any('/dicom-web/studies/' in p for _m, p, _n in fake_pacs.requests)


def test_check_mode_sends_nothing(fake_pacs, dicom_tree):
    src, uids, _studies = dicom_tree
    summary, error, _kind = run(src, fake_pacs.url, check_mode=True)
    assert error is None and summary['would_send'] == 10 and summary['sent'] == 0
    assert summary['would_send_bytes'] == sum(os.path.getsize(p) for p in uids.values())
    assert post_sizes(fake_pacs) == []


def test_max_seconds_leaves_remaining(fake_pacs, dicom_tree):
    src, _uids, _studies = dicom_tree
    opts = di.ImportOptions(src=src, url=fake_pacs.url, workers=1, batch_size=1, retries=0, max_seconds=1)
    ticks = iter(range(0, 10000))
    importer = di.Importer(opts, clock=lambda: float(next(ticks)) / 4)  # 0.25 s per clock read
    summary, error, _kind = importer.run()
    assert error is None
    assert summary['sent'] < 10 and summary['sent'] + summary['remaining'] == 10


def test_duplicates_sent_once(fake_pacs, dicom_tree, tmp_path):
    src, uids, _studies = dicom_tree
    first = sorted(uids)[0]
    with open(uids[first], 'rb') as handle:
        data = handle.read()
    with open(os.path.join(src, 'copy.dcm'), 'wb') as handle:
        handle.write(data)
    summary, error, _kind = run(src, fake_pacs.url)
    assert error is None and summary['sent'] == 10 and len(summary['duplicates']) == 1
    assert summary['duplicates'][0]['sop_instance_uid'] == first


def test_progress_file(fake_pacs, dicom_tree, tmp_path):
    src, _uids, _studies = dicom_tree
    progress = str(tmp_path / 'progress.jsonl')
    summary, error, _kind = run(src, fake_pacs.url, progress_file=progress, progress_interval=0.0, batch_size=2)
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


def test_unreadable_header_is_rejected_not_sent(fake_pacs, dicom_tree):
    src, _uids, _studies = dicom_tree
    with open(os.path.join(src, 'broken.dcm'), 'wb') as handle:
        handle.write(b'\0' * 128 + b'DICM' + b'\xff' * 40)
    summary, error, _kind = run(src, fake_pacs.url)
    assert error is None and summary['sent'] == 10 and summary['rejected_count'] == 1
    assert summary['rejected'][0]['sop_instance_uid'] is None
    assert 'unreadable DICOM header' in summary['rejected'][0]['reason']


# ---------------------------------------------------------------------------------------------
# TLS and redirects
# ---------------------------------------------------------------------------------------------
def test_tls_verification(tls_fake_pacs, dicom_tree):
    src, uids, _studies = dicom_tree
    summary, error, kind = run(src, tls_fake_pacs.url)
    assert kind == 'tls' and 'ca_path' in error and summary['sent'] == 0
    summary, error, kind = run(src, tls_fake_pacs.url, ca_path=tls_fake_pacs.ca, workers=2, batch_size=3)
    assert error is None and summary['sent'] == 10
    assert sorted(tls_fake_pacs.stored) == sorted(uids)
    summary, error, kind = run(src, tls_fake_pacs.url, validate_certs=False)
    assert error is None and summary['skipped_existing'] == 10


def test_redirect_is_reported_not_followed(http_server, dicom_tree):
    def respond(handler):
        return 301, {'Location': 'https://pacs.invalid/dicom-web' + handler.path[len('/dicom-web'):]}, b''

    server = http_server(respond)
    src, _uids, _studies = dicom_tree
    for skip in (True, False):
        summary, error, _kind = run(src, server.base + '/dicom-web', skip_existing=skip)
        assert 'HTTP 301 redirect' in error and 'https://pacs.invalid/dicom-web' in error
        assert summary['sent'] == 0 and summary['rejected_count'] == 0


def test_check_mode_writes_no_progress(fake_pacs, dicom_tree, tmp_path):
    src, _uids, _studies = dicom_tree
    progress = tmp_path / 'p.jsonl'
    summary, error, _kind = run(src, fake_pacs.url, check_mode=True, progress_file=str(progress))
    assert error is None and summary['would_send'] == 10 and not progress.exists()
