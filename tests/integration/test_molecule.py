"""Every molecule scenario on every release of molecule/matrix.yml as one test: create, converge,
idempotence, verify, destroy.

The scenarios start real systemd hosts (the release's lab image) and verify the deployed services
with real clients (see each molecule/<scenario>/verify.yml). Select with
MOLECULE_SCENARIOS="default viewer" and MOLECULE_RELEASES="trixie"; MOLECULE_IMAGE=<image> runs
the selected scenarios once on that image instead. The full log of each run is kept under
tests/output/molecule-<scenario>-<release>.log.

Runs of one scenario share its container names and molecule's state directory, so they run one
after the other; different scenarios may run side by side (tests/conftest.py puts each scenario
in an xdist group of its own).
"""
import os
import pathlib
import re
import subprocess
import sys
import time
import warnings

import pytest
import yaml

from medimg_lab.cli import docker_ok

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCENARIOS = sorted(p.parent.name for p in ROOT.glob("molecule/*/molecule.yml"))
MATRIX = yaml.safe_load((ROOT / "molecule" / "matrix.yml").read_text())
SELECTED = os.environ.get("MOLECULE_SCENARIOS", "").split()
RELEASES = os.environ.get("MOLECULE_RELEASES", "").split()
IMAGE = os.environ.get("MOLECULE_IMAGE", "")
# the comment after a scenario's line in matrix.yml (why it runs nowhere yet, for one)
_MATRIX_NOTES = dict(re.findall(r"^([a-z0-9_-]+):[^#\n]*#\s*(.+)$", (ROOT / "molecule" / "matrix.yml").read_text(), re.M))


def _runs():
    assert sorted(MATRIX) == SCENARIOS, "molecule/matrix.yml must list every scenario: %s" % SCENARIOS
    if IMAGE:
        return [(scenario, IMAGE) for scenario in SCENARIOS]
    # a scenario with no release yet (matrix.yml says why) is one skipped test, never left out silently
    return [(scenario, release) for scenario in SCENARIOS for release in (MATRIX[scenario] or ["none"])]


def _image(release):
    return release if ":" in release or "/" in release else "medimg/lab-%s:latest" % release


def _name(release):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", release.split("/")[-1].replace(":latest", ""))


def _failed_tasks(text, limit=6, width=3000):
    """The failed tasks of a molecule log, each with its task line and its message (CI shows
    only the end of a failure, and the end of a molecule log is the destroy step's recap)."""
    lines = text.splitlines()
    found = []
    for i, line in enumerate(lines):
        if re.match(r"(fatal|failed): \[", line):
            task = next((lines[j] for j in range(i - 1, max(i - 40, -1), -1) if lines[j].startswith("TASK [")), "")
            found.append("%s\n%s" % (task, line[:width]))
    return "\n".join(found[:limit]) or "(no 'fatal:' line in the log)"


# per scenario run: beside the others on CI's two cores the upgrade took 54 min (3232 s) in the
# December 2026 CI rehearsal, multisite on trixie 22 min
TIMEOUT = int(os.environ.get("MOLECULE_TIMEOUT", "3600"))


@pytest.mark.molecule
@pytest.mark.parametrize("scenario,release", _runs(), ids=["%s-%s" % (s, _name(r)) for s, r in _runs()])
def test_molecule_scenario(scenario, release):
    if SELECTED and scenario not in SELECTED:
        pytest.skip("not in MOLECULE_SCENARIOS")
    if release == "none":
        pytest.skip("molecule/matrix.yml runs %s on no release yet: %s" % (scenario, _MATRIX_NOTES.get(scenario, "")))
    if RELEASES and not IMAGE and release not in RELEASES:
        pytest.skip("not in MOLECULE_RELEASES")
    assert docker_ok(), "a Docker engine must answer (make engine starts one)"
    outdir = ROOT / "tests" / "output"
    outdir.mkdir(parents=True, exist_ok=True)
    logfile = outdir / ("molecule-%s-%s.log" % (scenario, _name(release)))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               PY_COLORS="0", ANSIBLE_NOCOLOR="1", MOLECULE_IMAGE=_image(release),
               MEDIMG_MOLECULE_RUN="%s-%s" % (scenario, _name(release)))
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    started = time.time()
    with open(logfile, "w") as log:
        proc = subprocess.run(
            [os.path.join(os.path.dirname(sys.executable), "molecule"), "test", "-s", scenario],
            cwd=str(ROOT), env=env, stdout=log, stderr=subprocess.STDOUT, timeout=TIMEOUT,
            check=False)
    elapsed = time.time() - started
    text = logfile.read_text(errors="replace")
    print("molecule %s on %s: rc=%d in %.0f s (log: %s)" % (scenario, release, proc.returncode, elapsed, logfile))
    if proc.returncode != 0:
        pytest.fail("molecule test -s %s on %s failed (rc=%d); the failed tasks:\n%s\nlast lines of %s:\n%s"
                    % (scenario, _image(release), proc.returncode, _failed_tasks(text), logfile,
                       "\n".join(text.splitlines()[-40:])))
    # A scenario that needs what this machine lacks (the DCM4CHEE archives) says so and exits 0:
    # report it as skipped, with its reason, not as passed.
    skipped = re.search(r"SKIPPED: ([^\n\"]+)", text)
    if skipped:
        pytest.skip("molecule %s: %s" % (scenario, skipped.group(1).strip()))
    # A scenario that ran but could not check everything (dcm4chee without the WildFly and ear
    # archives: the LDAP and database stages ran, the archive itself did not) passes and says what
    # it left out, in the warnings summary.
    for left_out in sorted(set(m.strip(" .'") for m in re.findall(r"NOT TESTED: ([^\n\"]+?\.)", text))):
        warnings.warn("molecule %s on %s passed without: %s" % (scenario, release, left_out))
