"""Exercise an Orthanc PACS with real clients: STOW-RS, QIDO-RS, WADO-RS and C-ECHO.

Used by molecule/default/verify.yml from the controller against the lab container.
  store  -- STOW-RS a DICOM file, find it with QIDO-RS, fetch it with WADO-RS, compare, C-ECHO
  check  -- find and fetch an already stored instance (after a restart or a re-converge)
Prints one JSON object; exits non-zero with a message on the first failure.
The password comes from the PACS_PASSWORD environment variable (never on the command line).
"""

import argparse
import io
import json
import os
import sys
import uuid

import pydicom
import requests
from pydicom.data import get_testdata_file
from pynetdicom import AE

TIMEOUT = 30


def fail(message):
    sys.exit("pacs_check: FAIL: " + message)


def parse_multipart(content_type, body):
    """Split a multipart/related HTTP body into its parts' payloads (bytes, untouched)."""
    params = dict(item.strip().split("=", 1) for item in content_type.split(";")[1:] if "=" in item)
    boundary = params.get("boundary", "").strip('"')
    if not content_type.lower().startswith("multipart/related") or not boundary:
        fail("WADO-RS answer is not multipart/related with a boundary: %r" % content_type)
    delimiter = b"--" + boundary.encode()
    parts = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break  # closing delimiter
        head, sep, payload = chunk.partition(b"\r\n\r\n")
        if not sep:
            fail("malformed multipart part (no header/body separator)")
        if payload.endswith(b"\r\n"):
            payload = payload[:-2]
        parts.append(payload)
    return parts


def qido(session, base, sop_uid):
    url = base + "instances"
    resp = session.get(
        url, params={"SOPInstanceUID": sop_uid}, headers={"Accept": "application/dicom+json"}, timeout=TIMEOUT
    )
    if resp.status_code not in (200, 204):
        fail("QIDO-RS %s -> HTTP %s %s" % (url, resp.status_code, resp.text[:300]))
    found = resp.json() if resp.status_code == 200 and resp.content else []
    if len(found) != 1:
        fail("QIDO-RS found %d instances with SOPInstanceUID %s, expected 1" % (len(found), sop_uid))
    attrs = found[0]
    return attrs["0020000D"]["Value"][0], attrs["0020000E"]["Value"][0]


def wado(session, base, study, series, sop_uid, original):
    url = "%sstudies/%s/series/%s/instances/%s" % (base, study, series, sop_uid)
    resp = session.get(
        url, headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'}, timeout=TIMEOUT
    )
    if resp.status_code != 200:
        fail("WADO-RS %s -> HTTP %s %s" % (url, resp.status_code, resp.text[:300]))
    parts = parse_multipart(resp.headers.get("Content-Type", ""), resp.content)
    if len(parts) != 1:
        fail("WADO-RS returned %d parts, expected 1" % len(parts))
    got = parts[0]
    dataset = pydicom.dcmread(io.BytesIO(got))
    if dataset.SOPInstanceUID != sop_uid:
        fail("WADO-RS returned SOPInstanceUID %s, expected %s" % (dataset.SOPInstanceUID, sop_uid))
    if original is not None and got != original:
        fail("WADO-RS bytes differ from the stored file (%d vs %d bytes)" % (len(got), len(original)))
    return len(got)


def echo(host, port, called_aet):
    ae = AE(ae_title="MEDIMG_VERIFY")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = TIMEOUT
    ae.add_requested_context("1.2.840.10008.1.1")
    assoc = ae.associate(host, port, ae_title=called_aet)
    if not assoc.is_established:
        fail("C-ECHO: association to %s@%s:%s rejected or failed" % (called_aet, host, port))
    try:
        status = assoc.send_c_echo()
    finally:
        assoc.release()
    if not status or status.Status != 0x0000:
        fail("C-ECHO to %s@%s:%s returned %s" % (called_aet, host, port, status))
    return "0x0000"


def stow(session, base, data):
    boundary = "medimg-" + uuid.uuid4().hex
    body = (
        b"--"
        + boundary.encode()
        + b"\r\nContent-Type: application/dicom\r\n\r\n"
        + data
        + b"\r\n--"
        + boundary.encode()
        + b"--\r\n"
    )
    headers = {
        "Content-Type": 'multipart/related; type="application/dicom"; boundary=%s' % boundary,
        "Accept": "application/dicom+json",
    }
    resp = session.post(base + "studies", data=body, headers=headers, timeout=TIMEOUT)
    if resp.status_code != 200:
        fail("STOW-RS -> HTTP %s %s" % (resp.status_code, resp.text[:500]))
    answer = resp.json()
    failed = answer.get("00081198", {}).get("Value", [])  # FailedSOPSequence
    if failed:
        fail("STOW-RS reported failed instances: %s" % failed)
    stored = answer.get("00081199", {}).get("Value", [])  # ReferencedSOPSequence
    if len(stored) != 1:
        fail("STOW-RS stored %d instances, expected 1: %s" % (len(stored), answer))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["store", "check"])
    parser.add_argument("--url", required=True, help="Orthanc base URL, e.g. http://172.17.0.2:8042")
    parser.add_argument("--dicomweb-root", default="/dicom-web/")
    parser.add_argument("--user", required=True)
    parser.add_argument("--dicom-host")
    parser.add_argument("--dicom-port", type=int, default=4242)
    parser.add_argument("--aet")
    parser.add_argument("--file", help="DICOM file to store (default: pydicom's CT_small.dcm)")
    parser.add_argument("--sop-uid", help="check mode: the SOPInstanceUID that must be there")
    args = parser.parse_args()

    password = os.environ.get("PACS_PASSWORD", "")
    if not password:
        fail("PACS_PASSWORD is not set")
    session = requests.Session()
    session.auth = (args.user, password)
    base = args.url.rstrip("/") + args.dicomweb_root
    result = {"mode": args.mode}

    path = args.file or get_testdata_file("CT_small.dcm")
    with open(path, "rb") as handle:
        original = handle.read()
    if args.mode == "store":
        sop_uid = pydicom.dcmread(io.BytesIO(original)).SOPInstanceUID
        stow(session, base, original)
        result["stored_bytes"] = len(original)
    else:
        sop_uid = args.sop_uid or pydicom.dcmread(io.BytesIO(original)).SOPInstanceUID

    study, series = qido(session, base, sop_uid)
    result["retrieved_bytes"] = wado(session, base, study, series, sop_uid, original)
    lookup = session.post(args.url.rstrip("/") + "/tools/lookup", data=sop_uid, timeout=TIMEOUT)
    ids = [r["ID"] for r in lookup.json() if r.get("Type") == "Instance"] if lookup.ok else []
    if len(ids) != 1:
        fail("/tools/lookup %s -> HTTP %s %s" % (sop_uid, lookup.status_code, lookup.text[:300]))
    result.update(
        sop_instance_uid=sop_uid,
        study_instance_uid=study,
        series_instance_uid=series,
        orthanc_instance_id=ids[0],
        bytes_identical=True,
    )
    if args.dicom_host:
        result["c_echo"] = echo(args.dicom_host, args.dicom_port, args.aet)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
