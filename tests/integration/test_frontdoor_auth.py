# -*- coding: utf-8 -*-
"""The front door's authentication service (roles/nginx/files/medimg-frontdoor-auth) as a real
process on a unix socket, asked the way nginx's auth_request asks it."""
from __future__ import absolute_import, division, print_function

import base64
import http.client
import json
import os
import socket
import subprocess
import sys
import time

import pytest

from ansible_collections.medimg.pacs.plugins.module_utils.passwords import hash_password

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAM = os.path.join(HERE, '..', '..', 'roles', 'nginx', 'files', 'medimg-frontdoor-auth')
ROLES = {'viewer': ['app', 'read'], 'uploader': ['app', 'read', 'store'], 'admin': ['app', 'read', 'store', 'admin']}
PASSWORDS = {'alice': 'Alice-Reads-Images-42', 'ulrich': 'Ulrich-Stores-CTs-17', 'root-admin': 'Admin-Only-Secret-99'}


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        http.client.HTTPConnection.__init__(self, 'localhost', timeout=10)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(self.path)


def write_users(path, users):
    data = {'format': 'medimg-frontdoor-users/1',
            'users': dict((name, {'role': role, 'hash': hash_password(PASSWORDS[name] if pw is None else pw)})
                          for name, role, pw in users)}
    tmp = path + '.tmp'
    with open(tmp, 'w') as handle:
        json.dump(data, handle)
    os.rename(tmp, path)


@pytest.fixture
def service(tmp_path):
    users = str(tmp_path / 'users.json')
    write_users(users, [('alice', 'viewer', None), ('ulrich', 'uploader', None), ('root-admin', 'admin', None)])
    config = tmp_path / 'auth.json'
    config.write_text(json.dumps({
        'users_file': users, 'key_file': str(tmp_path / 'session.key'), 'socket': str(tmp_path / 'auth.sock'),
        'roles': ROLES, 'session_seconds': 3600, 'cache_seconds': 60, 'max_failures': 3,
        'failure_window': 60, 'lockout_seconds': 60}))
    log = open(str(tmp_path / 'service.log'), 'w')
    proc = subprocess.Popen([sys.executable, PROGRAM, str(config)], stdout=log, stderr=subprocess.STDOUT)
    sock = str(tmp_path / 'auth.sock')
    deadline = time.time() + 15
    while not os.path.exists(sock) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert os.path.exists(sock), 'the service did not start'

    class Service(object):
        users_file = users
        log_file = str(tmp_path / 'service.log')
        key_file = str(tmp_path / 'session.key')

        @staticmethod
        def ask(klass='read', user=None, password=None, cookie=None, ip='198.51.100.7', conn=None):
            headers = {'X-Medimg-Class': klass, 'X-Real-IP': ip}
            if user is not None:
                headers['Authorization'] = 'Basic ' + base64.b64encode(('%s:%s' % (user, password)).encode()).decode()
            if cookie:
                headers['Cookie'] = 'other=1; ' + cookie
            own = conn is None
            conn = conn or UnixConnection(sock)
            conn.request('GET', '/auth', headers=headers)
            resp = conn.getresponse()
            resp.read()
            if own:
                conn.close()
            return resp.status, dict((k.lower(), v) for k, v in resp.getheaders())

    yield Service
    proc.terminate()
    proc.wait(10)
    log.close()


def cookie_of(headers):
    return headers['x-medimg-set-cookie'].split(';')[0]


def test_anonymous_gets_a_basic_challenge(service):
    status, headers = service.ask()
    assert status == 401 and headers['www-authenticate'].startswith('Basic realm=')
    assert headers['x-accel-expires'] == '0'


def test_password_once_then_a_cacheable_session(service):
    status, headers = service.ask(user='alice', password=PASSWORDS['alice'])
    assert status == 200 and headers['x-medimg-user'] == 'alice' and headers['x-medimg-role'] == 'viewer'
    assert headers['x-accel-expires'] == '0'             # a password check is never cached by nginx
    set_cookie = headers['x-medimg-set-cookie']
    for flag in ('Secure', 'HttpOnly', 'SameSite=Strict', 'Path=/'):
        assert flag in set_cookie
    status, headers = service.ask(cookie=cookie_of({'x-medimg-set-cookie': set_cookie}))
    assert status == 200 and headers['x-medimg-user'] == 'alice'
    assert 0 < int(headers['x-accel-expires']) <= 60 and 'x-medimg-set-cookie' not in headers


def test_roles_decide_the_request_classes(service):
    expectations = {('alice', 'read'): 200, ('alice', 'store'): 403, ('alice', 'admin'): 403,
                    ('ulrich', 'store'): 200, ('ulrich', 'admin'): 403, ('root-admin', 'admin'): 200,
                    ('alice', 'unknown-class'): 403}
    for (user, klass), expected in expectations.items():
        status, headers = service.ask(klass=klass, user=user, password=PASSWORDS[user])
        assert status == expected, (user, klass, status)
        assert headers['x-medimg-user'] == user                  # the audit log names the user on 403 too
    status = service.ask(klass='', user='alice', password=PASSWORDS['alice'])[0]
    assert status == 403                                         # no class: treated as admin


def test_forged_and_tampered_cookies_are_refused(service):
    status, headers = service.ask(user='alice', password=PASSWORDS['alice'])
    good = cookie_of(headers)
    name, value = good.split('=', 1)
    parts = value.split('.')
    forged_user = base64.urlsafe_b64encode(b'root-admin').decode().rstrip('=')
    for bad in ('v1.forged', '.'.join([parts[0], forged_user] + parts[2:]),
                '.'.join(parts[:2] + [str(int(parts[2]) + 3600)] + parts[3:]), value[:-2] + 'AA'):
        status = service.ask(klass='admin', cookie='%s=%s' % (name, bad))[0]
        assert status == 401, bad


def test_a_password_change_ends_sessions_and_cached_credentials(service):
    status, headers = service.ask(user='alice', password=PASSWORDS['alice'])
    cookie = cookie_of(headers)
    write_users(service.users_file, [('alice', 'viewer', 'A-New-Password-For-Alice'), ('ulrich', 'uploader', None),
                                     ('root-admin', 'admin', None)])
    time.sleep(1.2)                                              # the users file is re-read once a second
    assert service.ask(cookie=cookie)[0] == 401
    assert service.ask(user='alice', password=PASSWORDS['alice'])[0] == 401
    assert service.ask(user='alice', password='A-New-Password-For-Alice')[0] == 200


def test_failed_logins_lock_the_address_out(service):
    for attempt in range(3):
        assert service.ask(user='alice', password='wrong-password-xx', ip='203.0.113.9')[0] == 401, attempt
    # locked: even the right password is refused from that address, not from another one
    assert service.ask(user='alice', password=PASSWORDS['alice'], ip='203.0.113.9')[0] == 401
    assert service.ask(user='alice', password=PASSWORDS['alice'], ip='203.0.113.10')[0] == 200
    with open(service.log_file) as handle:
        log = handle.read()
    assert 'locked out client=203.0.113.9' in log
    for secret in PASSWORDS.values():
        assert secret not in log


def test_unknown_users_cost_a_hash_too(service):
    started = time.time()
    assert service.ask(user='nobody', password='Whatever-Password-1')[0] == 401
    assert time.time() - started > 0.01                          # scrypt ran against a dummy hash


def test_keep_alive_and_the_session_key_file(service):
    conn = UnixConnection(os.path.join(os.path.dirname(service.users_file), 'auth.sock'))
    for attempt in range(20):
        assert service.ask(user='ulrich', password=PASSWORDS['ulrich'], klass='store', conn=conn)[0] == 200, attempt
    conn.close()
    assert oct(os.stat(service.key_file).st_mode & 0o777) == '0o600'
    assert os.path.getsize(service.key_file) == 32
