"""Preflight of medimg.pacs.postgresql / medimg.pacs.orthanc refuses bad input with a message
naming the variable, before anything is installed.

Runs only the roles' entry point `preflight` against the controller (connection local, no changes
made): Ansible validates the role's argument spec for it (types, choices, required keys), then the
role's own checks run (ranges, patterns, the password rule, cross-variable rules). The full
scenario (install, converge, idempotence, STOW/QIDO/WADO, C-ECHO) is molecule/default.
"""

import json
import re
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = shutil.which(
    "ansible-playbook", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
)

GOOD_ORTHANC = {
    "orthanc_aet": "MEDIMG_TEST",
    "orthanc_users": [{"name": "admin", "password": "Xk3vQ9pL2mN7"}],
    "orthanc_postgresql_password": "Zt8wR4yH6jB1",
}
GOOD_POSTGRESQL = {
    "postgresql_users": [{"name": "orthanc", "password": "Zt8wR4yH6jB1"}],
    "postgresql_databases": [{"name": "orthanc", "owner": "orthanc"}],
}


def run_preflight(tmp_path, role, extra):
    if ANSIBLE_PLAYBOOK is None:
        pytest.skip("ansible-playbook not found")
    play = [
        {
            "name": "Preflight only",
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": True,
            # hardware: postgresql_memory_mb's default (templated by the argument spec check) reads memtotal_mb
            "gather_subset": ["!all", "min", "hardware"],
            "tasks": [
                {
                    "name": "Preflight",
                    # no .yml: the entry point `preflight`, so the argument spec is checked first
                    "ansible.builtin.include_role": {"name": "medimg.pacs." + role, "tasks_from": "preflight"},
                }
            ],
        }
    ]
    playbook = tmp_path / "preflight.yml"
    playbook.write_text(json.dumps(play))
    extra_file = tmp_path / "extra.json"
    extra_file.write_text(json.dumps(dict(extra, ansible_python_interpreter=sys.executable)))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1")
    return subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", "localhost,", str(playbook), "-e", "@" + str(extra_file)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def assert_refused(result, variable):
    """Failed, and the failure message itself (not just a task name) names the variable."""
    assert result.returncode != 0, result.stdout
    match = re.search(r"FAILED!|failed: \[", result.stdout)
    assert match, result.stdout
    failure = result.stdout[match.start():]
    assert variable in failure, result.stdout
    assert "censored" not in failure, "the message was hidden by no_log:\n" + result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_orthanc_good_input_passes(tmp_path):
    result = run_preflight(tmp_path, "orthanc", GOOD_ORTHANC)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "override, variable",
    [
        ({"orthanc_aet": "THIS_AE_TITLE_IS_TOO_LONG"}, "orthanc_aet"),
        ({"orthanc_aet": "BAD\\AET"}, "orthanc_aet"),
        ({"orthanc_aet": "    "}, "orthanc_aet"),
        ({"orthanc_dicom_port": 70000}, "orthanc_dicom_port"),
        ({"orthanc_http_port": 0}, "orthanc_http_port"),
        ({"orthanc_users": []}, "orthanc_users"),
        ({"orthanc_users": [{"name": "admin", "password": "orthanc"}]}, "orthanc_users[0]"),
        ({"orthanc_users": [{"name": "admin", "password": ""}]}, "orthanc_users[0]"),
        ({"orthanc_postgresql_password": "changeme"}, "orthanc_postgresql_password"),
        # checked by the argument spec (entry point preflight): choices, types, required keys
        ({"orthanc_install_method": "static"}, "orthanc_install_method"),
        ({"orthanc_users": "admin"}, "orthanc_users"),
        ({"orthanc_dicom_port": "4242x"}, "orthanc_dicom_port"),
        ({"orthanc_modalities": [{"name": "ct", "aet": "CT1", "host": "h"}]}, "port found in orthanc_modalities"),
        ({"orthanc_modalities": [{"name": "ct", "aet": "CT1", "host": "h", "port": 104, "alow_find": True}]},
         "orthanc_modalities.alow_find"),
        ({"orthanc_dicomweb_studies_metadata": "Some"}, "orthanc_dicomweb_studies_metadata"),
        ({"orthanc_extra_settings": {"RegisteredUsers": {}}}, "orthanc_extra_settings"),
        ({"orthanc_modalities": [{"name": "ct", "aet": "CT\\1", "host": "h", "port": 104}]}, "orthanc_modalities[0]"),
    ],
)
def test_orthanc_bad_input_is_refused(tmp_path, override, variable):
    result = run_preflight(tmp_path, "orthanc", dict(GOOD_ORTHANC, **override))
    assert_refused(result, variable)


def test_postgresql_good_input_passes(tmp_path):
    result = run_preflight(tmp_path, "postgresql", GOOD_POSTGRESQL)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "override, variable",
    [
        ({"postgresql_port": 0}, "postgresql_port"),
        ({"postgresql_port": 65536}, "postgresql_port"),
        (
            {
                "postgresql_hba_entries": [
                    {"type": "host", "database": "all", "user": "all", "address": "0.0.0.0/0", "method": "trust"}
                ]
            },
            "postgresql_hba_entries[0]",
        ),
        # checked by the argument spec: address required for host rules, no hostnossl, a known method
        ({"postgresql_hba_entries": [{"type": "host", "database": "all", "user": "all"}]}, "postgresql_hba_entries"),
        (
            {"postgresql_hba_entries": [{"type": "hostnossl", "database": "all", "user": "all", "address": "10.0.0.0/8"}]},
            "postgresql_hba_entries",
        ),
        (
            {"postgresql_hba_entries": [{"type": "host", "database": "all", "user": "all", "address": "127.0.0.1/32",
                                         "method": "scram"}]},
            "postgresql_hba_entries",
        ),
        ({"postgresql_port": "5432/tcp"}, "postgresql_port"),
        ({"postgresql_users": [{"password": "Zt8wR4yH6jB1"}]}, "name found in postgresql_users"),
        # refused by the role's checks: md5, a plain host rule off loopback, a comma-separated string
        (
            {"postgresql_hba_entries": [{"type": "host", "database": "all", "user": "all", "address": "127.0.0.1/32",
                                         "method": "md5"}]},
            "postgresql_hba_entries[0]",
        ),
        (
            {"postgresql_hba_entries": [{"type": "host", "database": "all", "user": "all", "address": "10.0.0.0/8"}]},
            "postgresql_hba_entries[0]",
        ),
        ({"postgresql_listen_addresses": "localhost,10.0.0.1"}, "postgresql_listen_addresses"),
        ({"postgresql_users": [{"name": "orthanc", "password": ""}]}, "postgresql_users[0]"),
        ({"postgresql_databases": [{"name": "orthanc", "owner": "nobody"}]}, "postgresql_databases[0]"),
        ({"postgresql_listen_addresses": []}, "postgresql_listen_addresses"),
    ],
)
def test_postgresql_bad_input_is_refused(tmp_path, override, variable):
    result = run_preflight(tmp_path, "postgresql", dict(GOOD_POSTGRESQL, **override))
    assert_refused(result, variable)
