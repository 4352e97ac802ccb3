"""The lab kit: lab hosts of a dedicated inventory for bench/run.py and the lab tests
(tests/integration/test_durability.py, test_no_secrets_logged.py).

* bring a lab host of a dedicated inventory up with ``scripts/lab`` (only that command knows
  about Docker) and converge it with ``site.yml``;
* talk to Orthanc / DICOMweb in that container over the container's own Docker network address
  (keep-alive :class:`~medimg_lab.keepalive.Http`);
* make DICOM instances with fresh UIDs fast (:mod:`medimg_lab.samples`) and STOW-RS them with
  keep-alive connections, keeping the SOP Instance UIDs the server acknowledged
  (:func:`medimg_lab.dicomweb.stow_parallel`, the same worker the benchmarks measure with).

Every loop here is bounded in count and time. Nothing here touches containers other than the one
named in the inventory it is given.
"""
import contextlib
import hashlib
import os
import pathlib
import re
import subprocess
import time

from medimg_lab import ROOT
from medimg_lab.ansible_run import executable
from medimg_lab.dicomweb import stow_body, stow_parallel
from medimg_lab.keepalive import Http, wait_http  # noqa: F401  pylint: disable=unused-import
from medimg_lab.samples import make_instances, template, write_files  # noqa: F401  pylint: disable=unused-import

_exe = executable


def run(cmd, timeout, check=True, env=None):
    """``cmd`` from the repository root with the project's ansible.cfg and virtualenv on PATH."""
    full_env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), PYTHONDONTWRITEBYTECODE="1",
                    PATH=os.path.dirname(executable("python")) + os.pathsep + os.environ.get("PATH", ""))
    full_env.update(env or {})
    res = subprocess.run(cmd, cwd=str(ROOT), timeout=timeout, capture_output=True, text=True, env=full_env,
                         check=False)
    if check and res.returncode != 0:
        raise RuntimeError("%s failed (rc=%d):\n%s\n%s" % (" ".join(map(str, cmd)), res.returncode,
                                                           res.stdout[-4000:], res.stderr[-2000:]))
    return res


def lab(action, inventory, timeout=300):
    """``scripts/lab ACTION -i INVENTORY`` (up, status, stop, destroy)."""
    return run([str(ROOT / "scripts" / "lab"), action, "-i", str(inventory)], timeout)


@contextlib.contextmanager
def lab_inventory(directory, hosts_yaml, timeout=600):
    """A fresh lab host: an inventory in ``directory`` with ``hosts_yaml`` and the lab's group_vars,
    its hosts brought up from nothing; destroyed again on the way out."""
    directory = pathlib.Path(directory)
    (directory / "hosts.yml").write_text(hosts_yaml)
    os.symlink(ROOT / "inventories" / "lab" / "group_vars", directory / "group_vars")
    lab("destroy", directory)
    try:
        lab("up", directory, timeout=timeout)
        yield directory
    finally:
        lab("destroy", directory)


def converge(inventory, playbook="site.yml", timeout=900, extra=None):
    """Run a playbook; returns (wall seconds, {host: recap dict}, stdout)."""
    cmd = [executable("ansible-playbook"), "-i", str(inventory), playbook] + list(extra or [])
    started = time.time()
    res = run(cmd, timeout, check=False, env={"ANSIBLE_PIPELINING": "True"})
    wall = time.time() - started
    if res.returncode != 0:
        # the failed tasks first (each with the lines of its message, up to a blank line): the tail
        # of stdout is only the recap and the task profile
        lines, failed = res.stdout.splitlines(), []
        for i, line in enumerate(lines):
            if line.startswith(("fatal:", "failed:", "ERROR!")) or "FAILED!" in line:
                block = lines[i:i + 25]
                failed += block[:next((k for k, text in enumerate(block) if k and not text.strip()), len(block))]
        raise RuntimeError("%s failed (rc=%d):\n%s\n%s\n%s" % (playbook, res.returncode, "\n".join(failed)[-4000:],
                                                               res.stdout[-3000:], res.stderr[-2000:]))
    recap = {}
    for m in re.finditer(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)",
                         res.stdout, re.M):
        recap[m.group(1)] = {"ok": int(m.group(2)), "changed": int(m.group(3)), "failed": int(m.group(5))}
    return wall, recap, res.stdout


def container_ip(container, network):
    res = run(["docker", "inspect", "-f", "{{(index .NetworkSettings.Networks \"%s\").IPAddress}}" % network,
               container], 30)
    return res.stdout.strip()


def dexec(container, *args, timeout=120, check=True):
    return run(["docker", "exec", container] + list(args), timeout, check=check)


def secret(directory, name):
    with open(os.path.join(str(directory), name)) as handle:
        return handle.read().strip()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def stow(make_client, items, clients=4, batch=1, time_limit=120.0, stop=None, pace=0.0):
    """STOW-RS :func:`make_instances` ``items`` with ``clients`` keep-alive connections
    (``make_client()``), ``batch`` instances per request; returns (acknowledged SOP UIDs, elapsed,
    errors) as :func:`medimg_lab.dicomweb.stow_parallel` does (failures recorded, never retried:
    the resumed import does that)."""
    bodies = [stow_body([data for _sop, _study, data in items[i:i + batch]]) for i in range(0, len(items), batch)]
    pool = [make_client() for _client in range(clients)]
    try:
        return stow_parallel(pool, bodies, time_limit=time_limit, stop=stop, pace=pace, pause_after_error=0.2)
    finally:
        for client in pool:
            client.close()


def percentile(values, pct):
    vals = sorted(values)
    if not vals:
        return float("nan")
    k = (len(vals) - 1) * pct / 100.0
    lo, hi = int(k), min(int(k) + 1, len(vals) - 1)
    return vals[lo] + (vals[hi] - vals[lo]) * (k - lo)
