# -*- coding: utf-8 -*-
"""dicom_import as a real subprocess against the fake DICOMweb server on loopback: the module's options,
check mode, failures and the removed header_parser option (the pipeline itself: module_utils tests)."""
from __future__ import absolute_import, division, print_function

import os

import pytest


def _args(pacs, src, **extra):
    args = dict(src=src, url=pacs.url, retries=0)
    args.update(extra)
    return args


def test_import_then_nothing_to_do(run_module, fake_pacs, dicom_tree):
    src, uids, _studies = dicom_tree
    result, _out, _err = run_module('dicom_import', _args(fake_pacs, src, batch_size=3, workers=2))
    assert result.get('failed') is not True, result
    assert result['changed'] is True and result['sent'] == 10 and result['non_dicom_count'] == 1
    assert result['pydicom_available'] is True and 'header_parser' not in result
    assert 'stored 10 instance(s)' in result['msg']
    for sop, path in uids.items():
        with open(path, 'rb') as handle:
            assert fake_pacs.stored[sop][1] == handle.read()
    result, _out, _err = run_module('dicom_import', _args(fake_pacs, src))
    assert result['changed'] is False and result['skipped_existing'] == 10


def test_check_mode(run_module, fake_pacs, dicom_tree, tmp_path):
    src, uids, _studies = dicom_tree
    progress = tmp_path / 'progress.jsonl'
    result, _out, _err = run_module('dicom_import', _args(fake_pacs, src, progress_file=str(progress)),
                                    check_mode=True)
    assert result['changed'] is False and result['would_send'] == 10 and result['sent'] == 0
    assert result['would_send_bytes'] == sum(os.path.getsize(p) for p in uids.values())
    assert 'check mode: 10 instance(s) would be sent' in result['msg']
    assert fake_pacs.stored == {} and not progress.exists()


def test_header_parser_is_removed(run_module, fake_pacs, dicom_tree):
    src, _uids, _studies = dicom_tree
    result, _out, _err = run_module('dicom_import', _args(fake_pacs, src, header_parser='builtin'))
    assert result.get('failed') is True and 'header_parser' in result['msg']
    assert fake_pacs.stored == {}


def test_missing_pydicom_fails_cleanly(run_module, fake_pacs, dicom_tree, no_pydicom):
    src, _uids, _studies = dicom_tree
    result, out, err = run_module('dicom_import', _args(fake_pacs, src))
    assert result.get('failed') is True and result['error_kind'] == 'missing_library'
    assert 'pydicom' in result['msg'] and 'Traceback' not in result['msg']
    assert 'MODULE FAILURE' not in out + err
    assert fake_pacs.stored == {}


@pytest.mark.parametrize('extra,fragment', [
    (dict(url='ftp://127.0.0.1/dicom-web'), 'only http and https'),
    (dict(workers=0), 'workers must be at least 1'),
    (dict(bearer_token='a-long-token-value', url_username='someone'), 'mutually exclusive'),
    (dict(server_type='orthanc', url='http://127.0.0.1:9/other'), 'orthanc_url'),
])
def test_bad_input(run_module, fake_pacs, dicom_tree, extra, fragment):
    src, _uids, _studies = dicom_tree
    result, out, err = run_module('dicom_import', _args(fake_pacs, src, **extra))
    assert result.get('failed') is True and fragment in result['msg'], result
    assert 'Traceback' not in out + err


def test_failures_keep_secrets_out(run_module, fake_pacs, dicom_tree, closed_port):
    src, _uids, _studies = dicom_tree
    fake_pacs.user = ('importer', 'right-password')
    result, out, _err = run_module('dicom_import', _args(fake_pacs, src, url_username='importer',
                                                         url_password='wrong-password'))
    assert result['failed'] is True and result['error_kind'] == 'unauthorized' and 'HTTP 401' in result['msg']
    assert 'wrong-password' not in out
    result, out, _err = run_module('dicom_import', _args(fake_pacs, src, url='http://127.0.0.1:%d/dicom-web'
                                                         % closed_port, url_username='importer',
                                                         url_password='wrong-password'))
    assert result['error_kind'] == 'connection_refused' and 'wrong-password' not in out


def test_fail_on_rejected(run_module, fake_pacs, dicom_tree):
    src, uids, _studies = dicom_tree
    fake_pacs.fail_uids[sorted(uids)[0]] = 0xA900
    result, _out, _err = run_module('dicom_import', _args(fake_pacs, src, fail_on_rejected=True))
    assert result['failed'] is True and result['rejected_count'] == 1 and result['sent'] == 9
    assert '1 file(s) were rejected' in result['msg']
