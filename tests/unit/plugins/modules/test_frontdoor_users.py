# -*- coding: utf-8 -*-
"""medimg.pacs.frontdoor_users as a real subprocess: salted hashes kept while they match,
check mode, diff without hashes, clean failures."""
from __future__ import absolute_import, division, print_function

import json
import os
import stat

from ansible_collections.medimg.pacs.plugins.module_utils.passwords import verify_password

USERS = [
    {'name': 'viewer', 'password': 'Viewer-Password-123x', 'role': 'viewer'},
    {'name': 'admin', 'password': 'Admin-Password-456y', 'role': 'admin'},
]


def _args(path, users=None, **extra):
    args = dict(path=str(path), users=users or USERS, mode='0640')
    args.update(extra)
    return args


def test_create_then_idempotent(run_module, tmp_path):
    path = tmp_path / 'users.json'
    result, out, err = run_module('frontdoor_users', _args(path))
    assert result['changed'] is True and sorted(result['added']) == ['admin', 'viewer']
    data = json.loads(path.read_text())['users']
    assert verify_password('Viewer-Password-123x', data['viewer']['hash'])
    assert data['viewer']['role'] == 'viewer'
    assert stat.S_IMODE(os.stat(str(path)).st_mode) == 0o640
    assert 'Viewer-Password-123x' not in out + err and 'Admin-Password-456y' not in out + err
    before = path.read_text()
    result = run_module('frontdoor_users', _args(path))[0]
    assert result['changed'] is False
    assert path.read_text() == before          # salts and hashes kept


def test_password_change_gets_a_new_salt_and_roles_update(run_module, tmp_path):
    path = tmp_path / 'users.json'
    run_module('frontdoor_users', _args(path))
    old = json.loads(path.read_text())['users']
    changed = [dict(USERS[0], password='Another-Password-789z'), dict(USERS[1], role='viewer')]
    result = run_module('frontdoor_users', _args(path, changed), diff=True)[0]
    assert result['changed'] is True and sorted(result['updated']) == ['admin', 'viewer']
    new = json.loads(path.read_text())['users']
    assert new['viewer']['hash'].split('$')[3] != old['viewer']['hash'].split('$')[3]
    assert new['admin']['hash'] == old['admin']['hash'] and new['admin']['role'] == 'viewer'
    assert '$scrypt$' not in json.dumps(result['diff'])
    assert 'viewer: viewer (new password)' in result['diff']['after']


def test_check_mode_writes_nothing_and_removed_users_are_reported(run_module, tmp_path):
    path = tmp_path / 'users.json'
    result = run_module('frontdoor_users', _args(path), check_mode=True)[0]
    assert result['changed'] is True and not path.exists()
    run_module('frontdoor_users', _args(path))
    result = run_module('frontdoor_users', _args(path, USERS[:1]), check_mode=True)[0]
    assert result['changed'] is True and result['removed'] == ['admin']
    assert 'admin' in json.loads(path.read_text())['users']


def test_bad_input_fails_cleanly(run_module, tmp_path):
    path = tmp_path / 'users.json'
    cases = [
        (USERS + [dict(USERS[0])], 'duplicate name(s) viewer'),
        ([dict(USERS[0], role='superuser')], 'unknown role(s) superuser'),
        ([dict(USERS[0], name='bad:name')], 'invalid name(s) bad:name'),
    ]
    for users, fragment in cases:
        result, out, err = run_module('frontdoor_users', _args(path, users))
        assert result.get('failed') is True and fragment in result['msg'], result
        assert 'Traceback' not in out + err
    path.write_text('{"not": "users"}')
    result = run_module('frontdoor_users', _args(path))[0]
    assert result.get('failed') is True and 'not a front-door user file' in result['msg']
