"""Bounded mixed DICOMweb load (STOW-RS + QIDO-RS) against one front door; counts every failure.

Run as: python -m medimg_lab.load --url https://<front door>/dicom-web/ --user <user> [...]
(or python lab/medimg_lab/load.py ...). Used by molecule/multisite/verify.yml on the controller:
it runs while playbooks/rolling-update.yml restarts the Orthanc nodes behind the front door, and
must finish with zero failed requests. STOW-RS and QIDO-RS with medimg_lab.dicomweb
(dicomweb-client, retries off), instances with medimg_lab.samples (pydicom).

Bounds (every loop is bounded): at most --max-requests requests and --max-seconds seconds;
it also stops once --stop-file exists (after at least --min-seconds). Requests are paced to
--rate per second over --workers threads; a request is never retried, so every error counts.
At the end every stored instance is looked up again with QIDO-RS (--verify-stored); with
--check-bytes each STOW-RS body carries the exact Part-10 bytes of its instance, and every
acknowledged instance is read back with WADO-RS and compared with them byte for byte
(acknowledged / lost_acknowledged: missing or different).
--event-file: a file holding the epoch time of a fault (written by the test when it injects it);
the result then says how long after it the first STOW-RS started after the fault was acknowledged
(recovery_seconds: the first acknowledged one that started after the last failure) and how many
requests failed after it.

Prints one JSON object (counts, latencies, first failures); exit status 1 when a request failed.
The password comes from the PACS_PASSWORD environment variable (never on the command line).
"""

import argparse
import hashlib
import json
import os
import sys
import threading
import time

import requests
from pydicom.uid import generate_uid

from medimg_lab.dicomweb import WADO_INSTANCE, DicomWeb, acknowledged, stow_body
from medimg_lab.samples import part10, testdata, with_new_uids


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
        self.template = testdata("CT_small.dcm")
        self.study_uid = generate_uid()
        self.sent = {}
        self.timeline = []

    def session(self, timeout=None):
        """A DICOMweb client of its own (one keep-alive session per worker), no retries: every
        error counts. Self-signed lab certificate: verify=False goes on every request (a
        session-level one would lose to REQUESTS_CA_BUNDLE in the environment)."""
        return DicomWeb(self.base, self.args.user, os.environ.get("PACS_PASSWORD", ""), verify=False,
                        timeout=timeout or self.args.timeout)

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
            self.timeline.append((time.time() - (time.monotonic() - started), time.time(), kind, ok))
            self.counts[kind + ("_ok" if ok else "_failed")] += 1
            self.latencies.append(time.monotonic() - started)
            if ok and sop:
                self.stored.append(sop)
            if not ok and len(self.failures) < 20:
                self.failures.append({"t": round(time.monotonic() - self.start, 2), "kind": kind, "detail": detail})

    def one(self, client, n):
        started = time.monotonic()
        try:
            if n % 2 == 0:
                ds = with_new_uids(self.template, self.args.patient_id, self.study_uid, patient_name="LOAD^TEST")
                if self.args.check_bytes:
                    acked, failed = self.store_exact(client, ds)
                else:
                    acked, failed = client.store([ds])[:2]
                ok = str(ds.SOPInstanceUID) in acked
                self.record("stow", ok, started, None if ok else "not acknowledged (failed: %s)" % failed,
                            str(ds.SOPInstanceUID))
            else:
                client.search_for_studies(search_filters={"PatientID": self.args.patient_id}, limit=5)
                self.record("qido", True, started)
        except (requests.RequestException, ValueError) as exc:
            response = getattr(exc, "response", None)
            detail = "%s: %s" % (type(exc).__name__, exc)
            if response is not None:
                detail += " " + response.text[:200]
            self.record("stow" if n % 2 == 0 else "qido", False, started, detail)

    def store_exact(self, client, ds):
        """STOW-RS of the instance's own Part-10 bytes (kept to compare with what is read back)."""
        raw = part10(ds)
        with self.lock:
            self.sent[str(ds.SOPInstanceUID)] = (str(ds.SeriesInstanceUID), hashlib.sha256(raw).hexdigest())
        content_type, body = stow_body([raw])
        answer = client.http.post(self.base + "studies", data=body, timeout=self.args.timeout,
                                  headers={"Content-Type": content_type, "Accept": "application/dicom+json"})
        answer.raise_for_status()
        return acknowledged(answer.json()), []

    def check_bytes(self):
        """Every acknowledged instance read back (WADO-RS, the stored file as it is) and compared."""
        client = self.session(timeout=self.args.timeout * 4)
        lost = []
        for sop in self.stored:
            series, digest = self.sent[sop]
            url = "%sstudies/%s/series/%s/instances/%s" % (self.base, self.study_uid, series, sop)
            try:
                answer = client.http.get(url, headers={"Accept": WADO_INSTANCE}, timeout=self.args.timeout * 4)
                answer.raise_for_status()
                # pylint: disable-next=protected-access
                parts = list(client._decode_multipart_message(answer, stream=False))
                same = len(parts) == 1 and hashlib.sha256(parts[0]).hexdigest() == digest
            except requests.RequestException as exc:
                same = False
                if len(lost) < 5:
                    self.failures.append({"kind": "read back", "detail": "%s %s" % (sop, exc)})
            if not same:
                lost.append(sop)
        return lost

    def after_event(self, result):
        try:
            with open(self.args.event_file) as handle:
                event = float(handle.read().strip())
        except (OSError, ValueError):
            return
        after = [t for t in self.timeline if t[1] >= event]
        # recovered: the first acknowledged STOW-RS that started after the fault and after the
        # last failed request began (a success in between does not end the outage)
        last_failure = max([t[0] for t in after if not t[3]] + [event])
        recovered = sorted(t[1] for t in after if t[2] == "stow" and t[3] and t[0] >= last_failure)
        result.update({
            "recovery_seconds": round(recovered[0] - event, 1) if recovered else None,
            "failed_after_event": sum(1 for t in after if not t[3]),
        })

    def worker(self):
        session = self.session()
        while True:
            n = self.take_slot()
            if n is None:
                return
            self.one(session, n)

    def verify_stored(self):
        """Every instance STOW-RS acknowledged must be found again (nothing lost in a restart)."""
        client = self.session(timeout=self.args.timeout * 4)
        found = {item["00080018"]["Value"][0]
                 for item in client.search_for_instances(study_instance_uid=self.study_uid,
                                                         fields=["00080018"])}
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
        if self.args.check_bytes:
            lost = self.check_bytes()
            result.update({"acknowledged": len(self.stored), "lost_acknowledged": len(lost), "lost": lost[:10]})
        if self.args.event_file:
            self.after_event(result)
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
    ap.add_argument("--check-bytes", action="store_true",
                    help="send exact Part-10 bytes and compare every acknowledged instance read back")
    ap.add_argument("--event-file", help="file with the epoch time of an injected fault")
    args = ap.parse_args()
    result = Load(args).run()
    text = json.dumps(result, sort_keys=True)
    if args.output:
        with open(args.output, "w") as handle:
            handle.write(text + "\n")
    print(text)
    bad = (result["failed"] > 0 or result.get("stored_missing", 0) > 0 or result.get("lost_acknowledged", 0) > 0
           or result["requests"] == 0)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
