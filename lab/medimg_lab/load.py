"""Bounded mixed DICOMweb load (STOW-RS + QIDO-RS) against one front door; counts every failure.

Run as: python tests/load/pacs_load.py --url https://<front door>/dicom-web/ --user <user> [...]
Used by molecule/multisite/verify.yml: it runs while playbooks/rolling-update.yml restarts the
Orthanc nodes behind the front door, and must finish with zero failed requests.

Bounds (every loop is bounded): at most --max-requests requests and --max-seconds seconds;
it also stops once --stop-file exists (after at least --min-seconds). Requests are paced to
--rate per second over --workers threads; a request is never retried, so every error counts.
At the end every stored instance is looked up again with QIDO-RS (--verify-stored).

Prints one JSON object (counts, latencies, first failures); exit status 1 when a request failed.
The password comes from the PACS_PASSWORD environment variable (never on the command line).
"""

import argparse
import copy
import io
import json
import os
import sys
import threading
import time
import uuid

import pydicom
import requests
import urllib3
from pydicom.data import get_testdata_file

BOUNDARY = "medimg-load-boundary"


def new_instance(template, patient_id, study_uid):
    ds = copy.deepcopy(template)
    ds.PatientID = patient_id
    ds.PatientName = "LOAD^TEST"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = "2.25.%d" % uuid.uuid4().int
    ds.SOPInstanceUID = "2.25.%d" % uuid.uuid4().int
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buf = io.BytesIO()
    ds.save_as(buf, write_like_original=False)
    return ds.SOPInstanceUID, buf.getvalue()


def stow_body(payload):
    head = ("--%s\r\nContent-Type: application/dicom\r\n\r\n" % BOUNDARY).encode()
    return head + payload + ("\r\n--%s--\r\n" % BOUNDARY).encode()


def _no_verify(request):
    def wrapped(method, url, **kwargs):
        kwargs["verify"] = False
        return request(method, url, **kwargs)
    return wrapped


class Load:
    def __init__(self, args):
        self.args = args
        self.base = args.url.rstrip("/") + "/"
        self.lock = threading.Lock()
        self.counts = {"stow_ok": 0, "stow_failed": 0, "qido_ok": 0, "qido_failed": 0}
        self.latencies = []
        self.failures = []
        self.stored = []
        self.issued = 0
        self.start = time.monotonic()
        self.template = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        self.study_uid = "2.25.%d" % uuid.uuid4().int

    def session(self):
        s = requests.Session()
        s.auth = (self.args.user, os.environ.get("PACS_PASSWORD", ""))
        # Self-signed lab certificate. Passed on every request: REQUESTS_CA_BUNDLE in the
        # environment would override a session-level verify=False.
        s.request = _no_verify(s.request)
        return s

    def take_slot(self):
        """Next request slot, or None when a bound is reached (pacing: --rate per second)."""
        with self.lock:
            elapsed = time.monotonic() - self.start
            if self.issued >= self.args.max_requests or elapsed >= self.args.max_seconds:
                return None
            if elapsed >= self.args.min_seconds and self.args.stop_file and os.path.exists(self.args.stop_file):
                return None
            n = self.issued
            self.issued += 1
        due = self.start + n / float(self.args.rate)
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(min(wait, 1.0))
        return n

    def record(self, kind, ok, started, detail=None, sop=None):
        with self.lock:
            self.counts[kind + ("_ok" if ok else "_failed")] += 1
            self.latencies.append(time.monotonic() - started)
            if ok and sop:
                self.stored.append(sop)
            if not ok and len(self.failures) < 20:
                self.failures.append({"t": round(time.monotonic() - self.start, 2), "kind": kind, "detail": detail})

    def one(self, session, n):
        started = time.monotonic()
        try:
            if n % 2 == 0:
                sop, payload = new_instance(self.template, self.args.patient_id, self.study_uid)
                resp = session.post(
                    self.base + "studies",
                    data=stow_body(payload),
                    headers={
                        "Content-Type": 'multipart/related; type="application/dicom"; boundary=%s' % BOUNDARY,
                        "Accept": "application/dicom+json",
                    },
                    timeout=self.args.timeout,
                )
                ok = resp.status_code == 200 and "00081199" in resp.json()
                self.record("stow", ok, started, None if ok else "HTTP %s %s" % (resp.status_code, resp.text[:200]), sop)
            else:
                resp = session.get(
                    self.base + "studies",
                    params={"PatientID": self.args.patient_id, "limit": "5"},
                    headers={"Accept": "application/dicom+json"},
                    timeout=self.args.timeout,
                )
                ok = resp.status_code in (200, 204)
                self.record("qido", ok, started, None if ok else "HTTP %s %s" % (resp.status_code, resp.text[:200]))
        except (requests.RequestException, ValueError) as exc:
            self.record("stow" if n % 2 == 0 else "qido", False, started, "%s: %s" % (type(exc).__name__, exc))

    def worker(self):
        session = self.session()
        while True:
            n = self.take_slot()
            if n is None:
                return
            self.one(session, n)

    def verify_stored(self):
        """Every instance STOW-RS acknowledged must be found again (nothing lost in a restart)."""
        session = self.session()
        resp = session.get(
            self.base + "studies/%s/instances" % self.study_uid,
            headers={"Accept": "application/dicom+json"},
            params={"includefield": "00080018"},
            timeout=self.args.timeout * 4,
        )
        found = set()
        if resp.status_code == 200:
            found = {item["00080018"]["Value"][0] for item in resp.json()}
        return len(set(self.stored) - found), len(found)

    def run(self):
        threads = [threading.Thread(target=self.worker, daemon=True) for dummy in range(self.args.workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(self.args.max_seconds + self.args.timeout + 5)
        elapsed = time.monotonic() - self.start
        lat = sorted(self.latencies) or [0.0]
        result = dict(self.counts)
        result.update({
            "requests": sum(self.counts.values()),
            "failed": self.counts["stow_failed"] + self.counts["qido_failed"],
            "seconds": round(elapsed, 1),
            "stopped_by": "stop-file" if self.args.stop_file and os.path.exists(self.args.stop_file) else "bound",
            "latency_ms_p50": round(lat[len(lat) // 2] * 1000, 1),
            "latency_ms_max": round(lat[-1] * 1000, 1),
            "study_uid": self.study_uid,
            "failures": self.failures,
        })
        if self.args.verify_stored:
            try:
                missing, found = self.verify_stored()
            except (requests.RequestException, ValueError, KeyError) as exc:
                missing, found = len(self.stored), 0
                result["verify_error"] = "%s: %s" % (type(exc).__name__, exc)
            result.update({"stored_missing": missing, "stored_found": found})
        return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="DICOMweb root of the front door, e.g. https://10.0.0.2/dicom-web/")
    ap.add_argument("--user", required=True)
    ap.add_argument("--patient-id", default="MEDIMG-LOAD")
    ap.add_argument("--max-requests", type=int, default=5000)
    ap.add_argument("--max-seconds", type=float, default=300)
    ap.add_argument("--min-seconds", type=float, default=0)
    ap.add_argument("--stop-file")
    ap.add_argument("--rate", type=float, default=10.0, help="requests per second, all workers together")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("--verify-stored", action="store_true")
    ap.add_argument("--output", help="also write the JSON result to this file")
    args = ap.parse_args()
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    result = Load(args).run()
    text = json.dumps(result, sort_keys=True)
    if args.output:
        with open(args.output, "w") as handle:
            handle.write(text + "\n")
    print(text)
    bad = result["failed"] > 0 or result.get("stored_missing", 0) > 0 or result["requests"] == 0
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
