# -*- coding: utf-8 -*-
"""medimg.pacs.apt_suite_switch: only the suites change; the mirror, options and components stay."""
from __future__ import absolute_import, division, print_function

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.medimg.pacs.plugins.filter.apt_suite_switch import FilterModule


SWITCH = FilterModule().filters()['apt_suite_switch']

ONE_LINE = """# the site's mirror
deb http://mirror.example.internal/debian bookworm main contrib
deb [arch=amd64 signed-by=/usr/share/keyrings/bookworm-key.gpg] http://mirror.example.internal/debian bookworm-updates main
deb-src http://mirror.example.internal/debian-security bookworm-security main
deb http://mirror.example.internal/pg bookworm-pgdg main
# deb http://mirror.example.internal/debian bookworm main
deb http://mirror.example.internal/bookworm/debian stable main
"""

DEB822 = """Types: deb deb-src
URIs: http://mirror.example.internal/debian
Suites: bookworm bookworm-updates bookworm-backports
Components: main non-free-firmware
Signed-By: /usr/share/keyrings/debian-archive-bookworm-stable.gpg

Types: deb
URIs: http://mirror.example.internal/debian-security
Suites: bookworm-security
Components: main
"""


def test_one_line_format():
    new = SWITCH(ONE_LINE, 'bookworm', 'trixie')
    assert new.splitlines() == [
        "# the site's mirror",
        "deb http://mirror.example.internal/debian trixie main contrib",
        "deb [arch=amd64 signed-by=/usr/share/keyrings/bookworm-key.gpg] http://mirror.example.internal/debian trixie-updates main",
        "deb-src http://mirror.example.internal/debian-security trixie-security main",
        "deb http://mirror.example.internal/pg trixie-pgdg main",
        "# deb http://mirror.example.internal/debian bookworm main",
        # a URI that contains the codename is the mirror's business; the suite "stable" is not bookworm
        "deb http://mirror.example.internal/bookworm/debian stable main",
    ]
    assert new.endswith('\n')


def test_deb822_format():
    new = SWITCH(DEB822, 'bookworm', 'trixie')
    assert "Suites: trixie trixie-updates trixie-backports\n" in new
    assert "Suites: trixie-security\n" in new
    assert "URIs: http://mirror.example.internal/debian\n" in new
    assert "Signed-By: /usr/share/keyrings/debian-archive-bookworm-stable.gpg\n" in new


def test_idempotent_and_no_partial_words():
    once = SWITCH(DEB822 + ONE_LINE, 'bookworm', 'trixie')
    assert SWITCH(once, 'bookworm', 'trixie') == once
    assert SWITCH("deb http://m.example/d bookwormish main\n", 'bookworm', 'trixie') == "deb http://m.example/d bookwormish main\n"


@pytest.mark.parametrize('args', [('bookworm', 'trixie; rm'), ('', 'trixie'), (None, 'trixie')])
def test_bad_codenames_refused(args):
    with pytest.raises(AnsibleFilterError):
        SWITCH(ONE_LINE, *args)
