"""Small helpers shared by bench/run.py and tests/integration/test_durability.py.

* bring a lab host of a dedicated inventory up with ``scripts/lab`` (only that script knows about
  Docker) and converge it with ``site.yml``;
* talk to Orthanc / DICOMweb in that container over the container's own Docker network address;
* make DICOM instances with fresh UIDs fast (a template data set, new UIDs per copy) and STOW-RS
  them with keep-alive connections, keeping the SOP Instance UIDs the server acknowledged.

Every loop here is bounded in count and time. Nothing here touches containers other than the one
named in the inventory it is given.
"""
import base64
import hashlib
import http.client
import io
import json
import os
import pathlib
import re
import ssl
import subprocess
import sys
import threading
import time
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
VENV_BIN = ROOT / ".venv" / "bin"


def _exe(name):
    path = VENV_BIN / name
    return str(path) if path.exists() else name


def run(cmd, timeout, check=True, env=None):
    full_env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), PYTHONDONTWRITEBYTECODE="1",
                    PATH=str(VENV_BIN) + os.pathsep + os.environ.get("PATH", ""))
    full_env.update(env or {})
    res = subprocess.run(cmd, cwd=str(ROOT), timeout=timeout, capture_output=True, text=True, env=full_env,
                         check=False)
    if check and res.returncode != 0:
        raise RuntimeError("%s failed (rc=%d):\n%s\n%s" % (" ".join(map(str, cmd)), res.returncode,
                                                           res.stdout[-4000:], res.stderr[-2000:]))
    return res


def lab(action, inventory, timeout=300):
    return run([_exe("python"), str(ROOT / "scripts" / "lab.py"), action, "-i", str(inventory)], timeout)


def converge(inventory, playbook="site.yml", timeout=900, extra=None):
    """Run a playbook; returns (wall seconds, {host: recap dict}, stdout)."""
    cmd = [_exe("ansible-playbook"), "-i", str(inventory), playbook] + list(extra or [])
    started = time.time()
    res = run(cmd, timeout, check=False, env={"ANSIBLE_PIPELINING": "True"})
    wall = time.time() - started
    if res.returncode != 0:
        raise RuntimeError("%s failed (rc=%d):\n%s\n%s" % (playbook, res.returncode, res.stdout[-5000:],
                                                           res.stderr[-2000:]))
    recap = {}
    for m in re.finditer(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)",
                         res.stdout, re.M):
        recap[m.group(1)] = {"ok": int(m.group(2)), "changed": int(m.group(3)), "failed": int(m.group(5))}
    return wall, recap, res.stdout


def container_ip(container, network):
    res = run(["docker", "inspect", "-f", "{{(index .NetworkSettings.Networks \"%s\").IPAddress}}" % network,
               container], 30)
    return res.stdout.strip()


def dexec(container, *args, timeout=120, check=True):
    return run(["docker", "exec", container] + list(args), timeout, check=check)


def secret(directory, name):
    return (pathlib.Path(directory) / name).read_text().strip()


# -- HTTP --------------------------------------------------------------------------------------------
class Http:
    """A tiny keep-alive HTTP(S) client with Basic auth (self-signed lab certificates accepted)."""

    def __init__(self, host, port, user, password, tls=False, prefix="", timeout=120):
        self.host, self.port, self.tls, self.prefix, self.timeout = host, port, tls, prefix.rstrip("/"), timeout
        self.auth = "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        self.conn = None

    def _connect(self):
        if self.tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE  # the lab front door's certificate is self-signed
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=ctx)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def request(self, method, path, body=None, headers=None, attempts=3):
        hdrs = {"Authorization": self.auth}
        hdrs.update(headers or {})
        last = None
        for _attempt in range(attempts):
            if self.conn is None:
                self.conn = self._connect()
            try:
                self.conn.request(method, self.prefix + path, body=body, headers=hdrs)
                resp = self.conn.getresponse()
                return resp.status, resp.read()
            except (OSError, http.client.HTTPException) as exc:
                last = exc
                self.close()
                time.sleep(0.2)
        raise last

    def get_json(self, path):
        status, data = self.request("GET", path, headers={"Accept": "application/json"})
        if status != 200:
            raise RuntimeError("GET %s: HTTP %d %s" % (path, status, data[:200]))
        return json.loads(data.decode())

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def wait_http(client, path="/system", timeout=120):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            status = client.request("GET", path, attempts=1)[0]
            if status == 200:
                return True
            last = status
        except (OSError, http.client.HTTPException) as exc:
            last = exc
        client.close()
        time.sleep(0.5)
    raise RuntimeError("%s did not answer 200 within %ss (%s)" % (path, timeout, last))


# -- data --------------------------------------------------------------------------------------------
def template(rows, cols):
    """One CT slice (tests/samples.py) to copy with new UIDs."""
    from samples import ct_series

    return ct_series(patient_id="MEDIMG-BENCH", nslices=1, rows=rows, cols=cols, study_key="bench-template")[0]


def make_instances(ds_template, nstudies, per_study, tag, patient_prefix="BENCH"):
    """[(sop_uid, study_uid, bytes)]: nstudies x per_study instances with fresh UIDs."""
    from pydicom.uid import generate_uid

    out = []
    ds = ds_template
    for s in range(nstudies):
        study = generate_uid()
        series = generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.PatientID = "%s-%s-%06d" % (patient_prefix, tag, s)
        ds.PatientName = "%s^%s%06d" % (patient_prefix, tag, s)
        ds.AccessionNumber = ("A%s%06d" % (tag, s))[:16]
        for i in range(per_study):
            sop = generate_uid()
            ds.SOPInstanceUID = sop
            ds.file_meta.MediaStorageSOPInstanceUID = sop
            ds.InstanceNumber = i + 1
            buf = io.BytesIO()
            ds.save_as(buf, enforce_file_format=True)
            out.append((sop, study, buf.getvalue()))
    return out


def write_files(items, directory):
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for idx, (sop, _study, data) in enumerate(items):
        (directory / ("%06d.dcm" % idx)).write_bytes(data)
    return directory


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def stow(make_client, items, clients=4, batch=1, time_limit=120.0, stop=None, pace=0.0):
    """STOW-RS `items` with `clients` keep-alive connections, `batch` instances per request.

    Returns (acknowledged SOP UIDs, elapsed, errors). A SOP counts as acknowledged only when the
    STOW-RS answer lists it in ReferencedSOPSequence (0008,1199). Failures (connection loss while
    the server is killed, 5xx) are recorded, never retried here: the resumed import does that.
    ``pace``: seconds each client waits between requests (spreads an import over a disruption).
    """
    batches = [items[i:i + batch] for i in range(0, len(items), batch)]
    lock = threading.Lock()
    acked, errors = [], []
    deadline = time.time() + time_limit

    def worker():
        client = make_client()
        while time.time() < deadline and not (stop and stop.is_set()):
            with lock:
                if not batches:
                    break
                chunk = batches.pop(0)
            boundary = "medimg-%s" % uuid.uuid4().hex
            parts = []
            for _sop, _study, data in chunk:
                parts.append(b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n" + data + b"\r\n")
            body = b"".join(parts) + b"--" + boundary.encode() + b"--\r\n"
            try:
                status, payload = client.request(
                    "POST", "/dicom-web/studies", body=body, attempts=1,
                    headers={"Content-Type": 'multipart/related; type="application/dicom"; boundary=%s' % boundary,
                             "Accept": "application/dicom+json"})
            except (OSError, http.client.HTTPException) as exc:
                client.close()
                with lock:
                    errors.append(repr(exc))
                time.sleep(0.2)
                continue
            if status != 200:
                with lock:
                    errors.append("HTTP %d" % status)
                continue
            try:
                answer = json.loads(payload.decode())
            except ValueError:
                with lock:
                    errors.append("unparseable STOW answer")
                continue
            ok = []
            for ref in (answer.get("00081199") or {}).get("Value", []):
                uid = ((ref.get("00081155") or {}).get("Value") or [None])[0]
                if uid:
                    ok.append(uid)
            with lock:
                acked.extend(ok)
            if pace:
                time.sleep(pace)
        client.close()

    started = time.time()
    threads = [threading.Thread(target=worker, daemon=True) for _client in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(time_limit + 150)
    return acked, time.time() - started, errors


def percentile(values, pct):
    vals = sorted(values)
    if not vals:
        return float("nan")
    k = (len(vals) - 1) * pct / 100.0
    lo, hi = int(k), min(int(k) + 1, len(vals) - 1)
    return vals[lo] + (vals[hi] - vals[lo]) * (k - lo)
