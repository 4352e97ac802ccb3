"""medimg.pacs.dicom_import against a real Orthanc (DICOMweb plugin) started on loopback.

Every run goes through real Ansible (`ansible localhost -m medimg.pacs.dicom_import` or
`ansible-playbook playbooks/import.yml`, cwd = repository root). Needs the Debian packages in
tests/requirements-apt-import.txt (orthanc, orthanc-dicomweb).
"""
import json
import os
import signal
import subprocess
import time

import pytest

from ansible_collections.medimg.pacs.tests.helpers.dicom_import import (
    PASSWORD, USER, ROOT, ansible_env, free_port, load_delay_proxy, make_tree, module_command,
    orthanc, run_module, run_playbook, system_python_without_pydicom)

__all__ = ["orthanc"]  # the fixture, imported explicitly

pytestmark = pytest.mark.integration


def _args(server, src, **extra):
    args = dict(src=str(src), url=server.dicomweb, url_username=USER, url_password=PASSWORD, retries=1)
    args.update(extra)
    return args


def _assert_clean_failure(rc, result, raw, *fragments):
    assert rc != 0, raw[-3000:]
    assert result.get("failed") is True, raw[-3000:]
    for fragment in fragments:
        assert fragment in result.get("msg", ""), result.get("msg")
    assert "Traceback" not in result.get("msg", "")
    assert "exception" not in result or "Traceback" not in str(result.get("module_stderr", ""))
    assert PASSWORD not in raw


def test_import_tree_rerun_and_byte_identity(orthanc, tmp_path):
    tree = make_tree(tmp_path / "tree", studies=3, nslices=6, rows=64, cols=64, key="it-main")
    progress = tmp_path / "progress.jsonl"
    rc, res, raw = run_module(_args(orthanc, tmp_path / "tree", workers=3, batch_size=4,
                                    progress_file=str(progress), progress_interval=0))
    assert rc == 0, raw[-3000:]
    assert res["changed"] is True
    assert res["sent"] == 18 and res["dicom_files"] == 19 and res["studies"] == 4
    assert res["files_scanned"] == 18 + 4 + 2
    assert res["non_dicom_count"] == 4
    assert sorted(e["path"] for e in res["non_dicom"]) == sorted(tree["non_dicom"])
    rejected = dict((e["path"], e) for e in res["rejected"])
    assert sorted(rejected) == sorted(tree["corrupt"])
    garbage, truncated = tree["corrupt"]
    assert rejected[garbage]["sop_instance_uid"] is None
    assert rejected[truncated]["sop_instance_uid"] and "not acknowledged" in rejected[truncated]["reason"]
    assert res["bytes_sent"] == sum(os.path.getsize(p) for p in tree["dicom"])
    assert res["instances_per_second"] > 0 and res["remaining"] == 0
    # what Orthanc stored is byte for byte what is on disk
    assert orthanc.instance_count() == 18
    assert orthanc.stored_sha256() == tree["sha256"]
    records = [json.loads(line) for line in progress.read_text().splitlines()]
    assert records[-1]["phase"] == "done" and records[-1]["sent"] == 18

    # second run: nothing new, nothing changed (the truncated file is refused again, not stored)
    rc, res, raw = run_module(_args(orthanc, tmp_path / "tree"))
    assert rc == 0, raw[-3000:]
    assert res["changed"] is False and res["sent"] == 0 and res["skipped_existing"] == 18
    assert res["rejected_count"] == 2 and res["non_dicom_count"] == 4
    assert orthanc.instance_count() == 18

    # check mode with a new series: reported, not sent
    make_tree(tmp_path / "tree" / "late", studies=1, nslices=3, key="it-late", extras=False)
    rc, res, raw = run_module(_args(orthanc, tmp_path / "tree"), check=True)
    assert rc == 0, raw[-3000:]
    assert res["changed"] is False and res["would_send"] == 4 and res["skipped_existing"] == 18
    assert res["would_send_bytes"] > 0 and res["sent"] == 0
    assert orthanc.instance_count() == 18


def test_resume_after_max_instances(orthanc, tmp_path):
    tree = make_tree(tmp_path / "tree", studies=2, nslices=8, key="it-slices", extras=False)
    rc, res, raw = run_module(_args(orthanc, tmp_path / "tree", max_instances=5, batch_size=2))
    assert rc == 0, raw[-3000:]
    assert res["changed"] is True and res["sent"] == 5 and res["remaining"] == 11
    assert orthanc.instance_count() == 5
    rc, res, raw = run_module(_args(orthanc, tmp_path / "tree", batch_size=2))
    assert rc == 0, raw[-3000:]
    assert res["sent"] == 11 and res["skipped_existing"] == 5 and res["remaining"] == 0
    assert orthanc.stored_sha256() == tree["sha256"]


def test_resume_after_killing_ansible(orthanc, tmp_path):
    """Kill the ansible process (and its module) mid-import, then run again: the set completes."""
    tree = make_tree(tmp_path / "tree", studies=2, nslices=20, rows=128, cols=128, key="it-kill", extras=False)
    total = len(tree["dicom"])
    DelayProxy = load_delay_proxy()
    progress = tmp_path / "progress.jsonl"
    with DelayProxy("127.0.0.1", orthanc.http_port, 0.05) as proxy:  # 100 ms round trip: a slow link
        url = "http://127.0.0.1:%d/dicom-web" % proxy.port
        cmd = module_command(_args(orthanc, tmp_path / "tree", url=url, workers=1, batch_size=1,
                                   progress_file=str(progress), progress_interval=0))
        proc = subprocess.Popen(cmd, cwd=str(ROOT), env=ansible_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
        sent = 0
        deadline = time.time() + 120
        try:
            while time.time() < deadline and proc.poll() is None:
                if progress.exists():
                    lines = progress.read_text().splitlines()
                    sent = json.loads(lines[-1])["sent"] if lines else 0
                    if sent >= 3:
                        break
                time.sleep(0.05)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)  # ansible, its worker and the module: our own group
            proc.wait(timeout=30)
            proc.stdout.close()
    assert sent >= 3, "the import never got going"
    # The request in flight when the client died may still reach Orthanc (the proxy had it whole) and
    # be stored after the kill: count once nothing more arrives (the same count for 2 s, at most 30 s).
    stored_before, stable_since, deadline = orthanc.instance_count(), time.time(), time.time() + 30
    while time.time() - stable_since < 2 and time.time() < deadline:
        time.sleep(0.2)
        now = orthanc.instance_count()
        if now != stored_before:
            stored_before, stable_since = now, time.time()
    assert 0 < stored_before < total, "killed too late to test a resume (%d of %d)" % (stored_before, total)
    rc, res, raw = run_module(_args(orthanc, tmp_path / "tree", workers=4, batch_size=5))
    assert rc == 0, raw[-3000:]
    assert res["skipped_existing"] == stored_before
    assert res["sent"] == total - stored_before
    assert orthanc.stored_sha256() == tree["sha256"]


def test_playbook_with_orthanc_lookup_and_a_bare_python(orthanc, tmp_path):
    """playbooks/import.yml (async + poll) with the Orthanc lookup; on a Python without pydicom the
    module fails cleanly, naming the missing library."""
    tree = make_tree(tmp_path / "tree", studies=2, nslices=5, key="it-playbook")
    extra = dict(import_src=str(tmp_path / "tree"), import_url=orthanc.dicomweb, import_username=USER,
                 import_password=PASSWORD, import_server_type="orthanc", import_poll=1,
                 import_progress_file=str(tmp_path / "p.jsonl"), import_exclude=["*.txt", "*.json"])
    bare = system_python_without_pydicom()
    if bare is not None:
        rc, tasks, raw = run_playbook(extra, interpreter=bare, check=True)
        assert rc != 0, raw[-3000:]
        result = tasks["Import DICOM files"]
        assert result["failed"] is True and result["error_kind"] == "missing_library", result
        assert "pydicom" in result["msg"] and "Traceback" not in result["msg"]
        assert PASSWORD not in raw
    python = None  # the venv's Python, which has pydicom
    rc, tasks, raw = run_playbook(extra, interpreter=python, check=True)
    assert rc == 0, raw[-3000:]
    result = tasks["Import DICOM files"]
    assert result["would_send"] == 11 and result["changed"] is False  # 10 + the truncated file
    assert result["pydicom_available"] is True
    assert orthanc.instance_count() == 0

    rc, tasks, raw = run_playbook(extra, interpreter=python)
    assert rc == 0, raw[-3000:]
    result = tasks["Import DICOM files"]
    assert result["changed"] is True and result["sent"] == 10 and result["rejected_count"] == 2
    assert result["non_dicom_count"] == 2  # README.txt and notes.json excluded by the globs
    assert result.get("ansible_job_id"), "the task ran with async"
    assert orthanc.stored_sha256() == tree["sha256"]
    assert PASSWORD not in raw

    rc, tasks, raw = run_playbook(extra, interpreter=python)
    assert rc == 0, raw[-3000:]
    result = tasks["Import DICOM files"]
    assert result["changed"] is False and result["skipped_existing"] == 10


def test_clear_failures(orthanc, tmp_path):
    make_tree(tmp_path / "tree", studies=1, nslices=2, key="it-fail", extras=False)
    src = tmp_path / "tree"

    rc, res, raw = run_module(_args(orthanc, src, url_password="wrong-password"))
    _assert_clean_failure(rc, res, raw, "HTTP 401", "url_username")
    assert res["error_kind"] == "unauthorized" and res["sent"] == 0

    port = free_port()
    rc, res, raw = run_module(_args(orthanc, src, url="http://127.0.0.1:%d/dicom-web" % port, retries=0))
    _assert_clean_failure(rc, res, raw, "Connection refused")
    assert res["error_kind"] == "connection_refused"

    rc, res, raw = run_module(_args(orthanc, src, url="ftp://127.0.0.1/dicom-web"))
    _assert_clean_failure(rc, res, raw, "only http and https")

    rc, res, raw = run_module(_args(orthanc, src, url="http://127.0.0.1:%d/not-dicomweb" % orthanc.http_port,
                                    skip_existing=False))
    _assert_clean_failure(rc, res, raw, "HTTP 404")

    rc, res, raw = run_module(_args(orthanc, tmp_path / "missing"))
    _assert_clean_failure(rc, res, raw, "does not exist")

    rc, res, raw = run_module(_args(orthanc, src, workers=0))
    _assert_clean_failure(rc, res, raw, "workers must be at least 1")
    assert orthanc.instance_count() == 0


def _python38():
    """A working Python 3.8 (not a pyenv shim that refuses to run), or None."""
    import glob
    import shutil
    candidates = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.8*/bin/python3.8")))
    candidates += [p for p in (shutil.which("python3.8"), "/usr/bin/python3.8") if p]
    for candidate in candidates:
        try:
            probe = subprocess.run([candidate, "-c", "import sys; assert sys.version_info[:2] == (3, 8)"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30, check=False)
        except OSError:
            continue
        if probe.returncode == 0:
            return candidate
    return None


def test_python38_target(orthanc, tmp_path):
    """The module runs on the oldest Python the collection supports on managed hosts (with pydicom)."""
    python = _python38()
    if not python:
        pytest.skip("no Python 3.8 on this machine")
    if subprocess.run([python, "-c", "import pydicom"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                      timeout=60, check=False).returncode != 0:
        pytest.skip("no pydicom for %s (python3.8 -m pip install pydicom)" % python)
    tree = make_tree(tmp_path / "tree", studies=2, nslices=3, key="it-py38")
    rc, res, raw = run_module(_args(orthanc, tmp_path / "tree"), interpreter=python)
    assert rc == 0, raw[-3000:]
    assert res["sent"] == 6 and res["non_dicom_count"] == 4 and res["rejected_count"] == 2
    assert orthanc.stored_sha256() == tree["sha256"]
