"""orthanc_install_method: upstream on a real Debian 13 lab host, with PostgreSQL plugin 10.3.

The Orthanc project's download site cannot be reached from here, so the test serves the files itself
from a web server bound to the gateway of the lab host's own Docker network (reachable from that
network only): the PostgreSQL plugin 10.3 built from the unmodified source in
``<repo>/../shared/upstream`` (medimg_lab.plugin_build, built once and cached; skipped with the reason when
the tarball is absent), and, as a second "upstream release", the distribution's own Orthanc 1.12.7
executable and DICOMweb 1.20 plugin copied out of the host (real binaries of those versions, served
under new URLs with their sha256).

One lab host (medimg/lab-trixie), in order, each step checked:

1. site.yml with the distribution's packages (Orthanc 1.12.7, plugin 5.0, PostgreSQL 17); studies
   stored with STOW-RS;
2. upstream version ``pg10.3`` (only the PostgreSQL index plugin from upstream, the distribution's
   core and DICOMweb): /plugins reports postgresql-index 10.3, the plugin runs READ COMMITTED over
   several connections, the database is at schema revision 10, the studies are intact (every
   instance read back byte for byte) and new ones store; a second converge: changed=0;
3. a version with a wrong sha256: the run fails at the download, before anything is switched (the
   same Orthanc process, the same configuration, the current link unchanged);
4. upstream version ``core1.12.7-pg10.3`` (core, DICOMweb and PostgreSQL plugin from upstream; the
   core runs from its version directory under the role's unit; orthanc_upstream_keep 2 prunes the
   failed version's directory);
5. orthanc_upstream_rollback: back to ``pg10.3`` (its directory kept: nothing downloaded, the unit of
   the upstream core removed), data intact; the same converge again: changed=0;
6. orthanc_install_method apt again, i.e. back to the distribution's plugin 5.0: refused (the database
   is at schema revision 10, plugin 5.0 would not start) with both versions named, Orthanc untouched.

Plus preflight refusals (no host: the controller as an all-in-one host in check mode): a short sha256,
an http:// URL, an upstream core without its plugins, a plugin too new for the core, a rollback with the
apt method, a version directory over the storage.
"""
import functools
import http.server
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import threading
import time

import pytest

from medimg_lab import labkit as lk
from medimg_lab import plugin_build
from medimg_lab.cli import docker_ok

ROOT = pathlib.Path(__file__).resolve().parents[2]
IMAGE = "medimg/lab-trixie:latest"
HOST, CONTAINER, NETWORK = "upst-pacs1", "medimg-upst-pacs1", "medimg-upst"
HOSTS = """---
all:
  children:
    lab:
      hosts:
        %s:
          ansible_connection: community.docker.docker
          ansible_host: %s
          ansible_python_interpreter: /usr/bin/python3
          lab_network: %s
          lab_image: %s
          # the test talks to Orthanc over the lab network (HTTP Basic stays on)
          orthanc_remote_access_allowed: true
          # the controller's C-ECHO is not what this test is about
          orthanc_health_echo: false
    postgresql: {hosts: {%s: }}
    orthanc: {hosts: {%s: }}
""" % (HOST, CONTAINER, NETWORK, IMAGE, HOST, HOST)
ROOT_DIR = "/opt/medimg-orthanc"
# what the plugin 10.3 build links against beyond what the distribution's Orthanc pulls in
RUNTIME_PACKAGES = ["libpq5", "liborthancframework1"]

pytestmark = pytest.mark.integration


def _require():
    return os.environ.get("MEDIMG_REQUIRE_ORTHANC") == "1" or os.environ.get("CI", "").lower() == "true"


def _skip(reason):
    if _require():
        pytest.fail(reason)
    pytest.skip(reason)


# ---- the files, served on the lab network only ----------------------------------------------------
class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the requests are counted, not printed
        pass


class FileServer:
    """http.server on the lab network's gateway address (reachable from the lab hosts only)."""

    def __init__(self, directory, address):
        self.directory, self.requests = pathlib.Path(directory), []
        server = self

        class Handler(_Quiet):
            def do_GET(self):
                server.requests.append(self.path)
                super().do_GET()

        self.httpd = http.server.ThreadingHTTPServer((address, 0), functools.partial(Handler,
                                                                                     directory=str(directory)))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.base = "http://%s:%d" % (address, self.httpd.server_address[1])

    def add(self, source, name):
        shutil.copyfile(str(source), str(self.directory / name))
        return {"url": "%s/%s" % (self.base, name), "sha256": lk.sha256((self.directory / name).read_bytes())}

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# ---- the lab host -----------------------------------------------------------------------------------
class Pacs:
    def __init__(self, inventory):
        self.inventory = inventory
        self.ip = lk.container_ip(CONTAINER, NETWORK)
        self.password = lk.secret(inventory / ".credentials", "orthanc_admin_password")
        self.sent = {}      # SOP Instance UID -> sha256 of the file sent

    def client(self):
        return lk.Http(self.ip, 8042, "admin", self.password, timeout=60)

    def get(self, path):
        c = self.client()
        try:
            return c.get_json(path)
        finally:
            c.close()

    def store(self, tag, studies=2, per_study=5):
        items = lk.make_instances(lk.template(64, 64), studies, per_study, tag, patient_prefix="UPST")
        acked, _elapsed, errors = lk.stow(self.client, items, clients=2, batch=5, time_limit=120)
        assert not errors, errors[:3]
        assert len(acked) == len(items), "stored %d of %d" % (len(acked), len(items))
        self.sent.update({sop: lk.sha256(data) for sop, _study, data in items})

    def intact(self):
        """Every instance stored so far is there, byte for byte, and nothing else."""
        stats = self.get("/statistics")
        assert int(stats["CountInstances"]) == len(self.sent), stats
        c = self.client()
        try:
            for sop, digest in self.sent.items():
                status, body = c.request("POST", "/tools/lookup", body=sop.encode(),
                                         headers={"Content-Type": "text/plain"})
                found = [r for r in json.loads(body.decode()) if r.get("Type") == "Instance"] if status == 200 else []
                assert found, "instance %s is gone" % sop
                status, data = c.request("GET", "/instances/%s/file" % found[0]["ID"], headers={"Accept": "*/*"})
                assert status == 200 and lk.sha256(data) == digest, "instance %s changed" % sop
        finally:
            c.close()

    def plugin_version(self, plugin_id):
        return self.get("/plugins/%s" % plugin_id)["Version"]

    def main_pid(self):
        return lk.dexec(CONTAINER, "systemctl", "show", "orthanc", "-p", "MainPID", "--value").stdout.strip()

    def sh(self, script):
        return lk.dexec(CONTAINER, "sh", "-c", script).stdout

    def config(self):
        return json.loads(self.sh("cat /etc/orthanc/orthanc.json"))

    def postgresql_settings(self):
        settings = json.loads(self.sh("cat /etc/orthanc/credentials.json"))["PostgreSQL"]
        settings.pop("Password", None)
        return settings

    def schema_revision(self):
        return self.sh("su postgres -c \"psql -d orthanc -Atc 'SELECT value FROM globalproperties WHERE property = 4'\"")\
            .strip()

    def wait(self, timeout=120):
        lk.wait_http(self.client(), "/dicom-web/studies?limit=1", timeout=timeout)


def _extra(inventory, name, values):
    path = inventory / ("%s.json" % name)
    path.write_text(json.dumps(values))
    return ["-e", "@%s" % path]


def _converge(inventory, playbook, extra, label, timings):
    wall, recap, out = lk.converge(inventory, playbook, timeout=900, extra=extra)
    timings.append((label, wall))
    print("%s: %.0f s %s" % (label, wall, recap.get(HOST)))
    return recap[HOST], out


def _converge_fails(inventory, playbook, extra, label, timings):
    started = time.time()
    res = lk.run([lk.executable("ansible-playbook"), "-i", str(inventory), playbook] + extra, 900, check=False,
                 env={"ANSIBLE_PIPELINING": "True", "ANSIBLE_NOCOLOR": "1"})
    timings.append((label, time.time() - started))
    assert res.returncode != 0, "%s was expected to fail:\n%s" % (label, res.stdout[-3000:])
    return res.stdout + res.stderr


@pytest.fixture(scope="module")
def built():
    try:
        started = time.time()
        directory = plugin_build.build(log=print)
        first = time.time() - started
    except plugin_build.Unavailable as exc:
        _skip(str(exc))
    except plugin_build.BuildFailed as exc:
        pytest.fail("PostgreSQL plugin 10.3 did not build: %s" % exc)
    started = time.time()
    assert plugin_build.build() == directory
    again = time.time() - started
    print("plugin build: %.0f s (built in %.0f s at %s), second call %.2f s"
          % (first, plugin_build.info(directory)["build_seconds"], directory, again))
    assert again < 5, "the cached build was not returned at once (%.1f s)" % again
    return directory


@pytest.fixture(scope="module")
def lab(tmp_path_factory, built):
    if not docker_ok():
        _skip("no Docker engine answers (make engine starts one)")
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, check=False).returncode:
        _skip("lab image %s is absent (scripts/lab image trixie)" % IMAGE)
    try:
        with lk.lab_inventory(tmp_path_factory.mktemp("upst-inventory"), HOSTS, timeout=900) as inventory:
            yield inventory
    finally:
        subprocess.run(["docker", "network", "rm", NETWORK], capture_output=True, check=False, timeout=60)


@pytest.fixture(scope="module")
def served(lab, tmp_path_factory):
    gateway = lk.run(["docker", "network", "inspect", NETWORK, "-f", "{{(index .IPAM.Config 0).Gateway}}"],
                     60).stdout.strip()
    server = FileServer(tmp_path_factory.mktemp("upst-served"), gateway)
    yield server
    server.close()


def test_upstream_plugin_switch_and_rollback(built, lab, served, tmp_path):
    timings, started = [], time.time()
    inv = lab

    # 1. the distribution's packages
    recap, _out = _converge(inv, "site.yml", [], "site.yml, distribution packages", timings)
    assert recap["failed"] == 0
    pacs = Pacs(inv)
    pacs.wait()
    assert pacs.plugin_version("postgresql-index") == "5.0"
    assert pacs.schema_revision() == "1"
    pacs.store("dist")
    pacs.intact()

    # the second "upstream release": the distribution's Orthanc and DICOMweb plugin, copied out
    for path, name in (("/usr/sbin/Orthanc", "Orthanc-1.12.7"),
                       ("/usr/share/orthanc/plugins/libOrthancDicomWeb.so", "libOrthancDicomWeb-1.20.so")):
        lk.run(["docker", "cp", "-L", "%s:%s" % (CONTAINER, path), str(tmp_path / name)], 120)
    index = dict(served.add(built / "libOrthancPostgreSQLIndex.so", "libOrthancPostgreSQLIndex-10.3.so"),
                 kind="plugin", name="postgresql-index", version="10.3")
    core = dict(served.add(tmp_path / "Orthanc-1.12.7", "Orthanc-1.12.7"), kind="core", name="orthanc",
                version="1.12.7")
    dicomweb = dict(served.add(tmp_path / "libOrthancDicomWeb-1.20.so", "libOrthancDicomWeb-1.20.so"),
                    kind="plugin", name="dicomweb", version="1.20")
    common = {"orthanc_install_method": "upstream", "orthanc_upstream_allow_http": True,
              "orthanc_upstream_packages": RUNTIME_PACKAGES}
    version_a = dict(common, orthanc_upstream_version="pg10.3", orthanc_upstream_files=[index])
    version_b = dict(common, orthanc_upstream_version="core1.12.7-pg10.3", orthanc_upstream_files=[core, dicomweb, index],
                     orthanc_upstream_keep=2)

    # 2. the PostgreSQL plugin 10.3 from upstream, the distribution's core
    recap, _out = _converge(inv, "playbooks/orthanc.yml", _extra(inv, "a", version_a), "upstream pg10.3", timings)
    assert recap["changed"] > 0
    pacs.wait()
    assert pacs.plugin_version("postgresql-index") == "10.3"
    assert pacs.plugin_version("dicom-web") == "1.20"
    settings = pacs.postgresql_settings()
    assert settings["TransactionMode"] == "ReadCommitted" and int(settings["IndexConnectionsCount"]) > 1, settings
    assert "%s/pg10.3/plugins/libOrthancPostgreSQLIndex.so" % ROOT_DIR in pacs.config()["Plugins"]
    assert pacs.sh("readlink %s/current" % ROOT_DIR).strip() == "pg10.3"
    log = pacs.sh("cat /var/log/orthanc/*.log")
    assert "using READ COMMITTED transaction mode" in log and re.search(r"will use [2-9]\d* connection", log), log[-2000:]
    assert pacs.schema_revision() == "10"
    pacs.intact()
    pacs.store("pg103")
    pacs.intact()
    before = len(served.requests)
    recap, _out = _converge(inv, "playbooks/orthanc.yml", _extra(inv, "a", version_a), "upstream pg10.3 again",
                            timings)
    assert recap["changed"] == 0, recap
    assert served.requests[before:] == [], "a second converge downloaded %s" % served.requests[before:]

    # 3. a wrong sha256: refused at the download, nothing switched
    pid, config = pacs.main_pid(), pacs.sh("sha256sum /etc/orthanc/orthanc.json")
    bad = dict(common, orthanc_upstream_version="pg10.3-bad",
               orthanc_upstream_files=[dict(index, sha256="0" * 64)])
    out = _converge_fails(inv, "playbooks/orthanc.yml", _extra(inv, "bad", bad), "wrong sha256", timings)
    assert re.search(r"checksum .*did not match|did not match .*checksum", out, re.I | re.S), out[-3000:]
    assert pacs.main_pid() == pid
    assert pacs.sh("sha256sum /etc/orthanc/orthanc.json") == config
    assert pacs.sh("readlink %s/current" % ROOT_DIR).strip() == "pg10.3"
    assert "pg10.3-bad" not in pacs.sh("cat %s/state.json" % ROOT_DIR)
    assert pacs.plugin_version("postgresql-index") == "10.3"

    # 4. core, DICOMweb and PostgreSQL plugin from upstream
    recap, _out = _converge(inv, "playbooks/orthanc.yml", _extra(inv, "b", version_b), "upstream core1.12.7-pg10.3",
                            timings)
    pacs.wait()
    assert pacs.sh("systemctl show orthanc -p ExecStart --value").count("%s/core1.12.7-pg10.3/bin/Orthanc" % ROOT_DIR)
    assert all(p.startswith(ROOT_DIR + "/core1.12.7-pg10.3/plugins/") for p in pacs.config()["Plugins"])
    assert pacs.plugin_version("postgresql-index") == "10.3" and pacs.plugin_version("dicom-web") == "1.20"
    assert sorted(pacs.sh("ls %s" % ROOT_DIR).split()) == ["core1.12.7-pg10.3", "current", "pg10.3", "state.json"]
    pacs.intact()

    # 5. rollback to the previous version: nothing downloaded, data intact, idempotent
    before = len(served.requests)
    rollback = dict(version_b, orthanc_upstream_rollback=True)
    recap, _out = _converge(inv, "playbooks/orthanc.yml", _extra(inv, "rollback", rollback), "rollback", timings)
    assert recap["changed"] > 0
    assert served.requests[before:] == [], "a rollback downloaded %s" % served.requests[before:]
    pacs.wait()
    assert pacs.sh("readlink %s/current" % ROOT_DIR).strip() == "pg10.3"
    assert json.loads(pacs.sh("cat %s/state.json" % ROOT_DIR)) == {
        "current": "pg10.3", "previous": "core1.12.7-pg10.3", "rolled_back_from": "core1.12.7-pg10.3"}
    assert "/usr/sbin/Orthanc" in pacs.sh("systemctl show orthanc -p ExecStart --value")
    assert pacs.sh("test -e /etc/systemd/system/orthanc.service && echo present || echo absent").strip() == "absent"
    assert pacs.config()["Plugins"] == ["/usr/share/orthanc/plugins/libOrthancDicomWeb.so",
                                        "%s/pg10.3/plugins/libOrthancPostgreSQLIndex.so" % ROOT_DIR]
    assert pacs.plugin_version("postgresql-index") == "10.3"
    assert "core1.12.7-pg10.3" in pacs.sh("ls %s" % ROOT_DIR)       # kept for the way forward again
    pacs.intact()
    pacs.store("rolledback")
    pacs.intact()
    recap, _out = _converge(inv, "playbooks/orthanc.yml", _extra(inv, "rollback", rollback), "rollback again", timings)
    assert recap["changed"] == 0, recap

    # 6. back to the distribution's plugin 5.0: the schema (revision 10) forbids it
    pid, config = pacs.main_pid(), pacs.sh("sha256sum /etc/orthanc/orthanc.json")
    out = _converge_fails(inv, "playbooks/orthanc.yml", _extra(inv, "apt", {"orthanc_install_method": "apt"}),
                          "back to apt (refused)", timings)
    message = re.sub(r"\s+", " ", out)
    assert "would load PostgreSQL plugin 5.0 (index schema revision 1)" in message, out[-3000:]
    assert "is at schema revision 10, which PostgreSQL plugin 10.0 or later wrote" in message, out[-3000:]
    assert "this host ran PostgreSQL plugin 10.3" in message and "Nothing was switched" in message, out[-3000:]
    assert pacs.main_pid() == pid and pacs.sh("sha256sum /etc/orthanc/orthanc.json") == config
    assert pacs.plugin_version("postgresql-index") == "10.3"
    pacs.intact()

    print("timings: " + ", ".join("%s %.0f s" % step for step in timings)
          + "; test wall time %.0f s" % (time.time() - started))


# ---- preflight: refused before any host changes -------------------------------------------------------
TIERS = ["postgresql", "orthanc"]
SHA = "ab" * 32
GOOD = {"url": "https://downloads.example.org/10.3/libOrthancPostgreSQLIndex.so", "sha256": SHA,
        "kind": "plugin", "name": "postgresql-index", "version": "10.3"}
CORE = {"url": "https://downloads.example.org/1.12.9/Orthanc", "sha256": SHA, "kind": "core", "name": "orthanc",
        "version": "1.12.9"}
UPSTREAM = {"orthanc_install_method": "upstream", "orthanc_upstream_version": "1.12.9-pg10.3"}


@pytest.fixture()
def local_inventory(tmp_path):
    inv = tmp_path / "inventory"
    inv.mkdir()
    (inv / "hosts.yml").write_text(json.dumps({"all": {"children": {t: {"hosts": {"pacs1": None}} for t in TIERS}}}))
    (inv / "host_vars").mkdir()
    (inv / "host_vars" / "pacs1.yml").write_text(json.dumps(
        {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}))
    os.symlink(ROOT / "inventories" / "lab" / "group_vars", inv / "group_vars")
    return inv


@pytest.mark.parametrize("extra, message", [
    (dict(UPSTREAM, orthanc_upstream_files=[dict(GOOD, sha256="ab12")]),
     "orthanc_upstream_files[0] (postgresql-index): sha256 must be the 64 hexadecimal digits of the file's SHA-256, got 4"),
    (dict(UPSTREAM, orthanc_upstream_files=[dict(GOOD, url="http://downloads.example.org/libOrthancPostgreSQLIndex.so")]),
     "must be an https:// URL of the file (http:// only with orthanc_upstream_allow_http: true)"),
    (dict(UPSTREAM, orthanc_upstream_files=[CORE, GOOD]),
     "orthanc_upstream_files has the Orthanc core (1.12.9) but not the plugins it would load: dicomweb"),
    (dict(UPSTREAM, orthanc_upstream_files=[dict(CORE, version="1.12.4"), GOOD,
                                            dict(GOOD, name="dicomweb", version="1.20")]),
     "PostgreSQL plugin 10.3 needs Orthanc >= 1.12.5"),
    (dict(UPSTREAM, orthanc_upstream_files=[GOOD], orthanc_upstream_version="../x"),
     'orthanc_upstream_version "../x" must name the version directory'),
    (dict(UPSTREAM, orthanc_upstream_files=[GOOD], orthanc_upstream_root="/var/lib/orthanc"),
     "orthanc_upstream_root (/var/lib/orthanc) must be an absolute directory of its own"),
    (dict(UPSTREAM, orthanc_upstream_files=[]), "orthanc_upstream_files is empty"),
    ({"orthanc_upstream_rollback": True}, "orthanc_upstream_rollback is true but orthanc_install_method is apt"),
])
def test_preflight_refuses(local_inventory, extra, message):
    extra_file = local_inventory / "extra.json"
    extra_file.write_text(json.dumps(extra))
    res = lk.run([lk.executable("ansible-playbook"), "-i", str(local_inventory), "playbooks/preflight.yml", "--check",
                  "-e", "@%s" % extra_file], 300, check=False, env={"ANSIBLE_NOCOLOR": "1"})
    out = re.sub(r"\s+", " ", res.stdout + res.stderr)
    assert res.returncode != 0, out[-2000:]
    assert message in out, out[-3000:]
