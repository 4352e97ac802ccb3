"""A tiny keep-alive HTTP(S) client with Basic auth (http.client), for measurement loops.

The benchmarks (bench/httpbench.py subclasses it) and the durability test post many requests over
a few long-lived connections and need to see every failure as it happens (no retry, no pool
logic, a connection loss is an error): requests + dicomweb-client add client CPU and retries
that would blur what is measured. Bodies and answers are built and read with
:mod:`medimg_lab.dicomweb` (dicomweb-client, pydicom) all the same.
"""
import base64
import http.client
import json
import ssl
import time


class Http:
    """Keep-alive HTTP(S) client with Basic auth (self-signed lab certificates accepted)."""

    def __init__(self, host, port, user, password, tls=False, prefix="", timeout=120):
        self.host, self.port, self.tls, self.prefix, self.timeout = host, port, tls, prefix.rstrip("/"), timeout
        self.auth = "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        self.conn = None

    def _connect(self):
        if self.tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE  # the lab front door's certificate is self-signed
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=ctx)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def request(self, method, path, body=None, headers=None, attempts=3):
        hdrs = {"Authorization": self.auth}
        hdrs.update(headers or {})
        last = None
        for _attempt in range(attempts):
            if self.conn is None:
                self.conn = self._connect()
            try:
                self.conn.request(method, self.prefix + path, body=body, headers=hdrs)
                resp = self.conn.getresponse()
                return resp.status, resp.read()
            except (OSError, http.client.HTTPException) as exc:
                last = exc
                self.close()
                time.sleep(0.2)
        raise last

    def get_json(self, path):
        status, data = self.request("GET", path, headers={"Accept": "application/json"})
        if status != 200:
            raise RuntimeError("GET %s: HTTP %d %s" % (path, status, data[:200]))
        return json.loads(data.decode())

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def wait_http(client, path="/system", timeout=120):
    """Until ``path`` answers 200 through ``client`` (bounded by ``timeout``)."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            status = client.request("GET", path, attempts=1)[0]
            if status == 200:
                return True
            last = status
        except (OSError, http.client.HTTPException) as exc:
            last = exc
        client.close()
        time.sleep(0.5)
    raise RuntimeError("%s did not answer 200 within %ss (%s)" % (path, timeout, last))
