# -*- coding: utf-8 -*-
"""controller_requirements as a real subprocess against collection trees made in tmp_path."""
from __future__ import absolute_import, division, print_function

import json

import pytest

from ansible_collections.medimg.pacs.plugins.modules.controller_requirements import meets


def _collection(root, namespace, name, version, manifest=True, dependencies=None):
    path = root / 'ansible_collections' / namespace / name
    path.mkdir(parents=True)
    info = {'namespace': namespace, 'name': name, 'version': version, 'dependencies': dependencies or {}}
    if manifest:
        (path / 'MANIFEST.json').write_text(json.dumps({'collection_info': info}))
    else:
        (path / 'galaxy.yml').write_text(json.dumps(info))  # JSON is YAML
    return path


@pytest.fixture
def tree(tmp_path):
    """This collection (a checkout: galaxy.yml) needing two others; one path with them installed."""
    own = _collection(tmp_path / 'src', 'medimg', 'pacs', '0.2.0', manifest=False,
                      dependencies={'community.postgresql': '>=3.0.0', 'ansible.posix': '>=1.5.0,<3.0.0'})
    (own / 'meta').mkdir()
    (own / 'meta' / 'runtime.yml').write_text('requires_ansible: ">=2.15.0"\n')
    installed = tmp_path / 'installed'
    _collection(installed, 'community', 'postgresql', '4.1.0')
    _collection(installed, 'ansible', 'posix', '2.1.0')
    return own, installed


@pytest.mark.parametrize('version,requirement,expected', [
    ('3.0.0', '>=3.0.0', True),
    ('2.4.0', '>=3.0.0', False),
    ('2.1.0', '>=1.5.0,<3.0.0', True),
    ('3.0.0', '>=1.5.0,<3.0.0', False),
    ('1.0.1', '!=1.0.1', False),
    ('1.2.3', '1.2.3', True),
    ('1.2.4', '1.2.3', False),
    ('9.9.9', '*', True),
    ('2.19.14', '>=2.15.0', True),
    ('2.14.1', '>=2.15.0', False),
    ('not-a-version', '>=1.0.0', False),
])
def test_meets(version, requirement, expected):
    assert meets(version, requirement) is expected


def test_everything_there(run_module, tree):
    own, installed = tree
    result, _out, _err = run_module('controller_requirements', dict(
        collection_root=str(own), collection_paths=[str(installed)], scan_sys_path=False,
        ansible_core_version='2.19.14', python_libraries=[{'module': 'json'}]))
    assert result.get('failed') is not True, result
    assert result['changed'] is False and result['problems'] == []
    assert {c['name']: c['found'] for c in result['collections']} == {
        'community.postgresql': '4.1.0', 'ansible.posix': '2.1.0'}


def test_every_problem_named_with_its_install_command(assert_clean_failure, run_module, tree, tmp_path):
    own = tree[0]
    old = tmp_path / 'old'
    _collection(old, 'community', 'postgresql', '2.4.0')
    result, out, err = run_module('controller_requirements', dict(
        # the first path wins, as for Ansible: the old community.postgresql shadows the newer one
        collection_root=str(own), collection_paths=[str(old), str(tmp_path / 'empty')], scan_sys_path=False,
        ansible_core_version='2.14.1',
        python_libraries=[{'module': 'no_such_module_medimg', 'package': 'no-such-package', 'why': 'a test'}]))
    assert_clean_failure(result, out, err, 'lacks what medimg.pacs needs')
    msg = result['msg']
    assert '-m pip install no-such-package' in msg
    assert "community.postgresql >=3.0.0 (found 2.4.0 in %s" % old in msg
    assert 'ansible.posix >=1.5.0,<3.0.0 (not installed)' in msg
    assert "ansible-galaxy collection install 'ansible.posix:>=1.5.0,<3.0.0' 'community.postgresql:>=3.0.0'" in msg
    assert 'ansible-core 2.14.1 does not meet requires_ansible >=2.15.0' in msg
    assert 'Nothing has been changed on any host' in msg
    assert 'passlib' not in msg
    assert result['missing_libraries'] == ['no-such-package']


def test_installed_collection_reads_its_manifest(run_module, tmp_path):
    own = _collection(tmp_path / 'site', 'medimg', 'pacs', '0.2.0', dependencies={'community.crypto': '>=2.10.0'})
    paths = tmp_path / 'paths'
    _collection(paths, 'community', 'crypto', '2.26.0')
    result, _out, _err = run_module('controller_requirements', dict(
        collection_root=str(own), collection_paths=[str(paths)], scan_sys_path=False), check_mode=True)
    assert result.get('failed') is not True, result
    assert result['collections'][0]['ok'] is True
    assert result['ansible_core'] == {'version': None, 'requires': None, 'ok': True}


def test_collection_root_must_exist(assert_clean_failure, run_module, tmp_path):
    result, out, err = run_module('controller_requirements', dict(collection_root=str(tmp_path / 'nowhere')))
    assert_clean_failure(result, out, err, 'is not a directory')
