"""The monitoring tier's preflight refuses bad values, naming the variable, before any host changes.

Like test_site_preflight.py: the controller itself (connection local) is an all-in-one host with
the lab's group_vars, here also in the group monitoring; playbooks/preflight.yml in check mode.
"""
import pytest

from ansible_collections.medimg.pacs.tests.helpers.preflight import local_inventory, run_playbook

TIERS = ["postgresql", "orthanc", "nginx"]


def make_inventory(tmp_path, groups):
    return local_inventory(tmp_path, {g: ["pacs1"] for g in groups})


def run_preflight(inventory, extra):
    return run_playbook(inventory, "playbooks/preflight.yml", extra)


@pytest.mark.integration
@pytest.mark.parametrize("extra, variable", [
    ({"monitoring_exporter_password": ""}, "monitoring_exporter_password: password is empty"),
    ({"monitoring_exporter_password": "Password2024!"}, "monitoring_exporter_password: password is a well-known password"),
    ({"monitoring_prometheus_users": [{"name": "admin", "password": "short-pw"}]},
     "monitoring_prometheus_users[0] (admin): password is shorter than 12 characters"),
    ({"monitoring_prometheus_users": []}, "monitoring_prometheus_users needs at least one"),
    # the lab passes these two on to the postgresql and nginx roles, whose checks (running first)
    # name their own variable and the account
    ({"monitoring_postgres_exporter_db_password": ""}, "postgresql_users[1] (prometheus)"),
    ({"monitoring_orthanc_metrics_password": "ADMINISTRATOR"}, "nginx_users[3] (prometheus): password is on the deny-list"),
    ({"monitoring_alert_for_down": "5 minutes"}, "monitoring_alert_for_down"),
    ({"monitoring_postgres_exporter_sslmode": "prefer"}, "monitoring_postgres_exporter_sslmode"),
    # the roles the monitoring tier extends through their variables
    ({"orthanc_http_roles": {"metrics": ["metrics", "stats"]}}, "orthanc_http_roles"),
    ({"nginx_orthanc_metrics_location": "/orthanc-metrics/"}, "nginx_orthanc_metrics_location"),
    ({"nginx_stub_status_listen": "8081"}, "nginx_stub_status_listen"),
    ({"monitoring_stow_failure_rate": "often"}, "monitoring_stow_failure_rate"),
    ({"monitoring_stow_failure_window": "10 minutes"}, "monitoring_stow_failure_window"),
    ({"nginx_frontdoor_metrics_location": "/orthanc-metrics"}, "nginx_frontdoor_metrics_location"),
])
def test_bad_monitoring_value_stops_in_preflight(tmp_path, extra, variable):
    inventory = make_inventory(tmp_path, TIERS + ["monitoring"])
    result = run_preflight(inventory, extra)
    out = result.stdout
    assert result.returncode != 0, out
    failure = out[out.index("FAILED!") if "FAILED!" in out else out.index("failed: ["):]
    assert variable in failure, out
    assert "censored" not in failure, out
    assert "Traceback" not in out + result.stderr


@pytest.mark.integration
def test_monitoring_asked_without_a_monitoring_host(tmp_path):
    inventory = make_inventory(tmp_path, TIERS)
    result = run_preflight(inventory, {"monitoring_enabled": True})
    out = result.stdout
    assert result.returncode != 0, out
    assert "monitoring_enabled is true but the inventory group `monitoring` has no hosts" in out, out


@pytest.mark.integration
def test_lab_monitoring_values_pass(tmp_path):
    """The control: the lab's values with a monitoring host pass, and the monitoring checks ran."""
    inventory = make_inventory(tmp_path, TIERS + ["monitoring"])
    result = run_preflight(inventory, {})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "medimg.pacs.monitoring : Validating arguments against arg spec 'preflight'" in result.stdout
    assert "medimg.pacs.monitoring : Check the monitoring passwords" in result.stdout
