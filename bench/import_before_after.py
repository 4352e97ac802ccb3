"""dicom_import before and after the switch to pydicom and the one HTTP layer, side by side in one run.

The collection as it was at a given commit (default bc41219: its own Part-10 parser and HTTP
code) is exported with ``git archive`` into a temporary ``ansible_collections/medimg/pacs``;
the current checkout is the other contender. Both run as
``ansible localhost -m medimg.pacs.dicom_import`` with ANSIBLE_COLLECTIONS_PATH pointing at one
tree or the other, on the same generated data (:func:`medimg_lab.samples.ct_series`, as
bench/import_compare.py), each run against a fresh loopback Orthanc with the DICOMweb plugin,
alternating old/new (ABBA order) for ``--repeat`` rounds. Reported, as medians (instances/s):

* ``scan``    the scan phase inside the module (walk + header reading), from the progress file
* ``module``  the module's own elapsed time (scan + existence check + send)
* ``send``    the module's own send rate
* ``wall``    the whole ``ansible`` command (Ansible start-up, module start-up, import)

    .venv/bin/python bench/import_before_after.py                      # 300 x 256x256 CT, 5 rounds
    .venv/bin/python bench/import_before_after.py --count 200 --size 512 --repeat 3

The JSON of each run goes to bench/results/raw/ (git-ignored). The machine may be busy with
other work: the alternating order spreads that over both contenders, but rerun before quoting.
"""
import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
for entry in (ROOT / "lab", ROOT / ".collections"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from medimg_lab.ansible_run import ansible_env, parse_json_output  # noqa: E402
from medimg_lab.samples import ct_series  # noqa: E402
from ansible_collections.medimg.pacs.tests.helpers import dicom_import as fx  # noqa: E402

METRICS = ("scan", "module", "send", "wall")


def export_tree(commit, base):
    """``git archive`` of ``commit`` as ``base/ansible_collections/medimg/pacs``; returns the collections root."""
    target = base / "ansible_collections" / "medimg" / "pacs"
    target.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "galaxy.yml", "meta", "plugins"],
                             stdout=subprocess.PIPE, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return base


def generate(directory, count, size):
    directory.mkdir(parents=True, exist_ok=True)
    for idx, ds in enumerate(ct_series(patient_id="MEDIMG-BENCH", nslices=count, rows=size, cols=size,
                                       study_key="before-after-%d-%d" % (count, size))):
        ds.save_as(str(directory / ("CT%05d.dcm" % (idx + 1))), enforce_file_format=True)
    return sum(p.stat().st_size for p in directory.iterdir())


def one_run(label, collections, workdir, src, count, args, tag):
    server = fx.start_orthanc(workdir / ("orthanc-%s" % tag), auth=False)
    progress = workdir / ("progress-%s.jsonl" % tag)
    try:
        module_args = dict(src=str(src), url=server.dicomweb_url, workers=args.workers, batch_size=args.batch_size,
                           progress_file=str(progress), progress_interval=3600)
        env = ansible_env({"ANSIBLE_COLLECTIONS_PATH": str(collections)})
        started = time.time()
        proc = subprocess.run(fx.module_command(module_args), cwd=str(workdir), env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=1800, check=False)
        wall = time.time() - started
        raw = proc.stdout.decode("utf-8", "replace")
        try:
            result = parse_json_output(raw)["plays"][0]["tasks"][0]["hosts"]["localhost"]
        except (KeyError, IndexError):
            result = {}
        if proc.returncode != 0 or result.get("sent") != count:
            detail = result.get("msg") or raw[-2000:]
            raise RuntimeError("%s: dicom_import failed (rc=%s): %s" % (label, proc.returncode, detail))
        # which tree ran: the old module still reports its header_parser option
        assert ("header_parser" in result) == (label == "before"), (label, sorted(result))
        assert server.instance_count() == count
        phases = [json.loads(line) for line in progress.read_text().splitlines()]
        scan_end = next(r["elapsed"] for r in phases if r["phase"] != "scan")
        return {"scan": count / max(scan_end, 1e-6), "module": count / result["elapsed"],
                "send": result["instances_per_second"], "wall": count / wall,
                "scan_seconds": scan_end, "module_seconds": result["elapsed"], "wall_seconds": round(wall, 3)}
    finally:
        server.stop()
        shutil.rmtree(str(workdir / ("orthanc-%s" % tag)), ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--commit", default="bc41219", help="the 'before' commit (default bc41219)")
    parser.add_argument("--count", type=int, default=300, help="CT slices (default 300)")
    parser.add_argument("--size", type=int, default=256, help="rows = columns (default 256)")
    parser.add_argument("--repeat", type=int, default=5, help="rounds; each runs both trees (default 5)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "raw"))
    args = parser.parse_args()

    reason = fx.orthanc_available()
    if reason:
        sys.exit("cannot benchmark: " + reason)
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="medimg-import-before-after-"))
    try:
        trees = {"before": export_tree(args.commit, workdir / "before"), "after": ROOT / ".collections"}
        src = workdir / "data"
        nbytes = generate(src, args.count, args.size)
        print("data: %d files, %.1f MiB (%dx%d 16-bit CT); before = %s, after = the working tree"
              % (args.count, nbytes / 1048576.0, args.size, args.size, args.commit), flush=True)
        runs = {"before": [], "after": []}
        load_start = os.getloadavg()
        for rnd in range(args.repeat):
            order = ("before", "after") if rnd % 2 == 0 else ("after", "before")
            for label in order:
                figures = one_run(label, trees[label], workdir, src, args.count, args, "%s-%d" % (label, rnd))
                runs[label].append(figures)
                print("round %d %-6s scan %7.0f  module %6.1f  send %6.1f  wall %6.1f inst/s  (wall %.2f s)"
                      % (rnd + 1, label, figures["scan"], figures["module"], figures["send"], figures["wall"],
                         figures["wall_seconds"]), flush=True)
        medians = dict((label, dict((m, round(statistics.median(r[m] for r in runs[label]), 1)) for m in METRICS))
                       for label in runs)
        change = dict((m, round(100.0 * (medians["after"][m] / medians["before"][m] - 1.0), 1)) for m in METRICS)
        print("\nmedian instances/s over %d rounds    scan     module   send     wall" % args.repeat)
        for label in ("before", "after"):
            print("%-36s %-8s %-8s %-8s %s" % (label, *[medians[label][m] for m in METRICS]))
        print("%-36s %-8s %-8s %-8s %s" % ("change (%)", *[change[m] for m in METRICS]))
        result = {"commit_before": args.commit, "count": args.count, "size": args.size, "bytes": nbytes,
                  "workers": args.workers, "batch_size": args.batch_size, "repeat": args.repeat,
                  "cpus": os.cpu_count(), "loadavg_start": load_start, "loadavg_end": os.getloadavg(),
                  "runs": runs, "median": medians, "change_percent": change}
        out = pathlib.Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        path = out / ("import_before_after-%s.json" % time.strftime("%Y%m%d-%H%M%S"))
        path.write_text(json.dumps(result, indent=2))
        print("load average %s -> %s; results in %s" % (
            " ".join("%.2f" % x for x in load_start), " ".join("%.2f" % x for x in result["loadavg_end"]), path))
    finally:
        shutil.rmtree(str(workdir), ignore_errors=True)


if __name__ == "__main__":
    main()
