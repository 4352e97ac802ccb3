# -*- coding: utf-8 -*-
"""The medimg.pacs modules, run through ansible-playbook, against a real Orthanc on loopback."""
from __future__ import absolute_import, division, print_function

from medimg_lab.ansible_run import run_module


def _auth(orthanc):
    return {'url_username': orthanc.username, 'url_password': orthanc.password}


def _clean(run):
    assert 'Traceback' not in run.output, run.output
    assert 'MODULE FAILURE' not in run.output, run.output


def test_dicomweb_health_ok(orthanc):
    run = run_module('dicomweb_health', dict(url=orthanc.dicomweb_url, **_auth(orthanc)))
    _clean(run)
    result = run.result
    assert result.get('failed') is not True, result
    assert result['healthy'] is True and result['changed'] is False
    endpoint = result['endpoints'][0]
    assert endpoint['probes']['qido']['ok'] is True
    assert endpoint['probes']['qido']['latency_ms'] >= 0
    assert endpoint['server_type'] == 'orthanc'
    assert endpoint['server']['Version']
    assert endpoint['server']['DicomAet'] == orthanc.aet
    assert orthanc.password not in run.stdout


def test_dicomweb_health_roundtrip_ok(orthanc):
    before = orthanc.request('GET', '/statistics')['CountInstances']
    run = run_module('dicomweb_health', dict(url=orthanc.dicomweb_url, roundtrip=True, **_auth(orthanc)))
    _clean(run)
    result = run.result
    assert result['healthy'] is True, result
    assert result['changed'] is False
    roundtrip = result['endpoints'][0]['probes']['roundtrip']
    assert roundtrip['ok'] is True and roundtrip['skipped'] is False
    assert set(roundtrip['steps']) == {'stow', 'qido', 'wado', 'delete'}
    assert all(step['ok'] for step in roundtrip['steps'].values())
    # the round trip leaves no trace
    assert orthanc.request('GET', '/statistics')['CountInstances'] == before
    assert orthanc.request('POST', '/tools/lookup', roundtrip['study_uid'].encode(), 'text/plain') == []


def test_test_instance_is_accepted_by_orthanc(orthanc):
    """The round trip's test instance (written with pydicom) is stored and parsed by Orthanc."""
    from ansible_collections.medimg.pacs.plugins.module_utils import dicom_files as dw
    data, uids = dw.build_test_instance()
    answer = orthanc.request('POST', '/instances', data, 'application/dicom')
    assert answer['Status'] == 'Success'
    tags = orthanc.request('GET', '/instances/%s/simplified-tags' % answer['ID'])
    assert tags['SOPInstanceUID'] == uids['sop_uid']
    assert tags['StudyInstanceUID'] == uids['study_uid']
    assert tags['PatientID'] == dw.PROBE_PATIENT_ID
    assert tags['Rows'] == '4' and tags['Columns'] == '4'
    # Orthanc can decode the pixel data (renders it as PNG)
    orthanc.request('DELETE', '/studies/%s' % answer['ParentStudy'])


def test_dicomweb_health_study_uid_and_check_mode(orthanc):
    from ansible_collections.medimg.pacs.plugins.module_utils import dicom_files as dw
    data, uids = dw.build_test_instance()
    answer = orthanc.request('POST', '/instances', data, 'application/dicom')
    try:
        run = run_module('dicomweb_health', dict(url=orthanc.dicomweb_url, study_uid=uids['study_uid'],
                                                 roundtrip=True, **_auth(orthanc)), check_mode=True)
        _clean(run)
        endpoint = run.result['endpoints'][0]
        assert endpoint['ok'] is True, endpoint
        assert endpoint['probes']['wado_metadata']['instances'] == 1
        assert endpoint['probes']['roundtrip']['skipped'] is True
        assert 'check mode' in endpoint['notes'][0]
    finally:
        orthanc.request('DELETE', '/studies/%s' % answer['ParentStudy'])


def test_dicomweb_health_several_endpoints(orthanc, closed_port):
    run = run_module('dicomweb_health', dict(endpoints=[
        dict(name='orthanc', url=orthanc.dicomweb_url),
        dict(name='down', url='http://127.0.0.1:%d/dicom-web' % closed_port),
    ], fail_on_unhealthy=False, **_auth(orthanc)))
    _clean(run)
    result = run.result
    assert result['healthy'] is False
    assert [e['ok'] for e in result['endpoints']] == [True, False]
    assert result['endpoints'][1]['probes']['qido']['kind'] == 'connection_refused'


def test_dicom_echo_orthanc(orthanc):
    run = run_module('dicom_echo', dict(host='127.0.0.1', port=orthanc.dicom_port, called_aet=orthanc.aet,
                                        calling_aet='MEDIMG-TEST'))
    _clean(run)
    assert run.result.get('failed') is not True, run.result
    assert run.result['status'] == 'Success'
    assert run.result['rtt_ms'] >= 0
    assert run.result['changed'] is False


def _modality_args(orthanc, **extra):
    args = dict(url=orthanc.url, name='ws-test', aet='WSTEST', host='127.0.0.1', port=11112, **_auth(orthanc))
    args.update(extra)
    return args


def test_orthanc_modality_lifecycle(orthanc):
    name = 'ws-lifecycle'
    args = _modality_args(orthanc, name=name, allow_move=False, manufacturer='Generic')

    run = run_module('orthanc_modality', args, check_mode=True, diff=True)
    _clean(run)
    assert run.result['changed'] is True
    assert name not in orthanc.request('GET', '/modalities')

    run = run_module('orthanc_modality', args, diff=True)
    _clean(run)
    assert run.result['changed'] is True, run.result
    assert run.result['diff']['before'] == {}
    assert run.result['diff']['after']['AET'] == 'WSTEST'
    stored = orthanc.request('GET', '/modalities?expand')[name]
    assert stored['AET'] == 'WSTEST' and stored['Port'] == 11112 and stored['AllowMove'] is False
    assert stored['AllowEcho'] is True

    run = run_module('orthanc_modality', args, diff=True)
    _clean(run)
    assert run.result['changed'] is False and run.result['differences'] == []

    run = run_module('orthanc_modality', dict(args, port=11113, allow_storage_commitment=False), check_mode=True,
                     diff=True)
    assert run.result['changed'] is True
    assert sorted(run.result['differences']) == ['AllowEventReport', 'AllowNAction', 'Port']
    assert run.result['diff']['before']['Port'] == 11112 and run.result['diff']['after']['Port'] == 11113
    assert orthanc.request('GET', '/modalities?expand')[name]['Port'] == 11112  # check mode changed nothing

    run = run_module('orthanc_modality', dict(args, port=11113))
    assert run.result['changed'] is True
    assert orthanc.request('GET', '/modalities?expand')[name]['Port'] == 11113

    run = run_module('orthanc_modality', dict(url=orthanc.url, name=name, state='absent', **_auth(orthanc)),
                     check_mode=True)
    assert run.result['changed'] is True
    assert name in orthanc.request('GET', '/modalities')
    run = run_module('orthanc_modality', dict(url=orthanc.url, name=name, state='absent', **_auth(orthanc)),
                     diff=True)
    assert run.result['changed'] is True
    assert run.result['diff']['after'] == {}
    assert name not in orthanc.request('GET', '/modalities')
    run = run_module('orthanc_modality', dict(url=orthanc.url, name=name, state='absent', **_auth(orthanc)))
    assert run.result['changed'] is False


def test_real_peer_echo_and_store_through_orthanc(orthanc, storage_scp):
    """Register a pynetdicom SCP, C-ECHO it and C-STORE a study to it, both initiated by Orthanc."""
    from ansible_collections.medimg.pacs.plugins.module_utils import dicom_files as dw
    name = 'scp-peer'
    run = run_module('orthanc_modality', _modality_args(orthanc, name=name, aet=storage_scp.aet,
                                                        port=storage_scp.port))
    _clean(run)
    assert run.result['changed'] is True, run.result

    # the module can also C-ECHO the peer directly
    run = run_module('dicom_echo', dict(host='127.0.0.1', port=storage_scp.port, called_aet=storage_scp.aet))
    assert run.result['status'] == 'Success', run.result

    assert orthanc.request('POST', '/modalities/%s/echo' % name, {}) == {}
    assert storage_scp.wait_for(lambda scp: orthanc.aet in scp.echoes, timeout=10)

    data, uids = dw.build_test_instance()
    answer = orthanc.request('POST', '/instances', data, 'application/dicom')
    try:
        job = orthanc.request('POST', '/modalities/%s/store' % name,
                              {'Resources': [answer['ParentStudy']], 'Synchronous': True})
        assert job is not None
        assert storage_scp.wait_for(lambda scp: any(ds.SOPInstanceUID == uids['sop_uid'] for ds in scp.received),
                                    timeout=30)
        received = [ds for ds in storage_scp.received if ds.SOPInstanceUID == uids['sop_uid']][0]
        assert received.StudyInstanceUID == uids['study_uid']
        assert received.PatientID == dw.PROBE_PATIENT_ID
    finally:
        orthanc.request('DELETE', '/studies/%s' % answer['ParentStudy'])
        run_module('orthanc_modality', dict(url=orthanc.url, name=name, state='absent', **_auth(orthanc)))


def test_modality_survives_restart_when_stored_in_database(orthanc_factory):
    server = orthanc_factory(modalities_in_database=True)
    run = run_module('orthanc_modality', _modality_args(server, name='persist', aet='PERSIST'))
    assert run.result['changed'] is True, run.result
    server.restart()
    assert server.request('GET', '/modalities?expand')['persist']['AET'] == 'PERSIST'
    run = run_module('orthanc_modality', _modality_args(server, name='persist', aet='PERSIST'))
    assert run.result['changed'] is False


def test_modality_lost_on_restart_without_database(orthanc_factory):
    """Negative control for the documented caveat: without DicomModalitiesInDatabase it is lost."""
    server = orthanc_factory(modalities_in_database=False)
    run = run_module('orthanc_modality', _modality_args(server, name='volatile', aet='VOLATILE'))
    assert run.result['changed'] is True, run.result
    assert 'volatile' in server.request('GET', '/modalities')
    server.restart()
    assert 'volatile' not in server.request('GET', '/modalities')
