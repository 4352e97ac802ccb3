"""Durability: no instance the PACS acknowledged is lost, whatever happens during an import.

One all-in-one lab host (PostgreSQL + Orthanc, container ``medimg-dur-pacs1`` on the Docker
network ``medimg-dur``) is converged with ``site.yml`` through tests/integration/durability/inventory (the lab
inventory's group_vars, its own git-ignored secrets). Then, for each disruption, while a STOW-RS
import is running:

* ``kill -9`` of Orthanc (the Debian unit has ``Restart=on-failure``: systemd restarts it),
* a restart of PostgreSQL,
* a re-run of the playbook,
* ``apt-get install --reinstall orthanc`` (the stand-in for a package upgrade),

every SOP Instance UID the STOW-RS answers acknowledged (ReferencedSOPSequence) must be stored and
byte-identical (SHA-256 of ``/instances/{id}/file`` against the file sent), and a resumed import
(``medimg.pacs.dicom_import``, ``skip_existing``) must complete the set.

Needs Docker and the lab image (``make image``); skipped without them unless
MEDIMG_REQUIRE_ORTHANC=1 or CI=true. MEDIMG_KEEP_DURABILITY_HOST=1 keeps the container afterwards.
"""
import hashlib
import os
import pathlib
import shutil
import subprocess
import threading
import time

import pytest

from ansible_collections.medimg.pacs.tests.helpers import dicom_import as fx
from medimg_lab import labkit as lk

ROOT = pathlib.Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration

INVENTORY = ROOT / "tests" / "integration" / "durability" / "inventory" / "hosts.yml"
CRED_DIR = ROOT / "bench" / "results" / "raw" / ".credentials-durability"
CONTAINER, NETWORK = "medimg-dur-pacs1", "medimg-dur"
IMAGE = os.environ.get("MOLECULE_IMAGE", "medimg/lab-bookworm:latest")


def _require():
    return os.environ.get("MEDIMG_REQUIRE_ORTHANC") == "1" or os.environ.get("CI", "").lower() == "true"


def _docker_reason():
    if not shutil.which("docker"):
        return "docker not installed"
    try:
        if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, timeout=30,
                          check=False).returncode:
            return "lab image %s not built (make image)" % IMAGE
    except (OSError, subprocess.TimeoutExpired) as exc:
        return "docker does not answer: %s" % exc
    return None


class Pacs:
    def __init__(self):
        self.ip = lk.container_ip(CONTAINER, NETWORK)
        self.password = lk.secret(CRED_DIR, "orthanc_admin_password")

    def client(self):
        return lk.Http(self.ip, 8042, "admin", self.password, timeout=60)

    def wait(self, timeout=180):
        lk.wait_http(self.client(), "/dicom-web/studies?limit=1", timeout=timeout)

    def sha_of(self, sop):
        c = self.client()
        try:
            status, body = c.request("POST", "/tools/lookup", body=sop.encode(),
                                     headers={"Content-Type": "text/plain"})
            import json

            found = [r for r in json.loads(body.decode()) if r.get("Type") == "Instance"] if status == 200 else []
            if not found:
                return None
            status, data = c.request("GET", "/instances/%s/file" % found[0]["ID"], headers={"Accept": "*/*"})
            return hashlib.sha256(data).hexdigest() if status == 200 else None
        finally:
            c.close()

    def main_pid(self):
        return lk.dexec(CONTAINER, "systemctl", "show", "orthanc", "-p", "MainPID", "--value").stdout.strip()


@pytest.fixture(scope="module")
def pacs():
    reason = _docker_reason()
    if reason:
        if _require():
            pytest.fail(reason)
        pytest.skip(reason)
    started = time.time()
    lk.lab("up", INVENTORY)
    wall, recap = lk.converge(INVENTORY, timeout=900)[:2]
    print("durability host converged in %.0f s: %s" % (wall, recap))
    server = Pacs()
    server.wait()
    yield server
    print("durability module wall time %.0f s" % (time.time() - started))
    if os.environ.get("MEDIMG_KEEP_DURABILITY_HOST") != "1":
        lk.lab("destroy", INVENTORY)


def _scenario(pacs, tmp_path, tag, disrupt, settle=1.0, pace=0.1):
    """Import while `disrupt()` runs; check acknowledged instances, then resume and check all."""
    template = lk.template(128, 128)
    items = lk.make_instances(template, 3, 40, tag, patient_prefix="DUR")
    sent = {sop: lk.sha256(data) for sop, _study, data in items}
    src = lk.write_files(items, tmp_path / ("data-" + tag))
    result = {}

    def importer():
        result["acked"], result["elapsed"], result["errors"] = lk.stow(
            pacs.client, items, clients=2, batch=2, time_limit=120, pace=pace)

    thread = threading.Thread(target=importer, daemon=True)
    thread.start()
    time.sleep(settle)                      # let some instances through before the disruption
    disrupt()
    thread.join(180)
    assert not thread.is_alive(), "the import did not end within its time bound"
    pacs.wait()
    acked = result["acked"]
    print("%s: %d/%d acknowledged in %.1f s, %d failed requests" % (tag, len(acked), len(items),
                                                                    result["elapsed"], len(result["errors"])))
    assert acked, "nothing was acknowledged: the disruption came too early to test anything"
    lost = [sop for sop in acked if pacs.sha_of(sop) != sent[sop]]
    assert not lost, "%d acknowledged instances lost or altered after %s: %s" % (len(lost), tag, lost[:5])

    rc, res, raw = fx.run_module(dict(src=str(src), url="http://%s:8042/dicom-web" % pacs.ip,
                                      url_username="admin", url_password=pacs.password,
                                      skip_existing=True, workers=2), timeout=300)
    assert rc == 0 and not res.get("rejected"), raw[-3000:]
    assert res["sent"] + res["skipped_existing"] == len(items), res
    assert res["skipped_existing"] >= len(set(acked)), res
    missing = [sop for sop, digest in sent.items() if pacs.sha_of(sop) != digest]
    assert not missing, "after the resumed import %d instances are missing or altered" % len(missing)
    return acked


def test_kill9_orthanc_during_import(pacs, tmp_path):
    before = pacs.main_pid()

    def disrupt():
        lk.dexec(CONTAINER, "systemctl", "kill", "--signal=SIGKILL", "orthanc.service")
        deadline = time.time() + 60     # Restart=on-failure brings it back; do it ourselves if not
        while time.time() < deadline:
            pid = pacs.main_pid()
            if pid not in ("", "0", before):
                return
            time.sleep(0.5)
        lk.dexec(CONTAINER, "systemctl", "start", "orthanc.service")

    _scenario(pacs, tmp_path, "K9", disrupt)
    assert pacs.main_pid() != before


def test_postgresql_restart_during_import(pacs, tmp_path):
    _scenario(pacs, tmp_path, "PG", lambda: lk.dexec(CONTAINER, "systemctl", "restart", "postgresql.service",
                                                     timeout=120))


def test_playbook_rerun_during_import(pacs, tmp_path):
    box = {}

    def disrupt():
        box["wall"], box["recap"] = lk.converge(INVENTORY, timeout=600)[:2]

    _scenario(pacs, tmp_path, "RR", disrupt, settle=0.5, pace=0.5)  # import spans the converge
    print("re-run during import: %.0f s %s" % (box["wall"], box["recap"]))
    assert all(r["failed"] == 0 for r in box["recap"].values())


def test_package_reinstall_during_import(pacs, tmp_path):
    _scenario(pacs, tmp_path, "UP", lambda: lk.dexec(
        CONTAINER, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "--reinstall", "-y",
        "-o", "Dpkg::Options::=--force-confold", "orthanc", timeout=300), pace=0.3)
