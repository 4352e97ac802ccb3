# -*- coding: utf-8 -*-
"""The collection's one password rule and its salted scrypt hashes."""
from __future__ import absolute_import, division, print_function

import pytest

from ansible_collections.medimg.pacs.plugins.module_utils.passwords import (
    hash_password,
    is_valid_hash,
    needs_rehash,
    password_problem,
    verify_password,
)


@pytest.mark.parametrize('password,reason', [
    ('', 'empty'),
    ('   ', 'empty'),
    (None, 'empty'),
    ('Sh0rt-pass', 'shorter than 12'),
    ('administrator', 'deny-list'),
    ('ADMINISTRATOR', 'deny-list'),          # compared case-insensitively
    ('Password123!', 'digits or symbols added'),
    ('!!orthanc2024', 'digits or symbols added'),
    ('abcabcabcabc', 'repeats'),
    ('aaaaaaaaaaaaaaaa', 'repeats'),
    ('123456789012', 'sequence'),
    ('987654321098', 'sequence'),
    ('qwertyuiopas', 'sequence'),
    ('abcdefghijklm', 'sequence'),
])
def test_weak_passwords_are_refused(password, reason):
    assert reason in password_problem(password)


@pytest.mark.parametrize('password', [
    'F8iIoMKEZkCNrHIXlqkAfjL9', 'correct horse battery staple', 'Radiology-Night-Shift-7', 'x' * 3 + 'y9-Tz%Lm2#Qw',
])
def test_strong_passwords_pass(password):
    assert password_problem(password) == ''


def test_extra_deny_list_and_length():
    assert 'deny-list' in password_problem('Hospital-Name', deny_list=['hospital-name'])
    assert password_problem('abcd-xyz9', min_length=8) == ''


def test_hash_has_random_salt_and_verifies():
    first, second = hash_password('a long enough secret'), hash_password('a long enough secret')
    assert first != second                      # a new random salt each time
    assert first.startswith('$scrypt$ln=15,r=8,p=1$') and is_valid_hash(first)
    assert verify_password('a long enough secret', first)
    assert verify_password('a long enough secret', second)
    assert not verify_password('a long enough secreT', first)
    assert not needs_rehash(first)


def test_garbage_hashes_never_verify():
    for stored in ('', 'plain', '$scrypt$ln=99,r=8,p=1$AAAA$AAAA', '$6$salt$hash', None):
        assert not verify_password('anything at all', stored)
    assert needs_rehash('$scrypt$ln=14,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAA')
