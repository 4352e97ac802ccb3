"""site.yml checks the controller in its preflight play, before any host is changed.

- A controller with only `pip install ansible ansible-core` (the versions requirements.txt pins; no
  pydicom, no pynetdicom, no passlib) runs site.yml against a fresh lab host: the run fails in the
  preflight play, names the missing libraries and the command that installs them, starts no later
  play, changes nothing on the host (changed=0, the same dpkg list before and after) and never
  asks for passlib (nothing uses password_hash; the front door hashes with scrypt itself).
- A dependency of galaxy.yml that is too old or missing on the controller is named, with the
  ansible-galaxy command that installs it (a temporary ANSIBLE_COLLECTIONS_PATH; fast, no Docker).
"""
import json
import os
import pathlib
import re
import subprocess
import sys
import venv

import pytest
import yaml

from medimg_lab import labkit as lk
from medimg_lab.cli import docker_ok

ROOT = pathlib.Path(__file__).resolve().parents[2]
PREFLIGHT_PLAY = "PLAY [Preflight checks of every tier]"
CONTAINER = "medimg-req-pacs1"
NETWORK = "medimg-req"
HOSTS = """---
all:
  children:
    lab:
      hosts:
        req-pacs1:
          ansible_connection: community.docker.docker
          ansible_host: %s
          ansible_python_interpreter: /usr/bin/python3
          lab_network: %s
    postgresql: {hosts: {req-pacs1: }}
    orthanc: {hosts: {req-pacs1: }}
    ohif: {hosts: {req-pacs1: }}
    nginx: {hosts: {req-pacs1: }}
""" % (CONTAINER, NETWORK)


def _pinned(name):
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line.strip().startswith(name + "=="):
            return line.strip()
    raise AssertionError("requirements.txt pins no %s" % name)


def _run(cmd, timeout, env=None, check=False):
    full_env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                    ANSIBLE_FORCE_COLOR="0", PYTHONDONTWRITEBYTECODE="1")
    full_env.update(env or {})
    res = subprocess.run([str(c) for c in cmd], cwd=str(ROOT), env=full_env, capture_output=True, text=True,
                         timeout=timeout, check=False)
    if check and res.returncode != 0:
        command = " ".join(map(str, cmd))
        raise AssertionError("%s failed (rc=%d):\n%s\n%s" % (command, res.returncode, res.stdout[-3000:], res.stderr[-3000:]))
    return res


def _dpkg(container):
    return _run(["docker", "exec", container, "dpkg-query", "-W", "-f=${Package} ${Version} ${Status}\\n"], 60,
                check=True).stdout


def _errors(res):
    """The `[ERROR]: ...` lines of a run, each a whole message on one line (the YAML dump of the
    result below it wraps long messages)."""
    return "\n".join(line for line in (res.stdout + res.stderr).splitlines() if line.startswith("[ERROR]:"))


def _recap(out, host):
    match = re.search(r"^%s\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)" % re.escape(host),
                      out, re.M)
    assert match, "no PLAY RECAP line for %s:\n%s" % (host, out[-3000:])
    return int(match.group(1)), int(match.group(2))


@pytest.fixture(scope="module")
def bare_controller(tmp_path_factory):
    """A virtualenv with only the pinned ansible and ansible-core (pip's own cache and configuration)."""
    path = tmp_path_factory.mktemp("bare-controller") / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(str(path))
    python = path / "bin" / "python"
    _run([python, "-m", "pip", "install", "-q", _pinned("ansible"), _pinned("ansible-core")], 1200, check=True)
    probe = _run([python, "-c", "import importlib.util as u; print([m for m in ('pydicom', 'pynetdicom', 'passlib')"
                  " if u.find_spec(m)])"], 60, check=True)
    assert probe.stdout.strip() == "[]", "the bare controller has %s" % probe.stdout
    return path


@pytest.fixture(scope="module")
def fresh_host(tmp_path_factory):
    if not docker_ok():
        pytest.skip("no Docker engine answers (make engine starts one)")
    try:
        with lk.lab_inventory(tmp_path_factory.mktemp("req-inventory"), HOSTS, timeout=900) as inv:
            yield inv
    finally:
        _run(["docker", "network", "rm", NETWORK], 60)


@pytest.mark.integration
def test_bare_controller_stops_in_preflight_before_any_host_changes(bare_controller, fresh_host):
    before = _dpkg(CONTAINER)
    env = {"PATH": str(bare_controller / "bin") + os.pathsep + os.environ.get("PATH", ""),
           "VIRTUAL_ENV": str(bare_controller)}
    res = _run([bare_controller / "bin" / "ansible-playbook", "-i", fresh_host, "site.yml"], 900, env=env)
    out = res.stdout
    (ROOT / "tests" / "output").mkdir(parents=True, exist_ok=True)
    (ROOT / "tests" / "output" / "controller-requirements.log").write_text(out + res.stderr)
    assert res.returncode != 0, out[-3000:]
    # the preflight play is the only play that started
    assert re.findall(r"^PLAY \[.*\]", out, re.M) == [PREFLIGHT_PLAY], out[-3000:]
    failure = _errors(res)
    assert "lacks what medimg.pacs needs" in failure, out[-3000:]
    python = str(bare_controller / "bin" / "python")
    assert "pydicom" in failure and "pynetdicom" in failure, failure
    assert re.search(r"`%s3? -m pip install pydicom pynetdicom`" % re.escape(python), failure), failure
    assert "cryptography" not in failure.split("Python libraries", 1)[1].split("install them", 1)[0], failure
    assert "passlib" not in out + res.stderr
    changed, failed = _recap(out, "req-pacs1")
    assert (changed, failed) == (0, 1), out[out.index("PLAY RECAP"):]
    # nothing was installed: the host's package list is the one it started with
    after = _dpkg(CONTAINER)
    assert after == before
    assert not re.search(r"^(orthanc|postgresql|nginx)\S* ", after, re.M), after


def _preflight_inventory(tmp_path):
    inv = tmp_path / "inventory"
    (inv / "host_vars").mkdir(parents=True)
    hosts = {"all": {"children": {t: {"hosts": {"pacs1": None}} for t in ("postgresql", "orthanc", "ohif", "nginx")}}}
    (inv / "hosts.yml").write_text(json.dumps(hosts))
    (inv / "host_vars" / "pacs1.yml").write_text(json.dumps(
        {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}))
    os.symlink(ROOT / "inventories" / "lab" / "group_vars", inv / "group_vars")
    return inv


def _run_preflight(tmp_path, env):
    exe = pathlib.Path(sys.executable).parent / "ansible-playbook"
    return _run([exe, "-i", _preflight_inventory(tmp_path), "playbooks/preflight.yml", "--check"], 300, env=env)


def _bundled(namespace, name):
    """Where the controller's ansible package keeps a collection."""
    import ansible_collections  # pylint: disable=import-outside-toplevel
    for base in ansible_collections.__path__:
        path = pathlib.Path(base) / namespace / name
        if path.is_dir():
            return path
    pytest.skip("the ansible package on this controller has no %s.%s" % (namespace, name))
    return None


def _dependencies():
    return yaml.safe_load((ROOT / "galaxy.yml").read_text())["dependencies"]


@pytest.mark.integration
def test_too_old_collection_is_named(tmp_path):
    wanted = _dependencies()["community.postgresql"]
    old = tmp_path / "old" / "ansible_collections" / "community" / "postgresql"
    old.mkdir(parents=True)
    (old / "MANIFEST.json").write_text(json.dumps(
        {"collection_info": {"namespace": "community", "name": "postgresql", "version": "2.4.0"}}))
    res = _run_preflight(tmp_path, {"ANSIBLE_COLLECTIONS_PATH": "%s:%s" % (tmp_path / "old", ROOT / ".collections")})
    out = res.stdout
    assert res.returncode != 0, out[-3000:]
    failure = _errors(res)
    assert "community.postgresql %s (found 2.4.0 in %s)" % (wanted, old) in failure, out[-3000:]
    assert "ansible-galaxy collection install 'community.postgresql:%s'" % wanted in failure, failure
    assert "medimg.pacs.postgresql" not in out, "a role's checks ran after the controller check failed"


@pytest.mark.integration
def test_missing_collection_is_named(tmp_path):
    """Only medimg.pacs, ansible.posix (the profile_tasks callback) and community.crypto are found."""
    base = tmp_path / "collections" / "ansible_collections"
    for namespace, name, source in [("medimg", "pacs", ROOT), ("ansible", "posix", _bundled("ansible", "posix")),
                                    ("community", "crypto", _bundled("community", "crypto"))]:
        (base / namespace).mkdir(parents=True, exist_ok=True)
        os.symlink(source, base / namespace / name)
    res = _run_preflight(tmp_path, {"ANSIBLE_COLLECTIONS_PATH": str(tmp_path / "collections"),
                                    "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false"})
    out = res.stdout
    assert res.returncode != 0, out[-3000:]
    failure = _errors(res)
    deps = _dependencies()
    for fqcn in ("community.postgresql", "community.general"):
        assert "%s %s (not installed)" % (fqcn, deps[fqcn]) in failure, out[-3000:]
        assert " '%s:%s'" % (fqcn, deps[fqcn]) in failure, failure
    assert "community.crypto" not in failure and "ansible.posix" not in failure, failure


@pytest.mark.integration
def test_controller_with_the_pinned_requirements_passes(tmp_path):
    """The control: this checkout's own virtualenv (make venv) has everything the check asks for."""
    res = _run_preflight(tmp_path, {})
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "TASK [Check the controller]" in res.stdout and "ok: [" in res.stdout
