# -*- coding: utf-8 -*-
"""Fixtures and helpers for the dicom_import integration tests (and bench/import_compare.py).

* :func:`start_orthanc` / the ``orthanc`` fixture: a fresh loopback Orthanc per test
  (:class:`medimg_lab.orthanc.OrthancProcess`: the distribution's ``orthanc`` and
  ``orthanc-dicomweb``, see tests/requirements-apt-import.txt), stopped at teardown.
* :func:`make_tree` writes a folder tree of synthetic CT studies (:mod:`medimg_lab.samples`),
  plus non-DICOM and corrupt files, and returns what was written.
* :func:`run_module` / :func:`run_playbook` run ``medimg.pacs.dicom_import`` / playbooks/import.yml
  through real Ansible (:mod:`medimg_lab.ansible_run`) and return ``(rc, result, raw output)``.

Import the fixture explicitly: ``from ansible_collections.medimg.pacs.tests.helpers.dicom_import import orthanc``
(it shadows, for that module, the session-wide ``orthanc`` of tests/integration/conftest.py).
"""
from __future__ import absolute_import, division, print_function

import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from medimg_lab import ROOT, ansible_run
from medimg_lab.ansible_run import ansible_env, parse_json_output  # noqa: F401  pylint: disable=unused-import
from medimg_lab.delay_proxy import DelayProxy
from medimg_lab.orthanc import OrthancProcess, dicomweb_plugin, free_port, orthanc_available  # noqa: F401
from medimg_lab.samples import ct_series

USER, PASSWORD = "importer", "import-secret"
SYSTEM_PYTHON = "/usr/bin/python3"


def start_orthanc(workdir, auth=True):
    """A started loopback Orthanc with DICOMweb, Basic auth as USER/PASSWORD, no DICOM port."""
    reason = orthanc_available()
    if reason:
        raise RuntimeError(reason)
    return OrthancProcess(workdir, username=USER, password=PASSWORD, auth=auth, dicom_server=False,
                          aet="IMPORTTEST", extra={"Name": "MEDIMG_IMPORT_TEST"}, verbose=False).start()


@pytest.fixture
def orthanc(tmp_path):
    """A fresh Orthanc (DICOMweb plugin, HTTP basic auth) on loopback for one test."""
    reason = orthanc_available()
    if reason:
        pytest.fail(reason + " (tests/requirements-apt-import.txt lists the packages)")
    server = start_orthanc(tmp_path / "orthanc")
    try:
        yield server
    finally:
        server.stop()
        print("orthanc log tail:\n" + server.log_text()[-1500:])


# -- sample data ---------------------------------------------------------------------------------
def write_series(directory, study_key, nslices=4, rows=64, cols=64, patient_id="MEDIMG-0001",
                 transfer_syntax=None):
    """Write a synthetic CT series as Part-10 files; returns {path: sop_instance_uid}."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for idx, ds in enumerate(ct_series(patient_id=patient_id, nslices=nslices, rows=rows, cols=cols,
                                       study_key=study_key)):
        path = directory / ("IM%05d.dcm" % (idx + 1))
        if transfer_syntax == "implicit":
            ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2"
            ds.save_as(str(path), enforce_file_format=True, implicit_vr=True, little_endian=True)
        else:
            ds.save_as(str(path), enforce_file_format=True)
        out[str(path)] = str(ds.SOPInstanceUID)
    return out


def make_tree(base, studies=3, nslices=4, rows=64, cols=64, key="tree", extras=True):
    """A folder tree of `studies` CT studies (one series each) plus junk.

    Returns dict(dicom={path: sop_uid}, non_dicom=[paths], corrupt=[paths], sha256={sop_uid: sha});
    `corrupt` holds a file with the DICM prefix and a garbage header, and a file whose header is
    fine but whose pixel data is cut short (the PACS refuses it).
    """
    base = pathlib.Path(base)
    dicom = {}
    for s in range(studies):
        sub = base / ("patient%02d" % s) / ("study-%s" % s) / "series1"
        dicom.update(write_series(sub, "%s-%d" % (key, s), nslices=nslices, rows=rows, cols=cols,
                                  patient_id="MEDIMG-%04d" % (s + 1),
                                  transfer_syntax="implicit" if s == 1 else None))
    non_dicom, corrupt = [], []
    if extras:
        (base / "README.txt").write_text("not a DICOM file\n")
        (base / "patient00" / "notes.json").write_text(json.dumps({"note": "junk"}))
        (base / "patient00" / "empty.dcm").write_bytes(b"")
        (base / "patient01" / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 300)
        non_dicom += [str(base / "README.txt"), str(base / "patient00" / "notes.json"),
                      str(base / "patient00" / "empty.dcm"), str(base / "patient01" / "image.png")]
        # DICM magic, then garbage where the file meta group should be
        bad = base / "patient02" / "corrupt-header.dcm"
        bad.parent.mkdir(parents=True, exist_ok=True)
        bad.write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 64)
        corrupt.append(str(bad))
        # a valid header, but the pixel data cut in half: only the PACS can tell
        trunc_dir = base / "patient02" / "truncated"
        trunc = write_series(trunc_dir, "%s-truncated" % key, nslices=1, rows=rows, cols=cols,
                             patient_id="MEDIMG-9999")
        for path in trunc:
            data = pathlib.Path(path).read_bytes()
            pathlib.Path(path).write_bytes(data[:len(data) - (rows * cols)])
            corrupt.append(path)
    sha = {}
    for path, uid in dicom.items():
        sha[uid] = hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()
    return dict(dicom=dicom, non_dicom=non_dicom, corrupt=corrupt, sha256=sha)


# -- running the module through Ansible --------------------------------------------------------------
def module_args(**kwargs):
    """Ad-hoc -a argument as JSON (values may hold spaces or quotes)."""
    return json.dumps({k: v for k, v in kwargs.items() if v is not None})


def module_command(args, check=False, interpreter=None):
    """The ad-hoc ``ansible localhost -m medimg.pacs.dicom_import`` command line (to run it yourself,
    e.g. to interrupt it), for :func:`medimg_lab.ansible_run.ansible_env`."""
    cmd = [ansible_run.executable("ansible"), "localhost", "-i", "localhost,", "-c", "local",
           "-e", "ansible_python_interpreter=%s" % (interpreter or sys.executable),
           "-m", "medimg.pacs.dicom_import", "-a", module_args(**args)]
    if check:
        cmd.append("--check")
    return cmd


def run_module(args, check=False, timeout=600, extra_env=None, interpreter=None):
    """Run medimg.pacs.dicom_import on localhost; returns (rc, result dict, raw output).

    ``interpreter`` is the Python the module runs with (default: this venv's, which has pydicom;
    /usr/bin/python3 on Debian has neither pydicom nor requests). rc is non-zero when it failed.
    """
    run = ansible_run.run_module("dicom_import", args, check=check, timeout=timeout, extra_env=extra_env,
                                 interpreter=interpreter, ignore_errors=False, require_result=False)
    return run.rc, run.result, run.output


def run_playbook(extra_vars, check=False, timeout=600, extra_env=None, interpreter=None):
    """Run playbooks/import.yml on localhost; returns (rc, task results by name, raw output)."""
    run = ansible_run.run_playbook(ROOT / "playbooks" / "import.yml", extra_vars, check=check, timeout=timeout,
                                   extra_env=extra_env, interpreter=interpreter, extra_args=("-c", "local"))
    return run.rc, run.tasks(), run.output


def cleanup(path):
    shutil.rmtree(str(path), ignore_errors=True)


def system_python_without_pydicom():
    """/usr/bin/python3 when it exists and has no pydicom (a bare managed host), else None."""
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return None
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import pydicom"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=60, check=False)
    return SYSTEM_PYTHON if probe.returncode != 0 else None


def load_delay_proxy():
    """The DelayProxy class (:mod:`medimg_lab.delay_proxy`)."""
    return DelayProxy


__all__ = ["orthanc", "start_orthanc", "OrthancProcess", "make_tree", "write_series", "run_module",
           "run_playbook", "module_command", "ansible_env", "parse_json_output", "USER", "PASSWORD", "ROOT",
           "free_port", "orthanc_available", "system_python_without_pydicom", "load_delay_proxy",
           "dicomweb_plugin"]
