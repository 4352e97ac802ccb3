#!/usr/bin/env python
# -*- coding: utf-8 -*-
"""Offline stand-in for the get-pip.py bootstrap script that ansible-test downloads.

ansible-test creates its per-test virtual environments without pip and then runs
``~/.ansible/test/cache/get_pip_<version>.py`` (via its quiet_pip.py wrapper) with
pip-style arguments, e.g.::

    --disable-pip-version-check pip==24.2 --no-setuptools --no-wheel

The real script is fetched from a host this environment cannot reach. This
stand-in gives the same result with what Python ships: ``ensurepip`` installs the
bundled pip, then ``pip install`` installs the requested packages (the pinned pip)
from the configured package index. ``--no-setuptools``/``--no-wheel`` (get-pip
only options) are dropped and the system CA bundle is passed when present.

Install it with tests/sanity/install-get-pip-standin.sh.
"""

from __future__ import absolute_import, division, print_function

import os
import subprocess
import sys

GET_PIP_ONLY_OPTIONS = ('--no-setuptools', '--no-wheel', '--no-pip')
CA_BUNDLES = ('/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt')


def main(argv):
    args = [arg for arg in argv if arg not in GET_PIP_ONLY_OPTIONS]
    env = dict(os.environ)
    env.pop('GET_PIP', None)
    subprocess.check_call([sys.executable, '-m', 'ensurepip', '--default-pip'], env=env)
    command = [sys.executable, '-m', 'pip', 'install']
    ca_bundle = os.environ.get('PIP_CERT') or next((path for path in CA_BUNDLES if os.path.exists(path)), None)
    if ca_bundle and '--cert' not in args:
        command += ['--cert', ca_bundle]
    command += args
    packages = [arg for arg in args if not arg.startswith('-')]
    if not packages:
        return 0
    return subprocess.call(command, env=env)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
