# -*- coding: utf-8 -*-
"""Start a real Orthanc (Debian package ``orthanc`` + ``orthanc-dicomweb``) on loopback for tests."""
from __future__ import absolute_import, division, print_function

import base64
import glob
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

from ._unit import free_port  # shared with the unit tests; conftest and helpers.scp import it from here

ORTHANC_BINARY_CANDIDATES = ('/usr/sbin/Orthanc', '/usr/bin/Orthanc', '/usr/local/bin/Orthanc')
DICOMWEB_PLUGIN_GLOBS = (
    '/usr/share/orthanc/plugins/libOrthancDicomWeb.so*',
    '/usr/lib/orthanc/plugins/libOrthancDicomWeb.so*',
    '/usr/lib/*/orthanc/plugins/libOrthancDicomWeb.so*',
    '/usr/local/share/orthanc/plugins/libOrthancDicomWeb.so*',
)


def find_orthanc():
    """(binary, dicomweb_plugin) or (None, reason)."""
    binary = os.environ.get('ORTHANC_BINARY') or next(
        (p for p in ORTHANC_BINARY_CANDIDATES if os.access(p, os.X_OK)), None)
    if not binary:
        return None, 'Orthanc is not installed (apt-get install orthanc orthanc-dicomweb)'
    plugin = os.environ.get('ORTHANC_DICOMWEB_PLUGIN')
    if not plugin:
        for pattern in DICOMWEB_PLUGIN_GLOBS:
            matches = sorted(glob.glob(pattern))
            if matches:
                plugin = matches[0]
                break
    if not plugin:
        return None, 'the Orthanc DICOMweb plugin is not installed (apt-get install orthanc-dicomweb)'
    return binary, plugin


class OrthancProcess:
    """One Orthanc server with its own temp storage, config, free HTTP and DICOM ports."""

    def __init__(self, workdir, binary, plugin, username='admin', password='medimg-test-pw',
                 aet='ORTHANC', modalities_in_database=True, extra=None):
        self.workdir = str(workdir)
        self.binary = binary
        self.plugin = plugin
        self.username = username
        self.password = password
        self.aet = aet
        self.http_port = free_port()
        self.dicom_port = free_port()
        self.storage = os.path.join(self.workdir, 'storage')
        self.config_dir = os.path.join(self.workdir, 'config')
        self.log_path = os.path.join(self.workdir, 'orthanc.log')
        os.makedirs(self.storage, exist_ok=True)
        os.makedirs(self.config_dir, exist_ok=True)
        config = {
            'Name': 'medimg-test',
            'StorageDirectory': self.storage,
            'IndexDirectory': self.storage,
            'Plugins': [plugin],
            'HttpServerEnabled': True,
            'HttpPort': self.http_port,
            'RemoteAccessAllowed': False,
            'AuthenticationEnabled': True,
            'RegisteredUsers': {username: password},
            'DicomServerEnabled': True,
            'DicomAet': aet,
            'DicomPort': self.dicom_port,
            'DicomCheckCalledAet': False,
            'DicomAlwaysAllowEcho': True,
            'DicomAlwaysAllowStore': True,
            'DicomScuTimeout': 10,
            'DicomModalitiesInDatabase': modalities_in_database,
            'DicomModalities': {},
            'OrthancExplorerEnabled': True,
            'HttpDescribeErrors': True,
            'ConcurrentJobs': 2,
            'SaveJobs': False,
            'DicomWeb': {'Enable': True, 'Root': '/dicom-web/', 'EnableWado': True, 'WadoRoot': '/wado',
                         'Host': '127.0.0.1', 'Ssl': False},
        }
        config.update(extra or {})
        self.config = config
        with open(os.path.join(self.config_dir, 'orthanc.json'), 'w') as handle:
            json.dump(config, handle, indent=2)
        self.proc = None
        self._log = None

    @property
    def url(self):
        return 'http://127.0.0.1:%d' % self.http_port

    @property
    def dicomweb_url(self):
        return self.url + '/dicom-web'

    def auth_header(self):
        token = base64.b64encode(('%s:%s' % (self.username, self.password)).encode()).decode()
        return {'Authorization': 'Basic %s' % token}

    def request(self, method, path, body=None, content_type='application/json', timeout=30):
        data = body
        if body is not None and not isinstance(body, bytes):
            data = json.dumps(body).encode()
        headers = dict(self.auth_header())
        if data is not None:
            headers['Content-Type'] = content_type
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=timeout) as response:
            raw = response.read()
        return json.loads(raw.decode()) if raw.strip() else None

    def start(self, timeout=60):
        self._log = open(self.log_path, 'ab')
        self.proc = subprocess.Popen([self.binary, '--verbose', self.config_dir], stdout=self._log,
                                     stderr=subprocess.STDOUT, cwd=self.workdir)
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError('Orthanc exited with code %s during start-up; log:\n%s'
                                   % (self.proc.returncode, self.log_tail()))
            try:
                info = self.request('GET', '/system', timeout=2)
                if info and info.get('Version'):
                    self._wait_dicom(deadline)
                    return info
            except (urllib.error.URLError, OSError, ValueError) as exc:
                last = exc
            time.sleep(0.2)
        self.stop()
        raise RuntimeError('Orthanc did not answer /system within %ss (%s); log:\n%s'
                           % (timeout, last, self.log_tail()))

    def _wait_dicom(self, deadline):
        while time.time() < deadline:
            try:
                socket.create_connection(('127.0.0.1', self.dicom_port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)

    def stop(self, timeout=20):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self):
        self.stop()
        return self.start()

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, 'rb') as handle:
                return b'\n'.join(handle.read().splitlines()[-lines:]).decode('utf-8', 'replace')
        except OSError:
            return '(no log)'

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
