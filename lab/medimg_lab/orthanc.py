"""One real Orthanc (the distribution's ``orthanc`` + ``orthanc-dicomweb``) on loopback.

The tests (tests/integration/conftest.py, tests/helpers/dicom_import.py) and the benchmarks
(bench/pg_ingest.py) start it as a child process with its own temporary configuration, storage,
index and free ports, and stop that one process by its own handle. Subclasses give their own
:meth:`OrthancProcess.config` (the benchmarks' variants).
"""
import base64
import glob
import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

ORTHANC_BINARY_CANDIDATES = ('/usr/sbin/Orthanc', '/usr/bin/Orthanc', '/usr/local/bin/Orthanc')
DICOMWEB_PLUGIN_GLOBS = (
    '/usr/share/orthanc/plugins/libOrthancDicomWeb.so*',
    '/usr/lib/orthanc/plugins/libOrthancDicomWeb.so*',
    '/usr/lib/orthanc/libOrthancDicomWeb.so*',
    '/usr/lib/*/orthanc/plugins/libOrthancDicomWeb.so*',
    '/usr/local/share/orthanc/plugins/libOrthancDicomWeb.so*',
)
INSTALL_HINT = 'apt-get install orthanc orthanc-dicomweb'


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def orthanc_binary():
    return os.environ.get('ORTHANC_BINARY') or os.environ.get('ORTHANC_BIN') or next(
        (p for p in ORTHANC_BINARY_CANDIDATES if os.access(p, os.X_OK)), None)


def dicomweb_plugin():
    plugin = os.environ.get('ORTHANC_DICOMWEB_PLUGIN')
    if plugin:
        return plugin
    for pattern in DICOMWEB_PLUGIN_GLOBS:
        matches = sorted(glob.glob(pattern))
        if matches:
            return matches[0]
    return None


def find_orthanc():
    """(binary, dicomweb_plugin) or (None, why not)."""
    binary = orthanc_binary()
    if not binary:
        return None, 'Orthanc is not installed (%s)' % INSTALL_HINT
    plugin = dicomweb_plugin()
    if not plugin:
        return None, 'the Orthanc DICOMweb plugin is not installed (%s)' % INSTALL_HINT
    return binary, plugin


def orthanc_available():
    """None when Orthanc and its DICOMweb plugin are installed, else why not."""
    binary, plugin_or_reason = find_orthanc()
    return None if binary else plugin_or_reason


class OrthancProcess:
    """One Orthanc child process on loopback, with its own config, storage, index and free ports.

    ``auth``: HTTP Basic authentication with ``username``/``password``; ``dicom_server``: the
    DICOM port (C-ECHO/C-STORE always allowed, modalities in the database or not); ``extra``:
    settings merged over :meth:`config`; ``verbose``: Orthanc's --verbose log (off for benchmarks:
    a log line per request costs throughput).
    """

    def __init__(self, workdir, binary=None, plugin=None, username='admin', password='medimg-test-pw',
                 aet='ORTHANC', modalities_in_database=True, extra=None, auth=True, dicom_server=True,
                 verbose=True):
        self.workdir = str(workdir)
        self.binary = binary or orthanc_binary()
        self.plugin = plugin or dicomweb_plugin()
        if not self.binary or not self.plugin:
            raise RuntimeError(orthanc_available())
        self.username, self.password, self.auth, self.aet = username, password, auth, aet
        self.modalities_in_database = modalities_in_database
        self.dicom_server = dicom_server
        self.verbose = verbose
        self.http_port = free_port()
        self.dicom_port = free_port()
        self.storage = os.path.join(self.workdir, 'storage')
        self.index = os.path.join(self.workdir, 'index')
        self.config_dir = os.path.join(self.workdir, 'config')
        self.log_path = os.path.join(self.workdir, 'orthanc.log')
        self.extra = dict(extra or {})
        self.proc = None
        self._log = None

    # -- configuration ---------------------------------------------------------------------------
    def config(self):
        """The orthanc.json of this process (subclasses, e.g. the benchmarks, give their own)."""
        return dict({
            'Name': 'medimg-test',
            'StorageDirectory': self.storage,
            'IndexDirectory': self.index,
            'StorageCompression': False,
            'Plugins': [self.plugin],
            'HttpServerEnabled': True,
            'HttpPort': self.http_port,
            'KeepAlive': True,
            'TcpNoDelay': True,
            'HttpThreadsCount': 50,
            'RemoteAccessAllowed': False,
            'AuthenticationEnabled': self.auth,
            'RegisteredUsers': {self.username: self.password} if self.auth else {},
            'DicomServerEnabled': self.dicom_server,
            'DicomAet': self.aet,
            'DicomPort': self.dicom_port,
            'DicomCheckCalledAet': False,
            'DicomAlwaysAllowEcho': True,
            'DicomAlwaysAllowStore': True,
            'DicomScuTimeout': 10,
            'DicomModalitiesInDatabase': self.modalities_in_database,
            'DicomModalities': {},
            'OrthancExplorerEnabled': True,
            'HttpDescribeErrors': True,
            'HttpsVerifyPeers': False,
            'OverwriteInstances': False,
            'ConcurrentJobs': 2,
            'SaveJobs': False,
            'DicomWeb': {'Enable': True, 'Root': '/dicom-web/', 'EnableWado': True, 'WadoRoot': '/wado',
                         'Host': '127.0.0.1', 'Ssl': False},
        }, **self.extra)

    @property
    def url(self):
        return 'http://127.0.0.1:%d' % self.http_port

    root = url

    @property
    def dicomweb_url(self):
        return self.url + '/dicom-web'

    dicomweb = dicomweb_url

    # -- REST ------------------------------------------------------------------------------------
    def auth_header(self):
        if not self.auth:
            return {}
        token = base64.b64encode(('%s:%s' % (self.username, self.password)).encode()).decode()
        return {'Authorization': 'Basic %s' % token}

    def request(self, method, path, body=None, content_type='application/json', timeout=30,
                accept='application/json', raw=False):
        """One REST call; the answer as JSON (None when empty), or its bytes with ``raw``."""
        data = body
        if body is not None and not isinstance(body, bytes):
            data = json.dumps(body).encode() if content_type == 'application/json' else str(body).encode()
        headers = dict(self.auth_header(), Accept=accept)
        if data is not None:
            headers['Content-Type'] = content_type
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=timeout) as response:
            answer = response.read()
        if raw:
            return answer
        return json.loads(answer.decode()) if answer.strip() else None

    def get(self, path, accept='application/json'):
        return self.request('GET', path, accept=accept, raw=True, timeout=60)

    def get_json(self, path):
        return self.request('GET', path, timeout=60)

    def post(self, path, data, content_type='application/octet-stream'):
        return self.request('POST', path, data, content_type, raw=True, timeout=60)

    def instance_count(self):
        return int(self.get_json('/statistics')['CountInstances'])

    def stored_sha256(self):
        """{SOPInstanceUID: sha256 of the stored file} for every instance in this Orthanc."""
        out = {}
        for oid in self.get_json('/instances')[:20000]:
            tags = self.get_json('/instances/%s' % oid)['MainDicomTags']
            out[tags['SOPInstanceUID']] = hashlib.sha256(self.get('/instances/%s/file' % oid,
                                                                  accept='*/*')).hexdigest()
        return out

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, timeout=60):
        """Start and wait until /system, DICOMweb (and the DICOM port) answer; returns self."""
        for path in (self.storage, self.index, self.config_dir):
            os.makedirs(path, exist_ok=True)
        with open(os.path.join(self.config_dir, 'orthanc.json'), 'w') as handle:
            json.dump(self.config(), handle, indent=2)
        self._log = open(self.log_path, 'ab')
        self.proc = subprocess.Popen([self.binary] + (['--verbose'] if self.verbose else []) + [self.config_dir],
                                     stdout=self._log,
                                     stderr=subprocess.STDOUT, cwd=self.workdir, start_new_session=True)
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError('Orthanc exited with code %s during start-up; log:\n%s'
                                   % (self.proc.returncode, self.log_tail()))
            try:
                info = self.request('GET', '/system', timeout=2)
                if info and info.get('Version'):
                    self.request('GET', '/dicom-web/studies?limit=1', accept='application/dicom+json', raw=True,
                                 timeout=5)
                    self._wait_dicom(deadline)
                    return self
            except (urllib.error.URLError, OSError, ValueError) as exc:
                last = exc
            time.sleep(0.2)
        self.stop()
        raise RuntimeError('Orthanc did not answer on %s within %ss (%s); log:\n%s'
                           % (self.url, timeout, last, self.log_tail()))

    def _wait_dicom(self, deadline):
        while self.config().get('DicomServerEnabled') and time.time() < deadline:
            try:
                socket.create_connection(('127.0.0.1', self.dicom_port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)

    def stop(self, timeout=30):
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

    def log_text(self):
        return self.log_tail(lines=200)[-4000:]

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
