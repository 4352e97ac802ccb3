"""The backup tier's preflight refuses unsafe values, naming the variable, before any host changes.

Like test_site_preflight.py: the controller itself (connection local) plays an all-in-one PACS host
(pacs1: postgresql, orthanc) and a backup host (backup1, group backup), with the lab's group_vars;
playbooks/preflight.yml in check mode, so even a check that wrongly passed changes nothing.
"""
import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def make_inventory(tmp_path, groups, backup1_vars=None):
    inv = tmp_path / "inventory"
    inv.mkdir()
    children = {g: {"hosts": {h: None for h in hosts}} for g, hosts in groups.items()}
    (inv / "hosts.yml").write_text(json.dumps({"all": {"children": children}}))
    (inv / "host_vars").mkdir()
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    (inv / "host_vars" / "pacs1.yml").write_text(json.dumps(dict(local, ansible_host="pacs1.invalid")))
    (inv / "host_vars" / "backup1.yml").write_text(json.dumps(
        dict(dict(local, ansible_host="backup1.invalid"), **(backup1_vars or {}))))
    os.symlink(ROOT / "inventories" / "lab" / "group_vars", inv / "group_vars")
    return inv


def run_preflight(inventory, extra):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    exe = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    extra_file = inventory.parent / "extra.json"   # outside the inventory directory
    extra_file.write_text(json.dumps(extra))
    return subprocess.run([exe, "-i", str(inventory), "playbooks/preflight.yml", "--check", "-e", "@%s" % extra_file],
                          cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=300, check=False)


SITE = {"postgresql": ["pacs1"], "orthanc": ["pacs1"], "backup": ["backup1"]}


def assert_refused(result, variable):
    out = result.stdout
    assert result.returncode != 0, out
    failure = out[out.index("FAILED!") if "FAILED!" in out else out.index("failed: ["):]
    # the YAML callback folds long messages and doubles the quotes of single-quoted strings
    failure = " ".join(failure.replace("''", "'").split())
    assert variable in failure, out
    assert "censored" not in failure, out
    assert "Traceback" not in out + result.stderr


@pytest.mark.integration
@pytest.mark.parametrize("extra, variable", [
    ({"backup_pgbackrest_cipher_pass": ""}, "backup_pgbackrest_cipher_pass: password is empty"),
    ({"backup_pgbackrest_cipher_pass": "Password2024!"}, "backup_pgbackrest_cipher_pass: password"),
    ({"backup_pgbackrest_cipher_pass": "short-but-random-x1"}, "backup_pgbackrest_cipher_pass: password is shorter than 20"),
    ({"backup_restic_password": ""}, "backup_restic_password: password is empty"),
    ({"backup_pgbackrest_cipher_type": "none"}, "backup_pgbackrest_cipher_type"),
    ({"backup_pgbackrest_retention_full": 0}, "backup_pgbackrest_retention_full"),
    ({"backup_pgbackrest_repo_path": "/var/lib/postgresql/backup"}, "backup_pgbackrest_repo_path"),
    ({"backup_restic_root": "relative/dir"}, "backup_restic_root"),
    ({"backup_host": "nosuchhost"}, "backup_host is 'nosuchhost'"),
    ({"postgresql_settings": {"archive_mode": True, "wal_level": "replica",
                              "archive_command": "pgbackrest --stanza=other archive-push %p"}},
     "postgresql_settings must archive the WAL"),
    ({"postgresql_settings": {"log_min_duration_statement": 1000}}, "postgresql_settings must archive the WAL"),
])
def test_bad_backup_value_stops_in_preflight(tmp_path, extra, variable):
    assert_refused(run_preflight(make_inventory(tmp_path, SITE), extra), variable)


@pytest.mark.integration
def test_backup_asked_without_backup_host(tmp_path):
    """backup_enabled on a PACS host, and no host in the group backup."""
    inventory = make_inventory(tmp_path, {"postgresql": ["pacs1"], "orthanc": ["pacs1"]})
    assert_refused(run_preflight(inventory, {"backup_enabled": True}), "backup_host is ''")


@pytest.mark.integration
def test_backup_host_is_the_pacs_host(tmp_path):
    """The repository on the PACS host itself: the PACS host is its own backup host."""
    inventory = make_inventory(tmp_path, {"postgresql": ["pacs1"], "orthanc": ["pacs1"], "backup": ["pacs1"]})
    assert_refused(run_preflight(inventory, {}), "is this PACS host itself")


@pytest.mark.integration
def test_backup_host_is_local(tmp_path):
    """A backup host whose address is this machine (the repository would be a local path)."""
    inventory = make_inventory(tmp_path, SITE, backup1_vars={"ansible_host": "127.0.0.1"})
    assert_refused(run_preflight(inventory, {}), "is this PACS host itself")


@pytest.mark.integration
def test_lab_backup_values_pass(tmp_path):
    """The control: the lab's values with a backup host pass every preflight check."""
    result = run_preflight(make_inventory(tmp_path, SITE), {})
    assert result.returncode == 0, result.stdout
