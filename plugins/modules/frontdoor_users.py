#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: medimg.pacs maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: frontdoor_users
short_description: Manage the user file of the medimg.pacs front door (salted scrypt hashes and roles)
version_added: "0.2.0"
description:
  - Writes the JSON user file that the front door's authentication service
    (C(medimg-frontdoor-auth), installed by the C(medimg.pacs.nginx) role) reads. For each user it holds a role
    and a PHC scrypt hash of the password with its own random salt.
  - Idempotent. A user's stored hash is kept as long as the given password still verifies against it,
    so a second run changes nothing; a new password gets a new random salt. The file is the complete
    list of users (users it does not list are removed).
  - Supports check mode and diff mode. The diff shows user names and roles only, never a hash.
  - Standard library only on the target (C(hashlib.scrypt), OpenSSL 1.1 or later).
author:
  - medimg.pacs maintainers (@medimg)
options:
  path:
    description: The user file.
    type: path
    required: true
  users:
    description: Every user of the front door.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Login name (no C(:), no white space).
        type: str
        required: true
      password:
        description: Password (checked against the collection's password rule by the role's preflight).
        type: str
        required: true
      role:
        description: Role name, one of O(roles).
        type: str
        required: true
  roles:
    description: The role names a user may have.
    type: list
    elements: str
    default: [viewer, uploader, admin]
  owner:
    description: Owner of the file.
    type: str
    default: root
  group:
    description: Group of the file (the authentication service's group).
    type: str
    default: root
  mode:
    description: Mode of the file.
    type: raw
    default: "0640"
notes:
  - Hashing costs about 50 ms and 32 MiB per new or changed password on the target.
seealso:
  - name: The front door
    description: docs/viewer.md in the collection explains the login design.
    link: https://github.com/medimg/pacs/blob/main/docs/viewer.md
"""

EXAMPLES = r"""
- name: Front-door users
  medimg.pacs.frontdoor_users:
    path: /etc/medimg/frontdoor/users.json
    group: medimg-frontdoor
    users:
      - {name: alice, password: "{{ vault_alice_password }}", role: viewer}
      - {name: pacs-admin, password: "{{ vault_admin_password }}", role: admin}
"""

RETURN = r"""
users:
  description: The users in the file after the run, with their roles.
  returned: always
  type: list
  elements: dict
  sample: [{name: alice, role: viewer}]
added:
  description: Users added.
  returned: always
  type: list
  elements: str
removed:
  description: Users removed.
  returned: always
  type: list
  elements: str
updated:
  description: Users whose password or role changed.
  returned: always
  type: list
  elements: str
"""

import json
import os
import re
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible_collections.medimg.pacs.plugins.module_utils.passwords import (
    hash_password,
    is_valid_hash,
    needs_rehash,
    verify_password,
)

_NAME = re.compile(r'^[^:\s]{1,64}$')
FORMAT = 'medimg-frontdoor-users/1'


def read_users(path):
    """The users of an existing file ({name: {role, hash}}), {} when there is none."""
    if not os.path.exists(path):
        return {}
    with open(path) as handle:
        data = json.load(handle)
    users = data.get('users') if isinstance(data, dict) else None
    if not isinstance(users, dict):
        raise ValueError('%s is not a front-door user file (no "users" mapping)' % path)
    return dict((name, entry) for name, entry in users.items()
                if isinstance(entry, dict) and is_valid_hash(entry.get('hash')))


def plan(current, wanted):
    """New content and the names added/updated/removed."""
    result, added, updated = {}, [], []
    for user in wanted:
        name, role, password = user['name'], user['role'], user['password']
        old = current.get(name)
        if old and verify_password(password, old['hash']) and not needs_rehash(old['hash']):
            result[name] = {'role': role, 'hash': old['hash']}
            if old.get('role') != role:
                updated.append(name)
        else:
            result[name] = {'role': role, 'hash': hash_password(password)}
            (updated if old else added).append(name)
    removed = sorted(set(current) - set(result))
    return result, added, updated, removed


def render(users):
    return json.dumps({'format': FORMAT, 'users': users}, indent=2, sort_keys=True) + '\n'


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            users=dict(type='list', elements='dict', required=True, options=dict(
                name=dict(type='str', required=True),
                password=dict(type='str', required=True, no_log=True),
                role=dict(type='str', required=True),
            )),
            roles=dict(type='list', elements='str', default=['viewer', 'uploader', 'admin']),
            owner=dict(type='str', default='root'),
            group=dict(type='str', default='root'),
            mode=dict(type='raw', default='0640'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    names = [u['name'] for u in params['users']]
    bad = [n for n in names if not _NAME.match(n)]
    if bad:
        module.fail_json(msg='users: invalid name(s) %s (1 to 64 characters, no ":" or white space)' % ', '.join(bad))
    dupes = sorted(set(n for n in names if names.count(n) > 1))
    if dupes:
        module.fail_json(msg='users: duplicate name(s) %s' % ', '.join(dupes))
    unknown = sorted(set(u['role'] for u in params['users']) - set(params['roles']))
    if unknown:
        module.fail_json(msg='users: unknown role(s) %s (roles: %s)' % (', '.join(unknown), ', '.join(params['roles'])))

    path = params['path']
    try:
        current = read_users(path)
    except (OSError, ValueError) as exc:
        module.fail_json(msg='cannot read %s: %s' % (path, to_native(exc)))
    try:
        users, added, updated, removed = plan(current, params['users'])
    except (ValueError, MemoryError) as exc:
        module.fail_json(msg='cannot hash the passwords on this host (hashlib.scrypt needs OpenSSL 1.1+): %s'
                         % to_native(exc))
    changed = bool(added or updated or removed) or not os.path.exists(path)
    summary = [{'name': n, 'role': users[n]['role']} for n in sorted(users)]
    result = dict(changed=changed, users=summary, added=added, updated=updated, removed=removed)
    if module._diff:
        result['diff'] = dict(
            before=''.join('%s: %s\n' % (n, current[n].get('role')) for n in sorted(current)),
            after=''.join('%s: %s%s\n' % (n, users[n]['role'], ' (new password)' if n in updated and n in current
                                          and users[n]['hash'] != current[n]['hash'] else '')
                          for n in sorted(users)),
            before_header=path, after_header=path)

    if changed and not module.check_mode:
        directory = os.path.dirname(path) or '.'
        fd, tmp = tempfile.mkstemp(dir=directory, prefix='.users-')
        try:
            with os.fdopen(fd, 'w') as handle:
                handle.write(render(users))
            module.atomic_move(tmp, path)
        except (OSError, IOError) as exc:
            if os.path.exists(tmp):
                os.unlink(tmp)
            module.fail_json(msg='cannot write %s: %s' % (path, to_native(exc)))
    file_args = module.load_file_common_arguments(dict(path=path, owner=params['owner'], group=params['group'],
                                                       mode=params['mode']))
    if os.path.exists(path):
        result['changed'] = module.set_fs_attributes_if_different(file_args, result['changed'])
    module.exit_json(**result)


if __name__ == '__main__':
    main()
