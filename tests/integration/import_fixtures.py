"""Fixtures and helpers for the dicom_import integration tests and bench/import_compare.py.

* :func:`start_orthanc` runs the distribution's ``/usr/sbin/Orthanc`` (packages ``orthanc`` and
  ``orthanc-dicomweb``, see tests/requirements-apt-import.txt) as a child process on free loopback
  ports with a throw-away configuration, storage and SQLite index; :class:`OrthancProcess.stop`
  terminates that one process (by its own handle) and removes its directory.
* :func:`make_tree` writes a folder tree of synthetic CT studies (tests/samples.py), plus
  non-DICOM and corrupt files, and returns what was written.
* :func:`run_module` runs ``medimg.pacs.dicom_import`` through real Ansible (ad-hoc, JSON
  callback) from the repository root, so ansible.cfg and the in-tree collection link apply.

Import the fixtures explicitly: ``from import_fixtures import orthanc, ...``.
"""
import base64
import hashlib
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
ORTHANC_BIN = os.environ.get("ORTHANC_BIN", "/usr/sbin/Orthanc")
DICOMWEB_PLUGIN_CANDIDATES = (
    "/usr/share/orthanc/plugins/libOrthancDicomWeb.so",
    "/usr/lib/orthanc/libOrthancDicomWeb.so",
)
USER, PASSWORD = "importer", "import-secret"
START_TIMEOUT = 60


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dicomweb_plugin():
    for path in DICOMWEB_PLUGIN_CANDIDATES:
        if os.path.exists(path):
            return path
    lib = pathlib.Path("/usr/lib/orthanc")
    found = sorted(lib.glob("libOrthancDicomWeb.so*")) if lib.is_dir() else []
    return str(found[0]) if found else None


def orthanc_available():
    """None when Orthanc and its DICOMweb plugin are installed, else why not."""
    if not os.access(ORTHANC_BIN, os.X_OK):
        return "%s not found (apt-get install orthanc orthanc-dicomweb)" % ORTHANC_BIN
    if not dicomweb_plugin():
        return "Orthanc DICOMweb plugin not found (apt-get install orthanc-dicomweb)"
    return None


class OrthancProcess:
    """One Orthanc child process on loopback, with its own config, storage and index."""

    def __init__(self, workdir, auth=True):
        self.workdir = pathlib.Path(workdir)
        self.http_port = free_port()
        self.dicom_port = free_port()
        self.auth = auth
        self.root = "http://127.0.0.1:%d" % self.http_port
        self.dicomweb = self.root + "/dicom-web"
        self.proc = None
        self.log = None

    # -- lifecycle ---------------------------------------------------------------------------
    def config(self):
        """The orthanc.json of this process (subclasses, e.g. the benchmarks, give their own)."""
        return {
            "Name": "MEDIMG_IMPORT_TEST",
            "StorageDirectory": str(self.workdir / "storage"),
            "IndexDirectory": str(self.workdir / "index"),
            "StorageCompression": False,
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": "IMPORTTEST",
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": self.auth,
            "RegisteredUsers": {USER: PASSWORD} if self.auth else {},
            "Plugins": [dicomweb_plugin()],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": True},
            "KeepAlive": True,
            "TcpNoDelay": True,
            "HttpThreadsCount": 50,
            "OverwriteInstances": False,
            "SaveJobs": False,
            "HttpsVerifyPeers": False,
            "DicomServerEnabled": False,
        }

    def start(self):
        cfgdir = self.workdir / "config"
        cfgdir.mkdir(parents=True, exist_ok=True)
        (cfgdir / "orthanc.json").write_text(json.dumps(self.config(), indent=2))
        self.log = open(self.workdir / "orthanc.log", "wb")
        self.proc = subprocess.Popen([ORTHANC_BIN, str(cfgdir)], cwd=str(self.workdir),
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.time() + START_TIMEOUT
        last = None
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("Orthanc exited with %s; log:\n%s" % (self.proc.returncode, self.log_text()))
            try:
                self.get("/system")
                self.get("/dicom-web/studies?limit=1", accept="application/dicom+json")
                return self
            except (OSError, urllib.error.URLError) as exc:
                last = exc
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("Orthanc did not answer on %s within %ss (%s)" % (self.root, START_TIMEOUT, last))

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.log is not None:
            self.log.close()
            self.log = None

    def log_text(self):
        path = self.workdir / "orthanc.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    # -- REST ------------------------------------------------------------------------------------
    def _request(self, path, data=None, method=None, accept="application/json", timeout=60):
        req = urllib.request.Request(self.root + path, data=data, method=method)
        req.add_header("Accept", accept)
        if self.auth:
            token = base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()
            req.add_header("Authorization", "Basic " + token)
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.read()

    def get(self, path, accept="application/json"):
        return self._request(path, accept=accept)

    def get_json(self, path):
        return json.loads(self.get(path).decode())

    def post(self, path, data, content_type="application/octet-stream"):
        req_data = data if isinstance(data, bytes) else data.encode()
        return self._request(path, data=req_data, method="POST")

    def instance_count(self):
        return int(self.get_json("/statistics")["CountInstances"])

    def stored_sha256(self):
        """{SOPInstanceUID: sha256 of the stored file} for every instance in this Orthanc."""
        out = {}
        ids = self.get_json("/instances")
        for oid in ids[:20000]:
            tags = self.get_json("/instances/%s" % oid)["MainDicomTags"]
            out[tags["SOPInstanceUID"]] = hashlib.sha256(self.get("/instances/%s/file" % oid,
                                                                  accept="*/*")).hexdigest()
        return out


def start_orthanc(workdir, auth=True):
    reason = orthanc_available()
    if reason:
        raise RuntimeError(reason)
    return OrthancProcess(workdir, auth=auth).start()


@pytest.fixture
def orthanc(tmp_path):
    """A fresh Orthanc (DICOMweb plugin, HTTP basic auth) on loopback for one test."""
    reason = orthanc_available()
    if reason:
        pytest.fail(reason + " (tests/requirements-apt-import.txt lists the packages)")
    server = start_orthanc(tmp_path / "orthanc")
    try:
        yield server
    finally:
        server.stop()
        print("orthanc log tail:\n" + server.log_text()[-1500:])


# -- sample data ---------------------------------------------------------------------------------
def write_series(directory, study_key, nslices=4, rows=64, cols=64, patient_id="MEDIMG-0001",
                 transfer_syntax=None):
    """Write a synthetic CT series as Part-10 files; returns {path: sop_instance_uid}."""
    from samples import ct_series  # noqa: E402  (tests/samples.py)

    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for idx, ds in enumerate(ct_series(patient_id=patient_id, nslices=nslices, rows=rows, cols=cols,
                                       study_key=study_key)):
        path = directory / ("IM%05d.dcm" % (idx + 1))
        if transfer_syntax == "implicit":
            ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2"
            ds.save_as(str(path), enforce_file_format=True, implicit_vr=True, little_endian=True)
        else:
            ds.save_as(str(path), enforce_file_format=True)
        out[str(path)] = str(ds.SOPInstanceUID)
    return out


def make_tree(base, studies=3, nslices=4, rows=64, cols=64, key="tree", extras=True):
    """A folder tree of `studies` CT studies (one series each) plus junk.

    Returns dict(dicom={path: sop_uid}, non_dicom=[paths], corrupt=[paths], sha256={sop_uid: sha});
    `corrupt` holds a file with the DICM prefix and a garbage header, and a file whose header is
    fine but whose pixel data is cut short (the PACS refuses it).
    """
    base = pathlib.Path(base)
    dicom = {}
    for s in range(studies):
        sub = base / ("patient%02d" % s) / ("study-%s" % s) / "series1"
        dicom.update(write_series(sub, "%s-%d" % (key, s), nslices=nslices, rows=rows, cols=cols,
                                  patient_id="MEDIMG-%04d" % (s + 1),
                                  transfer_syntax="implicit" if s == 1 else None))
    non_dicom, corrupt = [], []
    if extras:
        (base / "README.txt").write_text("not a DICOM file\n")
        (base / "patient00" / "notes.json").write_text(json.dumps({"note": "junk"}))
        (base / "patient00" / "empty.dcm").write_bytes(b"")
        (base / "patient01" / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 300)
        non_dicom += [str(base / "README.txt"), str(base / "patient00" / "notes.json"),
                      str(base / "patient00" / "empty.dcm"), str(base / "patient01" / "image.png")]
        # DICM magic, then garbage where the file meta group should be
        bad = base / "patient02" / "corrupt-header.dcm"
        bad.parent.mkdir(parents=True, exist_ok=True)
        bad.write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 64)
        corrupt.append(str(bad))
        # a valid header, but the pixel data cut in half: only the PACS can tell
        trunc_dir = base / "patient02" / "truncated"
        trunc = write_series(trunc_dir, "%s-truncated" % key, nslices=1, rows=rows, cols=cols,
                             patient_id="MEDIMG-9999")
        for path in trunc:
            data = pathlib.Path(path).read_bytes()
            pathlib.Path(path).write_bytes(data[:len(data) - (rows * cols)])
            corrupt.append(path)
    sha = {}
    for path, uid in dicom.items():
        sha[uid] = hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()
    return dict(dicom=dicom, non_dicom=non_dicom, corrupt=corrupt, sha256=sha)


# -- running the module through Ansible --------------------------------------------------------------
def ansible_env(extra=None):
    env = dict(os.environ)
    env.update({
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_STDOUT_CALLBACK": "json",
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.update(extra or {})
    return env


def module_args(**kwargs):
    """Ad-hoc -a argument as JSON (values may hold spaces or quotes)."""
    return json.dumps({k: v for k, v in kwargs.items() if v is not None})


def parse_json_output(raw):
    """The JSON callback's document from stdout (other callbacks, e.g. profile_tasks, may add lines)."""
    lines = raw.splitlines(True)
    for idx, line in enumerate(lines):
        if line.rstrip() == "{":
            try:
                doc, _end = json.JSONDecoder().raw_decode("".join(lines[idx:]))
                return doc
            except ValueError:
                continue
    return {}


def module_command(args, check=False, interpreter=None):
    ansible = os.path.join(os.path.dirname(sys.executable), "ansible")
    cmd = [ansible, "localhost", "-i", "localhost,", "-c", "local",
           "-e", "ansible_python_interpreter=%s" % (interpreter or sys.executable),
           "-m", "medimg.pacs.dicom_import", "-a", module_args(**args)]
    if check:
        cmd.append("--check")
    return cmd


def run_module(args, check=False, timeout=600, extra_env=None, interpreter=None):
    """Run medimg.pacs.dicom_import on localhost through `ansible`; returns (rc, result_dict, raw).

    ``interpreter`` is the Python the module runs with (default: this venv's, which has pydicom;
    /usr/bin/python3 on Debian has neither pydicom nor requests).
    """
    cmd = module_command(args, check, interpreter)
    proc = subprocess.run(cmd, cwd=str(ROOT), env=ansible_env(extra_env), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout, check=False)
    raw = proc.stdout.decode(errors="replace")
    try:
        result = parse_json_output(raw)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    except (KeyError, IndexError):
        result = {}
    return proc.returncode, result, raw + proc.stderr.decode(errors="replace")


def run_playbook(extra_vars, check=False, timeout=600, extra_env=None, interpreter=None):
    """Run playbooks/import.yml on localhost; returns (rc, task results by name, raw)."""
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    cmd = [playbook, "-i", "localhost,", "-c", "local", str(ROOT / "playbooks" / "import.yml"),
           "-e", "ansible_python_interpreter=%s" % (interpreter or sys.executable),
           "-e", json.dumps(extra_vars)]
    if check:
        cmd.append("--check")
    proc = subprocess.run(cmd, cwd=str(ROOT), env=ansible_env(extra_env), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout, check=False)
    raw = proc.stdout.decode(errors="replace")
    tasks = {}
    try:
        for task in parse_json_output(raw)["plays"][0]["tasks"]:
            tasks[task["task"]["name"]] = task["hosts"].get("localhost", {})
    except (KeyError, IndexError):
        pass
    return proc.returncode, tasks, raw + proc.stderr.decode(errors="replace")


def cleanup(path):
    shutil.rmtree(str(path), ignore_errors=True)


SYSTEM_PYTHON = "/usr/bin/python3"


def system_python_without_pydicom():
    """/usr/bin/python3 when it exists and has no pydicom (a bare managed host), else None."""
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return None
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import pydicom"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=60, check=False)
    return SYSTEM_PYTHON if probe.returncode != 0 else None


def load_delay_proxy():
    """bench/delay_proxy.py's DelayProxy class."""
    sys.path.insert(0, str(ROOT / "bench"))
    from delay_proxy import DelayProxy  # noqa: E402
    return DelayProxy


__all__ = ["orthanc", "start_orthanc", "OrthancProcess", "make_tree", "write_series", "run_module",
           "run_playbook", "module_command", "ansible_env", "parse_json_output", "USER", "PASSWORD", "ROOT",
           "free_port", "orthanc_available", "system_python_without_pydicom", "load_delay_proxy"]
