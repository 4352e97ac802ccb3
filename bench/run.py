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
3. Ingest of realistic CT (medimg_lab.samples, 512x512 16-bit, fresh UIDs per run) with STOW-RS at
   1 and 4 client connections: through the front door (nginx+TLS+login as `uploader`, keeping the
   session cookie like a browser, and once with Basic credentials only), directly to the converged
   Orthanc (PostgreSQL index), and to the stock Orthanc (SQLite index).
4. WADO-RS frame retrieval (frame 1 of the CT instances just ingested) at 1 and 4 clients: through
   the front door as `viewer` (cookie; Basic only) and directly to Orthanc.
5. QIDO-RS study search p50/p95 with 100 and with 10,000 studies (tiny 8x8 instances).
6. ``medimg.pacs.dicom_import`` vs a one-file-at-a-time uploader (bench/import_compare.py).

Every front-door and direct measurement also records the CPU seconds of nginx, the front door's
authentication service, Orthanc and PostgreSQL inside the container (/proc), and the client's own.

Writes bench/results/latest.md, bench/results/latest.png and bench/results/raw/run-*.json.
Traffic goes only to the bench container and to loopback. Every loop is bounded in count and time.
"""
import argparse
import io
import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import time

from medimg_lab import labkit as lk
from medimg_lab import orthanc as lab_orthanc

import httpbench as hb  # bench/httpbench.py, next to this script

ROOT = pathlib.Path(__file__).resolve().parents[1]

BENCH_INV = ROOT / "bench" / "inventory"
CRED_DIR = ROOT / "bench" / "results" / "raw" / ".credentials"
CONTAINER, NETWORK = "medimg-bench-pacs1", "medimg-bench"
FRONT_DOOR_READY = (ROOT / "roles" / "nginx" / "tasks" / "main.yml", ROOT / "playbooks" / "nginx.yml")
FD_COOKIE, FD_BASIC = "nginx+TLS+login, cookie", "nginx+TLS+login, Basic only"
DIRECT, STOCK = "direct Orthanc (roles)", "stock Orthanc (SQLite)"
T0 = time.time()


def log(msg):
    la = os.getloadavg()
    print("[%6.1fs load %.2f %.2f %.2f] %s" % (time.time() - T0, la[0], la[1], la[2], msg), flush=True)


# -- stock Orthanc on the host -------------------------------------------------------------------------
class StockOrthanc:
    """The distribution's own configuration (/etc/orthanc), only ports, paths and users changed."""

    USER, PASSWORD = "bench", "bench-stock-secret"

    def __init__(self, workdir):
        self.dir = pathlib.Path(workdir)
        self.port = lab_orthanc.free_port()
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
                        (r'"DicomPort"\s*:\s*\d+', '"DicomPort" : %d' % lab_orthanc.free_port()),
                        (r'"/usr/share/orthanc/plugins/?"', '"%s"' % lab_orthanc.dicomweb_plugin())]
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
# Front door and direct are measured in interleaved rounds: each round runs every target once
# (the order rotating from round to round), so that the load of the shared machine, which drifts
# over seconds, weighs on every target alike. A row adds up its rounds (requests / wall time).
def per_request_ms(cpu, n):
    return {k: round(v * 1000.0 / n, 2) for k, v in cpu.items()} if cpu and n else None


def cpu_text(used, n):
    if not used or not n:
        return ""
    return "; CPU ms/request " + ", ".join("%s %.2f" % (k, v * 1000.0 / n) for k, v in used.items() if v)


def interleaved(kind, targets, clients, rounds, run_round, cpu, prepare=None):
    """Rows for one client count. run_round(round, slot, name, pool) -> (done, elapsed, errors, extra);
    prepare(round), untimed, before each round."""
    pools = {name: hb.Pool(mk, clients) for name, mk, _in in targets}
    acc = {name: {"done": 0, "elapsed": 0.0, "errors": [], "rates": [], "cpu": {}, "load": [], "extra": 0}
           for name, _mk, _in in targets}
    try:
        for r in range(rounds):
            if prepare:
                prepare(r)
            k = r % len(targets)
            for name, _mk, in_container in targets[k:] + targets[:k]:
                slot = [t[0] for t in targets].index(name)
                a = acc[name]
                pools[name].warm()
                a["load"].append(os.getloadavg()[0])
                meter = cpu.start() if (cpu and in_container) else None
                done, elapsed, errors, extra = run_round(r, slot, name, pools[name])
                used = meter.stop() if meter else None
                a["done"] += done
                a["elapsed"] += elapsed
                a["errors"] += errors
                a["extra"] += extra
                a["rates"].append(round(done / elapsed, 1) if elapsed else 0.0)
                for g, v in (used or {}).items():
                    a["cpu"][g] = a["cpu"].get(g, 0.0) + v
        rows = []
        for name, _mk, _in in targets:
            a = acc[name]
            rate = a["done"] / a["elapsed"] if a["elapsed"] else 0.0
            cpu_s = {g: round(v, 2) for g, v in a["cpu"].items()} or None
            rows.append({"target": name, "clients": clients, "done": a["done"], "elapsed": round(a["elapsed"], 2),
                         "rate": round(rate, 1), "round_rates": a["rates"], "errors": len(a["errors"]),
                         "first_error": a["errors"][0] if a["errors"] else None,
                         "load1": round(sum(a["load"]) / len(a["load"]), 2), "http": pools[name].stats(),
                         "cpu_s": cpu_s, "cpu_ms_per_request": per_request_ms(cpu_s, a["done"]), "extra": a["extra"]})
            log("%-6s %-27s %d client(s): %5d in %6.1f s = %6.1f/s (rounds %s)%s%s"
                % (kind, name, clients, a["done"], a["elapsed"], rate, " ".join("%.0f" % x for x in a["rates"]),
                   cpu_text(cpu_s, a["done"]),
                   (" (%d errors, first %s)" % (len(a["errors"]), a["errors"][0])) if a["errors"] else ""))
        return rows
    finally:
        for pool in pools.values():
            pool.close()


def ingest_matrix(targets, template, count, clients_list, rounds, time_limit, cpu=None):
    """STOW-RS `count` fresh CT slices per (clients, target), in `rounds` interleaved rounds.
    targets: [(name, make_client, in_container)]. Returns (rows, refs): refs are (study, series,
    sop) of the instances the converged Orthanc acknowledged, for the WADO-RS retrieval."""
    from pydicom import dcmread

    per_round = max(1, -(-count // rounds))
    rows, refs, batches_of = [], [], {}
    for clients in clients_list:
        batches_of[clients] = {}

        def prepare(r, clients=clients):
            batches = batches_of[clients]
            batches.clear()
            for name, _mk, _in in targets:
                items = lk.make_instances(template, 1, per_round, "I%s%d%d" % (name[:3].upper(), clients, r))
                # one study with one series per batch (labkit.make_instances)
                series = dcmread(io.BytesIO(items[0][2]), stop_before_pixels=True).SeriesInstanceUID
                batches[(r, name)] = (items, hb.stow_bodies(items), series)

        def run_round(r, _slot, name, pool, clients=clients):
            items, bodies, series = batches_of[clients][(r, name)]
            acked, elapsed, errors = hb.stow(pool, bodies, time_limit / rounds)
            if dict((n, i) for n, _m, i in targets)[name]:
                done = set(acked)
                refs.extend((study, series, sop) for sop, study, _data in items if sop in done)
            return len(acked), elapsed, errors, len(items)

        for row in interleaved("ingest", targets, clients, rounds, run_round, cpu, prepare):
            row["ips"], row["stored"], row["sent"] = row.pop("rate"), row.pop("done"), row.pop("extra")
            rows.append(row)
    return rows, refs


def wado_matrix(targets, refs, clients_list, count, rounds, time_limit, min_bytes, cpu=None):
    """WADO-RS frame 1, `count` requests per (clients, target) in `rounds` interleaved rounds.

    Every (round, target) gets its own slice of `refs`, so that no target reads instances another
    one has just put into Orthanc's storage cache (MaximumStorageCacheSize, 128 MB by default)."""
    per_round = max(1, -(-count // rounds))
    rows, offset = [], 0
    for clients in clients_list:
        base = offset

        def run_round(r, slot, _name, pool, base=base):
            start = base + (r * len(targets) + slot) * per_round
            chunk = [refs[(start + i) % len(refs)] for i in range(per_round)]
            got, elapsed, errors, nbytes = hb.frames(pool, chunk, time_limit / rounds, min_bytes)
            return got, elapsed, errors, nbytes

        for row in interleaved("wado", targets, clients, rounds, run_round, cpu):
            nbytes = row.pop("extra")
            row["fps"], row["frames"], row["requested"] = row.pop("rate"), row.pop("done"), per_round * rounds
            row["mib_s"] = round(nbytes / 1048576.0 / row["elapsed"], 1) if row["elapsed"] else 0.0
            rows.append(row)
        offset += rounds * len(targets) * per_round
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
            direct = dict((t[0], t[1]) for t in targets)[DIRECT]
            acked, elapsed, errors = lk.stow(direct, items, clients=4, batch=25, time_limit=time_limit)
            have += len(acked)
            results["fill %d" % level] = {"sent": len(items), "acknowledged": len(acked), "errors": len(errors),
                                          "elapsed": round(elapsed, 1)}
            log("qido fill: +%d/%d studies acknowledged in %.1f s (%.0f/s), %d failed requests; %d in total"
                % (len(acked), len(items), elapsed, len(acked) / max(elapsed, 0.001), len(errors), have))
        for name, make_client, *_rest in targets:
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


def round_ratios(rows, a, b, clients):
    """The same ratio round by round (a and b measured back to back in each round)."""
    def rates(t):
        return next((r.get("round_rates") or [] for r in rows if r["target"] == t and r["clients"] == clients), [])
    return [round(x / y, 2) for x, y in zip(rates(a), rates(b)) if x and y]


TARGET_RATIO = 0.9   # the project's issue: front door / direct >= 0.9 (STOW at 4 clients, WADO frames)
CPU_COLS = ("nginx", "frontdoor-auth", "Orthanc", "PostgreSQL", "bench client")


def _cpu_cells(r):
    c = r.get("cpu_ms_per_request")
    return " | ".join(("%.2f" % c[k]) if c and k in c else "-" for k in CPU_COLS)


def _rounds(r):
    return " / ".join("%.0f" % x for x in r.get("round_rates") or []) or "-"


def _http_cell(r):
    h = r.get("http") or {}
    if not h:
        return "-"
    text = "%d conn." % h.get("connections", 0)
    if h.get("handshakes"):
        text += ", %d TLS (%d resumed)" % (h["handshakes"], h.get("resumed", 0))
    if h.get("cookie_requests"):
        text += ", cookie on %d/%d" % (h["cookie_requests"], h.get("requests", 0))
    if h.get("stale_reconnects"):
        text += ", %d reconnects after an idle close" % h["stale_reconnects"]
    return text


def report(res, path_md, path_png):
    lines = ["# medimg.pacs benchmark — latest run", "",
             "Generated by `bench/run` on %s; %d CPUs; load average at start %s, at end %s. "
             "The machine is shared with other work: compare figures from the same run only."
             % (res["date"], os.cpu_count(), res["load_start"], res["load_end"]), ""]
    if res["front_door"]:
        lines += ["Front-door clients: **%s** logs in as `uploader` (STOW-RS) or `viewer` (WADO-RS, QIDO-RS) with "
                  "Basic credentials on its first request, keeps the `medimg_session` cookie the front door sets "
                  "and sends it back on every later request (as a browser or `requests.Session` does; the Basic "
                  "header stays on too); **%s** sends Basic credentials only and no cookie (`curl -u`, "
                  "`medimg.pacs.dicom_import`). Direct: Orthanc's own Basic authentication (account `admin`). "
                  "A viewer's STOW-RS through the front door: %s." % (FD_COOKIE, FD_BASIC, res.get("viewer_stow")),
                  ""]
    lines += ["Method: every row is split into %d rounds; a round runs every target once, back to back, in an order "
              "that rotates from round to round, so the drifting load of the shared machine weighs on all of them "
              "alike; a row is the sum of its rounds. Each target keeps its client connections (keep-alive) for "
              "all its rounds; before each timed round every connection makes one untimed request (connection, "
              "TLS handshake, login), the same on every path; a client that reconnects resumes its TLS session. "
              "STOW-RS bodies are built before the clock starts." % res["args"]["rounds"], ""]
    lines += ["## Ingest, realistic CT (512x512 16-bit, STOW-RS, 1 instance per request)", "",
              "| target | clients | instances/s | per round | stored/sent | load1 |", "|---|---:|---:|---|---:|---:|"]
    for r in res["ingest"]:
        lines.append("| %s | %d | %.1f | %s | %d/%d | %.2f |" % (r["target"], r["clients"], r["ips"], _rounds(r),
                                                                 r["stored"], r["sent"], r["load1"]))
    if res.get("wado"):
        w = res["wado"]
        lines += ["", "## WADO-RS frame retrieval (frame 1 of the CT instances above, uncompressed 512 KiB)", "",
                  "`GET /dicom-web/studies/{s}/series/{se}/instances/{i}/frames/1`, Accept `%s`, round-robin over "
                  "the %d CT instances the converged Orthanc stored above, after one untimed pass over all of them "
                  "(%.0f s). Every (round, target) reads its own instances, so no target finds frames another one "
                  "has just put into Orthanc's storage cache. At most %d requests or %.0f s per row."
                  % (hb.WADO_ACCEPT, w["instances"], w["warm_up"]["elapsed"], res["args"]["frames"],
                     res["args"]["frames_seconds"]), "",
                  "| target | clients | frames/s | per round | MiB/s | frames/requested | errors | load1 |",
                  "|---|---:|---:|---|---:|---:|---:|---:|"]
        for r in w["rows"]:
            lines.append("| %s | %d | %.1f | %s | %.1f | %d/%d | %d | %.2f |" % (
                r["target"], r["clients"], r["fps"], _rounds(r), r["mib_s"], r["frames"], r["requested"],
                r["errors"], r["load1"]))
    lines += ["", "Ratios (same run):", ""]
    for k, v in res["ratios"].items():
        mark = ""
        if v is not None and " front door (cookie) / direct" in k and (k.startswith("WADO") or "4 client" in k):
            mark = " (target >= %.1f: %s)" % (TARGET_RATIO, "met" if v >= TARGET_RATIO else "**missed**")
        spread = (res.get("ratio_rounds") or {}).get(k)
        if spread:
            mark = " (rounds %s)%s" % (" / ".join("%.2f" % x for x in spread), mark)
        lines.append("- %s: **%s**%s" % (k, v, mark))
    cpu_rows = [("STOW-RS", r) for r in res["ingest"] if r.get("cpu_ms_per_request")]
    cpu_rows += [("WADO-RS frame", r) for r in ((res.get("wado") or {}).get("rows") or [])
                 if r.get("cpu_ms_per_request")]
    if cpu_rows:
        lines += ["", "## Where the CPU goes (ms of CPU per request, same runs)", "",
                  "User+system time of each process group in the bench container (/proc, all threads) and of the "
                  "bench client (this process), divided by the requests answered. Client and container share "
                  "the machine's %d cores." % os.cpu_count(), "",
                  "| request | target | clients | %s | connections |" % " | ".join(CPU_COLS),
                  "|---|---|---:|" + "---:|" * len(CPU_COLS) + "---|"]
        for kind, r in cpu_rows:
            lines.append("| %s | %s | %d | %s | %s |" % (kind, r["target"], r["clients"], _cpu_cells(r), _http_cell(r)))
    if res.get("qido"):
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
    c = res.get("converge")
    if c:
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
    panels = [("ingest", "ips", "CT instances/s (512x512)", "STOW-RS ingest")]
    if res.get("wado"):
        panels.append(("wado", "fps", "frames/s (512 KiB)", "WADO-RS frame retrieval"))
    fig, axes = plt.subplots(1, len(panels) + (1 if res.get("qido") else 0), figsize=(6.5 * (len(panels) + 1), 5.5),
                             squeeze=False)
    axes = axes[0]
    for ax, (key, field, ylabel, title) in zip(axes, panels):
        rows = res[key] if key == "ingest" else res[key]["rows"]
        order = [r["target"] for r in rows]
        targets = sorted(set(order), key=order.index)
        width = 0.8 / max(len(targets), 1)
        cls = sorted({r["clients"] for r in rows})
        for i, t in enumerate(targets):
            xs = [j + i * width for j in range(len(cls))]
            ys = [next((r[field] for r in rows if r["target"] == t and r["clients"] == cl), 0) for cl in cls]
            ax.bar(xs, ys, width, label=t)
        ax.set_xticks([j + width * (len(targets) - 1) / 2 for j in range(len(cls))])
        ax.set_xticklabels(["%d client(s)" % c for c in cls])
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(fontsize=8)
    if res.get("qido"):
        ax = axes[len(panels)]
        labels, p50, p95 = [], [], []
        for v in res["qido"].values():
            for q, m in v.get("queries", {}).items():
                labels.append("%s\n%s\n%d st." % (v["target"].split(" (")[0], q, v["studies"]))
                p50.append(m["p50_ms"])
                p95.append(m["p95_ms"])
        xs = range(len(labels))
        ax.bar([x - 0.2 for x in xs], p50, 0.4, label="p50")
        ax.bar([x + 0.2 for x in xs], p95, 0.4, label="p95")
        ax.set_xticks(list(xs))
        ax.set_xticklabels(labels, fontsize=6, rotation=35, ha="right")
        ax.set_ylabel("ms")
        ax.set_title("QIDO-RS study search")
        ax.legend()
    fig.suptitle("medimg.pacs bench %s (load %s)" % (res["date"], res["load_start"]))
    fig.tight_layout()
    fig.savefig(str(path_png), dpi=90)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--ct", type=int, default=240, help="CT slices per ingest row (default 240)")
    ap.add_argument("--frames", type=int, default=900, help="WADO-RS frame requests per row (default 900)")
    ap.add_argument("--frames-seconds", type=float, default=60.0, help="time bound of one frame row (default 60)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="interleaved rounds each ingest and frame row is split into (default 3)")
    ap.add_argument("--qido-studies", type=int, default=10000, help="0 skips the QIDO-RS part")
    ap.add_argument("--qido-fill-seconds", type=float, default=300.0)
    ap.add_argument("--import-count", type=int, default=200, help="0 skips it")
    ap.add_argument("--keep", action="store_true", help="leave the bench container running")
    ap.add_argument("--reuse", action="store_true",
                    help="development: measure the bench container left by --keep as it is (no fresh host, "
                         "no converge figures); implies --keep")
    ap.add_argument("--no-front-door", action="store_true", help="skip nginx/OHIF even when available")
    args = ap.parse_args()
    if args.reuse:
        args.keep = True

    front_door = all(p.exists() for p in FRONT_DOOR_READY) and not args.no_front_door
    inventory = BENCH_INV / ("hosts.yml" if front_door else "hosts-core.yml")
    res = {"date": time.strftime("%Y-%m-%d %H:%M"), "load_start": "%.2f %.2f %.2f" % os.getloadavg(),
           "front_door": front_door, "args": vars(args), "converge": None}
    log("inventory %s (front door %s)" % (inventory.relative_to(ROOT), "on" if front_door else "not deployed yet"))
    stock = None
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="medimg-bench-run-"))
    try:
        if not args.reuse:
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
        cpu = hb.ContainerCPU(CONTAINER)

        def client(port, user, password, tls=False, cookies=False):
            return lambda: hb.Client(ip, port, user, password, tls=tls, cookies=cookies)

        # (name, make_client, runs in the bench container): STOW-RS as `uploader`, reads as `viewer`
        stow_targets, read_targets = [], []
        if front_door:
            uploader = lk.secret(CRED_DIR, "uploader_password")
            viewer = lk.secret(CRED_DIR, "viewer_password")
            stow_targets.append((FD_COOKIE, client(443, "uploader", uploader, tls=True, cookies=True), True))
            read_targets.append((FD_COOKIE, client(443, "viewer", viewer, tls=True, cookies=True), True))
        stow_targets.append((DIRECT, client(8042, "admin", admin), True))
        read_targets.append((DIRECT, client(8042, "admin", admin), True))
        if front_door:
            stow_targets.append((FD_BASIC, client(443, "uploader", uploader, tls=True), True))
            read_targets.append((FD_BASIC, client(443, "viewer", viewer, tls=True), True))
        stow_targets.append((STOCK, lambda: hb.Client("127.0.0.1", stock.port, stock.USER, stock.PASSWORD), False))
        for _name, mk, _in in stow_targets + read_targets:
            lk.wait_http(mk(), "/dicom-web/studies?limit=1", timeout=120)
        template = lk.template(512, 512)
        if front_door:
            # the roles are part of what is measured: a viewer may read, not store
            probe = lk.make_instances(template, 1, 1, "PROBE")
            _acked, _el, errs = lk.stow(read_targets[0][1], probe, clients=1, time_limit=30)
            res["viewer_stow"] = errs[0] if errs else "stored (expected HTTP 403)"
            log("STOW-RS as viewer through the front door: %s" % res["viewer_stow"])
        res["ingest"], refs = ingest_matrix(stow_targets, template, args.ct, (1, 4), args.rounds, time_limit=180,
                                            cpu=cpu)
        ing = res["ingest"]
        res["ratios"], res["ratio_rounds"] = {}, {}

        def add_ratio(key, rows, a, b, cl):
            res["ratios"][key] = ratio(rows, a, b, cl)
            res["ratio_rounds"][key] = round_ratios(rows, a, b, cl)

        for cl in (1, 4):
            add_ratio("direct (PostgreSQL index) / stock (SQLite), %d client(s)" % cl, ing, DIRECT, STOCK, cl)
            if front_door:
                add_ratio("STOW-RS front door (cookie) / direct, %d client(s)" % cl, ing, FD_COOKIE, DIRECT, cl)
                add_ratio("STOW-RS front door (Basic only) / direct, %d client(s)" % cl, ing, FD_BASIC, DIRECT, cl)
        for cl_target in (DIRECT, STOCK):
            a = next((r["ips"] for r in ing if r["target"] == cl_target and r["clients"] == 4), None)
            b = next((r["ips"] for r in ing if r["target"] == cl_target and r["clients"] == 1), None)
            if a and b:
                res["ratios"]["%s: 4 clients / 1 client" % cl_target] = round(a / b, 2)
        res["wado"] = None
        if refs and args.frames > 0:
            min_bytes = template.Rows * template.Columns * template.BitsAllocated // 8
            # every frame once, untimed, so that no measured path reads a file for the first time
            warm_pool = hb.Pool(dict((n, mk) for n, mk, _in in read_targets)[DIRECT], 4)
            warm = hb.frames(warm_pool, refs, 120, min_bytes)
            warm_pool.close()
            log("wado   warm-up: %d/%d frames in %.1f s" % (warm[0], len(refs), warm[1]))
            res["wado"] = {"instances": len(refs), "warm_up": {"frames": warm[0], "elapsed": round(warm[1], 1)},
                           "rows": wado_matrix(read_targets, refs, (1, 4), args.frames, args.rounds,
                                               args.frames_seconds, min_bytes, cpu=cpu)}
            wrows = [dict(r, ips=r["fps"]) for r in res["wado"]["rows"]]
            for cl in (1, 4):
                if front_door:
                    add_ratio("WADO-RS frames front door (cookie) / direct, %d client(s)" % cl, wrows, FD_COOKIE,
                              DIRECT, cl)
                    add_ratio("WADO-RS frames front door (Basic only) / direct, %d client(s)" % cl, wrows, FD_BASIC,
                              DIRECT, cl)
        qtargets = [t for t in read_targets if t[0] != FD_BASIC]
        res["qido"] = qido_bench(qtargets, args.qido_studies, args.qido_fill_seconds) if args.qido_studies else {}
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
