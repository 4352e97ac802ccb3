"""bench/run's HTTP side: a keep-alive client that can hold the front door's session cookie and
resume TLS sessions, pools of such clients, STOW-RS and WADO-RS frame loads, and CPU accounting
inside the bench container.

The same client class and the same load functions measure every path (front door, direct, stock),
so all get the same keep-alive connections and the same client-side work; only the front door
uses TLS (and so session resumption) and cookies.

* ``Client(..., cookies=True)``: like a browser or ``requests.Session(auth=...)``: the first request
  carries Basic credentials, the answer's ``Set-Cookie`` is kept and sent back on every later
  request (together with the Basic header, as both of those do).
* ``Client(..., cookies=False)``: Basic credentials only, no cookie (``curl -u``,
  ``medimg.pacs.dicom_import``): every request is a credential check by the authentication service.

STOW-RS bodies are built with the lab tooling's shared helper (medimg_lab.dicomweb.stow_body, on
dicomweb-client's encoder) and posted by its one STOW worker (medimg_lab.dicomweb.stow_parallel),
the same the durability test uses. The measurement loop itself keeps this raw keep-alive client
rather than dicomweb-client's requests session: requests + urllib3 (and dicomweb-client's
re-encoding of every data set) add client CPU to every timed request, on the same 2 cores the
servers under test use, and the front door / direct ratio would measure part of that too.

Every loop is bounded in count and time.
"""
import email.parser
import http.client
import os
import ssl
import sys
import threading
import time

from medimg_lab.dicomweb import stow_body, stow_parallel
from medimg_lab.keepalive import Http
from medimg_lab.labkit import dexec

WADO_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'


def _parse_headers(fp, _class=http.client.HTTPMessage):
    """http.client.parse_headers, headers only. The stock one (Python 3.11 here) parses the empty
    "body" of the header block as MIME too: for a multipart/related answer (every WADO-RS frame)
    that compiles a regular expression for its unique boundary, ~0.6 ms of client CPU per response
    on this machine, taken from the 2 cores the server under test shares with the client."""
    headers = http.client._read_headers(fp)  # pylint: disable=protected-access
    return email.parser.Parser(_class=_class).parsestr(b"".join(headers).decode("iso-8859-1"), headersonly=True)


if hasattr(http.client, "_read_headers"):
    http.client.parse_headers = _parse_headers   # the same headers; both measured paths use it


class _TLSConnection(http.client.HTTPSConnection):
    """HTTPSConnection that offers the previous TLS session of its owner (session resumption)."""

    def __init__(self, host, port, owner, **kw):
        super().__init__(host, port, **kw)
        self._owner = owner

    def connect(self):
        http.client.HTTPConnection.connect(self)  # TCP (sets TCP_NODELAY)
        session = self._owner.tls_session if self._owner.resume_tls else None
        self.sock = self._owner.ctx.wrap_socket(self.sock, server_hostname=self.host, session=session)
        self._owner.stats["handshakes"] += 1
        if self.sock.session_reused:
            self._owner.stats["resumed"] += 1


class Client(Http):
    """medimg_lab.keepalive.Http with an optional cookie jar, TLS session resumption and per-client counters."""

    def __init__(self, host, port, user, password, tls=False, cookies=False, resume_tls=True, **kw):
        super().__init__(host, port, user, password, tls=tls, **kw)
        self.cookies_enabled = cookies
        self.jar = {}
        self.resume_tls = resume_tls
        self.tls_session = None
        self.ctx = None
        if tls:
            self.ctx = ssl.create_default_context()
            self.ctx.check_hostname = False
            self.ctx.verify_mode = ssl.CERT_NONE  # the lab front door's certificate is self-signed
        self.stats = {"requests": 0, "connections": 0, "handshakes": 0, "resumed": 0, "cookies_set": 0,
                      "cookie_requests": 0, "stale_reconnects": 0}

    def _connect(self):
        self.stats["connections"] += 1
        if self.tls:
            return _TLSConnection(self.host, self.port, self, timeout=self.timeout, context=self.ctx)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def request(self, method, path, body=None, headers=None, attempts=3):
        hdrs = {"Authorization": self.auth}
        if self.jar:
            hdrs["Cookie"] = "; ".join("%s=%s" % kv for kv in self.jar.items())
        hdrs.update(headers or {})
        last, tries, stale_retried = None, 0, False
        while tries < attempts:
            tries += 1
            reused = self.conn is not None
            if self.conn is None:
                self.conn = self._connect()
            try:
                self.conn.request(method, self.prefix + path, body=body, headers=hdrs)
                resp = self.conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                last = exc
                self.close()
                if reused and not stale_retried and isinstance(
                        exc, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)):
                    # the server closed the idle keep-alive connection (Orthanc does after its
                    # KeepAliveTimeout): open a new one, as browsers and urllib3 do; once
                    stale_retried, tries = True, tries - 1
                    self.stats["stale_reconnects"] += 1
                    continue
                time.sleep(0.2)
                continue
            self.stats["requests"] += 1
            if "Cookie" in hdrs:
                self.stats["cookie_requests"] += 1
            if self.tls and self.resume_tls and not getattr(self.conn, "session_kept", False) \
                    and self.conn.sock is not None:
                # once per connection, after its first answer (TLS 1.3 sends the ticket after the
                # handshake): reading SSLSocket.session costs ~0.4 ms, too much for every request
                self.tls_session = self.conn.sock.session or self.tls_session
                self.conn.session_kept = True
            if self.cookies_enabled:
                for value in resp.headers.get_all("Set-Cookie") or []:
                    name, _eq, rest = value.partition("=")
                    if name.strip() and rest:
                        self.jar[name.strip()] = rest.split(";", 1)[0].strip()
                        self.stats["cookies_set"] += 1
            if resp.will_close:
                self.close()
            return resp.status, data
        raise last


def merge_stats(clients):
    out = {}
    for c in clients:
        for k, v in c.stats.items():
            out[k] = out.get(k, 0) + v
    return out


class Pool:
    """``n`` persistent clients of one target, kept for all the rounds of a row (as a browser or
    an import tool keeps its connections). ``warm()``: one untimed request on each, so that no
    timed request pays for a TCP/TLS connection or a login (a front-door client with cookies gets
    its session cookie then); run before every timed round, on every path alike."""

    def __init__(self, make_client, n):
        self.clients = [make_client() for _i in range(n)]

    def warm(self, path="/dicom-web/studies?limit=1"):
        for c in self.clients:
            status = c.request("GET", path, headers={"Accept": "application/dicom+json"})[0]
            if status not in (200, 204):
                raise RuntimeError("warm-up %s: HTTP %d" % (path, status))

    def stats(self):
        return merge_stats(self.clients)

    def close(self):
        for c in self.clients:
            c.close()


def _run(pool, work, time_limit):
    """Run work(client, deadline) on each client of the pool in its own thread; wall time."""
    deadline = time.time() + time_limit
    threads = [threading.Thread(target=work, args=(c, deadline), daemon=True) for c in pool.clients]
    started = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join(time_limit + 150)
    return time.time() - started


# -- STOW-RS -------------------------------------------------------------------------------------
def stow_bodies(items):
    """One STOW-RS body per instance of ``items`` [(sop, study, bytes)], built before any timing:
    [(content type, body)] (medimg_lab.dicomweb.stow_body)."""
    return [stow_body([data]) for _sop, _study, data in items]


def stow(pool, bodies, time_limit):
    """POST ``bodies`` (stow_bodies) with the pool's clients. Returns (acknowledged SOP UIDs,
    elapsed, errors): medimg_lab.dicomweb.stow_parallel, acknowledged = listed in ReferencedSOPSequence."""
    return stow_parallel(pool.clients, bodies, time_limit=time_limit)


# -- WADO-RS frames ----------------------------------------------------------------------------
def frames(pool, refs, time_limit, min_bytes):
    """GET frame 1 of each of ``refs`` [(study, series, sop)] once, with the pool's clients.

    Returns (frames received, elapsed, errors, bytes). A frame counts when the answer is 200,
    a multipart body, and at least ``min_bytes`` long (the uncompressed pixel data).
    """
    lock = threading.Lock()
    queue = list(refs)
    state = {"ok": 0, "bytes": 0}
    errors = []

    def work(client, deadline):
        while time.time() < deadline:
            with lock:
                if not queue:
                    return
                study, series, sop = queue.pop(0)
            path = "/dicom-web/studies/%s/series/%s/instances/%s/frames/1" % (study, series, sop)
            try:
                status, data = client.request("GET", path, attempts=1, headers={"Accept": WADO_ACCEPT})
            except (OSError, http.client.HTTPException) as exc:
                client.close()
                with lock:
                    errors.append(repr(exc))
                continue
            if status != 200 or len(data) < min_bytes or b"Content-Type" not in data[:400]:
                with lock:
                    errors.append("HTTP %d, %d bytes" % (status, len(data)))
                continue
            with lock:
                state["ok"] += 1
                state["bytes"] += len(data)

    elapsed = _run(pool, work, time_limit)
    return state["ok"], elapsed, errors, state["bytes"]


# -- CPU accounting ----------------------------------------------------------------------------
# Inside the container: CPU ticks (user+system, all threads) per process group, from /proc.
_PROC_SCRIPT = r"""
import os
groups = {'nginx': 'nginx', 'Orthanc': 'Orthanc', 'postgres': 'PostgreSQL'}
out = {}
me = str(os.getpid())
for pid in os.listdir('/proc'):
    if not pid.isdigit() or pid == me:
        continue
    try:
        with open('/proc/%s/stat' % pid) as f:
            s = f.read()
        comm = s[s.index('(') + 1:s.rindex(')')]
        group = groups.get(comm, 'other')
        if comm.startswith('python'):
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                if b'medimg-frontdoor-auth' in f.read():
                    group = 'frontdoor-auth'
    except (OSError, ValueError):
        continue
    f = s[s.rindex(')') + 2:].split()
    out[group] = out.get(group, 0) + int(f[11]) + int(f[12])
print(' '.join('%s=%d' % kv for kv in sorted(out.items())))
"""
GROUPS = ("nginx", "frontdoor-auth", "Orthanc", "PostgreSQL", "other")


class ContainerCPU:
    """CPU seconds per process group in the bench container between start() and stop(), and the
    bench client's own CPU time (this process, all threads)."""

    def __init__(self, container):
        self.container = container
        self.hz = os.sysconf("SC_CLK_TCK")
        self.before = None
        self.client_before = None

    def _sample(self):
        res = dexec(self.container, "python3", "-c", _PROC_SCRIPT, timeout=30, check=False)
        out = {}
        for item in res.stdout.split():
            k, _eq, v = item.partition("=")
            if v.isdigit():
                out[k] = int(v)
        return out

    def start(self):
        self.before = self._sample()
        self.client_before = time.process_time()
        return self

    def stop(self):
        after = self._sample()
        client = time.process_time() - self.client_before
        out = {g: round((after.get(g, 0) - self.before.get(g, 0)) / self.hz, 2) for g in GROUPS}
        out["bench client"] = round(client, 2)
        return out


if __name__ == "__main__":
    sys.exit("bench/httpbench.py is imported by bench/run.py")
