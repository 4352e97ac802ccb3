# -*- coding: utf-8 -*-
# Copyright: medimg.pacs maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""DICOM Application Entity title rules (DICOM PS3.5, Value Representation AE).

* A string of 16 bytes maximum (the padding, if any, counts).
* Leading and trailing spaces (20H) are not significant.
* A value consisting solely of spaces shall not be used.
* Characters: the Default Character Repertoire (ISO-IR 6, printable
  US-ASCII 20H..7EH) excluding the backslash (5CH) and all control
  characters (including CR, LF, TAB, ESC and DEL).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

AE_TITLE_MAX_LENGTH = 16


def normalize_ae_title(value):
    """Return the significant part of an AE title (leading/trailing spaces removed)."""
    if value is None:
        return None
    return str(value).strip(' ')


def ae_title_error(value, what='AE title'):
    """Check ``value`` against the AE VR rules.

    Returns ``None`` when ``value`` is a valid AE title, otherwise a
    human-readable error message naming ``what``.
    """
    if value is None:
        return '%s is required (1 to 16 characters)' % what
    if not isinstance(value, str):
        return '%s must be a string, got %s' % (what, type(value).__name__)
    if value == '':
        return '%s must not be empty (1 to 16 characters)' % what
    if len(value) > AE_TITLE_MAX_LENGTH:
        return ('%s %r is %d characters long; DICOM allows at most %d'
                % (what, value, len(value), AE_TITLE_MAX_LENGTH))
    for position, char in enumerate(value):
        code = ord(char)
        if char == '\\':
            return ('%s %r contains a backslash at position %d; the backslash is the DICOM '
                    'value delimiter and is not allowed' % (what, value, position + 1))
        if code < 0x20 or code == 0x7F:
            return ('%s %r contains a control character (0x%02X) at position %d; control '
                    'characters are not allowed' % (what, value, code, position + 1))
        if code > 0x7E:
            return ('%s %r contains the character %r at position %d which is outside the DICOM '
                    'default character repertoire (printable US-ASCII only)'
                    % (what, value, char, position + 1))
    if value.strip(' ') == '':
        return '%s must not consist only of spaces' % what
    return None


def is_valid_ae_title(value):
    """Return True when ``value`` is a valid AE title."""
    return ae_title_error(value) is None
