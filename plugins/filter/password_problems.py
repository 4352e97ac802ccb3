# -*- coding: utf-8 -*-
# Copyright: medimg.pacs maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: password_problems
short_description: Check passwords against the collection's one password rule
version_added: "0.2.0"
description:
  - Takes a mapping of labels (for example V(nginx_users[1] (alice))) to passwords and returns one
    message per password that breaks the rule every account of the collection follows, naming the
    label and the reason, never the password.
  - "The rule: at least O(min_length) characters, not on the built-in deny-list of well-known
    passwords (compared case-insensitively, also with digits or symbols added at either end), not a
    repeated short pattern or a keyboard sequence."
positional: _input
options:
  _input:
    description: Mapping of label to password.
    type: dict
    required: true
  min_length:
    description: Minimum length.
    type: int
    default: 12
  deny_list:
    description: Further refused passwords (case-insensitive).
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Refuse weak passwords, naming the variable
  ansible.builtin.assert:
    that: __problems | length == 0
    fail_msg: "{{ __problems | join('; ') }}"
    quiet: true
  vars:
    __problems: "{{ {'postgresql_users[0] (orthanc)': postgresql_users[0].password} | medimg.pacs.password_problems }}"
"""

RETURN = r"""
_value:
  description:
    - One message per weak password, for example C(nginx_users[0] (viewer) - password is shorter than 12 characters)
      (the filter separates label and reason with a colon).
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.collections import is_string
from ansible_collections.medimg.pacs.plugins.module_utils.passwords import MIN_LENGTH, password_problem


def password_problems(labelled, min_length=MIN_LENGTH, deny_list=None):
    if not isinstance(labelled, dict):
        raise AnsibleFilterError('password_problems expects a mapping of label to password')
    problems = []
    for label, password in labelled.items():
        if password is not None and not is_string(password):
            password = str(password)
        reason = password_problem(password, int(min_length), deny_list or ())
        if reason:
            problems.append('%s: password %s' % (label, reason))
    return problems


class FilterModule(object):
    def filters(self):
        return {'password_problems': password_problems}
