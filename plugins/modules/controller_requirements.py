#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: medimg.pacs maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: controller_requirements
short_description: Check that the Ansible controller has what medimg.pacs needs
version_added: "0.2.0"
description:
  - Checks, without changing anything, the Python libraries, the Ansible collections (and their
    versions) and the ansible-core version that the collection needs on the controller, and fails
    with one message that names everything missing and the command that installs it.
  - Meant to run on the controller itself, with the Python that runs Ansible
    (C(delegate_to=localhost), C(ansible_python_interpreter={{ ansible_playbook_python }})), first
    in a play, before any host is changed. C(playbooks/preflight.yml) of this collection does that.
  - The collections are looked for the way Ansible finds them (O(collection_paths) in order, then
    the Python path when O(scan_sys_path)); the wanted versions come from the collection's own
    C(MANIFEST.json) (installed collection) or C(galaxy.yml) (a checkout) under O(collection_root).
author:
  - medimg.pacs maintainers (@medimg)
options:
  collection_root:
    description: Directory of this collection (holds C(MANIFEST.json) or C(galaxy.yml), and C(meta/runtime.yml)).
    type: path
    required: true
  collection_paths:
    description: Directories that hold C(ansible_collections/), in Ansible's search order.
    type: list
    elements: path
    default: []
  scan_sys_path:
    description: Also look for collections on the Python path (Ansible's C(COLLECTIONS_SCAN_SYS_PATH)).
    type: bool
    default: true
  ansible_core_version:
    description:
      - The controller's ansible-core version (C({{ ansible_version.full }})), checked against the
        collection's C(requires_ansible). A module cannot import the controller's own C(ansible) package.
    type: str
  python_libraries:
    description: Python modules the controller must be able to import, and the package that brings each.
    type: list
    elements: dict
    default: []
    suboptions:
      module:
        description: Name to import.
        type: str
        required: true
      package:
        description: Package to install with pip (defaults to O(python_libraries[].module)).
        type: str
      why:
        description: What needs it (shown in the message).
        type: str
attributes:
  check_mode:
    support: full
    description: Only reads; runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing is changed.
notes:
  - passlib is not needed by this collection (the front door hashes with scrypt from the standard library).
"""

EXAMPLES = r"""
- name: Check the controller before any host is changed
  medimg.pacs.controller_requirements:
    collection_root: "{{ playbook_dir | dirname }}"
    collection_paths: "{{ lookup('ansible.builtin.config', 'COLLECTIONS_PATHS') }}"
    ansible_core_version: "{{ ansible_version.full }}"
    python_libraries:
      - module: pynetdicom
        why: the health gate's C-ECHO (medimg.pacs.dicom_echo)
  delegate_to: localhost
  run_once: true
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
"""

RETURN = r"""
problems:
  description: Everything missing, one sentence each with the command that installs it (empty when all is there).
  returned: always
  type: list
  elements: str
missing_libraries:
  description: Packages of the Python libraries that could not be imported.
  returned: always
  type: list
  elements: str
collections:
  description: Each collection this one depends on, with what was wanted and what was found.
  returned: always
  type: list
  elements: dict
  sample:
    - name: community.postgresql
      wanted: ">=3.0.0"
      found: "4.1.0"
      path: /usr/lib/python3/dist-packages/ansible_collections/community/postgresql
      ok: true
ansible_core:
  description: The ansible-core version of the controller and the range the collection requires.
  returned: always
  type: dict
  sample: {"version": "2.19.14", "requires": ">=2.15.0", "ok": true}
"""

import importlib
import json
import os
import sys

from ansible.module_utils.basic import AnsibleModule

try:
    import yaml
    HAS_YAML = True
except ImportError:  # pragma: no cover - ansible-core depends on PyYAML
    HAS_YAML = False

try:  # ansible-core depends on packaging: the controller's Python has it
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import InvalidVersion, Version
    HAS_PACKAGING = True
except ImportError:  # pragma: no cover
    HAS_PACKAGING = False


def _load(path):
    """A JSON or YAML document, or None when the file does not exist."""
    if not os.path.isfile(path):
        return None
    with open(path) as handle:
        if path.endswith('.json'):
            return json.load(handle)
        return yaml.safe_load(handle)


def _collection_info(directory):
    """collection_info of an installed collection (MANIFEST.json) or of a checkout (galaxy.yml)."""
    manifest = _load(os.path.join(directory, 'MANIFEST.json'))
    if manifest:
        return manifest.get('collection_info') or {}
    return _load(os.path.join(directory, 'galaxy.yml')) or {}


def meets(version, requirement):
    """Whether a version meets a Galaxy requirement (``*``, ``1.2.3``, ``>=2.0.0,<3.0.0``, ``!=1.0.1``)."""
    requirement = (requirement or '*').strip()
    if requirement == '*' or version in (None, '*'):
        return True
    if not HAS_PACKAGING:  # pragma: no cover - cannot tell; do not block a run on it
        return True
    specifiers = ','.join(part.strip() if part.strip()[:1] in '<>=!' else '==' + part.strip()
                          for part in requirement.split(','))
    try:
        return SpecifierSet(specifiers).contains(Version(version).base_version, prereleases=True)
    except (InvalidSpecifier, InvalidVersion):
        return False


def missing_libraries(libraries):
    missing = []
    for lib in libraries:
        try:
            importlib.import_module(lib['module'])
        except ImportError:
            missing.append(lib.get('package') or lib['module'])
    return missing


def check_collections(wanted, paths):
    results = []
    for fqcn, requirement in sorted(wanted.items()):
        namespace, name = fqcn.split('.', 1)
        found = [os.path.join(p, 'ansible_collections', namespace, name) for p in paths]
        found = [d for d in found if os.path.isdir(d)]
        entry = {'name': fqcn, 'wanted': str(requirement), 'found': None, 'path': None, 'ok': False}
        if found:
            version = str(_collection_info(found[0]).get('version') or '*')
            entry.update(found=version, path=found[0],
                         ok=meets(version, str(requirement)))
        results.append(entry)
    return results


def check_ansible_core(version, requires):
    return {'version': version, 'requires': requires,
            'ok': not (version and requires) or meets(version, requires)}


def describe(missing, collections, core, python):
    problems = []
    if missing:
        problems.append('Python libraries %s: install them with `%s -m pip install %s`'
                        % (', '.join(missing), python, ' '.join(missing)))
    bad = [c for c in collections if not c['ok']]
    if bad:
        problems.append(
            'collections %s: install them with `ansible-galaxy collection install %s`'
            ' (the ansible package from PyPI, `%s -m pip install ansible`, carries them too)'
            % ('; '.join('%s %s (%s)' % (c['name'], c['wanted'],
                                         'found %s in %s' % (c['found'], c['path']) if c['found'] else 'not installed')
                         for c in bad),
               ' '.join("'%s:%s'" % (c['name'], c['wanted']) for c in bad), python))
    if not core['ok']:
        problems.append("ansible-core %s does not meet requires_ansible %s (meta/runtime.yml): install it with"
                        " `%s -m pip install 'ansible-core%s'`"
                        % (core['version'], core['requires'], python, core['requires']))
    return problems


def main():
    module = AnsibleModule(
        argument_spec=dict(
            collection_root=dict(type='path', required=True),
            collection_paths=dict(type='list', elements='path', default=[]),
            scan_sys_path=dict(type='bool', default=True),
            ansible_core_version=dict(type='str'),
            python_libraries=dict(type='list', elements='dict', default=[], options=dict(
                module=dict(type='str', required=True),
                package=dict(type='str'),
                why=dict(type='str'),
            )),
        ),
        supports_check_mode=True,
    )
    if not HAS_YAML:  # pragma: no cover
        module.fail_json(msg='PyYAML is needed to read galaxy.yml (it comes with ansible-core)')
    params = module.params
    root = params['collection_root']
    if not os.path.isdir(root):
        module.fail_json(msg='collection_root %s is not a directory' % root)

    paths = list(params['collection_paths'])
    if params['scan_sys_path']:
        paths += [p for p in sys.path if os.path.isdir(os.path.join(p, 'ansible_collections'))]
    try:
        wanted = _collection_info(root).get('dependencies') or {}
        requires = (_load(os.path.join(root, 'meta', 'runtime.yml')) or {}).get('requires_ansible')
    except (OSError, ValueError, yaml.YAMLError) as exc:
        module.fail_json(msg='cannot read the collection metadata under %s: %s' % (root, exc))

    missing = missing_libraries(params['python_libraries'])
    collections = check_collections(wanted, paths)
    core = check_ansible_core(params['ansible_core_version'], requires)
    problems = describe(missing, collections, core, sys.executable)
    result = dict(changed=False, problems=problems, missing_libraries=missing, collections=collections,
                  ansible_core=core)
    if problems:
        needed_by = ['%s for %s' % (lib.get('package') or lib['module'], lib['why'])
                     for lib in params['python_libraries']
                     if lib.get('why') and (lib.get('package') or lib['module']) in missing]
        module.fail_json(
            msg='The controller (%s) lacks what medimg.pacs needs: %s.%s Nothing has been changed on any host.'
                ' See README.md, "Using it on your servers".'
                % (sys.executable, '; '.join(problems),
                   (' Needed: %s.' % ', '.join(needed_by)) if needed_by else ''),
            **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
