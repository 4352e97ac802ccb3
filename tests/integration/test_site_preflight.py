"""site.yml stops in its preflight play, before any host changes, on a bad inventory value.

The run targets the controller itself (connection local) as an all-in-one host with the lab's
group_vars, in check mode: even a preflight that wrongly passed could change nothing here.
"""
import re

import pytest

from ansible_collections.medimg.pacs.tests.helpers.preflight import TIERS, local_inventory, run_playbook


@pytest.fixture()
def inventory(tmp_path):
    return local_inventory(tmp_path, {t: ["pacs1"] for t in TIERS})


def run_site(inventory, extra):
    return run_playbook(inventory, "site.yml", extra)


@pytest.mark.integration
@pytest.mark.parametrize("extra, variable", [
    ({"orthanc_aet": "SEVENTEEN_CHARS_X"}, "orthanc_aet"),
    ({"orthanc_users": [{"name": "admin", "password": ""}]}, "orthanc_users[0]"),
    ({"orthanc_postgresql_password": ""}, "orthanc_postgresql_password"),
    ({"postgresql_users": [{"name": "orthanc", "password": ""}]}, "postgresql_users[0]"),
    ({"orthanc_dicom_port": 70000}, "orthanc_dicom_port"),
    # the front door: roles, the one password rule, unique names, an Orthanc account per role
    ({"nginx_users": [{"name": "alice", "role": "superuser", "password": "Alice-Reads-Images-42"}]},
     'nginx_users[0] (alice): unknown role "superuser"'),
    ({"nginx_users": [{"name": "alice", "role": "viewer", "password": "short-pw"}]},
     "nginx_users[0] (alice): password is shorter than 12 characters"),
    ({"nginx_users": [{"name": "alice", "role": "viewer", "password": "ADMINISTRATOR"}]},
     "nginx_users[0] (alice): password is on the deny-list"),
    ({"nginx_users": [{"name": "alice", "role": "viewer", "password": "Password2024!"}]},
     "nginx_users[0] (alice): password is a well-known password"),
    ({"nginx_users": [{"name": "alice", "role": "viewer", "password": "Alice-Reads-Images-42"},
                      {"name": "alice", "role": "admin", "password": "Alice-Administers-77"}]},
     'nginx_users[1] (alice): duplicate user name "alice"'),
    ({"nginx_orthanc_accounts": {"viewer": {"user": "frontdoor-viewer", "password": "Viewer-Account-Pw-1"}}},
     "nginx_orthanc_accounts.uploader"),
    ({"orthanc_users": [{"name": "admin", "password": "Orthanc12345!", "role": "admin"}]}, "orthanc_users[0] (admin): password"),
    ({"orthanc_users": [{"name": "reader", "password": "Reader-Account-Pw-1", "role": "viewer"}]},
     "orthanc_users[0] (reader): the first account needs a role with the admin class"),
    # settings that reopen what the orthanc role hardens, and plaintext or md5 database access
    ({"orthanc_extra_settings": {"WebDavEnabled": True}}, "orthanc_extra_settings.WebDavEnabled = true"),
    ({"orthanc_extra_settings": {"ExecuteLuaEnabled": True}}, "orthanc_extra_settings.ExecuteLuaEnabled"),
    ({"orthanc_extra_settings": {"LimitFindResults": 0}}, "orthanc_extra_settings.LimitFindResults"),
    ({"orthanc_dicom_always_allow_store": True}, "orthanc_dicom_always_allow_store = true"),
    ({"orthanc_dicom_check_modality_host": False}, "orthanc_dicom_check_modality_host = false"),
    ({"postgresql_hba_entries": [{"type": "host", "database": "orthanc", "user": "orthanc",
                                  "address": "10.0.0.0/8"}]}, "postgresql_hba_entries[0]"),
    ({"postgresql_hba_entries": [{"type": "host", "database": "orthanc", "user": "orthanc",
                                  "address": "127.0.0.1/32", "method": "md5"}]}, "postgresql_hba_entries[0]"),
    # the roles' argument specs (entry point preflight), checked here too, not only when a tier's play starts
    ({"orthanc_users": "admin"}, "orthanc_users"),
    ({"orthanc_install_method": "static"}, "orthanc_install_method"),
    ({"postgresql_hba_entries": [{"type": "hostnossl", "database": "orthanc", "user": "orthanc",
                                  "address": "10.0.0.0/8"}]}, "postgresql_hba_entries"),
    ({"nginx_tls_protocols": ["TLSv1", "TLSv1.2"]}, "nginx_tls_protocols"),
    ({"nginx_users": [{"name": "alice", "password": "Alice-Reads-Images-42"}]}, "role found in nginx_users"),
    ({"ohif_data_sources": [{"name": "orthanc", "qido_root": "/dicom-web"}]}, "wado_root found in ohif_data_sources"),
    ({"ohif_data_sources": [{"name": "orthanc", "qido_root": "/dicom-web", "wado_root": "/dicom-web",
                             "server_type": "pacs"}]}, "server_type"),
    # a mode this release's Orthanc (Debian 12: 1.10.1) does not have, named with both versions
    ({"orthanc_overwrite_instances": "IfChanged"}, "orthanc_overwrite_instances IfChanged"),
])
def test_bad_value_stops_site_in_preflight(inventory, extra, variable):
    result = run_site(inventory, extra)
    out = result.stdout
    assert result.returncode != 0, out
    # the failure happened in the preflight play, and no later play started
    assert "PLAY [Preflight checks of every tier]" in out, out
    assert "PLAY [PostgreSQL]" not in out, out
    failure = out[out.index("FAILED!") if "FAILED!" in out else out.index("failed: ["):]
    assert variable in failure, out
    assert "censored" not in failure, out
    assert "Traceback" not in out + result.stderr


@pytest.mark.integration
def test_one_bad_host_stops_the_run_for_all(tmp_path):
    """Every host reports its own failure, then the run stops: no later play starts on the good host."""
    inventory = local_inventory(tmp_path, {t: ["pacs1", "pacs2", "pacs3"] for t in TIERS},
                                {"pacs2": {"orthanc_aet": "SEVENTEEN_CHARS_X"}, "pacs3": {"postgresql_port": "5432/tcp"}})
    result = run_site(inventory, {})
    out = result.stdout
    assert result.returncode != 0, out
    assert "PLAY [PostgreSQL]" not in out, out
    assert "fatal: [pacs2]" in out and "orthanc_aet 'SEVENTEEN_CHARS_X'" in out, out
    assert "fatal: [pacs3]" in out and "postgresql_port" in out, out
    assert "Preflight failed on pacs2, pacs3" in out, out
    recap = out[out.index("PLAY RECAP"):]
    assert re.search(r"^pacs1\s+: ok=\d+\s+changed=0 ", recap, re.M), recap


@pytest.mark.integration
def test_lab_values_pass_the_preflight_play(inventory):
    """The control: the same inventory, unchanged, passes every tier's preflight.

    Its group_vars template lists from other variables (nginx_orthanc_upstreams from the orthanc
    group, orthanc_modalities, orthanc_postgresql_port from postgresql_port): the argument specs
    check what they render to.
    """
    result = run_playbook(inventory, "playbooks/preflight.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    for tier in TIERS:
        assert "medimg.pacs.%s : Validating arguments against arg spec 'preflight'" % tier in result.stdout, \
            "no %s argument spec check ran" % tier
        assert "medimg.pacs.%s : Load the OS variables" % tier in result.stdout, "no %s preflight ran" % tier


@pytest.mark.integration
def test_unsafe_override_is_explicit(inventory):
    """orthanc_allow_unsafe_settings lets a reopened setting through the preflight play."""
    result = run_playbook(inventory, "playbooks/preflight.yml",
                          {"orthanc_extra_settings": {"WebDavEnabled": True}, "orthanc_allow_unsafe_settings": True})
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.integration
@pytest.mark.parametrize("value", ["never", "Never", "ALWAYS", True, "false"])
def test_overwrite_instances_any_case_passes(inventory, value):
    """orthanc_overwrite_instances is read without regard to case, in preflight and in versions.yml alike."""
    result = run_playbook(inventory, "playbooks/preflight.yml", {"orthanc_overwrite_instances": value})
    assert result.returncode == 0, result.stdout + result.stderr
