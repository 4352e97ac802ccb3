# -*- coding: utf-8 -*-
# Copyright: medimg.pacs maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Passwords of the accounts the collection creates: one strength rule, and salted scrypt hashes.

The rule (``password_problem``) is used by every role's preflight through the
``medimg.pacs.password_problems`` filter. The hashes are PHC strings of the standard library's
scrypt (``$scrypt$ln=15,r=8,p=1$<salt>$<hash>``, base64 without padding), each with its own
random salt; ``roles/nginx/files/medimg-frontdoor-auth`` verifies the same strings on the host.
Standard library only (Python 3.8+ targets).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import hmac
import os
import re

MIN_LENGTH = 12

# Refused whatever their length, compared case-insensitively; a password that is one of these
# with digits or punctuation added at either end is refused too ("Password123!").
DENY_LIST = (
    'admin', 'administrator', 'changeme', 'change-me', 'changeit', 'default', 'dicom', 'guest',
    'letmein', 'medimg', 'nginx', 'ohif', 'orthanc', 'pacs', 'passw0rd', 'password', 'postgres',
    'qwerty', 'root', 'secret', 'test', 'user', 'viewer', 'uploader', 'welcome', 'dcm4chee',
    'alicepassword', 'my_password', 'qwertyuiop', 'iloveyou', 'trustno1', 'abc123',
)
_DENY_WRAPPED = re.compile(r'^[\W\d_]*(?P<core>[a-z_\-]+?)[\W\d_]*$')
_REPEATED = re.compile(r'^(.{1,3})\1+$', re.DOTALL)
_SEQUENCES = ('0123456789', 'abcdefghijklmnopqrstuvwxyz', 'qwertyuiopasdfghjklzxcvbnm')

SCRYPT_LN = 15          # N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_MAXMEM = 64 * 1024 * 1024
SALT_BYTES = 16
_PHC = re.compile(r'^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$')


def password_problem(password, min_length=MIN_LENGTH, deny_list=()):
    """Why ``password`` is too weak, or '' when it passes the collection's rule."""
    if password is None:
        return 'is empty'
    text = str(password)
    if not text.strip():
        return 'is empty'
    if len(text) < min_length:
        return 'is shorter than %d characters' % min_length
    lowered = text.lower()
    denied = set(d.lower() for d in DENY_LIST) | set(str(d).lower() for d in deny_list or ())
    if lowered in denied:
        return 'is on the deny-list of well-known passwords'
    match = _DENY_WRAPPED.match(lowered)
    if match and match.group('core').strip('_-') in denied:
        return 'is a well-known password with digits or symbols added'
    if _REPEATED.match(lowered):
        return 'repeats a short pattern'
    steps = set(ord(b) - ord(a) for a, b in zip(lowered, lowered[1:]))
    if steps <= {1, -9, -25} or steps <= {-1, 9, 25}:
        return 'is a keyboard or alphabet sequence'
    for seq in _SEQUENCES:
        if lowered in seq or lowered in seq[::-1]:
            return 'is a keyboard or alphabet sequence'
    return ''


def _b64(data):
    return base64.b64encode(data).decode('ascii').rstrip('=')


def _unb64(text):
    return base64.b64decode(text + '=' * (-len(text) % 4))


def hash_password(password, salt=None):
    """A new PHC scrypt string for ``password`` (random salt unless one is given)."""
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    digest = hashlib.scrypt(password.encode('utf-8'), salt=salt, n=2 ** SCRYPT_LN, r=SCRYPT_R,
                            p=SCRYPT_P, maxmem=SCRYPT_MAXMEM, dklen=32)
    return '$scrypt$ln=%d,r=%d,p=%d$%s$%s' % (SCRYPT_LN, SCRYPT_R, SCRYPT_P, _b64(salt), _b64(digest))


def is_valid_hash(stored):
    return bool(_PHC.match(stored or ''))


def verify_password(password, stored):
    """True when ``password`` matches the PHC scrypt string ``stored`` (constant-time compare)."""
    match = _PHC.match(stored or '')
    if not match:
        return False
    ln, r, p = (int(match.group(i)) for i in (1, 2, 3))
    if not (10 <= ln <= 20 and 1 <= r <= 32 and 1 <= p <= 16):
        return False
    salt, expected = _unb64(match.group(4)), _unb64(match.group(5))
    digest = hashlib.scrypt(password.encode('utf-8'), salt=salt, n=2 ** ln, r=r, p=p,
                            maxmem=max(SCRYPT_MAXMEM, 256 * r * 2 ** ln), dklen=len(expected))
    return hmac.compare_digest(digest, expected)


def needs_rehash(stored):
    """True when ``stored`` uses other parameters than the current ones."""
    match = _PHC.match(stored or '')
    return not match or (int(match.group(1)), int(match.group(2)), int(match.group(3))) != (
        SCRYPT_LN, SCRYPT_R, SCRYPT_P)
