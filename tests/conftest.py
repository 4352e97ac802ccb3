# -*- coding: utf-8 -*-
"""Which tests may run side by side (``make pytest`` runs pytest-xdist with ``--dist loadgroup``).

Tests that start lab hosts or services share names (containers, networks, molecule's state
directory of a scenario) only within their group, so a group runs on one worker, one test after
the other, and different groups run at the same time:

- every run of one molecule scenario (all its releases): ``molecule-<scenario>``;
- tests/integration/test_dcm4chee.py (its own lab containers): ``dcm4chee-it``;
- everything else, as before: ``serial``.
"""
from __future__ import absolute_import, division, print_function

import os

import pytest

_OWN_GROUP = {"test_dcm4chee.py": "dcm4chee-it"}


def _group(item):
    name = os.path.basename(str(item.fspath))
    if name == "test_molecule.py" and hasattr(item, "callspec"):
        return "molecule-%s" % item.callspec.params.get("scenario", "?")
    return _OWN_GROUP.get(name, "serial")


def pytest_collection_modifyitems(config, items):
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        item.add_marker(pytest.mark.xdist_group(_group(item)))
