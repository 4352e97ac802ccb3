"""bench/run's HTTP side: a keep-alive client that can hold the front door's session cookie and
resume TLS sessions, WADO-RS frame retrieval, and CPU accounting inside the bench container.

The same client class measures every path (front door and direct), so both get the same
keep-alive connections; only the front door uses TLS (and so session resumption) and cookies.

* ``Client(..., cookies=True)``: like a browser or ``requests.Session(auth=...)``: the first request
  carries Basic credentials, the answer's ``Set-Cookie`` is kept and sent back on every later
  request (together with the Basic header, as both of those do).
* ``Client(..., cookies=False)``: Basic credentials only, no cookie (``curl -u``,
  ``medimg.pacs.dicom_import``): every request is a credential check by the authentication service.

Every loop is bounded in count and time.
"""
import http.client
import os
import ssl
import sys
import threading
import time

import labkit as lk

WADO_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'


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


class Client(lk.Http):
    """lk.Http with an optional cookie jar, TLS session resumption and per-client counters."""

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
                      "cookie_requests": 0}

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
        last = None
        for _attempt in range(attempts):
            if self.conn is None:
                self.conn = self._connect()
            try:
                self.conn.request(method, self.prefix + path, body=body, headers=hdrs)
                resp = self.conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                last = exc
                self.close()
                time.sleep(0.2)
                continue
            self.stats["requests"] += 1
            if "Cookie" in hdrs:
                self.stats["cookie_requests"] += 1
            if self.tls and self.conn.sock is not None and self.resume_tls:
                try:
                    self.tls_session = self.conn.sock.session or self.tls_session
                except (AttributeError, ValueError):
                    pass
            if self.cookies_enabled:
                for value in resp.headers.get_all("Set-Cookie") or []:
                    name, _, rest = value.partition("=")
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


class Tracking:
    """make_client wrapper that remembers every client it made (for their counters)."""

    def __init__(self, make_client):
        self.make_client = make_client
        self.made = []
        self.lock = threading.Lock()

    def __call__(self):
        c = self.make_client()
        with self.lock:
            self.made.append(c)
        return c

    def stats(self):
        return merge_stats(self.made)


# -- WADO-RS frames ----------------------------------------------------------------------------
def frames(make_client, refs, clients, count, time_limit, min_bytes):
    """GET frame 1 of ``refs`` [(study, series, sop)] round-robin, ``count`` requests in all.

    Returns (frames received, elapsed, errors, bytes). A frame counts when the answer is 200,
    multipart/related, and at least ``min_bytes`` long (the uncompressed pixel data).
    """
    lock = threading.Lock()
    state = {"next": 0, "ok": 0, "bytes": 0}
    errors = []
    deadline = time.time() + time_limit

    def worker():
        client = make_client()
        while time.time() < deadline:
            with lock:
                i = state["next"]
                if i >= count:
                    break
                state["next"] += 1
            study, series, sop = refs[i % len(refs)]
            path = "/dicom-web/studies/%s/series/%s/instances/%s/frames/1" % (study, series, sop)
            try:
                status, data = client.request("GET", path, attempts=1, headers={"Accept": WADO_ACCEPT})
            except (OSError, http.client.HTTPException) as exc:
                client.close()
                with lock:
                    errors.append(repr(exc))
                time.sleep(0.2)
                continue
            if status != 200 or len(data) < min_bytes or b"Content-Type" not in data[:400]:
                with lock:
                    errors.append("HTTP %d, %d bytes" % (status, len(data)))
                continue
            with lock:
                state["ok"] += 1
                state["bytes"] += len(data)
        client.close()

    started = time.time()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(time_limit + 150)
    return state["ok"], time.time() - started, errors, state["bytes"]


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
        res = lk.dexec(self.container, "python3", "-c", _PROC_SCRIPT, timeout=30, check=False)
        out = {}
        for item in res.stdout.split():
            k, _, v = item.partition("=")
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
