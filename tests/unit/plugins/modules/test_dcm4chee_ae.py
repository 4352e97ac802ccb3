# -*- coding: utf-8 -*-
"""dcm4chee_ae module against the DCM4CHEE replay server (recorded-from-documentation responses).

The module runs as a real subprocess and talks real HTTP to a loopback server;
see tests/unit/fixtures/dcm4chee/README.md.
"""
from __future__ import absolute_import, division, print_function

import json

import pytest


def _args(base, **extra):
    args = dict(url=base, aet='ORTHANC', host='orthanc.example.org', port=4242, description='Orthanc front')
    args.update(extra)
    return args


def test_create_then_idempotent(dcm4chee_server, run_module):
    base, state = dcm4chee_server
    result, _out, _err = run_module('dcm4chee_ae', _args(base), diff=True)
    assert result['changed'] is True, result
    assert result['ae']['device_name'] == 'orthanc'
    assert result['ae']['host'] == 'orthanc.example.org' and result['ae']['port'] == 4242
    assert result['diff']['before'] == {}
    assert 'ORTHANC' in state.unique
    device = state.devices['orthanc']
    assert device['dicomNetworkAE'][0]['dicomAETitle'] == 'ORTHANC'
    assert device['dicomNetworkAE'][0]['dicomNetworkConnectionReference'] == ['/dicomNetworkConnection/0']
    assert device['dicomNetworkConnection'][0] == {'cn': 'dicom', 'dicomHostname': 'orthanc.example.org',
                                                   'dicomPort': 4242}

    writes_before = len(state.writes())
    result, _out, _err = run_module('dcm4chee_ae', _args(base))
    assert result['changed'] is False, result
    assert result['differences'] == []
    assert len(state.writes()) == writes_before


def test_check_mode_does_not_write(dcm4chee_server, run_module):
    base, state = dcm4chee_server
    result, _out, _err = run_module('dcm4chee_ae', _args(base), check_mode=True, diff=True)
    assert result['changed'] is True
    assert result['diff']['after']['aet'] == 'ORTHANC'
    assert state.writes() == []
    assert 'orthanc' not in state.devices


def test_update_port_of_existing_device(dcm4chee_server, run_module):
    base, state = dcm4chee_server
    args = dict(url=base, aet='STORESCP', host='storescp.example.org', port=11114,
                association_initiator=False)
    result, _out, _err = run_module('dcm4chee_ae', args, diff=True)
    assert result['changed'] is True, result
    assert result['differences'] == ['port']
    assert result['diff']['before']['port'] == 11113
    assert result['diff']['after']['port'] == 11114
    device = state.devices['storescp']
    assert device['dicomNetworkConnection'][0]['dicomPort'] == 11114
    # description not given: kept as it was
    assert device['dicomNetworkAE'][0]['dicomDescription'] == 'Store SCP'
    result, _out, _err = run_module('dcm4chee_ae', args)
    assert result['changed'] is False


def test_conflict_with_another_device(dcm4chee_server, run_module):
    base, state = dcm4chee_server
    result, out, _err = run_module('dcm4chee_ae', _args(base, aet='STORESCP', device_name='other'))
    assert result.get('failed') is True
    assert 'already used by the device storescp' in result['msg']
    assert 'Traceback' not in out
    assert state.writes() == []


def test_archive_ae_titles_are_protected(dcm4chee_server, run_module):
    base, state = dcm4chee_server
    result, _out, _err = run_module('dcm4chee_ae', dict(url=base, aet='DCM4CHEE', state='absent',
                                                        device_name='mine'))
    assert result.get('failed') is True
    assert 'dcm4chee-arc' in result['msg']
    assert state.writes() == []


def test_reserved_title_without_device_is_created_without_registering(dcm4chee_server, run_module):
    base, state = dcm4chee_server
    result, _out, _err = run_module('dcm4chee_ae', _args(base, aet='RESERVED1', device_name='reserved1'))
    assert result['changed'] is True, result
    posts = [r for r in state.writes() if r[0] == 'POST']
    # the title is already in the unique registry, so the device is created with ?register=false
    assert posts and posts[0][1].endswith('/devices/reserved1?register=false')
    assert state.unique.count('RESERVED1') == 1
    assert state.devices['reserved1']['dicomNetworkAE'][0]['dicomAETitle'] == 'RESERVED1'


def test_absent_deletes_device_and_unregisters(dcm4chee_server, run_module):
    base, state = dcm4chee_server
    result, _out, _err = run_module('dcm4chee_ae', dict(url=base, aet='STORESCP', state='absent'), diff=True)
    assert result['changed'] is True
    assert result['diff']['before']['device_name'] == 'storescp'
    assert 'storescp' not in state.devices
    assert 'STORESCP' not in state.unique
    result, _out, _err = run_module('dcm4chee_ae', dict(url=base, aet='STORESCP', state='absent'))
    assert result['changed'] is False


def test_unique_mode(dcm4chee_server, run_module):
    base, state = dcm4chee_server
    args = dict(url=base, aet='CT2', mode='unique')
    result, _out, _err = run_module('dcm4chee_ae', args, check_mode=True)
    assert result['changed'] is True and 'CT2' not in state.unique
    result, _out, _err = run_module('dcm4chee_ae', args)
    assert result['changed'] is True and 'CT2' in state.unique
    result, _out, _err = run_module('dcm4chee_ae', args)
    assert result['changed'] is False
    result, _out, _err = run_module('dcm4chee_ae', dict(args, state='absent'))
    assert result['changed'] is True and 'CT2' not in state.unique


def test_bearer_token(dcm4chee_server, run_module):
    base, state = dcm4chee_server
    state.token = 'recorded-token'
    result, _out, _err = run_module('dcm4chee_ae', _args(base))
    assert result.get('failed') is True
    assert 'HTTP 401' in result['msg'] and 'bearer_token' in result['msg']
    result, out, _err = run_module('dcm4chee_ae', _args(base, bearer_token='recorded-token'))
    assert result['changed'] is True
    assert 'recorded-token' not in json.dumps(result)


@pytest.mark.parametrize('args,fragment', [
    (dict(aet='TOO-LONG-AE-TITLE-X'), 'at most 16'),
    (dict(aet='BACK\\SLASH'), 'backslash'),
    (dict(port=70000), 'port'),
    (dict(host='bad host'), 'host'),
    (dict(url='not-a-url'), 'no scheme'),
    (dict(device_name='bad/name'), 'device_name'),
])
def test_bad_input(dcm4chee_server, run_module, args, fragment):
    base, state = dcm4chee_server
    result, out, err = run_module('dcm4chee_ae', _args(base, **args))
    assert result.get('failed') is True
    assert fragment in result['msg']
    assert 'Traceback' not in out + err
    assert state.requests == []


def test_wrong_url_answers_html(dcm4chee_server, run_module):
    base, _state = dcm4chee_server
    result, _out, _err = run_module('dcm4chee_ae', _args(base.replace('/dcm4chee-arc', '/other')))
    assert result.get('failed') is True
    assert 'HTTP 404' in result['msg']
