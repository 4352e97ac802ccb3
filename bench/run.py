"""medimg.pacs benchmark: one command, its own lab host, one table (bench/README.md).

    bench/run                     # or: make bench
    bench/run --keep              # leave the bench container running afterwards
    bench/run --qido-studies 2000 --ct 60   # a shorter run

Steps, all in one run so the figures share the machine's conditions:

1. ``scripts/lab up -i bench/inventory/<hosts>.yml``: container ``medimg-bench-pacs1`` on the
   Docker network ``medimg-bench``; first ``site.yml`` converge and an idempotent re-run (wall
   time, ``changed`` count).
2. A stock distribution Orthanc on the host (``/usr/sbin/Orthanc`` with a copy of ``/etc/orthanc``,
   only ports, directories and credentials changed) next to the converged one.
3. Ingest of realistic CT (tests/samples.py, 512x512 16-bit, fresh UIDs per run) with STOW-RS at
   1 and 4 client connections: through nginx+TLS+auth (when the front door is deployed), directly
   to the converged Orthanc (PostgreSQL index), and to the stock Orthanc (SQLite index).
4. QIDO-RS study search p50/p95 with 100 and with 10,000 studies (tiny 8x8 instances).
5. ``medimg.pacs.dicom_import`` vs a one-file-at-a-time uploader (bench/import_compare.py).

Writes bench/results/latest.md, bench/results/latest.png and bench/results/raw/run-*.json.
Traffic goes only to the bench container and to loopback. Every loop is bounded in count and time.
"""
import argparse
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "durability"))
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import labkit as lk  # noqa: E402

BENCH_INV = ROOT / "bench" / "inventory"
CRED_DIR = ROOT / "bench" / "results" / "raw" / ".credentials"
CONTAINER, NETWORK = "medimg-bench-pacs1", "medimg-bench"
FRONT_DOOR_READY = (ROOT / "roles" / "nginx" / "tasks" / "main.yml", ROOT / "playbooks" / "nginx.yml",
                    pathlib.Path("/tmp/helper3.done"))
T0 = time.time()


def log(msg):
    la = os.getloadavg()
    print("[%6.1fs load %.2f %.2f %.2f] %s" % (time.time() - T0, la[0], la[1], la[2], msg), flush=True)


# -- stock Orthanc on the host -------------------------------------------------------------------------
class StockOrthanc:
    """The distribution's own configuration (/etc/orthanc), only ports, paths and users changed."""

    USER, PASSWORD = "bench", "bench-stock-secret"

    def __init__(self, workdir):
        import import_fixtures as fx

        self.fx = fx
        self.dir = pathlib.Path(workdir)
        self.port = fx.free_port()
        self.proc = None

    def start(self):
        cfg = self.dir / "config"
        cfg.mkdir(parents=True)
        for src in sorted(pathlib.Path("/etc/orthanc").glob("*.json")):
            if src.name == "postgresql.json":
                continue  # not part of a stock `apt-get install orthanc orthanc-dicomweb`
            text = src.read_text()
            if src.name == "orthanc.json":
                subs = [(r'"StorageDirectory"\s*:\s*"[^"]*"', '"StorageDirectory" : "%s"' % (self.dir / "db")),
                        (r'"IndexDirectory"\s*:\s*"[^"]*"', '"IndexDirectory" : "%s"' % (self.dir / "db")),
                        (r'"HttpPort"\s*:\s*\d+', '"HttpPort" : %d' % self.port),
                        (r'"DicomPort"\s*:\s*\d+', '"DicomPort" : %d' % self.fx.free_port()),
                        (r'"/usr/share/orthanc/plugins/?"', '"%s"' % self.fx.dicomweb_plugin())]
                for pattern, repl in subs:
                    text, n = re.subn(pattern, repl, text, count=1)
                    if n != 1:
                        raise RuntimeError("stock config: %s not found in %s" % (pattern, src))
            if src.name == "credentials.json":
                text = json.dumps({"AuthenticationEnabled": True,
                                   "RegisteredUsers": {self.USER: self.PASSWORD}}, indent=2)
            (cfg / src.name).write_text(text)
        if not (cfg / "credentials.json").exists():
            raise RuntimeError("/etc/orthanc/credentials.json missing: is the orthanc package installed?")
        self.log = open(self.dir / "orthanc.log", "wb")
        self.proc = subprocess.Popen(["/usr/sbin/Orthanc", str(cfg)], cwd=str(self.dir), stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        lk.wait_http(self.client(), timeout=60)
        return self

    def client(self, **kw):
        return lk.Http("127.0.0.1", self.port, self.USER, self.PASSWORD, **kw)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


# -- measurements ------------------------------------------------------------------------------------
def ingest_matrix(targets, template, count, clients_list, time_limit):
    rows = []
    for clients in clients_list:
        for name, make_client in targets:
            items = lk.make_instances(template, 1, count, "I%s%d" % (name[:3].upper(), clients))
            load = os.getloadavg()[0]
            acked, elapsed, errors = lk.stow(make_client, items, clients=clients, batch=1, time_limit=time_limit)
            rate = len(acked) / elapsed if elapsed else 0.0
            rows.append({"target": name, "clients": clients, "stored": len(acked), "sent": len(items),
                         "elapsed": round(elapsed, 2), "ips": round(rate, 1), "errors": len(errors),
                         "load1": round(load, 2)})
            log("ingest %-22s %d client(s): %4d/%d in %6.1f s = %6.1f inst/s%s"
                % (name, clients, len(acked), len(items), elapsed, rate,
                   (" (%d errors, first %s)" % (len(errors), errors[0])) if errors else ""))
    return rows


def qido_latency(make_client, n=40, time_limit=60):
    queries = {
        "worklist page": "/dicom-web/studies?limit=25&offset=0&includefield=00081030%2C00080060",
        "by PatientID": "/dicom-web/studies?PatientID=QIDO-Q-%06d",
    }
    out = {}
    client = make_client()
    for label, q in queries.items():
        times = []
        deadline = time.time() + time_limit
        for i in range(n):
            if time.time() > deadline:
                break
            path = q % (i * 37 % 100) if "%06d" in q else q
            t = time.perf_counter()
            status = client.request("GET", path, headers={"Accept": "application/dicom+json"})[0]
            times.append((time.perf_counter() - t) * 1000.0)
            if status not in (200, 204):
                raise RuntimeError("QIDO %s: HTTP %d" % (path, status))
        out[label] = {"p50_ms": round(lk.percentile(times, 50), 1), "p95_ms": round(lk.percentile(times, 95), 1),
                      "n": len(times)}
    client.close()
    return out


def qido_bench(targets, studies_total, time_limit):
    """Fill the converged Orthanc with tiny studies; QIDO p50/p95 at 100 and at studies_total."""
    tiny = lk.template(8, 8)
    results = {}
    have = 0
    for level in (100, studies_total):
        need = level - have
        if need > 0:
            items = lk.make_instances(tiny, need, 1, "Q" if level == 100 else "R", patient_prefix="QIDO")
            # the first 100 patients are QIDO-Q-000000..99, the ones queried by PatientID
            direct = dict(targets)["direct Orthanc (roles)"]
            acked, elapsed, errors = lk.stow(direct, items, clients=4, batch=25, time_limit=time_limit)
            have += len(acked)
            results["fill %d" % level] = {"sent": len(items), "acknowledged": len(acked), "errors": len(errors),
                                          "elapsed": round(elapsed, 1)}
            log("qido fill: +%d/%d studies acknowledged in %.1f s (%.0f/s), %d failed requests; %d in total"
                % (len(acked), len(items), elapsed, len(acked) / max(elapsed, 0.001), len(errors), have))
        for name, make_client in targets:
            res = qido_latency(make_client)
            results["%s @ %d" % (name, have)] = {"target": name, "studies": have, "queries": res}
            log("qido %-22s %6d studies: %s" % (name, have, "; ".join(
                "%s p50 %.1f ms p95 %.1f ms" % (k, v["p50_ms"], v["p95_ms"]) for k, v in res.items())))
    return results


def import_compare(count, size):
    import import_compare as ic

    workdir = pathlib.Path(tempfile.mkdtemp(prefix="medimg-bench-import-"))
    try:
        src = workdir / "data"
        ic.generate(src, count, size)
        files = sorted(src.glob("*.dcm"))
        out = {"count": count, "size": size, "links": []}
        # loopback, then a 20 ms round trip (10 ms each way) through bench/delay_proxy.py:
        # this kernel has no netem, so the delay is a small TCP proxy in the path.
        for link, one_way_ms in (("loopback", 0.0), ("20 ms RTT", 10.0)):
            tag = "rtt%d" % int(one_way_ms * 2)
            naive = ic.run_naive(workdir, files, one_way_ms, tag)
            module = ic.run_module(workdir, src, len(files), one_way_ms, tag, 4, 20)
            row = {"link": link, "naive_ips": naive["instances_per_second"],
                   "module_ips": module["instances_per_second"],
                   "module_wall_ips": module["wall_instances_per_second"]}
            row["ratio"] = round(row["module_ips"] / row["naive_ips"], 2)
            out["links"].append(row)
            log("import over %s: naive %.1f inst/s, dicom_import %.1f inst/s sending (%.1f incl. ansible "
                "start-up): %.1fx" % (link, row["naive_ips"], row["module_ips"], row["module_wall_ips"],
                                      row["ratio"]))
        return out
    finally:
        shutil.rmtree(str(workdir), ignore_errors=True)


# -- report ------------------------------------------------------------------------------------------
def ratio(rows, a, b, clients):
    def ips(t):
        return next((r["ips"] for r in rows if r["target"] == t and r["clients"] == clients), None)
    x, y = ips(a), ips(b)
    return round(x / y, 2) if x and y else None


def report(res, path_md, path_png):
    lines = ["# medimg.pacs benchmark — latest run", "",
             "Generated by `bench/run` on %s; %d CPUs; load average at start %s, at end %s. "
             "The machine is shared with other work: compare figures from the same run only."
             % (res["date"], os.cpu_count(), res["load_start"], res["load_end"]), "",
             "## Ingest, realistic CT (512x512 16-bit, STOW-RS, 1 instance per request)", "",
             "| target | clients | instances/s | stored/sent | load1 |", "|---|---:|---:|---:|---:|"]
    for r in res["ingest"]:
        lines.append("| %s | %d | %.1f | %d/%d | %.2f |" % (r["target"], r["clients"], r["ips"], r["stored"],
                                                            r["sent"], r["load1"]))
    lines += ["", "Ratios (same run):", ""]
    for k, v in res["ratios"].items():
        lines.append("- %s: **%s**" % (k, v))
    lines += ["", "## QIDO-RS study search (latency per request, ms)", "",
              "| target | studies | query | p50 | p95 | n |", "|---|---:|---|---:|---:|---:|"]
    for v in res["qido"].values():
        if "queries" not in v:
            continue
        for q, m in v["queries"].items():
            lines.append("| %s | %d | %s | %.1f | %.1f | %d |" % (v["target"], v["studies"], q, m["p50_ms"],
                                                                  m["p95_ms"], m["n"]))
    fills = ["%s: %d/%d acknowledged in %.0f s" % (k, v["acknowledged"], v["sent"], v["elapsed"])
             for k, v in res["qido"].items() if "queries" not in v]
    if fills:
        lines += ["", "Fill (tiny 8x8 studies, STOW-RS, 25 per request, 4 clients, direct): " + "; ".join(fills)
                  + ". Unacknowledged instances were refused by the server (STOW-RS FailedSOPSequence)."]
    c = res["converge"]
    lines += ["", "## Converge (all-in-one, `site.yml`)", "",
              "| run | wall s | changed |", "|---|---:|---:|",
              "| first converge | %.0f | %s |" % (c["first_s"], c["first_changed"]),
              "| idempotent re-run | %.0f | %s |" % (c["second_s"], c["second_changed"])]
    if res.get("import"):
        i = res["import"]
        lines += ["", "## Bulk import (%d x %dx%d CT, Orthanc on loopback)" % (i["count"], i["size"], i["size"]), "",
                  "| link | one file per POST, sequential | dicom_import (4 workers, batches of 20), sending "
                  "| dicom_import, whole ansible command | ratio (sending) |", "|---|---:|---:|---:|---:|"]
        for row in i["links"]:
            lines.append("| %s | %.1f | %.1f | %.1f | **%.1fx** |" % (row["link"], row["naive_ips"], row["module_ips"],
                                                                      row["module_wall_ips"], row["ratio"]))
    lines += ["", "Total bench wall time: %.0f s. Raw figures: `%s`." % (res["wall_s"], res["raw"]), ""]
    path_md.write_text("\n".join(lines))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib missing (pip install -r bench/requirements.txt): no plot")
        return
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    order = [r["target"] for r in res["ingest"]]
    targets = sorted(set(order), key=order.index)
    width = 0.8 / max(len(targets), 1)
    for i, t in enumerate(targets):
        xs, ys = [], []
        for j, cl in enumerate(sorted({r["clients"] for r in res["ingest"]})):
            v = next((r["ips"] for r in res["ingest"] if r["target"] == t and r["clients"] == cl), 0)
            xs.append(j + i * width)
            ys.append(v)
        axes[0].bar(xs, ys, width, label=t)
    cls = sorted({r["clients"] for r in res["ingest"]})
    axes[0].set_xticks([j + width * (len(targets) - 1) / 2 for j in range(len(cls))])
    axes[0].set_xticklabels(["%d client(s)" % c for c in cls])
    axes[0].set_ylabel("CT instances/s (512x512)")
    axes[0].set_title("STOW-RS ingest")
    axes[0].legend(fontsize=8)
    labels, p50, p95 = [], [], []
    for v in res["qido"].values():
        for q, m in v.get("queries", {}).items():
            labels.append("%s\n%s\n%d st." % (v["target"].split(" (")[0], q, v["studies"]))
            p50.append(m["p50_ms"])
            p95.append(m["p95_ms"])
    xs = range(len(labels))
    axes[1].bar([x - 0.2 for x in xs], p50, 0.4, label="p50")
    axes[1].bar([x + 0.2 for x in xs], p95, 0.4, label="p95")
    axes[1].set_xticks(list(xs))
    axes[1].set_xticklabels(labels, fontsize=6, rotation=35, ha="right")
    axes[1].set_ylabel("ms")
    axes[1].set_title("QIDO-RS study search")
    axes[1].legend()
    fig.suptitle("medimg.pacs bench %s (load %s)" % (res["date"], res["load_start"]))
    fig.tight_layout()
    fig.savefig(str(path_png), dpi=90)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--ct", type=int, default=120, help="CT slices per ingest run (default 120)")
    ap.add_argument("--qido-studies", type=int, default=10000)
    ap.add_argument("--qido-fill-seconds", type=float, default=300.0)
    ap.add_argument("--import-count", type=int, default=200)
    ap.add_argument("--keep", action="store_true", help="leave the bench container running")
    ap.add_argument("--no-front-door", action="store_true", help="skip nginx/OHIF even when available")
    args = ap.parse_args()

    front_door = all(p.exists() for p in FRONT_DOOR_READY) and not args.no_front_door
    inventory = BENCH_INV / ("hosts.yml" if front_door else "hosts-core.yml")
    res = {"date": time.strftime("%Y-%m-%d %H:%M"), "load_start": "%.2f %.2f %.2f" % os.getloadavg(),
           "front_door": front_door}
    log("inventory %s (front door %s)" % (inventory.relative_to(ROOT), "on" if front_door else "not deployed yet"))
    stock = None
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="medimg-bench-run-"))
    try:
        lk.lab("destroy", inventory)            # a fresh host: the first converge is a real one
        lk.lab("up", inventory)
        first, recap1 = lk.converge(inventory)[:2]
        log("first converge %.0f s %s" % (first, recap1))
        second, recap2 = lk.converge(inventory)[:2]
        log("idempotent re-run %.0f s %s" % (second, recap2))
        res["converge"] = {"first_s": round(first, 1), "second_s": round(second, 1),
                           "first_changed": sum(r["changed"] for r in recap1.values()),
                           "second_changed": sum(r["changed"] for r in recap2.values())}
        ip = lk.container_ip(CONTAINER, NETWORK)
        admin = lk.secret(CRED_DIR, "orthanc_admin_password")
        stock = StockOrthanc(workdir / "stock").start()
        targets = []
        if front_door:
            viewer = lk.secret(CRED_DIR, "viewer_password")
            targets.append(("nginx+TLS+auth (roles)", lambda: lk.Http(ip, 443, "viewer", viewer, tls=True)))
        targets.append(("direct Orthanc (roles)", lambda: lk.Http(ip, 8042, "admin", admin)))
        targets.append(("stock Orthanc (SQLite)", stock.client))
        for name, mk in targets:
            lk.wait_http(mk(), "/dicom-web/studies?limit=1", timeout=120)
        template = lk.template(512, 512)
        res["ingest"] = ingest_matrix(targets, template, args.ct, (1, 4), time_limit=180)
        ing = res["ingest"]
        res["ratios"] = {}
        for cl in (1, 4):
            res["ratios"]["direct (PostgreSQL index) / stock (SQLite), %d client(s)" % cl] = \
                ratio(ing, "direct Orthanc (roles)", "stock Orthanc (SQLite)", cl)
            if front_door:
                res["ratios"]["nginx+TLS+auth / direct, %d client(s)" % cl] = \
                    ratio(ing, "nginx+TLS+auth (roles)", "direct Orthanc (roles)", cl)
        for cl_target in ("direct Orthanc (roles)", "stock Orthanc (SQLite)"):
            a = next((r["ips"] for r in ing if r["target"] == cl_target and r["clients"] == 4), None)
            b = next((r["ips"] for r in ing if r["target"] == cl_target and r["clients"] == 1), None)
            if a and b:
                res["ratios"]["%s: 4 clients / 1 client" % cl_target] = round(a / b, 2)
        qtargets = [t for t in targets if t[0] != "stock Orthanc (SQLite)"]
        res["qido"] = qido_bench(qtargets, args.qido_studies, args.qido_fill_seconds)
        res["import"] = import_compare(args.import_count, 512) if args.import_count else None
        if res["import"]:
            for row in res["import"]["links"]:
                res["ratios"]["dicom_import / one-file uploader, %s" % row["link"]] = row["ratio"]
    finally:
        if stock:
            stock.stop()
        shutil.rmtree(str(workdir), ignore_errors=True)
        if not args.keep:
            try:
                lk.lab("destroy", inventory)
            except Exception as exc:  # noqa: BLE001  report, never hide the figures
                log("destroy failed: %s" % exc)
    res["load_end"] = "%.2f %.2f %.2f" % os.getloadavg()
    res["wall_s"] = round(time.time() - T0, 1)
    raw = ROOT / "bench" / "results" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    raw_path = raw / ("run-%s.json" % time.strftime("%Y%m%d-%H%M%S"))
    res["raw"] = str(raw_path.relative_to(ROOT))
    raw_path.write_text(json.dumps(res, indent=2))
    report(res, ROOT / "bench" / "results" / "latest.md", ROOT / "bench" / "results" / "latest.png")
    print((ROOT / "bench" / "results" / "latest.md").read_text())


if __name__ == "__main__":
    main()
