# medimg.pacs: the two commands a new user needs are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      ?= .venv
PY        := $(CURDIR)/$(VENV)/bin/python
INVENTORY ?= inventories/lab
# the lab images the test matrix needs (molecule/matrix.yml), built by `make images`
LAB_RELEASES ?= bullseye bookworm trixie
# pytest-xdist workers of `make pytest`: groups of tests that may run side by side (tests/conftest.py)
PYTEST_WORKERS ?= 4
# ansible-test wants the tree at ansible_collections/<namespace>/<name>/, outside this git
# checkout (inside it, it would list only files git tracks there): a copy made by rsync.
ATS_TREE  := $(or $(TMPDIR),/tmp)/medimg-pacs-ats/ansible_collections/medimg/pacs

export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: check help demo test static venv deps test-deps engine image images lab-up lab-status lab-stop lab-destroy samples \
        lint sanity units pytest molecule bench build clean lab-path contracts

help:
	@echo "make demo     bring up the lab PACS (one all-in-one host) with sample studies"
	@echo "make test     run the whole test suite (lint, sanity, units, integration, molecule)"
	@echo "make check    the fast part: lint, ansible-test sanity and units (no Docker, a few minutes)"
	@echo "make lab-status | lab-stop | lab-destroy   manage the lab hosts"
	@echo "make build    build the collection tarball"
	@echo "make bench    benchmarks on the project's own lab hosts (< 15 min): bench/results/latest.md"

## ---- setup ---------------------------------------------------------------------------
venv: $(VENV)/.installed lab-path
# The lab tooling (lab/medimg_lab) is put on the virtualenv's path from the checkout (a .pth file,
# like an editable install, nothing to build): scripts/lab, bench/, the molecule verify clients and
# the tests import medimg_lab with no sys.path edits. Its dependencies are in requirements.txt.
$(VENV)/.installed: requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements.txt
	@touch $@

lab-path: $(VENV)/.installed
	@$(PY) -c 'import pathlib, sysconfig; p = pathlib.Path(sysconfig.get_paths()["purelib"], "medimg-lab.pth"); \
	  want = "$(CURDIR)/lab\n"; (p.exists() and p.read_text() == want) or p.write_text(want)'

deps:
	scripts/install-deps

test-deps:
	scripts/install-deps --tests

engine: deps
	scripts/lab engine

image: venv engine
	scripts/lab image

images: venv engine
	scripts/lab image $(LAB_RELEASES)

## ---- the lab -------------------------------------------------------------------------
lab-up: image
	scripts/lab up -i $(INVENTORY)

lab-status: venv
	scripts/lab status -i $(INVENTORY)

lab-stop: venv
	scripts/lab stop -i $(INVENTORY)

lab-destroy: venv
	scripts/lab destroy -i $(INVENTORY)

samples: venv
	scripts/lab samples

demo: lab-up
	ansible-playbook -i $(INVENTORY) site.yml
	scripts/lab samples
	ansible-playbook -i $(INVENTORY) playbooks/lab-summary.yml

## ---- tests ---------------------------------------------------------------------------
# The lab images are built while lint, sanity and units run (debootstrap waits on the mirror and
# dpkg, the checks use the CPU); each part's output is printed as a whole when it ends.
test: venv test-deps
	$(MAKE) --no-print-directory -j2 --output-sync=target images static
	$(MAKE) --no-print-directory pytest

static: venv
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory sanity
	$(MAKE) --no-print-directory units

# The fast checks, no Docker engine, no lab image and no services: lint, ansible-test sanity and
# units, and the roles' contract tests (defaults, argument specs, READMEs; plain pytest).
check: venv lint sanity units contracts

contracts: venv
	$(PY) -m pytest -q tests/integration/test_role_contracts.py tests/integration/test_role_layout.py

lint: venv
	yamllint -s .
	ansible-lint --profile production

$(ATS_TREE): FORCE
	@mkdir -p $(ATS_TREE)
	@rsync -a --delete --exclude-from=tests/sanity/rsync-exclude.txt ./ $(ATS_TREE)/
FORCE:

sanity: venv $(ATS_TREE)
	bash tests/sanity/install-get-pip-standin.sh
	cd $(ATS_TREE) && ansible-test sanity --local --requirements --python 3.11

units: venv $(ATS_TREE)
	bash tests/sanity/install-get-pip-standin.sh
	cd $(ATS_TREE) && ansible-test units --local --requirements --python 3.11

# unit tests, integration tests against real services, and every molecule scenario on every
# release of molecule/matrix.yml (tests/integration/test_molecule.py), groups side by side on
# $(PYTEST_WORKERS) workers (tests/conftest.py); pytest's summary line closes the run, after the
# slowest tests with their times.
pytest: venv images
	$(PY) -m pytest -ra -n $(PYTEST_WORKERS) --dist loadgroup --no-loadscope-reorder --durations=40 tests

molecule: venv images
	$(PY) -m pytest -ra -n $(PYTEST_WORKERS) --dist loadgroup --no-loadscope-reorder --durations=0 tests/integration/test_molecule.py

bench: venv image
	bench/run

build: venv
	@mkdir -p build
	ansible-galaxy collection build --force --output-path build .

clean:
	rm -rf build tests/output .cache
