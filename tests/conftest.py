# -*- coding: utf-8 -*-
"""Which tests may run side by side (``make pytest`` runs pytest-xdist with ``--dist loadgroup``).

Tests that start lab hosts or services share names (containers, networks, molecule's state
directory of a scenario) only within their group, so a group runs on one worker, one test after
the other, and different groups run at the same time:

- every run of one molecule scenario (all its releases): ``molecule-<scenario>``;
- tests/integration/test_dcm4chee.py (its own lab containers): ``dcm4chee-it``;
- each file of preflight tests (site, backup, monitoring, upgrade: ansible-playbook in check mode
  against the controller, in a temporary inventory of its own): ``preflight-<tier>``;
- everything else, as before: ``serial``.

The groups are handed to the workers longest first (``make pytest`` passes
``--no-loadscope-reorder`` so this order holds): the two multisite runs, the three viewer runs, the
Debian 12 -> 13 upgrade, the serial tests, backup and restore, the DCM4CHEE tests, the default runs,
monitoring, molecule dcm4chee, the preflight files. A group not named here comes last.
"""
from __future__ import absolute_import, division, print_function

import os

import pytest

_OWN_GROUP = {"test_dcm4chee.py": "dcm4chee-it",
              # preflight runs in check mode against the controller, each test in its own inventory
              "test_site_preflight.py": "preflight-site", "test_backup_preflight.py": "preflight-backup",
              "test_monitoring_preflight.py": "preflight-monitoring",
              "test_upgrade_preflight.py": "preflight-upgrade"}
_LONGEST_FIRST = ["molecule-multisite", "molecule-viewer", "molecule-upgrade", "serial", "molecule-backup",
                  "dcm4chee-it", "molecule-default", "molecule-monitoring", "molecule-dcm4chee", "preflight-site",
                  "preflight-backup", "preflight-monitoring", "preflight-upgrade"]


def _group(item):
    name = os.path.basename(str(item.fspath))
    if name == "test_molecule.py" and hasattr(item, "callspec"):
        return "molecule-%s" % item.callspec.params.get("scenario", "?")
    return _OWN_GROUP.get(name, "serial")


# tryfirst: xdist reads the marks in its own pytest_collection_modifyitems (the worker's, which
# pluggy would otherwise call before this conftest's), so they must be there by then.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        item.add_marker(pytest.mark.xdist_group(_group(item)))
    rank = {group: i for i, group in enumerate(_LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(_group(item), len(rank)))
