# -*- coding: utf-8 -*-
"""Preflight runs against the controller itself, for the preflight tests of every tier.

The controller plays the inventory's hosts (connection local, this Python) with the lab's
group_vars, and the playbook runs in check mode, so even a check that wrongly passed changes
nothing here.
"""
from __future__ import absolute_import, division, print_function

import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
# the tier groups of the lab's all-in-one host
TIERS = ["postgresql", "orthanc", "ohif", "nginx"]


def local_inventory(tmp_path, groups, host_vars=None):
    """An inventory in tmp_path/inventory: ``groups`` maps a group to its hosts, every host
    connects locally, ``host_vars`` adds variables per host; group_vars are the lab's."""
    inv = tmp_path / "inventory"
    inv.mkdir()
    children = {group: {"hosts": {host: None for host in hosts}} for group, hosts in groups.items()}
    (inv / "hosts.yml").write_text(json.dumps({"all": {"children": children}}))
    (inv / "host_vars").mkdir()
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    for host in sorted({host for hosts in groups.values() for host in hosts}):
        (inv / "host_vars" / ("%s.yml" % host)).write_text(json.dumps(dict(local, **(host_vars or {}).get(host, {}))))
    os.symlink(ROOT / "inventories" / "lab" / "group_vars", inv / "group_vars")
    return inv


def run_playbook(inventory, playbook, extra=None):
    """``ansible-playbook -i <inventory> <playbook> --check``, from the checkout, with ``extra`` as
    extra variables (a JSON file beside the inventory directory, not in it)."""
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    exe = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    args = [exe, "-i", str(inventory), playbook, "--check"]
    if extra:
        extra_file = inventory.parent / "extra.json"
        extra_file.write_text(json.dumps(extra))
        args += ["-e", "@%s" % extra_file]
    return subprocess.run(args, cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=300, check=False)


def assert_refused(result, variable):
    """The run failed, and the failure message itself (from the first failed task on) names
    ``variable``, uncensored, with no traceback. The YAML callback folds long messages and doubles
    the quotes of single-quoted strings: both are undone before looking for ``variable``."""
    out = result.stdout
    assert result.returncode != 0, out
    failure = out[out.index("FAILED!") if "FAILED!" in out else out.index("failed: ["):]
    failure = " ".join(failure.replace("''", "'").split())
    assert variable in failure, out
    assert "censored" not in failure, out
    assert "Traceback" not in out + result.stderr
