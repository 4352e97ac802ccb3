"""medimg.pacs benchmark: one command, one lab host per platform, one report (bench/README.md).

    bench/run                                   # or: make bench (the full run, < 30 min on 2 cores)
    bench/run --platforms bookworm --fill-studies 20 --ct 60 --frames 120 --import-count 0   # development
    bench/run --keep                            # leave the bench containers running afterwards

Platforms, each a lab host (bench/inventory/<platform>.yml) converged with the project's site.yml:

* ``bookworm``     Debian 12, the distribution's Orthanc 1.10 and PostgreSQL plugin 4.0;
* ``trixie``       Debian 13, the distribution's Orthanc 1.12.7 and PostgreSQL plugin 5.0;
* ``trixie-pg10``  Debian 13, the distribution's Orthanc 1.12.7 with PostgreSQL plugin 10.3, built
  from ``../shared/upstream`` by medimg_lab.plugin_build (cached) and installed by the role's
  ``orthanc_install_method: upstream`` from a file server on the bench network; the role's
  defaults for that plugin (TransactionMode ReadCommitted, several index connections). Skipped,
  with the reason printed and written to the report, when the source or the build is missing.

Beside the bookworm and the trixie host's PostgreSQL-backed Orthanc, a stock Orthanc of the same
release in the same container (bench/archive.py: the packages' own /etc/orthanc, SQLite index);
trixie-pg10 is compared with the trixie one (same release, same Orthanc binary).

Phases, every platform in each one (interleaved rounds, so the drifting load of the shared
machine weighs on all of them alike):

1. hosts: ``scripts/lab up``, first ``site.yml`` converge and idempotent re-run, all hosts at once;
2. ingest on the empty archives: realistic CT (512x512 16-bit, STOW-RS, one instance per
   request) at 1 and 4 clients, through the front door (as ``uploader``: session cookie; Basic
   only), directly to the PostgreSQL-backed Orthanc and to the stock SQLite one;
3. WADO-RS frames of those CT instances, through the front door (as ``viewer``) and directly;
4. realistic fills (bench/archive.py: studies of ``--fill-per-study`` small instances): QIDO-RS
   at 100 studies; at ``--filled-studies`` (600 studies, >= 30,000 instances; the stock archives
   too) ingest on the filled archives and QIDO-RS again; at ``--fill-studies`` (1,000) QIDO-RS
   once more. QIDO-RS: OHIF 3's study list exactly as OHIF sends it, a PatientID search and
   Orthanc's own /tools/find for the same studies, through the front door and directly;
5. ``medimg.pacs.dicom_import`` vs a one-file-at-a-time uploader (bench/import_compare.py).

Writes bench/results/latest.md, bench/results/latest.png and bench/results/raw/run-*.json.
Traffic goes only to the bench containers and to loopback. Every loop is bounded in count and time.
"""
import argparse
import collections
import functools
import http.server
import io
import json
import os
import pathlib
import shutil
import tempfile
import threading
import time

from medimg_lab import labkit as lk

import archive  # bench/archive.py, next to this script
import httpbench as hb  # bench/httpbench.py

ROOT = pathlib.Path(__file__).resolve().parents[1]
BENCH_INV = ROOT / "bench" / "inventory"
CRED_DIR = ROOT / "bench" / "results" / "raw" / ".credentials"
NETWORK = "medimg-bench"
T0 = time.time()

# platform -> what it is; "stock": the platform whose host runs the stock SQLite Orthanc it is compared with
PLATFORMS = collections.OrderedDict([
    ("bookworm", {"release": "Debian 12", "stock": "bookworm", "install": "distribution packages"}),
    ("trixie", {"release": "Debian 13", "stock": "trixie", "install": "distribution packages"}),
    ("trixie-pg10", {"release": "Debian 13", "stock": "trixie", "pg10": True,
                     "install": "distribution Orthanc, PostgreSQL plugin built from ../shared/upstream "
                                "(orthanc_install_method upstream)"}),
])
FD_COOKIE, FD_BASIC, DIRECT, STOCK = "fd-cookie", "fd-basic", "direct", "stock"
KIND_LABEL = {FD_COOKIE: "nginx+TLS+login, cookie", FD_BASIC: "nginx+TLS+login, Basic only",
              DIRECT: "direct Orthanc (roles, PostgreSQL)", STOCK: "stock Orthanc (SQLite)"}
Target = collections.namedtuple("Target", "name make container kind platform")

# OHIF 3's study list, as OHIF 3.13 (roles/ohif's version) sends it: extensions/default/src/
# DicomWebDataSource/qido.js mapParams() with the role's data source (supportsFuzzyMatching false,
# no filter typed in), encoded by dicomweb-client's _parseQueryParameters (encodeURIComponent).
OHIF_STUDY_LIST = ("/dicom-web/studies?limit=101&offset=0&fuzzymatching=false"
                   "&includefield=00081030%2C00080060%2C00080090%2C00100030")
# The same as the front door forwards it to Orthanc (roles/nginx: %2C as ","; Orthanc's DICOMweb
# plugin splits includefield on a literal comma only): what the direct rows send.
OHIF_STUDY_LIST_FORWARDED = OHIF_STUDY_LIST.replace("%2C", ",")
FIND_BODY = json.dumps({"Level": "Study", "Query": {}, "Limit": 101, "Expand": True}).encode()
TARGETS = {  # the project's issue 13, for PostgreSQL plugin 10.3 on trixie
    "filled_vs_sqlite": 2.0, "filled_vs_empty": 0.9, "study_list_p95_ms": 500.0, "p95_growth": 1.5}
TARGET_RATIO = 0.9   # front door / direct (STOW at 4 clients, WADO frames)
CPU_COLS = ("nginx", "frontdoor-auth", "Orthanc", "PostgreSQL", "bench client")


def log(msg):
    la = os.getloadavg()
    print("[%6.1fs load %.2f %.2f %.2f] %s" % (time.time() - T0, la[0], la[1], la[2], msg), flush=True)


class Skip(Exception):
    """A platform that cannot be measured here; the message says why."""


# -- hosts -----------------------------------------------------------------------------------------
class Host:
    """One platform's lab host: container, converge figures, installed versions, its clients."""

    def __init__(self, platform):
        self.platform = platform
        self.spec = PLATFORMS[platform]
        self.inventory = BENCH_INV / ("%s.yml" % platform)
        self.container = "medimg-bench-" + platform
        self.extra = []          # extra ansible-playbook arguments (trixie-pg10: the served plugin files)
        self.ip = None
        self.converge = {}
        self.versions = {}
        self.stock = None        # archive.StockOrthanc running in this host

    def direct(self):
        admin = lk.secret(CRED_DIR, "orthanc_admin_password")
        return lambda: hb.Client(self.ip, 8042, "admin", admin)

    def front_door(self, user, cookies):
        password = lk.secret(CRED_DIR, "%s_password" % user)
        return lambda: hb.Client(self.ip, 443, user, password, tls=True, cookies=cookies)

    def read_versions(self):
        """What runs, as Orthanc itself reports it, and the index settings the role rendered."""
        c = self.direct()()
        try:
            system = c.get_json("/system")
            out = {"orthanc": system.get("Version"), "database": system.get("DatabaseBackendPlugin"),
                   "database_version": system.get("DatabaseVersion")}
            for key, plugin in (("postgresql", "postgresql-index"), ("dicomweb", "dicom-web")):
                try:
                    out[key] = c.get_json("/plugins/%s" % plugin).get("Version")
                except RuntimeError:
                    out[key] = None
        finally:
            c.close()
        res = lk.dexec(self.container, "python3", "-c",
                       "import json; c = json.load(open('/etc/orthanc/credentials.json')).get('PostgreSQL', {}); "
                       "print(json.dumps({k: c.get(k) for k in ('TransactionMode', 'IndexConnectionsCount')}))")
        out["index_settings"] = json.loads(res.stdout.strip())
        res = lk.dexec(self.container, "sh", "-c", "psql --version | awk '{print $3}'; nginx -v 2>&1 | sed 's,.*/,,'")
        out["postgresql_server"], out["nginx"] = (res.stdout.split() + ["?", "?"])[:2]
        self.versions = out
        return out

    def label(self):
        v = self.versions
        s = v.get("index_settings") or {}
        return ("Orthanc %s, PostgreSQL plugin %s (%s, %s index connection(s)), DICOMweb %s, PostgreSQL %s"
                % (v.get("orthanc"), v.get("postgresql"),
                   s.get("TransactionMode") or "Serializable: no TransactionMode",
                   s.get("IndexConnectionsCount") or 1, v.get("dicomweb"), v.get("postgresql_server")))


def pg10_plugin():
    """The PostgreSQL plugin 10.3 build directory and its build-info, or Skip with the reason."""
    try:
        from medimg_lab import plugin_build
    except ImportError as exc:
        raise Skip("medimg_lab.plugin_build is missing (%s)" % exc)
    try:
        out = plugin_build.build(log=log)
    except plugin_build.Unavailable as exc:
        raise Skip(str(exc))
    except plugin_build.BuildFailed as exc:
        raise Skip("the plugin build failed: %s" % str(exc).splitlines()[0])
    return out, plugin_build.info(out)


class _FileHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *_args):  # quiet: the bench prints what matters
        pass


class FileServer:
    """One directory over plain HTTP (GET only) on the bench network's gateway address, which only
    this machine and the bench's own containers reach: the lab host downloads the built plugin from
    it (orthanc_upstream_allow_http; the sha256 is checked all the same)."""

    def __init__(self, directory, address):
        handler = functools.partial(_FileHandler, directory=str(directory))
        self.httpd = http.server.ThreadingHTTPServer((address, 0), handler)
        self.address = address
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name):
        return "http://%s:%d/%s" % (self.address, self.httpd.server_address[1], name)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def network_gateway(network):
    res = lk.run(["docker", "network", "inspect", "-f", "{{range .IPAM.Config}}{{.Gateway}} {{end}}", network], 30)
    gateways = [g for g in res.stdout.split() if g.count(".") == 3]
    if not gateways:
        raise Skip("the Docker network %s has no IPv4 gateway to serve the plugin from" % network)
    return gateways[0]


def pg10_extra_vars(build_dir, info, server, workdir):
    """ansible-playbook -e @file for trixie-pg10: the served plugin files (URL + sha256); the rest of
    the upstream settings are in bench/inventory/host_vars/bench-trixie-pg10.yml."""
    files = [{"url": server.url("libOrthancPostgreSQLIndex.so"), "kind": "plugin", "name": "postgresql-index",
              "version": info["version"], "sha256": info["libraries"]["libOrthancPostgreSQLIndex.so"]}]
    # the run-time libraries it was linked against (the build's packages less the -dev ones)
    runtime = sorted({p.split()[0] for p in info.get("packages", []) if len(p.split()) == 2
                      and not p.split()[0].endswith("-dev")})
    path = pathlib.Path(workdir) / "pg10-vars.json"
    path.write_text(json.dumps({"bench_pg10_version": info["version"], "bench_pg10_files": files,
                                "bench_pg10_packages": runtime}))
    return ["-e", "@%s" % path]


def converge_all(hosts, label):
    """site.yml on every host at once (one ansible-playbook per host, each in its own thread):
    {platform: {wall_s, changed} or {error}}."""
    results = {}

    def one(h):
        try:
            wall, recap, _out = lk.converge(h.inventory, extra=h.extra, timeout=1500)
            results[h.platform] = {"wall_s": round(wall, 1), "changed": sum(r["changed"] for r in recap.values())}
        except Exception as exc:  # noqa: BLE001  the platform is dropped with the reason, the others go on
            results[h.platform] = {"error": str(exc)}
    threads = [threading.Thread(target=one, args=(h,), daemon=True) for h in hosts]
    started = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join(1600)
    wall = time.time() - started
    for h in hosts:
        r = results.get(h.platform) or {"error": "no result within 1600 s"}
        results[h.platform] = r
        log("%s converge %-12s %s" % (label, h.platform, ("%.0f s, changed=%d" % (r["wall_s"], r["changed"]))
                                      if "error" not in r else "FAILED: " + r["error"][:2000]))
    log("%s converge of %d host(s) at once: %.0f s" % (label, len(hosts), wall))
    return results, round(wall, 1)


# -- measurements ------------------------------------------------------------------------------------
# Every row is measured in interleaved rounds: each round runs every target once (the order rotating
# from round to round), so that the load of the shared machine, which drifts over seconds, weighs on
# every target alike. A row adds up its rounds (requests / wall time).
def per_request_ms(cpu, n):
    return {k: round(v * 1000.0 / n, 2) for k, v in cpu.items()} if cpu and n else None


def cpu_text(used, n):
    if not used or not n:
        return ""
    return "; CPU ms/request " + ", ".join("%s %.2f" % (k, v * 1000.0 / n) for k, v in used.items() if v)


def interleaved(kind, targets, clients, rounds, run_round, meters, prepare=None):
    """Rows for one client count. run_round(round, slot, target, pool) -> (done, elapsed, errors, extra);
    prepare(round), untimed, before each round. meters: {container: hb.ContainerCPU}; the CPU of a
    target in a bench container is recorded (not for the stock Orthanc, which shares the container)."""
    pools = {t.name: hb.Pool(t.make, clients) for t in targets}
    acc = {t.name: {"done": 0, "elapsed": 0.0, "errors": [], "rates": [], "cpu": {}, "load": [], "extra": 0}
           for t in targets}
    try:
        for r in range(rounds):
            if prepare:
                prepare(r)
            k = r % len(targets)
            for t in targets[k:] + targets[:k]:
                slot = targets.index(t)
                a = acc[t.name]
                pools[t.name].warm()
                a["load"].append(os.getloadavg()[0])
                meter = meters[t.container].start() if (meters and t.kind != STOCK) else None
                done, elapsed, errors, extra = run_round(r, slot, t, pools[t.name])
                used = meter.stop() if meter else None
                a["done"] += done
                a["elapsed"] += elapsed
                a["errors"] += errors
                a["extra"] += extra
                a["rates"].append(round(done / elapsed, 1) if elapsed else 0.0)
                for g, v in (used or {}).items():
                    a["cpu"][g] = a["cpu"].get(g, 0.0) + v
        rows = []
        for t in targets:
            a = acc[t.name]
            rate = a["done"] / a["elapsed"] if a["elapsed"] else 0.0
            cpu_s = {g: round(v, 2) for g, v in a["cpu"].items()} or None
            rows.append({"target": t.name, "platform": t.platform, "kind": t.kind, "clients": clients,
                         "done": a["done"], "elapsed": round(a["elapsed"], 2),
                         "rate": round(rate, 1), "round_rates": a["rates"], "errors": len(a["errors"]),
                         "first_error": a["errors"][0] if a["errors"] else None,
                         "load1": round(sum(a["load"]) / len(a["load"]), 2), "http": pools[t.name].stats(),
                         "cpu_s": cpu_s, "cpu_ms_per_request": per_request_ms(cpu_s, a["done"]), "extra": a["extra"]})
            log("%-6s %-44s %d client(s): %5d in %6.1f s = %6.1f/s (rounds %s)%s%s"
                % (kind, t.name, clients, a["done"], a["elapsed"], rate, " ".join("%.0f" % x for x in a["rates"]),
                   cpu_text(cpu_s, a["done"]),
                   (" (%d errors, first %s)" % (len(a["errors"]), a["errors"][0])) if a["errors"] else ""))
        return rows
    finally:
        for pool in pools.values():
            pool.close()


def ingest_matrix(targets, template, count, clients_list, rounds, time_limit, meters, state):
    """STOW-RS ``count`` fresh CT slices per (clients, target), in ``rounds`` interleaved rounds.
    Returns (rows, refs): refs {platform: [(study, series, sop)]} of the instances the platform's
    PostgreSQL-backed Orthanc acknowledged, for the WADO-RS retrieval."""
    from pydicom import dcmread

    per_round = max(1, -(-count // rounds))
    rows, refs, batches_of = [], {}, {}
    for clients in clients_list:
        batches_of[clients] = {}

        def prepare(r, clients=clients):
            batches = batches_of[clients]
            batches.clear()
            for i, t in enumerate(targets):
                items = lk.make_instances(template, 1, per_round, "%s%d%d%02d" % (state[0], clients, r, i))
                # one study with one series per batch (labkit.make_instances)
                series = dcmread(io.BytesIO(items[0][2]), stop_before_pixels=True).SeriesInstanceUID
                batches[(r, t.name)] = (items, hb.stow_bodies(items), series)

        def run_round(r, _slot, t, pool, clients=clients):
            items, bodies, series = batches_of[clients][(r, t.name)]
            acked, elapsed, errors = hb.stow(pool, bodies, time_limit / rounds)
            if t.kind != STOCK:
                done = set(acked)
                refs.setdefault(t.platform, []).extend((study, series, sop) for sop, study, _data in items
                                                       if sop in done)
            return len(acked), elapsed, errors, len(items)

        for row in interleaved("ingest", targets, clients, rounds, run_round, meters, prepare):
            row["ips"], row["stored"], row["sent"] = row.pop("rate"), row.pop("done"), row.pop("extra")
            row["archive"] = state
            rows.append(row)
    return rows, refs


def wado_matrix(targets, refs, clients_list, count, rounds, time_limit, min_bytes, meters):
    """WADO-RS frame 1, ``count`` requests per (clients, target) in ``rounds`` interleaved rounds.

    Every (round, target) gets its own slice of its platform's ``refs``, so that no target reads
    instances another one has just put into Orthanc's storage cache (MaximumStorageCacheSize)."""
    per_round = max(1, -(-count // rounds))
    rows, offset = [], 0
    for clients in clients_list:
        base = offset

        def run_round(r, slot, t, pool, base=base):
            mine = refs[t.platform]
            start = base + (r * len(targets) + slot) * per_round
            chunk = [mine[(start + i) % len(mine)] for i in range(per_round)]
            return hb.frames(pool, chunk, time_limit / rounds, min_bytes)

        for row in interleaved("wado", targets, clients, rounds, run_round, meters):
            nbytes = row.pop("extra")
            row["fps"], row["frames"], row["requested"] = row.pop("rate"), row.pop("done"), per_round * rounds
            row["mib_s"] = round(nbytes / 1048576.0 / row["elapsed"], 1) if row["elapsed"] else 0.0
            rows.append(row)
        offset += rounds * len(targets) * per_round
    return rows


def qido_latency(target, n, time_limit, patient_ids):
    """p50/p95/max of OHIF's study list, a PatientID search and (direct only) /tools/find for the
    same studies: ``n`` requests of each, at most ``time_limit`` seconds of each."""
    study_list = OHIF_STUDY_LIST_FORWARDED if target.kind == DIRECT else OHIF_STUDY_LIST
    queries = [("OHIF study list", "GET", lambda i: study_list, None),
               ("by PatientID", "GET", lambda i: "/dicom-web/studies?PatientID=%s" % patient_ids[i % len(patient_ids)],
                None)]
    if target.kind == DIRECT:
        queries.append(("/tools/find (Orthanc REST, Expand)", "POST", lambda i: "/tools/find", FIND_BODY))
    out = {}
    client = target.make()
    try:
        for label, method, path_of, body in queries:
            times, answers, described, deadline = [], set(), None, time.time() + time_limit
            for i in range(n):
                if time.time() > deadline:
                    break
                headers = {"Accept": "application/dicom+json" if method == "GET" else "application/json"}
                if body:
                    headers["Content-Type"] = "application/json"
                t = time.perf_counter()
                status, data = client.request(method, path_of(i), body=body, headers=headers)
                times.append((time.perf_counter() - t) * 1000.0)
                if status not in (200, 204):
                    raise RuntimeError("QIDO %s %s: HTTP %d %s" % (target.name, path_of(i), status, data[:200]))
                found = json.loads(data.decode() or "[]")
                answers.add(len(found))
                if method == "GET":   # OHIF's Description column: StudyDescription in each study of the list
                    described = "%d/%d" % (sum(1 for x in found if "00081030" in x), len(found))
            out[label] = {"p50_ms": round(lk.percentile(times, 50), 1), "p95_ms": round(lk.percentile(times, 95), 1),
                          "max_ms": round(max(times), 1), "n": len(times), "answers": sorted(answers),
                          "with_description": described}
    finally:
        client.close()
    return out


def archive_counts(make_client):
    c = make_client()
    try:
        s = c.get_json("/statistics")
    finally:
        c.close()
    return {"studies": int(s["CountStudies"]), "instances": int(s["CountInstances"])}


def qido_round(targets, level_name, n, time_limit, patient_ids, results):
    """Every QIDO-RS target once (targets of one platform back to back), at the current fill."""
    for t in targets:
        counts = archive_counts(t.make) if t.kind == DIRECT else None
        res = qido_latency(t, n, time_limit, patient_ids)
        key = "%s @ %s" % (t.name, level_name)
        if counts is None:
            counts = next((v["archive"] for v in results.values()
                           if v["platform"] == t.platform and v["level"] == level_name), {})
        results[key] = {"target": t.name, "platform": t.platform, "kind": t.kind, "level": level_name,
                        "archive": counts, "queries": res}
        log("qido %-44s %5s studies / %6s instances: %s" % (
            t.name, counts.get("studies", "?"), counts.get("instances", "?"), "; ".join(
                "%s p50 %.0f p95 %.0f max %.0f ms (n %d)" % (k, v["p50_ms"], v["p95_ms"], v["max_ms"], v["n"])
                for k, v in res.items())))


def fill_archives(jobs, args, template, fills, level_name):
    """Fill several archives (different containers) to their levels at once (archive.fill_parallel)."""
    clients = 4 if len(jobs) == 1 else 2
    kw = {name: {"make_client": mk, "studies": studies, "label": name, "per_study": args.fill_per_study,
                 "template": template, "tag": "L%s-%d" % (level_name, i), "clients": clients,
                 "time_limit": args.fill_seconds}
          for i, (name, (mk, studies)) in enumerate(sorted(jobs.items()))}
    started = time.time()
    res = archive.fill_parallel(kw, log=log)
    log("fill %s: %d archive(s) at once in %.0f s" % (level_name, len(jobs), time.time() - started))
    for name, r in res.items():
        fills.setdefault(name, []).append(dict(r, level=level_name))
    return res


def import_compare(count, size):
    import import_compare as ic

    workdir = pathlib.Path(tempfile.mkdtemp(prefix="medimg-bench-import-"))
    try:
        src = workdir / "data"
        ic.generate(src, count, size)
        files = sorted(src.glob("*.dcm"))
        out = {"count": count, "size": size, "links": []}
        # loopback, then a 20 ms round trip (10 ms each way) through medimg_lab.delay_proxy:
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


def _fmt(v, unit="", digits=0):
    if v is None:
        return "-"
    return ("%%.%df%%s" % digits) % (v, unit)


def _mark(value, target, higher_is_better=True):
    if value is None:
        return "-"
    ok = value >= target if higher_is_better else value <= target
    return "**%s** (%s)" % (value, "met" if ok else "missed")


def _instances(res, level):
    counts = [v["instances"] for v in (res.get("archives_%d" % level) or {}).values()]
    return ("%d to %d" % (min(counts), max(counts))) if counts else "?"


def report(res, path_md, path_png):
    lv = res["levels"]["levels"]
    lo, hi, filled = min(lv), max(lv), res["levels"]["filled"]
    lines = ["# medimg.pacs benchmark — latest run", "",
             "Generated by `bench/run` on %s; %d CPUs; load average at start %s, at end %s; total wall time "
             "**%.0f s** (%.1f min). The machine is shared with other work: compare figures from the same run only."
             % (res["date"], os.cpu_count(), res["load_start"], res["load_end"], res["wall_s"], res["wall_s"] / 60.0),
             ""]
    for p, why in res["skipped"].items():
        lines += ["**Platform %s skipped:** %s" % (p, why.replace("\n", " ")), ""]
    lines += ["## Platforms", "",
              "Each platform is its own lab host converged with `site.yml` (bench/inventory/<platform>.yml). "
              "Ingest: realistic CT (512x512 16-bit, STOW-RS, one instance per request), 4 clients, directly to "
              "the PostgreSQL-backed Orthanc the roles deploy and to a stock SQLite Orthanc of the same release in "
              "the same container, on the empty archive and on the filled one (%d studies of %d instances: %s "
              "instances). Study list: OHIF 3's own query, p95 through the front door (nginx, TLS, login "
              "as `viewer`, session cookie)." % (filled, res["args"]["fill_per_study"], _instances(res, filled)), "",
              "| platform | what runs | PostgreSQL empty /s | SQLite empty /s | PostgreSQL filled /s "
              "| SQLite filled /s "
              "| filled: PostgreSQL / SQLite | PostgreSQL filled / empty | study list p95 ms %s | p95(%d) / p95(%d) |"
              % (" / ".join("@%d" % level for level in lv), hi, lo),
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for p, s in res["summary"].items():
        info = res["platforms"][p]
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            p, info["label"], _fmt(s["pg_empty"]), _fmt(s["sqlite_empty"]), _fmt(s["pg_filled"]),
            _fmt(s["sqlite_filled"]), _fmt(s["filled_vs_sqlite"], "x", 2), _fmt(s["filled_vs_empty"], "x", 2),
            " / ".join(_fmt(s.get("p95_%s_%d" % (FD_COOKIE, level))) for level in lv), _fmt(s["p95_growth"], "x", 2)))
    lines += ["", "The SQLite column of trixie-pg10 is the trixie host's stock Orthanc (same release, same Orthanc "
              "binary), measured in the same interleaved rounds.", "",
              "Targets of the project's issue 13 (for PostgreSQL plugin 10.3 on trixie; the distribution plugins "
              "reported beside it):", ""]
    for p, s in res["summary"].items():
        lines.append("- %s: filled PostgreSQL / stock SQLite at 4 clients %s (target >= %.1f; rounds %s); "
                     "filled / empty %s (target >= %.1f); study list p95 at %d studies through the front door %s "
                     "(target <= %.0f ms); p95(%d) / p95(%d) %s (target <= %.1f)"
                     % (p, _mark(s["filled_vs_sqlite"], TARGETS["filled_vs_sqlite"]),
                        TARGETS["filled_vs_sqlite"],
                        " / ".join("%.2f" % x for x in s["filled_vs_sqlite_rounds"]) or "-",
                        _mark(s["filled_vs_empty"], TARGETS["filled_vs_empty"]), TARGETS["filled_vs_empty"],
                        hi, _mark(s.get("p95_%s_%d" % (FD_COOKIE, hi)), TARGETS["study_list_p95_ms"], False),
                        TARGETS["study_list_p95_ms"], hi, lo, _mark(s["p95_growth"], TARGETS["p95_growth"], False),
                        TARGETS["p95_growth"]))
    lines += ["", "Method: every row is split into %d rounds; a round runs every target of every platform once, back "
              "to back, in an order that rotates from round to round, so the drifting load of the shared machine "
              "weighs on all of them alike; a row is the sum of its rounds. Each target keeps its client connections "
              "(keep-alive) for all its rounds; before each timed round every connection makes one untimed request "
              "(connection, TLS handshake, login). STOW-RS bodies are built before the clock starts. Front-door "
              "clients log in as `uploader` (STOW-RS) or `viewer` (reads): **cookie** keeps the session cookie like "
              "a browser, **Basic only** sends Basic credentials only (`curl -u`, `dicom_import`). Direct: Orthanc's "
              "own Basic authentication (account `admin`). A viewer's STOW-RS through the front door: %s."
              % (res["args"]["rounds"], ", ".join("%s %s" % kv for kv in res["viewer_stow"].items())), ""]

    lines += ["## Ingest, realistic CT (512x512 16-bit, STOW-RS, 1 instance per request)", "",
              "| target | archive | clients | instances/s | per round | stored/sent | load1 |",
              "|---|---|---:|---:|---|---:|---:|"]
    for r in res["ingest"]:
        lines.append("| %s | %s | %d | %.1f | %s | %d/%d | %.2f |" % (
            r["target"], r["archive"], r["clients"], r["ips"], _rounds(r), r["stored"], r["sent"], r["load1"]))

    lines += ["", "## Archives: realistic fills", "",
              "Studies of %d instances (%dx%d 16-bit CT, one series each, one study per STOW-RS request, the archives "
              "of different hosts filled at once), each step bounded to %.0f s. The CT studies of the ingest rows "
              "count as studies too." % (
                  res["args"]["fill_per_study"], res["args"]["fill_size"], res["args"]["fill_size"], res["args"]["fill_seconds"]), "",
              "| archive | level | studies before -> after | instances acknowledged/sent | s | instances/s "
              "| failed requests |",
              "|---|---:|---|---:|---:|---:|---:|"]
    for name, steps in res["fills"].items():
        for f in steps:
            if "error" in f:
                lines.append("| %s | %s | failed: %s | | | | |" % (name, f["level"], f["error"]))
                continue
            lines.append("| %s | %s | %d -> %d | %d/%d | %.0f | %.0f | %d |" % (
                name, f["level"], f["before"], f["studies"], f["acknowledged"], f["instances_sent"], f["elapsed"],
                f["instances_per_s"], f["errors"]))
    for level in lv:
        counts = res.get("archives_%d" % level) or {}
        lines.append("")
        lines.append("At level %d: " % level + "; ".join(
            "%s %d studies, %d instances" % (k, v["studies"], v["instances"]) for k, v in counts.items()) + ".")

    lines += ["", "## QIDO-RS (latency per request, ms)", "",
              "**OHIF study list** is OHIF 3.13's own worklist query (roles/ohif's version; "
              "extensions/default/src/DicomWebDataSource/qido.js `mapParams`, no filter typed in, "
              "`supportsFuzzyMatching: false` as the role configures it, encoded as dicomweb-client does): `GET %s`, "
              "Accept `application/dicom+json`; the direct rows send it as the front door forwards it, `%%2C` as `,` "
              "(roles/nginx: Orthanc's DICOMweb plugin splits includefield on a literal comma only, and ignored OHIF's "
              "encoded list). **by PatientID**: one fill patient per request. **/tools/find**: "
              "Orthanc's own REST search for the same 101 studies (`{\"Level\": \"Study\", \"Limit\": 101, "
              "\"Expand\": true}`), direct only. At most %d requests or %.0f s of each per level; answers: the "
              "number of studies in the answers." % (res["ohif_query"], res["args"]["qido_n"],
                                                     res["args"]["qido_seconds"]), "",
              "| target | studies | instances | query | p50 | p95 | max | n | answers | with StudyDescription |",
              "|---|---:|---:|---|---:|---:|---:|---:|---|---:|"]
    for v in res["qido"].values():
        for q, m in v["queries"].items():
            lines.append("| %s | %s | %s | %s | %.1f | %.1f | %.1f | %d | %s | %s |" % (
                v["target"], v["archive"].get("studies", "?"), v["archive"].get("instances", "?"), q, m["p50_ms"],
                m["p95_ms"], m["max_ms"], m["n"], ",".join(str(a) for a in m["answers"]),
                m.get("with_description") or "-"))

    if res.get("wado"):
        w = res["wado"]
        lines += ["", "## WADO-RS frame retrieval (frame 1 of the CT instances above, uncompressed 512 KiB)", "",
                  "`GET /dicom-web/studies/{s}/series/{se}/instances/{i}/frames/1`, Accept `%s`, round-robin over the "
                  "CT instances each platform's Orthanc stored above, after one untimed pass over all of them (%s). "
                  "Every (round, target) reads its own instances. At most %d requests or %.0f s per row."
                  % (hb.WADO_ACCEPT, "; ".join("%s %d frames in %.0f s" % (p, x["frames"], x["elapsed"])
                                               for p, x in w["warm_up"].items()),
                     res["args"]["frames"], res["args"]["frames_seconds"]), "",
                  "| target | clients | frames/s | per round | MiB/s | frames/requested | errors | load1 |",
                  "|---|---:|---:|---|---:|---:|---:|---:|"]
        for r in w["rows"]:
            lines.append("| %s | %d | %.1f | %s | %.1f | %d/%d | %d | %.2f |" % (
                r["target"], r["clients"], r["fps"], _rounds(r), r["mib_s"], r["frames"], r["requested"],
                r["errors"], r["load1"]))
    lines += ["", "## Front door / direct (same run, empty archives)", ""]
    for k, v in res["ratios"].items():
        mark = ""
        if v is not None and " front door (cookie) / direct" in k and ("WADO" in k or "4 client" in k):
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
                  "User+system time of each process group in the target's bench container (/proc, all threads; the "
                  "stock Orthanc of that container counts under other) and of the bench client (this process), "
                  "divided by the requests answered. Client and containers share the machine's %d cores."
                  % os.cpu_count(), "",
                  "| request | target | archive | clients | %s | connections |" % " | ".join(CPU_COLS),
                  "|---|---|---|---:|" + "---:|" * len(CPU_COLS) + "---|"]
        for kind, r in cpu_rows:
            lines.append("| %s | %s | %s | %d | %s | %s |" % (
                kind, r["target"], r.get("archive", "empty"), r["clients"], _cpu_cells(r), _http_cell(r)))
    lines += ["", "## Converge (all-in-one hosts, `site.yml`, every platform's host at once)", "",
              "| platform | first converge s | changed | idempotent re-run s | changed |", "|---|---:|---:|---:|---:|"]
    for p, info in res["platforms"].items():
        c = info.get("converge") or {}
        if c:
            lines.append("| %s | %.0f | %d | %.0f | %d |" % (
                p, c["first_s"], c["first_changed"], c["second_s"], c["second_changed"]))
    if res.get("converge_wall"):
        cw = res["converge_wall"]
        lines += ["", "Wall time of the %d hosts' converges, run at once: first %.0f s, re-run %.0f s."
                  % (cw["hosts"], cw["first_s"], cw["second_s"])]
    if res.get("pg10_build"):
        b = res["pg10_build"]
        lines += ["", "PostgreSQL plugin %s: built from `%s` in `%s` (medimg_lab.plugin_build, cached; %.0f s when it "
                  "was built) against %s." % (b["version"], b["tarball"], b["image"], b["build_seconds"] or 0,
                                              ", ".join(b.get("packages") or []))]
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
    plot(res, path_png)


def plot(res, path_png):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib missing (pip install -r bench/requirements.txt): no plot")
        return
    summary = res["summary"]
    plats = list(summary)
    lv = res["levels"]["levels"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5.5))
    bars = (("pg_empty", "PostgreSQL, empty"), ("pg_filled", "PostgreSQL, filled"), ("sqlite_empty", "SQLite, empty"),
            ("sqlite_filled", "SQLite, filled"))
    width = 0.8 / len(bars)
    for i, (key, label) in enumerate(bars):
        ax1.bar([j + i * width for j in range(len(plats))], [summary[p][key] or 0 for p in plats], width, label=label)
    ax1.set_xticks([j + width * (len(bars) - 1) / 2 for j in range(len(plats))])
    ax1.set_xticklabels(plats)
    ax1.set_ylabel("CT instances/s (512x512, 4 clients)")
    ax1.set_title("STOW-RS ingest, empty vs filled archive")
    ax1.legend(fontsize=8)
    width = 0.8 / max(len(lv), 1)
    for i, level in enumerate(lv):
        ax2.bar([j + i * width for j in range(len(plats))],
                [summary[p].get("p95_%s_%d" % (FD_COOKIE, level)) or 0 for p in plats], width,
                label="%d studies" % level)
    ax2.axhline(TARGETS["study_list_p95_ms"], color="grey", linestyle="--", linewidth=1)
    ax2.set_xticks([j + width * (len(lv) - 1) / 2 for j in range(len(plats))])
    ax2.set_xticklabels(plats)
    ax2.set_ylabel("ms (p95)")
    ax2.set_title("OHIF study list through the front door")
    ax2.legend(fontsize=8)
    fig.suptitle("medimg.pacs bench %s (load %s -> %s)" % (res["date"], res["load_start"], res["load_end"]))
    fig.tight_layout()
    fig.savefig(str(path_png), dpi=90)


# -- the run -------------------------------------------------------------------------------------------
def row_of(rows, name, clients, archive_state=None):
    return next((r for r in rows if r["target"] == name and r["clients"] == clients
                 and (archive_state is None or r.get("archive") == archive_state)), None)


def ratio(rows, a, b, clients, state_a=None, state_b=None, field="ips"):
    ra, rb = row_of(rows, a, clients, state_a), row_of(rows, b, clients, state_b)
    return round(ra[field] / rb[field], 2) if ra and rb and ra[field] and rb[field] else None


def round_ratios(rows, a, b, clients, state_a=None, state_b=None):
    """The same ratio round by round (a and b measured back to back in each round)."""
    ra, rb = row_of(rows, a, clients, state_a), row_of(rows, b, clients, state_b)
    if not ra or not rb:
        return []
    return [round(x / y, 2) for x, y in zip(ra["round_rates"], rb["round_rates"]) if x and y]


def name_of(platform, kind):
    return "%s: %s" % (platform, KIND_LABEL[kind])


def skip(res, hosts, host, reason):
    log("platform %s SKIPPED: %s" % (host.platform, reason))
    res["skipped"][host.platform] = " ".join(reason.split())[:900]
    if host in hosts:
        hosts.remove(host)


def run(args, res, hosts, workdir):
    meters = {}
    pg10 = next((h for h in hosts if h.spec.get("pg10")), None)
    build = None
    if pg10:
        try:
            build = pg10_plugin()
            res["pg10_build"] = {k: build[1].get(k) for k in (
                "version", "tarball", "image", "build_seconds", "packages", "cmake_flags")}
            log("PostgreSQL plugin %s: %s" % (build[1]["version"], build[0]))
        except Skip as exc:
            skip(res, hosts, pg10, str(exc))
            pg10 = None
    if not hosts:
        raise RuntimeError("no platform left to measure: %s" % res["skipped"])
    if not args.reuse:
        for h in hosts:
            lk.lab("destroy", h.inventory)      # a fresh host: the first converge is a real one
        for h in hosts:
            lk.lab("up", h.inventory)
    server = None
    if pg10:
        try:
            server = FileServer(build[0], network_gateway(NETWORK))
            pg10.extra = pg10_extra_vars(build[0], build[1], server, workdir)
        except Skip as exc:
            skip(res, hosts, pg10, str(exc))
    try:
        if not args.reuse:
            first, wall1 = converge_all(hosts, "first")
            for h in list(hosts):
                if "error" in first[h.platform]:
                    skip(res, hosts, h, "the first converge failed: " + first[h.platform]["error"][:2000])
            if not hosts:
                raise RuntimeError("no platform converged: %s" % res["skipped"])
            second, wall2 = converge_all(hosts, "idempotent re-run")
            res["converge_wall"] = {"first_s": wall1, "second_s": wall2, "hosts": len(hosts)}
            for h in list(hosts):
                if "error" in second[h.platform]:
                    skip(res, hosts, h, "the second converge failed: " + second[h.platform]["error"][:2000])
                    continue
                h.converge = {"first_s": first[h.platform]["wall_s"], "first_changed": first[h.platform]["changed"],
                              "second_s": second[h.platform]["wall_s"],
                              "second_changed": second[h.platform]["changed"]}
    finally:
        if server:
            server.stop()
    for h in hosts:
        h.ip = lk.container_ip(h.container, NETWORK)
        lk.wait_http(h.direct()(), "/dicom-web/studies?limit=1", timeout=120)
        h.read_versions()
        meters[h.container] = hb.ContainerCPU(h.container)
        log("platform %-12s %s" % (h.platform, h.label()))
    by_platform = {h.platform: h for h in hosts}
    for h in hosts:
        owner = by_platform.get(h.spec["stock"], h)
        if owner.stock is None:
            owner.stock = archive.StockOrthanc(owner.container, owner.ip).start()
            log("stock Orthanc in %s: %s, shipped configuration files %s" % (
                owner.container, owner.stock.info["versions"], ", ".join(owner.stock.info["files"])))
        h.stock_owner = owner

    def target(h, kind, make):
        return Target(name_of(h.platform, kind), make, h.container, kind, h.platform)

    def stock_target(owner):
        st = owner.stock
        return Target(name_of(owner.platform, STOCK),
                      lambda: hb.Client(owner.ip, archive.STOCK_PORT, st.USER, st.password),
                      owner.container, STOCK, owner.platform)

    stow_targets, read_targets, qido_targets, stocks = [], [], [], []
    for h in hosts:
        stow_targets += [target(h, FD_COOKIE, h.front_door("uploader", True)), target(h, DIRECT, h.direct()),
                         target(h, FD_BASIC, h.front_door("uploader", False))]
        read_targets += [target(h, FD_COOKIE, h.front_door("viewer", True)), target(h, DIRECT, h.direct()),
                         target(h, FD_BASIC, h.front_door("viewer", False))]
        qido_targets += [target(h, DIRECT, h.direct()), target(h, FD_COOKIE, h.front_door("viewer", True))]
        if h.stock_owner is h:
            stocks.append(stock_target(h))
    for t in stow_targets + read_targets + stocks:
        lk.wait_http(t.make(), "/dicom-web/studies?limit=1", timeout=120)
    template = lk.template(512, 512)
    res["viewer_stow"] = {}
    for h in hosts:   # the roles are part of what is measured: a viewer may read, not store
        probe = lk.make_instances(template, 1, 1, "PROBE")
        _acked, _el, errs = lk.stow(h.front_door("viewer", True), probe, clients=1, time_limit=30)
        res["viewer_stow"][h.platform] = errs[0] if errs else "stored (expected HTTP 403)"
        log("STOW-RS as viewer through the front door of %s: %s" % (h.platform, res["viewer_stow"][h.platform]))

    # ingest on the empty archives, then WADO-RS frames of what was stored
    ing, refs = ingest_matrix(stow_targets + stocks, template, args.ct, (1, 4), args.rounds, 180, meters, "empty")
    res["ingest"] = ing
    res["wado"] = None
    if refs and args.frames > 0:
        min_bytes = template.Rows * template.Columns * template.BitsAllocated // 8
        warm = {}
        for h in hosts:     # every frame once, untimed, so no measured path reads a file for the first time
            pool = hb.Pool(h.direct(), 4)
            got, elapsed, _errors, _bytes = hb.frames(pool, refs.get(h.platform, []), 120, min_bytes)
            pool.close()
            warm[h.platform] = {"frames": got, "instances": len(refs.get(h.platform, [])), "elapsed": round(elapsed, 1)}
            log("wado   warm-up %s: %d/%d frames in %.1f s" % (h.platform, got, len(refs.get(h.platform, [])), elapsed))
        res["wado"] = {"warm_up": warm, "rows": wado_matrix(read_targets, refs, (1, 4), args.frames, args.rounds,
                                                            args.frames_seconds, min_bytes, meters)}

    # realistic fills; QIDO-RS at each level; ingest again on the filled archives
    small = lk.template(args.fill_size, args.fill_size)
    full = args.fill_studies
    filled = min(args.filled_studies, full)
    levels = sorted({min(100, full), filled, full})
    res["fills"], res["qido"], res["levels"] = {}, {}, {"levels": levels, "filled": filled}
    patients = {}
    for level in levels:
        jobs = {h.platform: (h.direct(), level) for h in hosts}
        if level == filled:
            jobs.update({s.name: (s.make, level) for s in stocks})
        done = fill_archives(jobs, args, small, res["fills"], "%d" % level)
        for h in hosts:
            patients.setdefault(h.platform, []).extend(done.get(h.platform, {}).get("patients", []))
        res["archives_%d" % level] = {name: archive_counts(mk) for name, (mk, _n) in jobs.items()}
        log("archives at level %d: %s" % (level, res["archives_%d" % level]))
        for h in hosts:
            qido_round([t for t in qido_targets if t.platform == h.platform], "%d" % level, args.qido_n,
                       args.qido_seconds, patients.get(h.platform) or ["NONE"], res["qido"])
        if level == filled:
            rows, _refs = ingest_matrix([t for t in stow_targets if t.kind == DIRECT] + stocks, template, args.ct,
                                        (1, 4), args.rounds, 180, meters, "filled")
            res["ingest"] += rows
    res["import"] = import_compare(args.import_count, 512) if args.import_count else None
    for h in hosts:
        res["platforms"][h.platform] = {"versions": h.versions, "label": h.label(), "converge": h.converge,
                                        "stock": h.stock_owner.platform, "install": h.spec["install"]}
    ratios(res, hosts)


def ratios(res, hosts):
    ing = res["ingest"]
    res["ratios"], res["ratio_rounds"], res["summary"] = {}, {}, {}

    def add(key, rows, a, b, cl, sa=None, sb=None, field="ips"):
        res["ratios"][key] = ratio(rows, a, b, cl, sa, sb, field)
        if field == "ips":
            res["ratio_rounds"][key] = round_ratios(rows, a, b, cl, sa, sb)

    wrows = [dict(r, ips=r["fps"]) for r in ((res.get("wado") or {}).get("rows") or [])]
    for h in hosts:
        p, stock = h.platform, name_of(h.stock_owner.platform, STOCK)
        direct = name_of(p, DIRECT)
        for cl in (1, 4):
            add("%s: STOW-RS front door (cookie) / direct, %d client(s)" % (p, cl), ing, name_of(p, FD_COOKIE), direct,
                cl, "empty", "empty")
            add("%s: STOW-RS front door (Basic only) / direct, %d client(s)" % (p, cl), ing, name_of(p, FD_BASIC),
                direct, cl, "empty", "empty")
            if wrows:
                add("%s: WADO-RS frames front door (cookie) / direct, %d client(s)" % (p, cl), wrows,
                    name_of(p, FD_COOKIE), direct, cl)
                add("%s: WADO-RS frames front door (Basic only) / direct, %d client(s)" % (p, cl), wrows,
                    name_of(p, FD_BASIC), direct, cl)
        s = {}
        for state in ("empty", "filled"):
            for kind, name in (("pg", direct), ("sqlite", stock)):
                r = row_of(ing, name, 4, state)
                s["%s_%s" % (kind, state)] = r["ips"] if r else None
        s["filled_vs_sqlite"] = ratio(ing, direct, stock, 4, "filled", "filled")
        s["filled_vs_empty"] = ratio(ing, direct, direct, 4, "filled", "empty")
        s["empty_vs_sqlite"] = ratio(ing, direct, stock, 4, "empty", "empty")
        s["sqlite_filled_vs_empty"] = ratio(ing, stock, stock, 4, "filled", "empty")
        s["filled_vs_sqlite_rounds"] = round_ratios(ing, direct, stock, 4, "filled", "filled")
        lv = res["levels"]["levels"]
        for kind in (FD_COOKIE, DIRECT):
            for level in lv:
                q = res["qido"].get("%s @ %d" % (name_of(p, kind), level))
                if q:
                    s["p95_%s_%d" % (kind, level)] = q["queries"]["OHIF study list"]["p95_ms"]
        lo, hi = min(lv), max(lv)
        a, b = s.get("p95_%s_%d" % (FD_COOKIE, hi)), s.get("p95_%s_%d" % (FD_COOKIE, lo))
        s["p95_growth"] = round(a / b, 2) if a and b and hi != lo else None
        res["summary"][p] = s
        log("platform %-12s ingest 4 clients: PostgreSQL %s/s empty, %s/s filled; SQLite %s/s empty, %s/s filled; "
            "filled PG/SQLite %s (target >= %.1f), PG filled/empty %s (target >= %.1f); study list p95 through the "
            "front door %s ms, p95(%d)/p95(%d) %s (target <= %.1f)"
            % (p, s["pg_empty"], s["pg_filled"], s["sqlite_empty"], s["sqlite_filled"], s["filled_vs_sqlite"],
               TARGETS["filled_vs_sqlite"], s["filled_vs_empty"], TARGETS["filled_vs_empty"],
               " / ".join("%s @ %d" % (s.get("p95_%s_%d" % (FD_COOKIE, level)), level) for level in lv),
               hi, lo, s["p95_growth"], TARGETS["p95_growth"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--platforms", default=",".join(PLATFORMS),
                    help="comma-separated, of %s (default: all)" % ", ".join(PLATFORMS))
    ap.add_argument("--ct", type=int, default=240, help="CT slices per ingest row (default 240)")
    ap.add_argument("--frames", type=int, default=400, help="WADO-RS frame requests per row (default 400; 0 skips)")
    ap.add_argument("--frames-seconds", type=float, default=45.0, help="time bound of one frame row (default 45)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="interleaved rounds each ingest and frame row is split into (default 3)")
    ap.add_argument("--fill-studies", type=int, default=1000,
                    help="studies in each PostgreSQL-backed archive at the end (default 1000)")
    ap.add_argument("--filled-studies", type=int, default=600,
                    help="studies at which ingest is measured on the filled archives, stock ones included "
                         "(default 600: >= 30,000 instances)")
    ap.add_argument("--fill-per-study", type=int, default=50, help="instances per fill study (default 50)")
    ap.add_argument("--fill-size", type=int, default=64, help="rows and columns of a fill instance (default 64)")
    ap.add_argument("--fill-seconds", type=float, default=600.0, help="time bound of one fill step (default 600)")
    ap.add_argument("--qido-n", type=int, default=30, help="requests per QIDO-RS query and level (default 30)")
    ap.add_argument("--qido-seconds", type=float, default=30.0,
                    help="time bound per QIDO-RS query and level (default 30)")
    ap.add_argument("--import-count", type=int, default=200, help="0 skips it")
    ap.add_argument("--keep", action="store_true", help="leave the bench containers running")
    ap.add_argument("--reuse", action="store_true",
                    help="development: measure the bench containers left by --keep as they are (no fresh hosts, "
                         "no converge figures, archives not empty); implies --keep")
    args = ap.parse_args()
    if args.reuse:
        args.keep = True
    wanted = [p.strip() for p in args.platforms.split(",") if p.strip()]
    unknown = [p for p in wanted if p not in PLATFORMS]
    if unknown:
        ap.error("unknown platform(s) %s (known: %s)" % (", ".join(unknown), ", ".join(PLATFORMS)))
    hosts = [Host(p) for p in PLATFORMS if p in wanted]
    all_hosts = list(hosts)
    res = {"date": time.strftime("%Y-%m-%d %H:%M"), "load_start": "%.2f %.2f %.2f" % os.getloadavg(),
           "args": vars(args), "platforms": {}, "skipped": {}, "ohif_query": OHIF_STUDY_LIST}
    log("platforms %s" % ", ".join(h.platform for h in hosts))
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="medimg-bench-run-"))
    failure = None
    try:
        run(args, res, hosts, workdir)
    except Exception as exc:  # noqa: BLE001  the figures so far are still written
        failure = exc
        res["failed"] = repr(exc)[-3000:]
        log("bench FAILED: %r" % exc)
    finally:
        shutil.rmtree(str(workdir), ignore_errors=True)
        for h in all_hosts if not args.keep else []:
            try:
                lk.lab("destroy", h.inventory)
            except Exception as exc:  # noqa: BLE001  report, never hide the figures
                log("destroy %s failed: %s" % (h.container, exc))
    res["load_end"] = "%.2f %.2f %.2f" % os.getloadavg()
    res["wall_s"] = round(time.time() - T0, 1)
    raw = ROOT / "bench" / "results" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    raw_path = raw / ("run-%s.json" % time.strftime("%Y%m%d-%H%M%S"))
    res["raw"] = str(raw_path.relative_to(ROOT))
    raw_path.write_text(json.dumps(res, indent=2))
    if failure is None:
        report(res, ROOT / "bench" / "results" / "latest.md", ROOT / "bench" / "results" / "latest.png")
        print((ROOT / "bench" / "results" / "latest.md").read_text())
    else:
        log("no report written (the run failed); raw figures in %s" % res["raw"])
        raise SystemExit(1)


if __name__ == "__main__":
    main()
