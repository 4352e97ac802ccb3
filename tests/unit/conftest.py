# -*- coding: utf-8 -*-
"""Shared fixtures for the unit tests (no external services; loopback servers started here).

Works both under ``ansible-test units`` (the collection lives at
``ansible_collections/medimg/pacs``) and under plain ``pytest`` from the
repository root (pytest.ini puts ``.collections`` on ``pythonpath``, where the committed
link ``.collections/ansible_collections/medimg/pacs`` points at the checkout).
"""

from __future__ import absolute_import, division, print_function

import copy
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from ansible_collections.medimg.pacs.tests.helpers.loopback import (
    LoopbackHttpServer,
    free_port,
    make_handler,
    self_signed_cert,
    server_tls_context,
)

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, 'fixtures')


@pytest.fixture
def closed_port():
    return free_port()


@pytest.fixture
def http_server():
    """Factory: http_server(respond) -> running loopback server (stopped at teardown)."""
    servers = []

    def start(respond, tls_context=None):
        server = LoopbackHttpServer(make_handler(respond), tls_context)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def tls_server(http_server, tmp_path):
    """HTTPS server on loopback with a self-signed certificate answering an empty DICOM JSON list.

    Returns (server, ca_path) where ca_path is the self-signed certificate (a valid trust anchor).
    """
    pytest.importorskip('cryptography')
    cert_path, key_path = self_signed_cert(str(tmp_path), u'medimg-selfsigned-test', dns_names=[u'localhost'])
    context = server_tls_context(cert_path, key_path)

    def respond(_handler):
        return 200, {'Content-Type': 'application/dicom+json'}, b'[]'

    return http_server(respond, context), cert_path


# ---------------------------------------------------------------------------
# DCM4CHEE replay server (recorded-from-documentation responses, see fixtures/dcm4chee/README.md)
# ---------------------------------------------------------------------------
def _load(name):
    with open(os.path.join(FIXTURES, 'dcm4chee', name)) as handle:
        return json.load(handle)


class Dcm4cheeState:
    ARCHIVE_DEVICE = 'dcm4chee-arc'

    def __init__(self, token=None):
        self.token = token
        self.unique = list(_load('unique-aets.json'))
        self.devices = {}
        for name in os.listdir(os.path.join(FIXTURES, 'dcm4chee', 'devices')):
            doc = _load(os.path.join('devices', name))
            self.devices[doc['dicomDeviceName']] = doc
        self.errors = _load('errors.json')
        self.requests = []
        self.lock = threading.Lock()

    def writes(self):
        return [r for r in self.requests if r[0] != 'GET']

    def _ae_infos(self):
        infos = []
        for name in sorted(self.devices):
            device = self.devices[name]
            conns = device.get('dicomNetworkConnection') or []
            for ae in device.get('dicomNetworkAE') or []:
                info = {'dicomDeviceName': name, 'dicomAETitle': ae['dicomAETitle'],
                        'dicomAssociationInitiator': ae.get('dicomAssociationInitiator', False),
                        'dicomAssociationAcceptor': ae.get('dicomAssociationAcceptor', False),
                        'dicomInstalled': device.get('dicomInstalled', True)}
                if ae.get('dicomDescription'):
                    info['dicomDescription'] = ae['dicomDescription']
                refs = [int(r.rsplit('/', 1)[1]) for r in ae.get('dicomNetworkConnectionReference') or []]
                info['dicomNetworkConnection'] = [conns[i] for i in refs if i < len(conns)]
                infos.append(info)
        return infos

    def respond(self, handler):
        parts = urlsplit(handler.path)
        path = [unquote(p) for p in parts.path.split('/') if p]
        query = parse_qs(parts.query)
        method = handler.command
        with self.lock:
            self.requests.append((method, handler.path, handler.request_body))
            if self.token and handler.headers.get('Authorization') != 'Bearer %s' % self.token:
                return 401, {'WWW-Authenticate': 'Bearer realm="dcm4che"'}, b''
            if not path or path[0] != 'dcm4chee-arc':
                return 404, {'Content-Type': 'text/html'}, b'<html><body>Not Found</body></html>'
            return self._route(method, path[1:], query, handler.request_body)

    def _json(self, data, status=200):
        return status, {'Content-Type': 'application/json'}, json.dumps(data).encode()

    def _error(self, key, status, *args):
        text = self.errors[key] % args if args else self.errors[key]
        return status, {'Content-Type': 'text/plain'}, text.encode()

    def _route(self, method, path, query, body):
        if path == ['aets'] and method == 'GET':
            return self._json(_load('aets.json'))
        if path == ['aes'] and method == 'GET':
            infos = self._ae_infos()
            if 'dicomAETitle' in query:
                infos = [i for i in infos if i['dicomAETitle'] == query['dicomAETitle'][0]]
            return self._json(infos)
        if path == ['unique', 'aets'] and method == 'GET':
            return self._json(sorted(self.unique))
        if len(path) == 3 and path[:2] == ['unique', 'aets']:
            aet = path[2]
            if method == 'POST':
                if aet in self.unique:
                    return self._error('aet_already_registered', 409, aet)
                self.unique.append(aet)
                return 204, {}, b''
            if method == 'DELETE':
                if aet not in self.unique:
                    return self._error('aet_not_registered', 404, aet)
                self.unique.remove(aet)
                return 204, {}, b''
        if len(path) == 2 and path[0] == 'devices':
            name = path[1]
            register = query.get('register', ['true'])[0] != 'false'
            if method == 'GET':
                if name not in self.devices:
                    return self._error('device_not_found', 404)
                return self._json(self.devices[name])
            if method in ('POST', 'PUT'):
                doc = json.loads(body.decode())
                if doc.get('dicomDeviceName') != name:
                    return self._error('device_name_mismatch', 400, doc.get('dicomDeviceName'))
                if method == 'POST' and name in self.devices:
                    return self._error('device_not_found', 409)
                if method == 'PUT' and name not in self.devices:
                    return self._error('device_not_found', 404)
                old = set(ae['dicomAETitle'] for ae in (self.devices.get(name) or {}).get('dicomNetworkAE') or [])
                new = set(ae['dicomAETitle'] for ae in doc.get('dicomNetworkAE') or [])
                if register:
                    for aet in sorted(new - old):
                        if aet in self.unique:
                            return self._error('aet_already_registered', 409, aet)
                    self.unique.extend(sorted(new - old))
                    for aet in old - new:
                        if aet in self.unique:
                            self.unique.remove(aet)
                self.devices[name] = copy.deepcopy(doc)
                return 204, {}, b''
            if method == 'DELETE':
                if name not in self.devices:
                    return self._error('device_not_found', 404)
                doc = self.devices.pop(name)
                if register:
                    for ae in doc.get('dicomNetworkAE') or []:
                        if ae['dicomAETitle'] in self.unique:
                            self.unique.remove(ae['dicomAETitle'])
                return 204, {}, b''
        return 404, {'Content-Type': 'text/plain'}, b'RESTEASY003210: Could not find resource'


@pytest.fixture
def dcm4chee_server(http_server):
    """Replay server for the DCM4CHEE REST API; returns (base_url, state)."""
    state = Dcm4cheeState()
    server = http_server(state.respond)
    return server.base + '/dcm4chee-arc', state


# ---------------------------------------------------------------------------
# Running modules for real (a subprocess, exactly as Ansible executes them)
# ---------------------------------------------------------------------------
def _pythonpath():
    from ansible_collections.medimg.pacs.plugins.module_utils import ae_title
    path = os.path.abspath(ae_title.__file__)  # <root>/ansible_collections/medimg/pacs/plugins/module_utils/x.py
    for _level in range(6):
        path = os.path.dirname(path)
    collections_root = path
    paths = [collections_root] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]
    return os.pathsep.join(paths)


@pytest.fixture
def run_module(tmp_path):
    """run_module(name, args, check_mode=False, diff=False) -> (result_dict, raw_stdout, stderr)."""

    def run(name, args, check_mode=False, diff=False, timeout=120):
        module_args = dict(args)
        module_args['_ansible_check_mode'] = check_mode
        module_args['_ansible_diff'] = diff
        args_file = tmp_path / ('args-%s-%d.json' % (name, int(time.time() * 1000000)))
        args_file.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': module_args}))
        env = dict(os.environ, PYTHONPATH=_pythonpath())
        proc = subprocess.run(
            [sys.executable, '-m', 'ansible_collections.medimg.pacs.plugins.modules.%s' % name, str(args_file)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=timeout,
            cwd=tempfile.gettempdir(), check=False)
        stdout = proc.stdout.decode('utf-8', 'replace')
        stderr = proc.stderr.decode('utf-8', 'replace')
        start = stdout.find('{')
        try:
            result = json.loads(stdout[start:]) if start >= 0 else None
        except ValueError:
            result = None
        assert result is not None, 'module %s printed no JSON result\nstdout: %s\nstderr: %s' % (name, stdout, stderr)
        return result, stdout, stderr

    return run
