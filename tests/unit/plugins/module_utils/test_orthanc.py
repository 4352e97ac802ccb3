# -*- coding: utf-8 -*-
"""module_utils/orthanc.py: the Orthanc REST helpers (study lookup, instances, deletion, /system) against the
fake server of tests/unit/plugins/conftest.py, and the modality definitions."""
from __future__ import absolute_import, division, print_function

import pytest

from ansible_collections.medimg.pacs.plugins.module_utils import orthanc as oc
from ansible_collections.medimg.pacs.plugins.module_utils.http_client import DicomWebError, HttpClient


def test_split_orthanc_root():
    assert oc.split_orthanc_root('http://h:8042/dicom-web/') == 'http://h:8042'
    assert oc.split_orthanc_root('http://h:8042/other') is None


def test_lookup_instances_and_delete(fake_pacs):
    fake_pacs.stored = {'1.1': ('9.9', b''), '1.2': ('9.9', b''), '2.1': ('8.8', b'')}
    client = oc.OrthancClient(HttpClient(timeout=5), fake_pacs.root)
    assert client.lookup_studies('9.9') == ['orthanc-9.9']
    assert client.lookup_studies('7.7') == []
    assert client.study_instance_uids('9.9') == {'1.1', '1.2'}
    assert client.study_instance_uids('7.7') == set()
    assert client.delete_study('9.9') is True
    assert sorted(fake_pacs.stored) == ['2.1']
    assert client.delete_study('9.9') is False
    assert client.system()['DicomAet'] == 'ORTHANC'


def test_not_orthanc(http_server):
    server = http_server(lambda h: (200, {'Content-Type': 'application/json'}, b'{"name": "other"}'))
    with pytest.raises(DicomWebError) as err:
        oc.OrthancClient(HttpClient(timeout=5), server.base).system()
    assert err.value.kind == 'not_orthanc'


def test_modality_definitions():
    params = dict(name='ws1', state='present', aet='WS1 ', host='10.0.0.1', port=104, manufacturer=None,
                  allow_storage_commitment=False, use_dicom_tls=False, local_aet=None, dicom_timeout=None)
    assert oc.modality_params_error(params) is None
    desired = oc.desired_modality(params)
    assert desired['AET'] == 'WS1' and desired['AllowNAction'] is False and desired['AllowEcho'] is True
    payload = oc.payload_for_put(desired)
    assert payload['AllowStorageCommitment'] is False and 'LocalAet' not in payload
    assert oc.modality_differences(dict(desired, Port='104'), desired) == []
    assert oc.modality_differences(dict(desired, Port=105), desired) == ['Port']
    assert 'not a valid Orthanc modality name' in oc.modality_params_error(dict(params, name='a b'))
