# -*- coding: utf-8 -*-
"""medimg.pacs.password_problems: names the variable and the reason, never the password."""
from __future__ import absolute_import, division, print_function

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.medimg.pacs.plugins.filter.password_problems import FilterModule


FILTER = FilterModule().filters()['password_problems']


def test_messages_name_the_variable_not_the_password():
    problems = FILTER({'nginx_users[0] (viewer)': 'changeme', 'nginx_users[1] (bob)': 'F8iIoMKEZkCNrHIXlqkAfjL9',
                       'postgresql_users[0] (orthanc)': ''})
    assert len(problems) == 2
    assert any(p.startswith('nginx_users[0] (viewer): password ') for p in problems)
    assert any(p.startswith('postgresql_users[0] (orthanc): password is empty') for p in problems)
    assert not any('changeme' in p for p in problems)


def test_numbers_are_checked_as_text_and_options_apply():
    assert FILTER({'x': 123456789012345})
    assert FILTER({'x': 'Radiology-Night-Shift-7'}, deny_list=['radiology-night-shift-7'])
    assert not FILTER({'x': 'abcd-xyz9'}, min_length=8)


def test_input_must_be_a_mapping():
    with pytest.raises(AnsibleFilterError):
        FILTER(['not', 'a', 'mapping'])
