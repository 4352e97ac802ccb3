"""playbooks/upgrade.yml stops in its preflight, naming the variable, before any host changes.

As tests/integration/test_site_preflight.py: the controller itself (Debian 12, connection local) is
an all-in-one host with the lab's group_vars, in check mode; each case must fail in the play
"Preflight of the upgrade" and the upgrade's own play must never start.
"""
import pathlib

import pytest

from ansible_collections.medimg.pacs.tests.helpers.preflight import TIERS, local_inventory, run_playbook


@pytest.fixture()
def inventory(tmp_path):
    return local_inventory(tmp_path, {t: ["pacs1"] for t in TIERS})


def run_upgrade(inventory, extra):
    return run_playbook(inventory, "playbooks/upgrade.yml", extra)


@pytest.mark.integration
@pytest.mark.skipif(not pathlib.Path("/etc/debian_version").read_text().startswith("12")
                    if pathlib.Path("/etc/debian_version").exists() else True,
                    reason="the controller stands in for a Debian 12 host")
@pytest.mark.parametrize("extra, message", [
    # not the release the upgrade starts from (nor the one it goes to)
    ({"upgrade_from_codename": "bullseye", "upgrade_to_codename": "buster", "upgrade_accept_no_backup": True},
     "upgrade_from_codename"),
    # not enough disk for the packages (and the copy of the PostgreSQL cluster)
    ({"upgrade_min_free_mb": 1000000000, "upgrade_accept_no_backup": True}, "upgrade_min_free_mb 1000000000 needed"),
    ({"upgrade_postgresql_space_factor": 1000000000.0, "upgrade_min_free_mb": 100000000, "upgrade_accept_no_backup": True},
     "upgrade_postgresql_space_factor"),
    # no host in group backup and the risk not accepted
    ({}, "upgrade_accept_no_backup: true"),
    ({"upgrade_accept_no_backup": False}, "no host in group backup"),
])
def test_upgrade_refused_in_preflight(inventory, extra, message):
    result = run_upgrade(inventory, extra)
    out = result.stdout
    assert result.returncode != 0, out
    assert "PLAY [Preflight of the upgrade]" in out, out
    assert "PLAY [Upgrade the hosts one at a time]" not in out, out
    failure = out[out.index("PLAY [Preflight of the upgrade]"):]
    failure = " ".join(failure[failure.index("fatal: [pacs1]"):].split())
    assert message in failure, out
    assert "Traceback" not in out + result.stderr
