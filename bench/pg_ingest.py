"""Where does the time go when Orthanc 1.10 ingests into a PostgreSQL index? (bench helper)

Runs everything on the host, on loopback, as child processes this script starts and stops itself:

* a private PostgreSQL cluster (the distribution's ``/usr/lib/postgresql/<v>/bin``), created with
  ``initdb`` in a temporary directory, owned by the ``postgres`` user, on a free port, with
  ``pg_stat_statements`` loaded; settings per variant (``--pg-setting name=value``);
* one Orthanc (``/usr/sbin/Orthanc``, DICOMweb plugin, and for PG variants the distribution's
  ``libOrthancPostgreSQLIndex``) per variant, each on a fresh index and storage directory;
* ``clients`` threads that POST the same realistic CT slices (medimg_lab.samples, 512x512 16-bit)
  to ``/instances`` (or STOW-RS, bodies from medimg_lab.dicomweb.stow_body) over keep-alive
  connections, bounded in count and time. The measurement loop keeps raw http.client
  connections: a requests/dicomweb-client session would add client CPU to what is measured.

    .venv/bin/python bench/pg_ingest.py                        # the standard variant matrix
    .venv/bin/python bench/pg_ingest.py --variants sqlite,pg-role --count 200 --clients 4
    .venv/bin/python bench/pg_ingest.py --profile pg-stock      # + pg_stat_statements, waits, locks

Figures go to stdout and, as JSON, to bench/results/raw/ (git-ignored). The machine is shared:
the load average is printed with every figure; repeat before believing a difference < 15 %.
"""
import argparse
import base64
import http.client
import json
import os
import pathlib
import pwd
import shutil
import subprocess
import tempfile
import threading
import time

from medimg_lab.dicomweb import stow_body
from medimg_lab.orthanc import OrthancProcess, dicomweb_plugin, free_port
from medimg_lab.samples import ct_series

ROOT = pathlib.Path(__file__).resolve().parents[1]

PG_PLUGIN = "/usr/share/orthanc/plugins/libOrthancPostgreSQLIndex.so"
USER, PASSWORD = "bench", "bench-secret"
DATA_CACHE = pathlib.Path(tempfile.gettempdir()) / "medimg-bench-data"

# What the roles render (roles/postgresql/defaults + roles/orthanc/defaults), before and after
# this investigation. Memory-derived settings for a 2 GiB share, as a small PACS host would get.
PG_BASE = {"shared_buffers": "512MB", "effective_cache_size": "1536MB", "work_mem": "5MB",
           "maintenance_work_mem": "128MB", "max_connections": 100}
PG_TUNED = dict(PG_BASE, **{"wal_compression": "on", "wal_buffers": "16MB", "max_wal_size": "4GB",
                            "checkpoint_timeout": "15min", "checkpoint_completion_target": 0.9,
                            "commit_delay": 200, "commit_siblings": 2})

VARIANTS = {
    # name: (index, orthanc extra settings, postgresql section extra, pg settings)
    "sqlite": ("sqlite", {}, {}, {}),
    "pg-stock": ("pg", {}, {"Lock": True}, {}),                  # plugin defaults: 1 connection
    "pg-role-old": ("pg", {}, {"Lock": False, "IndexConnectionsCount": 5}, PG_BASE),
    "pg-1conn": ("pg", {}, {"Lock": False, "IndexConnectionsCount": 1}, PG_BASE),
    "pg-tuned-pg": ("pg", {}, {"Lock": False, "IndexConnectionsCount": 5}, PG_TUNED),
    "pg-nomd5": ("pg", {"StoreMD5ForAttachments": False}, {"Lock": False, "IndexConnectionsCount": 5}, PG_BASE),
    "sqlite-nomd5": ("sqlite", {"StoreMD5ForAttachments": False}, {}, {}),
    "pg-1conn-tuned": ("pg", {}, {"Lock": False, "IndexConnectionsCount": 1}, PG_TUNED),
    "pg-1conn-socket": ("pg", {}, {"Lock": False, "IndexConnectionsCount": 1, "Host": "@socket"}, PG_BASE),
    "pg-1conn-sync-off": ("pg", {}, {"Lock": False, "IndexConnectionsCount": 1},
                          dict(PG_BASE, synchronous_commit="off")),  # reference only, never a default
    "pg-sync-off": ("pg", {}, {"Lock": False, "IndexConnectionsCount": 5},
                    dict(PG_BASE, synchronous_commit="off")),     # reference only, never a default
}


def log(msg):
    print("[%s load %s] %s" % (time.strftime("%H:%M:%S"), " ".join("%.2f" % x for x in os.getloadavg()), msg),
          flush=True)


# -- data ------------------------------------------------------------------------------------------
def ct_files(count, size, key="pg-ingest"):
    """count CT slices (size x size, 16-bit) as Part-10 bytes, cached on disk between runs."""
    directory = DATA_CACHE / ("%s-%d-%d" % (key, count, size))
    files = sorted(directory.glob("*.dcm"))
    if len(files) != count:
        shutil.rmtree(str(directory), ignore_errors=True)
        directory.mkdir(parents=True)
        for idx, ds in enumerate(ct_series(patient_id="MEDIMG-BENCH", nslices=count, rows=size, cols=size,
                                           study_key="%s-%d-%d" % (key, count, size))):
            ds.save_as(str(directory / ("CT%05d.dcm" % idx)), enforce_file_format=True)
        files = sorted(directory.glob("*.dcm"))
    return files


# -- PostgreSQL --------------------------------------------------------------------------------------
def pg_bindir():
    base = pathlib.Path("/usr/lib/postgresql")
    versions = sorted((p for p in base.iterdir() if (p / "bin" / "initdb").exists()),
                      key=lambda p: int(p.name)) if base.is_dir() else []
    if not versions:
        raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
    return versions[-1] / "bin"


class PgCluster:
    """A throw-away PostgreSQL cluster owned by `postgres`, on loopback, in its own directory."""

    def __init__(self, workdir, settings):
        self.dir = pathlib.Path(workdir)
        self.port = free_port()
        self.settings = dict(settings)
        self.bindir = pg_bindir()
        self.pw = pwd.getpwnam("postgres")

    def _as_pg(self, args, timeout=120, check=True):
        return subprocess.run(["runuser", "-u", "postgres", "--"] + [str(a) for a in args], check=check,
                              timeout=timeout, capture_output=True, text=True)

    def start(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chown(str(self.dir), self.pw.pw_uid, self.pw.pw_gid)
        self._as_pg([self.bindir / "initdb", "-D", self.dir / "data", "-U", "postgres", "--auth=trust",
                     "-E", "UTF8", "--locale=C.UTF-8"])
        conf = {"listen_addresses": "127.0.0.1", "port": self.port, "unix_socket_directories": str(self.dir),
                "shared_preload_libraries": "pg_stat_statements", "pg_stat_statements.track": "all",
                "logging_collector": "off", "log_min_duration_statement": -1}
        conf.update(self.settings)
        lines = []
        for name, value in conf.items():
            lines.append("%s = %s" % (name, value if isinstance(value, (int, float)) else "'%s'" % value))
        with open(self.dir / "data" / "postgresql.auto.conf", "a") as fh:
            fh.write("\n".join(lines) + "\n")
        self._as_pg([self.bindir / "pg_ctl", "-D", self.dir / "data", "-l", self.dir / "pg.log", "-w", "-t", 60,
                     "start"])
        self.sql("CREATE EXTENSION pg_stat_statements")
        self.sql("CREATE USER orthanc PASSWORD 'orthanc-bench'")
        self.sql("CREATE DATABASE orthanc OWNER orthanc")
        return self

    def sql(self, query, db="postgres"):
        out = self._as_pg([self.bindir / "psql", "-h", self.dir, "-p", self.port, "-d", db, "-X", "-A", "-t",
                           "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", query])
        return out.stdout

    def stop(self):
        if (self.dir / "data" / "postmaster.pid").exists():
            self._as_pg([self.bindir / "pg_ctl", "-D", self.dir / "data", "-m", "fast", "-w", "-t", 60, "stop"],
                        check=False)


# -- Orthanc ---------------------------------------------------------------------------------------
class Orthanc(OrthancProcess):
    """medimg_lab's loopback Orthanc with a configurable, otherwise stock configuration."""

    def __init__(self, workdir, extra=None, pg=None):
        super().__init__(workdir, username=USER, password=PASSWORD, dicom_server=False, verbose=False)
        self.variant_extra = extra or {}
        self.pg = pg

    def config(self):
        config = {
            "Name": "MEDIMG_BENCH",
            "StorageDirectory": self.storage,
            "IndexDirectory": self.index,
            "HttpPort": self.http_port, "DicomPort": self.dicom_port, "DicomServerEnabled": False,
            "RemoteAccessAllowed": False, "AuthenticationEnabled": True,
            "RegisteredUsers": {USER: PASSWORD},
            "Plugins": [dicomweb_plugin()] + ([PG_PLUGIN] if self.pg else []),
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        }
        if self.pg:
            config["PostgreSQL"] = self.pg
        config.update(self.variant_extra)
        return config


# -- load ------------------------------------------------------------------------------------------
def ingest(host, port, files, clients, mode="instances", time_limit=120.0, auth=(USER, PASSWORD),
           tls=False, path_prefix=""):
    """POST every file once with `clients` keep-alive connections; returns (stored, elapsed, uids)."""
    token = "Basic " + base64.b64encode(("%s:%s" % auth).encode()).decode()
    queue = list(enumerate(files))
    lock = threading.Lock()
    done, errors, acked = [0], [], []
    deadline = time.time() + time_limit

    def connect():
        if tls:
            import ssl
            ctx = ssl._create_unverified_context()  # noqa: S323  self-signed lab certificate
            return http.client.HTTPSConnection(host, port, timeout=120, context=ctx)
        return http.client.HTTPConnection(host, port, timeout=120)

    def worker():
        conn = connect()
        while time.time() < deadline:
            with lock:
                if not queue:
                    break
                path = queue.pop(0)[1]
            data = path.read_bytes()
            if mode == "stow":
                content_type, body = stow_body([data])
                url = path_prefix + "/dicom-web/studies"
                headers = {"Content-Type": content_type, "Accept": "application/dicom+json"}
            else:
                body, url = data, path_prefix + "/instances"
                headers = {"Content-Type": "application/dicom", "Accept": "application/json"}
            headers["Authorization"] = token
            for attempt in range(3):
                try:
                    conn.request("POST", url, body=body, headers=headers)
                    resp = conn.getresponse()
                    payload = resp.read()
                    break
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = connect()
                    if attempt == 2:
                        raise
            if resp.status != 200:
                errors.append((resp.status, payload[:200]))
                continue
            with lock:
                done[0] += 1
                acked.append(path)
        conn.close()

    started = time.time()
    threads = [threading.Thread(target=worker, daemon=True) for _client in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=time_limit + 130)
    elapsed = time.time() - started
    if errors:
        log("errors: %d, first %s" % (len(errors), errors[0]))
    return done[0], elapsed, acked


# -- profile -----------------------------------------------------------------------------------------
def pg_profile(pg):
    out = {}
    out["top_statements"] = pg.sql(
        "SELECT calls, round(total_exec_time::numeric,1) AS ms, round(mean_exec_time::numeric,3) AS mean,"
        " left(regexp_replace(query, '\\s+', ' ', 'g'), 90) FROM pg_stat_statements"
        " WHERE dbid = (SELECT oid FROM pg_database WHERE datname='orthanc')"
        " ORDER BY total_exec_time DESC LIMIT 12")
    out["db"] = pg.sql("SELECT xact_commit, xact_rollback, conflicts, deadlocks, blks_hit, blks_read"
                       " FROM pg_stat_database WHERE datname='orthanc'")
    out["wal"] = pg.sql("SELECT wal_records, wal_fpi, pg_size_pretty(wal_bytes), wal_write, wal_sync,"
                        " round(wal_sync_time::numeric,1) FROM pg_stat_wal")
    out["bgwriter"] = pg.sql("SELECT checkpoints_timed, checkpoints_req FROM pg_stat_bgwriter")
    return out


class WaitSampler(threading.Thread):
    """Samples pg_stat_activity wait events of the orthanc database every 50 ms."""

    def __init__(self, pg, duration):
        super().__init__(daemon=True)
        self.pg, self.duration, self.counts, self.samples = pg, duration, {}, 0
        self.stop_flag = threading.Event()

    def run(self):
        end = time.time() + self.duration
        while time.time() < end and not self.stop_flag.is_set():
            try:
                rows = self.pg.sql("SELECT state, coalesce(wait_event_type,'-'), coalesce(wait_event,'CPU')"
                                   " FROM pg_stat_activity WHERE datname='orthanc' AND pid <> pg_backend_pid()")
            except subprocess.SubprocessError:
                rows = ""
            self.samples += 1
            for line in rows.splitlines():
                self.counts[line] = self.counts.get(line, 0) + 1
            time.sleep(0.05)


def run_variant(workdir, name, files, clients, mode, time_limit, profile=False):
    index, extra, pgsec, pgset = VARIANTS[name]
    pg = None
    vdir = pathlib.Path(workdir) / name
    try:
        if index == "pg":
            pg = PgCluster(vdir / "pg", pgset).start()
            pgsec = dict({"EnableIndex": True, "EnableStorage": False, "Host": "127.0.0.1", "Port": pg.port,
                          "Database": "orthanc", "Username": "orthanc", "Password": "orthanc-bench"}, **pgsec)
            if pgsec["Host"] == "@socket":
                pgsec["Host"] = str(pg.dir)  # libpq: a directory is a Unix socket
        server = Orthanc(vdir / "orthanc", extra=extra, pg=pgsec if pg else None).start()
        try:
            # warm-up: one instance (creates the patient/study rows, opens connections)
            ingest("127.0.0.1", server.http_port, files[:1], 1, mode, 60)
            if pg:
                pg.sql("SELECT pg_stat_statements_reset()")
                pg.sql("SELECT pg_stat_reset()", db="orthanc")
                pg.sql("SELECT pg_stat_reset_shared('wal')")
            sampler = WaitSampler(pg, time_limit) if (pg and profile) else None
            if sampler:
                sampler.start()
            load0 = os.getloadavg()[0]
            stored, elapsed = ingest("127.0.0.1", server.http_port, files[1:], clients, mode, time_limit)[:2]
            if sampler:
                sampler.stop_flag.set()
                sampler.join(5)
            rate = stored / elapsed if elapsed else 0.0
            result = {"variant": name, "clients": clients, "mode": mode, "stored": stored,
                      "elapsed": round(elapsed, 2), "instances_per_second": round(rate, 1),
                      "load1_start": round(load0, 2), "load1_end": round(os.getloadavg()[0], 2)}
            if pg:
                result["rollbacks"] = pg.sql("SELECT xact_commit, xact_rollback FROM pg_stat_database"
                                             " WHERE datname='orthanc'").strip()
            log("%-13s %d clients %-9s %4d inst in %6.1f s = %6.1f inst/s  (commit/rollback %s)"
                % (name, clients, mode, stored, elapsed, rate, result.get("rollbacks", "-")))
            if profile and pg:
                prof = pg_profile(pg)
                result["profile"] = prof
                total = max(sampler.samples, 1)
                waits = sorted(sampler.counts.items(), key=lambda kv: -kv[1])[:10]
                result["waits"] = [(k, round(v / total, 2)) for k, v in waits]
                print("  wait events (avg backends per sample): " +
                      "; ".join("%s=%.2f" % (k.replace("\t", "/"), v) for k, v in result["waits"]))
                for key, val in prof.items():
                    print("  %s:\n    %s" % (key, val.strip().replace("\n", "\n    ")))
            return result
        finally:
            server.stop()
    finally:
        if pg:
            pg.stop()
        shutil.rmtree(str(vdir), ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--variants", default="sqlite,pg-stock,pg-role-old,pg-1conn,pg-tuned-pg,pg-nomd5")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--clients", default="4", help="comma list, e.g. 1,4")
    parser.add_argument("--mode", default="instances", choices=("instances", "stow"))
    parser.add_argument("--time-limit", type=float, default=90.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--profile", default="", help="comma list of variants to profile")
    parser.add_argument("--pg-setting", action="append", default=[], help="name=value for every PG variant")
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "raw"))
    args = parser.parse_args()
    for item in args.pg_setting:
        k, v = item.split("=", 1)
        for name, (index, _e, _s, pgset) in VARIANTS.items():
            if index == "pg":
                pgset[k] = v
    files = ct_files(args.count + 1, args.size)
    log("data: %d x %dx%d CT, %.1f MiB" % (len(files), args.size, args.size,
                                           sum(f.stat().st_size for f in files) / 1048576.0))
    workdir = tempfile.mkdtemp(prefix="medimg-bench-pg-")
    os.chmod(workdir, 0o755)
    results = []
    profile = set(filter(None, args.profile.split(",")))
    try:
        for rep in range(args.repeat):
            for clients in [int(c) for c in args.clients.split(",")]:
                for name in args.variants.split(","):
                    results.append(run_variant(workdir, name, files, clients, args.mode, args.time_limit,
                                               profile=name in profile and rep == 0))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    out = pathlib.Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    path = out / ("pg_ingest-%s.json" % time.strftime("%Y%m%d-%H%M%S"))
    path.write_text(json.dumps({"args": vars(args), "cpus": os.cpu_count(), "results": results}, indent=2))
    log("results in %s" % path)


if __name__ == "__main__":
    main()
