# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

import pytest

from ansible_collections.medimg.pacs.plugins.module_utils.ae_title import (
    ae_title_error,
    is_valid_ae_title,
    normalize_ae_title,
)

VALID = [
    'ORTHANC',
    'A',
    'DCM4CHEE_ADMIN',
    '1234567890123456',          # exactly 16
    'MY AE',                     # inner space is allowed
    ' PADDED ',                  # leading/trailing spaces are not significant
    'STORESCP ',
    'a-b.c_d!#$%&()*+',          # printable ASCII punctuation
    '~`{}|:;<>?,./"\'=',
]

INVALID = [
    (None, 'required'),
    ('', 'empty'),
    ('   ', 'only of spaces'),
    ('12345678901234567', 'at most 16'),
    ('ORT\\HANC', 'backslash'),
    ('ORT\nHANC', 'control character'),
    ('ORT\tHANC', 'control character'),
    ('ORT\rHANC', 'control character'),
    ('\x1bESC', 'control character'),
    ('DEL\x7f', 'control character'),
    ('ÄRZTE', 'default character repertoire'),
    ('日本', 'default character repertoire'),
    (42, 'must be a string'),
]


@pytest.mark.parametrize('value', VALID)
def test_valid_ae_titles(value):
    assert ae_title_error(value) is None
    assert is_valid_ae_title(value)


@pytest.mark.parametrize('value,fragment', INVALID)
def test_invalid_ae_titles(value, fragment):
    error = ae_title_error(value, 'called_aet')
    assert error is not None
    assert fragment in error
    assert 'called_aet' in error
    assert not is_valid_ae_title(value)


def test_normalize_strips_only_spaces():
    assert normalize_ae_title('  ORTHANC ') == 'ORTHANC'
    assert normalize_ae_title(None) is None
