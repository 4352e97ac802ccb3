"""Time medimg.pacs.dicom_import against a plain one-file-at-a-time uploader.

Same generated data (medimg_lab.samples: a synthetic CT series, default 200 slices of 512x512 16-bit,
about 100 MiB) and, for every run, a fresh loopback Orthanc with the DICOMweb plugin
(tests/helpers/dicom_import.py starts it). Contenders:

* ``naive``   one STOW-RS POST per file with urllib (a new connection each time), no concurrency:
              what a small shell loop with curl does.
* ``module``  ``ansible localhost -m medimg.pacs.dicom_import`` (batches, keep-alive, workers);
              reported twice: the module's own send rate, and the whole ``ansible`` command
              wall clock (scan + existence check + send + Ansible start-up).

Each contender runs directly against Orthanc and again through medimg_lab.delay_proxy
(``--delay-ms`` each way, default 10 ms, i.e. a 20 ms round trip like a WAN link).

    .venv/bin/python bench/import_compare.py                # 200 x 512x512, direct and +10 ms
    .venv/bin/python bench/import_compare.py --count 50 --size 256 --delay-ms 0

Numbers are instances per second; each run's figures are also written as JSON to
bench/results/raw/ (git-ignored; docs/import.md quotes the ones worth keeping).
The machine may be busy with other work: run it more than once before believing a figure.
"""
import argparse
import contextlib
import json
import os
import pathlib
import shutil
import sys
import tempfile
import time
import urllib.request
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[1]
for _entry in (ROOT / "lab", ROOT / ".collections"):
    if str(_entry) not in sys.path:
        sys.path.insert(0, str(_entry))

from medimg_lab.delay_proxy import DelayProxy  # noqa: E402
from medimg_lab.samples import ct_series  # noqa: E402
from ansible_collections.medimg.pacs.tests.helpers import dicom_import as fx  # noqa: E402


def generate(directory, count, size):
    directory.mkdir(parents=True, exist_ok=True)
    total = 0
    for idx, ds in enumerate(ct_series(patient_id="MEDIMG-BENCH", nslices=count, rows=size, cols=size,
                                       study_key="bench-%d-%d" % (count, size))):
        path = directory / ("CT%05d.dcm" % (idx + 1))
        ds.save_as(str(path), enforce_file_format=True)
        total += path.stat().st_size
    return total


def naive_upload(files, dicomweb_url, timeout=120):
    """One POST per file, sequential, a fresh connection each time (urllib)."""
    for path in files:
        data = path.read_bytes()
        boundary = "naive-%s" % uuid.uuid4().hex
        body = (b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n" + data +
                b"\r\n--" + boundary.encode() + b"--\r\n")
        req = urllib.request.Request(dicomweb_url + "/studies", data=body, method="POST")
        req.add_header("Content-Type", 'multipart/related; type="application/dicom"; boundary=%s' % boundary)
        req.add_header("Accept", "application/dicom+json")
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            resp.read()
            if resp.status != 200:
                raise RuntimeError("naive upload of %s: HTTP %d" % (path, resp.status))


@contextlib.contextmanager
def served(workdir, name, delay_ms):
    """A fresh loopback Orthanc, behind the delaying proxy when ``delay_ms``: (server, DICOMweb URL)."""
    server = fx.start_orthanc(workdir / name, auth=False)
    proxy = None
    try:
        if delay_ms:
            proxy = DelayProxy("127.0.0.1", server.http_port, delay_ms / 1000.0).start()
        yield server, ("http://127.0.0.1:%d/dicom-web" % proxy.port) if proxy else server.dicomweb_url
    finally:
        if proxy:
            proxy.stop()
        server.stop()
        shutil.rmtree(str(workdir / name), ignore_errors=True)


def run_naive(workdir, files, delay_ms, tag):
    with served(workdir, "orthanc-naive-%s" % tag, delay_ms) as (server, url):
        started = time.time()
        naive_upload(files, url)
        elapsed = time.time() - started
        assert server.instance_count() == len(files), "naive upload stored %d" % server.instance_count()
    return {"elapsed": round(elapsed, 3), "instances_per_second": round(len(files) / elapsed, 2)}


def run_module(workdir, src, nfiles, delay_ms, tag, workers, batch_size):
    with served(workdir, "orthanc-module-%s" % tag, delay_ms) as (server, url):
        started = time.time()
        rc, result, raw = fx.run_module(dict(src=str(src), url=url, workers=workers, batch_size=batch_size),
                                        timeout=1800)
        wall = time.time() - started
        if rc != 0 or result.get("sent") != nfiles:
            raise RuntimeError("dicom_import failed (rc=%s): %s" % (rc, result.get("msg") or raw[-2000:]))
        assert server.instance_count() == nfiles
    return {"wall_elapsed": round(wall, 3), "wall_instances_per_second": round(nfiles / wall, 2),
            "module_elapsed": result["elapsed"], "send_elapsed": result["send_elapsed"],
            "instances_per_second": result["instances_per_second"], "batches": result["batches"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--count", type=int, default=200, help="CT slices (default 200)")
    parser.add_argument("--size", type=int, default=512, help="rows = columns (default 512)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--delay-ms", type=float, default=10.0,
                        help="one-way delay of the proxied runs (0: no proxied runs)")
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "raw"),
                        help="directory for the JSON result (default bench/results/raw, git-ignored)")
    args = parser.parse_args()

    reason = fx.orthanc_available()
    if reason:
        sys.exit("cannot benchmark: " + reason)
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="medimg-import-bench-"))
    try:
        src = workdir / "data"
        t0 = time.time()
        nbytes = generate(src, args.count, args.size)
        files = sorted(src.glob("*.dcm"))
        print("data: %d files, %.1f MiB (%dx%d 16-bit CT), generated in %.1f s"
              % (len(files), nbytes / 1048576.0, args.size, args.size, time.time() - t0), flush=True)
        delays = [0.0] + ([args.delay_ms] if args.delay_ms > 0 else [])
        results = {"count": len(files), "bytes": nbytes, "size": args.size, "workers": args.workers,
                   "batch_size": args.batch_size, "cpus": os.cpu_count(),
                   "loadavg_start": os.getloadavg(), "runs": {}}
        for delay in delays:
            tag = "direct" if not delay else "delay%gms" % delay
            naive = run_naive(workdir, files, delay, tag)
            print("[%s] naive  (1 POST/file, sequential): %7.1f inst/s  (%.1f s)"
                  % (tag, naive["instances_per_second"], naive["elapsed"]), flush=True)
            module = run_module(workdir, src, len(files), delay, tag, args.workers, args.batch_size)
            print("[%s] module (%d workers, batches of %d):  %7.1f inst/s sending (%.1f s), "
                  "%.1f inst/s for the whole ansible command (%.1f s)"
                  % (tag, args.workers, args.batch_size, module["instances_per_second"], module["send_elapsed"],
                     module["wall_instances_per_second"], module["wall_elapsed"]), flush=True)
            ratio = module["instances_per_second"] / naive["instances_per_second"]
            ratio_wall = module["wall_instances_per_second"] / naive["instances_per_second"]
            print("[%s] ratio module/naive: %.2fx sending, %.2fx including Ansible start-up"
                  % (tag, ratio, ratio_wall), flush=True)
            results["runs"][tag] = {"delay_ms_each_way": delay, "naive": naive, "module": module,
                                    "ratio_send": round(ratio, 2), "ratio_wall": round(ratio_wall, 2)}
        results["loadavg_end"] = os.getloadavg()
        out = pathlib.Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        path = out / ("import_compare-%s.json" % time.strftime("%Y%m%d-%H%M%S"))
        path.write_text(json.dumps(results, indent=2))
        print("load average %s -> %s; results in %s" % (
            " ".join("%.2f" % x for x in results["loadavg_start"]),
            " ".join("%.2f" % x for x in results["loadavg_end"]), path))
    finally:
        shutil.rmtree(str(workdir), ignore_errors=True)


if __name__ == "__main__":
    main()
