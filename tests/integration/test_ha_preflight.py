"""The Patroni mode's preflight (postgresql_ha: patroni) refuses a cluster that cannot fail over
safely, naming the variable, before any host changes.

Like the other preflight tests: the controller itself (connection local) plays three PostgreSQL
hosts pg1..pg3 (and, unless a test says otherwise, the same three as etcd members) with the lab's
group_vars; playbooks/preflight.yml in check mode, so even a check that wrongly passed changes
nothing.
"""
import pytest

from ansible_collections.medimg.pacs.tests.helpers.preflight import assert_refused as refused, local_inventory, run_playbook

NODES = ["pg1", "pg2", "pg3"]
GOOD = {
    "postgresql_ha": "patroni",
    "postgresql_tls_enabled": True,
    "postgresql_patroni_restapi_password": "Vq8rT2mLx9Kp4Wz7Nc3B",
    "postgresql_patroni_replication_password": "Hj5sD8fG2kL9qW4eR7tY",
    "postgresql_patroni_rewind_password": "Zx3cV6bN9mQ2wE5rT8yU",
}


def make_inventory(tmp_path, postgresql=None, etcd=None):
    groups = {"postgresql": postgresql or NODES}
    if etcd is None:
        etcd = NODES
    if etcd:
        groups["etcd"] = etcd
    hosts = sorted(set(groups["postgresql"]) | set(etcd))
    return local_inventory(tmp_path, groups, {h: {"ansible_host": h + ".invalid"} for h in hosts})


def assert_refused(result, variable):
    """The shared refusal check, and neither Patroni secret printed anywhere."""
    refused(result, variable)
    out = result.stdout
    for secret in (GOOD["postgresql_patroni_restapi_password"], GOOD["postgresql_patroni_replication_password"]):
        assert secret not in out + result.stderr


@pytest.mark.integration
def test_good_cluster_passes(tmp_path):
    result = run_playbook(make_inventory(tmp_path), "playbooks/preflight.yml", GOOD)
    assert result.returncode == 0, result.stdout


@pytest.mark.integration
def test_two_nodes_only(tmp_path):
    inventory = make_inventory(tmp_path, postgresql=["pg1", "pg2"], etcd=NODES)
    assert_refused(run_playbook(inventory, "playbooks/preflight.yml", GOOD), "postgresql_patroni_hosts")


@pytest.mark.integration
def test_etcd_hosts_missing(tmp_path):
    inventory = make_inventory(tmp_path, etcd=[])
    assert_refused(run_playbook(inventory, "playbooks/preflight.yml", GOOD), "postgresql_patroni_etcd_hosts")


@pytest.mark.integration
def test_even_number_of_etcd_hosts(tmp_path):
    inventory = make_inventory(tmp_path, etcd=["pg1", "pg2"])
    result = run_playbook(inventory, "playbooks/preflight.yml", GOOD)
    assert_refused(result, "etcd_hosts")


@pytest.mark.integration
@pytest.mark.parametrize("count", [0, 3])
def test_synchronous_mode_without_a_replica(tmp_path, count):
    extra = dict(GOOD, postgresql_patroni_synchronous_node_count=count)
    assert_refused(run_playbook(make_inventory(tmp_path), "playbooks/preflight.yml", extra),
                   "postgresql_patroni_synchronous_node_count")


@pytest.mark.integration
@pytest.mark.parametrize("name, value, reason", [
    ("postgresql_patroni_restapi_password", "", "password is empty"),
    ("postgresql_patroni_restapi_password", "Password2024!", "password"),
    ("postgresql_patroni_replication_password", "", "password is empty"),
    ("postgresql_patroni_rewind_password", "postgres", "password"),
])
def test_weak_or_missing_secret(tmp_path, name, value, reason):
    extra = dict(GOOD, **{name: value})
    assert_refused(run_playbook(make_inventory(tmp_path), "playbooks/preflight.yml", extra), "%s: %s" % (name, reason))


@pytest.mark.integration
def test_patroni_without_tls(tmp_path):
    extra = dict(GOOD, postgresql_tls_enabled=False)
    assert_refused(run_playbook(make_inventory(tmp_path), "playbooks/preflight.yml", extra), "postgresql_tls_enabled")


@pytest.mark.integration
def test_loop_timings_beyond_the_lease(tmp_path):
    extra = dict(GOOD, postgresql_patroni_ttl=10, postgresql_patroni_loop_wait=10)
    assert_refused(run_playbook(make_inventory(tmp_path), "playbooks/preflight.yml", extra), "postgresql_patroni_ttl")
