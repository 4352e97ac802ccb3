"""bench/run's archives: the stock SQLite Orthanc inside a lab host, and realistic fills.

* :class:`StockOrthanc`: a second Orthanc process inside a converged lab host, with the
  configuration its distribution ships (``/etc/orthanc/*.json`` of the very ``orthanc`` and
  ``orthanc-dicomweb`` packages installed there, read from their .deb files: the role has
  replaced /etc/orthanc), only ports, directories, remote access and the registered user changed:
  SQLite index, every other setting as shipped. Same release, same Orthanc binary, same container
  and network path as the PostgreSQL-backed Orthanc it is compared with.
* :func:`fill`: studies of ``per_study`` small instances (one series each, one study per STOW-RS
  request), made in chunks so memory stays bounded, until an archive holds ``studies`` studies;
  bounded in count and time.

Traffic goes only to the bench's own lab containers.
"""
import copy
import json
import secrets
import subprocess
import threading
import time

from medimg_lab import labkit as lk

STOCK_PORT, STOCK_DICOM_PORT = 8043, 4243
STOCK_UNIT = "medimg-bench-stock"
STOCK_DIR = "/var/lib/medimg-bench-stock"

# Runs inside the lab host (python3 of the image), reads {"port", "dicom_port", "user", "password"}
# on stdin: no secret on a command line.
_STOCK_SETUP = r"""
import glob, json, os, re, shutil, subprocess, sys
args = json.load(sys.stdin)
base, unit = %(dir)r, %(unit)r
subprocess.run(["systemctl", "stop", unit], check=False, capture_output=True)
subprocess.run(["systemctl", "reset-failed", unit], check=False, capture_output=True)
pkgroot = os.path.join(base, "pkg")
shutil.rmtree(pkgroot, ignore_errors=True)
os.makedirs(os.path.join(base, "debs"), exist_ok=True)
def sh(*cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout.strip()
versions = {}
for pkg in ("orthanc", "orthanc-dicomweb"):
    want = sh("dpkg-query", "--show", "--showformat=${Version}", pkg)
    versions[pkg] = want
    debs = [d for d in glob.glob("/var/cache/apt/archives/%%s_*.deb" %% pkg)
            + glob.glob(base + "/debs/%%s_*.deb" %% pkg) if sh("dpkg-deb", "-f", d, "Version") == want]
    if not debs:   # the package cache was cleaned: the same version again, from the host's apt sources
        sh("apt-get", "download", "-q", "%%s=%%s" %% (pkg, want), cwd=os.path.join(base, "debs"))
        debs = [d for d in glob.glob(base + "/debs/%%s_*.deb" %% pkg) if sh("dpkg-deb", "-f", d, "Version") == want]
    sh("dpkg-deb", "-x", debs[0], pkgroot)
cfg = os.path.join(base, "config")
shutil.rmtree(cfg, ignore_errors=True)
os.makedirs(cfg)
os.makedirs(os.path.join(base, "db"), exist_ok=True)
plugin = sorted(glob.glob("/usr/share/orthanc/plugins/libOrthancDicomWeb.so*"))[0]
shipped = sorted(glob.glob(os.path.join(pkgroot, "etc/orthanc/*.json")))
for src in shipped:
    name = os.path.basename(src)
    text = open(src).read()
    if name == "orthanc.json":
        for pattern, repl in ((r'"StorageDirectory"\s*:\s*"[^"]*"', '"StorageDirectory" : "%%s/db"' %% base),
                              (r'"IndexDirectory"\s*:\s*"[^"]*"', '"IndexDirectory" : "%%s/db"' %% base),
                              (r'"HttpPort"\s*:\s*\d+', '"HttpPort" : %%d' %% args["port"]),
                              (r'"DicomPort"\s*:\s*\d+', '"DicomPort" : %%d' %% args["dicom_port"]),
                              (r'"RemoteAccessAllowed"\s*:\s*(true|false)', '"RemoteAccessAllowed" : true'),
                              (r'"/usr/share/orthanc/plugins/?"', json.dumps(plugin))):
            text, n = re.subn(pattern, repl, text, count=1)
            if n != 1:
                sys.exit("stock config: %%s not found in %%s" %% (pattern, src))
    if name == "credentials.json":
        text = json.dumps({"AuthenticationEnabled": True, "RegisteredUsers": {args["user"]: args["password"]}})
    with open(os.path.join(cfg, name), "w") as out:
        out.write(text)
if not os.path.exists(os.path.join(cfg, "credentials.json")):
    sys.exit("stock config: the orthanc package ships no /etc/orthanc/credentials.json")
os.chmod(os.path.join(cfg, "credentials.json"), 0o600)
sh("chown", "-R", "orthanc:orthanc", base)
sh("systemd-run", "--unit", unit, "--property=User=orthanc", "--property=WorkingDirectory=" + base,
   "/usr/sbin/Orthanc", cfg)
print(json.dumps({"versions": versions, "files": [os.path.basename(s) for s in shipped]}))
""" % {"dir": STOCK_DIR, "unit": STOCK_UNIT}


class StockOrthanc:
    """The distribution's Orthanc with its shipped configuration (SQLite), inside ``container``."""

    USER = "bench"

    def __init__(self, container, ip):
        self.container, self.ip = container, ip
        self.password = secrets.token_urlsafe(18)
        self.info = None

    def start(self, timeout=120):
        payload = json.dumps({"port": STOCK_PORT, "dicom_port": STOCK_DICOM_PORT, "user": self.USER,
                              "password": self.password})
        res = subprocess.run(["docker", "exec", "-i", self.container, "python3", "-c", _STOCK_SETUP],
                             input=payload, capture_output=True, text=True, timeout=300, check=False)
        if res.returncode != 0:
            raise RuntimeError("stock Orthanc in %s: %s" % (self.container, (res.stderr or res.stdout)[-2000:]))
        self.info = json.loads(res.stdout.strip().splitlines()[-1])
        lk.wait_http(self.client(), "/dicom-web/studies?limit=1", timeout=timeout)
        return self

    def client(self, **kw):
        return lk.Http(self.ip, STOCK_PORT, self.USER, self.password, **kw)

    def stop(self):
        lk.dexec(self.container, "systemctl", "stop", STOCK_UNIT, check=False, timeout=60)


def count_studies(client):
    return int(client.get_json("/statistics")["CountStudies"])


def fill(make_client, studies, per_study, template, tag, clients=4, time_limit=600.0, chunk=40,
         log=print, label=None):
    """Store studies of ``per_study`` instances of ``template`` (fresh UIDs, patients
    ``FILL-<tag>-NNNNNN``) until the archive behind ``make_client`` holds ``studies`` studies,
    one study per STOW-RS request, ``clients`` keep-alive connections; made ``chunk`` studies at
    a time. Returns {"studies", "instances_sent", "acknowledged", "errors", "elapsed", "patients"
    (up to 100 PatientIDs it stored)}."""
    probe = make_client()
    try:
        have = count_studies(probe)
    finally:
        probe.close()
    need = max(0, studies - have)
    out = {"before": have, "target": studies, "instances_sent": 0, "acknowledged": 0, "errors": 0,
           "first_error": None, "elapsed": 0.0}
    deadline = time.time() + time_limit
    started = time.time()
    template = copy.deepcopy(template)   # make_instances sets the UIDs on it: one copy per fill (thread)
    done, patients = 0, []
    while done < need and time.time() < deadline:
        n = min(chunk, need - done)
        chunk_tag = "%s%05d" % (tag, done)
        items = lk.make_instances(template, n, per_study, chunk_tag, patient_prefix="FILL")
        patients = (patients + ["FILL-%s-%06d" % (chunk_tag, s) for s in range(n)])[:100]
        acked, _elapsed, errors = lk.stow(make_client, items, clients=clients, batch=per_study,
                                          time_limit=max(1.0, deadline - time.time()))
        out["instances_sent"] += len(items)
        out["acknowledged"] += len(acked)
        out["errors"] += len(errors)
        out["first_error"] = out["first_error"] or (errors[0] if errors else None)
        done += n
    out["elapsed"] = round(time.time() - started, 1)
    out["patients"] = patients
    probe = make_client()
    try:
        out["studies"] = count_studies(probe)
    finally:
        probe.close()
    out["instances_per_s"] = round(out["acknowledged"] / out["elapsed"], 1) if out["elapsed"] else 0.0
    log("fill %s: %d -> %d studies, %d/%d instances acknowledged in %.0f s (%.0f/s)%s"
        % (label or tag, have, out["studies"], out["acknowledged"], out["instances_sent"], out["elapsed"],
           out["instances_per_s"], (", %d failed requests, first %s" % (out["errors"], out["first_error"]))
           if out["errors"] else ""))
    return out


def fill_parallel(jobs, log=print):
    """Run several :func:`fill` jobs ({name: kwargs}) at once, each in its own thread (their
    archives are in different containers: one archive's commit latency overlaps another's work).
    Returns {name: result}."""
    results, threads = {}, []

    def run(name, kw):
        try:
            results[name] = fill(log=log, **kw)
        except Exception as exc:  # noqa: BLE001  reported with the figures, never hidden
            results[name] = {"error": repr(exc)}
            log("fill %s failed: %r" % (name, exc))

    for name, kw in jobs.items():
        t = threading.Thread(target=run, args=(name, kw), daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        t.join(max(kw.get("time_limit", 600.0) for kw in jobs.values()) + 300)
    return results
