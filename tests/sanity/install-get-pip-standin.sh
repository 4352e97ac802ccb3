#!/usr/bin/env bash
# Install tests/sanity/get_pip_offline.py as the cached get-pip bootstrap script of ansible-test
# (~/.ansible/test/cache/get_pip_<version with _>.py) for every pip version that the installed
# ansible-test pins, so `ansible-test sanity|units --local --requirements` never downloads get-pip.
#
# Usage: tests/sanity/install-get-pip-standin.sh [PYTHON]   (PYTHON: the one that has ansible-test)
set -euo pipefail

python="${1:-python3}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
standin="${here}/get_pip_offline.py"
cache="${HOME}/.ansible/test/cache"

requirements_py="$("${python}" -c 'import os, ansible_test; print(os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py"))')"
if [ ! -f "${requirements_py}" ]; then
    echo "ansible-test not found for ${python}" >&2
    exit 1
fi

# every "pip='X.Y'" pin (the default and per-Python overrides)
versions="$(grep -oE "pip='[0-9][0-9.]*'" "${requirements_py}" | sed -E "s/pip='([0-9.]+)'/\1/" | sort -u)"
if [ -z "${versions}" ]; then
    echo "could not find the pip version pinned by ${requirements_py}" >&2
    exit 1
fi

mkdir -p "${cache}"
for version in ${versions}; do
    target="${cache}/get_pip_${version//./_}.py"
    install -m 0644 "${standin}" "${target}"
    echo "installed ${target}"
done
