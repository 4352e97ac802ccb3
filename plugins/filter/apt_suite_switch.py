# -*- coding: utf-8 -*-
# Copyright: medimg.pacs maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: apt_suite_switch
short_description: Switch the suites of an APT source file from one release to another
version_added: "0.3.0"
description:
  - Takes the text of an APT source file, one-line format (C(sources.list), C(*.list)) or deb822
    (C(*.sources)), and returns it with the suite of every C(deb)/C(deb-src) line and every word of a
    C(Suites:) field that is O(from_codename) or O(from_codename) with a suffix
    (C(-updates), C(-security), C(-backports), C(-pgdg)...) renamed to O(to_codename).
  - URIs (the mirror the host already uses), options in brackets, components, keyrings and comments
    are not changed; so the text a host already uses is kept byte for byte apart from those words.
positional: _input
options:
  _input:
    description: The text of the source file.
    type: str
    required: true
  from_codename:
    description: The release to switch from, for example V(bookworm).
    type: str
    required: true
  to_codename:
    description: The release to switch to, for example V(trixie).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: The new text of a source file
  ansible.builtin.set_fact:
    __new: "{{ lookup('ansible.builtin.file', '/etc/apt/sources.list') | medimg.pacs.apt_suite_switch('bookworm', 'trixie') }}"
"""

RETURN = r"""
_value:
  description: The text with the suites switched (unchanged when no suite names O(from_codename)).
  type: str
"""

import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.collections import is_string

_CODENAME = re.compile(r'^[a-z][a-z0-9]*$')


def apt_suite_switch(text, from_codename, to_codename):
    for name, value in (('from_codename', from_codename), ('to_codename', to_codename)):
        if not is_string(value) or not _CODENAME.match(value):
            raise AnsibleFilterError('apt_suite_switch: %s must be a release codename, got %r' % (name, value))
    if not is_string(text):
        raise AnsibleFilterError('apt_suite_switch expects the text of a source file')
    word = re.escape(from_codename) + r'(?=-[A-Za-z0-9-]+(?:\s|$)|\s|$)'
    one_line = re.compile(r'^(\s*deb(?:-src)?\s+(?:\[[^\]]*\]\s+)?\S+\s+)' + word)
    suites = re.compile(r'^(\s*Suites:)(.*)$', re.IGNORECASE)
    in_suite = re.compile(r'(?<=\s)' + word)
    out = []
    for line in text.split('\n'):
        match = suites.match(line)
        if match:
            line = match.group(1) + in_suite.sub(to_codename, ' ' + match.group(2))[1:]
        else:
            line = one_line.sub(lambda m: m.group(1) + to_codename, line)
        out.append(line)
    return '\n'.join(out)


class FilterModule(object):
    def filters(self):
        return {'apt_suite_switch': apt_suite_switch}
