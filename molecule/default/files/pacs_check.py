"""Exercise an Orthanc PACS with real clients: STOW-RS, QIDO-RS, WADO-RS and C-ECHO.

Used by molecule/default/verify.yml from the controller against the lab container, with the lab
tooling's clients: medimg_lab.dicomweb (dicomweb-client) and medimg_lab.dimse (pynetdicom).
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

import pydicom
import requests
from pydicom.data import get_testdata_file

from medimg_lab.dicomweb import DicomWeb
from medimg_lab.dimse import echo

TIMEOUT = 30


def fail(message):
    sys.exit("pacs_check: FAIL: " + message)


def qido(client, sop_uid):
    found = client.find_instance(sop_uid)
    if len(found) != 1:
        fail("QIDO-RS found %d instances with SOPInstanceUID %s, expected 1" % (len(found), sop_uid))
    attrs = found[0]
    return attrs["0020000D"]["Value"][0], attrs["0020000E"]["Value"][0]


def wado(client, study, series, sop_uid, original):
    got = client.instance_bytes(study, series, sop_uid)
    dataset = pydicom.dcmread(io.BytesIO(got))
    if dataset.SOPInstanceUID != sop_uid:
        fail("WADO-RS returned SOPInstanceUID %s, expected %s" % (dataset.SOPInstanceUID, sop_uid))
    if original is not None and got != original:
        fail("WADO-RS bytes differ from the stored file (%d vs %d bytes)" % (len(got), len(original)))
    return len(got)


def stow(client, data):
    acked, failed = client.store([data])[:2]
    if failed:
        fail("STOW-RS reported failed instances: %s" % failed)
    if len(acked) != 1:
        fail("STOW-RS stored %d instances, expected 1" % len(acked))


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
    client = DicomWeb(args.url.rstrip("/") + args.dicomweb_root, args.user, password, timeout=TIMEOUT)
    result = {"mode": args.mode}

    path = args.file or get_testdata_file("CT_small.dcm")
    with open(path, "rb") as handle:
        original = handle.read()
    if args.mode == "store":
        sop_uid = pydicom.dcmread(io.BytesIO(original)).SOPInstanceUID
        stow(client, original)
        result["stored_bytes"] = len(original)
    else:
        sop_uid = args.sop_uid or pydicom.dcmread(io.BytesIO(original)).SOPInstanceUID

    study, series = qido(client, sop_uid)
    result["retrieved_bytes"] = wado(client, study, series, sop_uid, original)
    lookup = client.http.post(args.url.rstrip("/") + "/tools/lookup", data=sop_uid, timeout=TIMEOUT)
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
        try:
            result["c_echo"] = "0x%04X" % echo(args.dicom_host, args.dicom_port, args.aet, timeout=TIMEOUT)
        except RuntimeError as exc:
            fail("C-ECHO: %s" % exc)
    print(json.dumps(result))


if __name__ == "__main__":
    try:
        main()
    except requests.RequestException as exc:
        response = getattr(exc, "response", None)
        fail("%s%s" % (exc, (" " + response.text[:300]) if response is not None else ""))
