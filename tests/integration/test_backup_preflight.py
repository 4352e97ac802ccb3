"""The backup tier's preflight refuses unsafe values, naming the variable, before any host changes.

Like test_site_preflight.py: the controller itself (connection local) plays an all-in-one PACS host
(pacs1: postgresql, orthanc) and a backup host (backup1, group backup), with the lab's group_vars;
playbooks/preflight.yml in check mode, so even a check that wrongly passed changes nothing.
"""
import pytest

from ansible_collections.medimg.pacs.tests.helpers.preflight import assert_refused, local_inventory, run_playbook


def make_inventory(tmp_path, groups, backup1_vars=None):
    return local_inventory(tmp_path, groups, {"pacs1": {"ansible_host": "pacs1.invalid"},
                                              "backup1": dict({"ansible_host": "backup1.invalid"}, **(backup1_vars or {}))})


def run_preflight(inventory, extra):
    return run_playbook(inventory, "playbooks/preflight.yml", extra)


SITE = {"postgresql": ["pacs1"], "orthanc": ["pacs1"], "backup": ["backup1"]}


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
