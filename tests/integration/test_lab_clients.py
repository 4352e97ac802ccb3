# -*- coding: utf-8 -*-
"""The lab tooling's clients (medimg_lab) and the molecule verify clients built on them, against a
real Orthanc on loopback: what the molecule scenarios and the benchmarks rely on, checked without
a lab host."""
from __future__ import absolute_import, division, print_function

import json
import os
import subprocess
import sys

import pytest

from medimg_lab import ROOT, dicomweb, labkit, samples
from medimg_lab.keepalive import Http

pytestmark = pytest.mark.integration
MOLECULE = ROOT / 'molecule'


def _client(orthanc):
    return dicomweb.DicomWeb(orthanc.dicomweb_url, orthanc.username, orthanc.password)


def _script(path, args, env, timeout=180):
    proc = subprocess.run([sys.executable] + [str(path)] + list(args), env=dict(os.environ, **env),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, check=False)
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


def test_store_find_retrieve_byte_for_byte(orthanc):
    client = _client(orthanc)
    ds = samples.with_new_uids(samples.testdata(), 'MEDIMG-LABCLIENT')
    data = samples.part10(ds)
    acked, failed, _answer = client.store([data])
    assert acked == [ds.SOPInstanceUID] and failed == []
    found = client.find_instance(ds.SOPInstanceUID)
    assert len(found) == 1
    study, series = found[0]['0020000D']['Value'][0], found[0]['0020000E']['Value'][0]
    assert client.instance_bytes(study, series, ds.SOPInstanceUID) == data


def test_stow_body_and_the_one_stow_worker(orthanc):
    items = samples.make_instances(samples.template(16, 16), 2, 3, 'LABW', patient_prefix='LABW')

    def make_client():
        return Http('127.0.0.1', orthanc.http_port, orthanc.username, orthanc.password, timeout=30)

    acked, elapsed, errors = labkit.stow(make_client, items, clients=2, batch=2, time_limit=60)
    assert sorted(acked) == sorted(sop for sop, _study, _data in items) and errors == []
    assert elapsed < 60
    stored = orthanc.stored_sha256()
    assert all(stored[sop] == labkit.sha256(data) for sop, _study, data in items)

    def intruder():
        return Http('127.0.0.1', orthanc.http_port, orthanc.username, 'wrong', timeout=30)

    acked, _elapsed, errors = labkit.stow(intruder, items[:1], clients=1, time_limit=30)
    assert acked == [] and errors == ['HTTP 401']


def test_pacs_check_store_mode(orthanc):
    rc, out, err = _script(MOLECULE / 'default' / 'files' / 'pacs_check.py',
                           ['store', '--url', orthanc.url, '--user', orthanc.username,
                            '--dicom-host', '127.0.0.1', '--dicom-port', str(orthanc.dicom_port),
                            '--aet', orthanc.aet], {'PACS_PASSWORD': orthanc.password})
    assert rc == 0, err
    result = json.loads(out)
    assert result['bytes_identical'] and result['c_echo'] == '0x0000'
    assert result['retrieved_bytes'] == result['stored_bytes']
    rc, out, err = _script(MOLECULE / 'default' / 'files' / 'pacs_check.py',
                           ['check', '--url', orthanc.url, '--user', orthanc.username,
                            '--sop-uid', result['sop_instance_uid']], {'PACS_PASSWORD': orthanc.password})
    assert rc == 0, err
    rc, out, err = _script(MOLECULE / 'default' / 'files' / 'pacs_check.py',
                           ['check', '--url', orthanc.url, '--user', orthanc.username],
                           {'PACS_PASSWORD': 'wrong'})
    assert rc != 0 and 'pacs_check: FAIL' in err and '401' in err


def test_stow_study_compressed_volume(orthanc):
    rc, out, err = _script(MOLECULE / 'viewer' / 'files' / 'stow_study.py',
                           ['--url', orthanc.dicomweb_url, '--user', orthanc.username, '--password-env', 'PW',
                            '--slices', '3', '--size', '32', '--transfer-syntax', 'jpeg-ls'],
                           {'PW': orthanc.password})
    assert rc == 0, err
    result = json.loads(out)
    assert result['instances'] == 3
    series = _client(orthanc).search_for_instances(result['study_uid'], result['series_uid'])
    assert len(series) == 3


def test_load_client_counts_every_request(orthanc, tmp_path):
    out_file = tmp_path / 'load.json'
    rc, out, err = _script('-m', ['medimg_lab.load', '--url', orthanc.dicomweb_url + '/', '--user', orthanc.username,
                                  '--max-requests', '12', '--max-seconds', '60', '--rate', '20', '--workers', '2',
                                  '--verify-stored', '--output', str(out_file)], {'PACS_PASSWORD': orthanc.password})
    assert rc == 0, out + err
    result = json.loads(out_file.read_text())
    assert result['stow_ok'] == 6 and result['qido_ok'] == 6 and result['failed'] == 0
    assert result['stored_missing'] == 0 and result['stored_found'] == 6
    rc, out, err = _script('-m', ['medimg_lab.load', '--url', orthanc.dicomweb_url + '/', '--user', orthanc.username,
                                  '--max-requests', '4', '--rate', '20'], {'PACS_PASSWORD': 'wrong'})
    assert rc == 1 and json.loads(out)['failed'] == 4
