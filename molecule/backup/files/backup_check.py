"""DICOM client of molecule/backup's verify: real studies stored, deleted, found and read back.

Run on the controller against the lab host's Orthanc (HTTP API opened to the controller by the
scenario's host_vars, Basic authentication on), with the lab tooling's DICOMweb client:
  store --studies N --series N --instances N   STOW-RS of generated studies (pydicom's CT_small
                                               with new UIDs), raw Part-10 bytes; prints the
                                               manifest (SOP UID -> study, series, SHA-256)
  check --manifest FILE [--absent STUDY]       every instance of the manifest found by QIDO-RS and
                                               its file (/instances/{id}/file) byte-identical
                                               (SHA-256); a study named --absent must be gone
  delete --study UID                           delete one study through Orthanc's REST API
  find-study --study UID                       QIDO-RS for one study: prints the count
Prints one JSON object; exits non-zero with a message on the first failure.
The password comes from the PACS_PASSWORD environment variable (never on the command line).
"""

import argparse
import copy
import hashlib
import io
import json
import os
import sys

import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from medimg_lab.dicomweb import DicomWeb, acknowledged, failed, stow_body

TIMEOUT = 60


def fail(message):
    sys.exit("backup_check: FAIL: " + message)


def generate(studies, series, instances, tag):
    template = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    out = []
    for st in range(studies):
        study_uid = generate_uid()
        for se in range(series):
            series_uid = generate_uid()
            for num in range(instances):
                ds = copy.deepcopy(template)
                ds.StudyInstanceUID = study_uid
                ds.SeriesInstanceUID = series_uid
                ds.SOPInstanceUID = generate_uid()
                ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
                ds.PatientID = "BACKUP-%s-%d" % (tag, st)
                ds.PatientName = "Backup^%s%d" % (tag, st)
                ds.StudyID = str(st)
                ds.SeriesNumber = se + 1
                ds.InstanceNumber = num + 1
                ds.StudyDescription = "medimg backup %s %d" % (tag, st)
                buf = io.BytesIO()
                ds.save_as(buf, write_like_original=False)
                out.append((study_uid, series_uid, ds.SOPInstanceUID, buf.getvalue()))
    return out


def orthanc_id(client, url, sop):
    got = client.http.post(url + "/tools/lookup", data=sop, timeout=TIMEOUT)
    got.raise_for_status()
    ids = [r["ID"] for r in got.json() if r.get("Type") == "Instance"]
    return ids[0] if len(ids) == 1 else None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["store", "check", "delete", "find-study"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--dicomweb-root", default="/dicom-web/")
    parser.add_argument("--studies", type=int, default=3)
    parser.add_argument("--series", type=int, default=2)
    parser.add_argument("--instances", type=int, default=8)
    parser.add_argument("--tag", default="A")
    parser.add_argument("--manifest")
    parser.add_argument("--absent")
    parser.add_argument("--study")
    args = parser.parse_args()
    password = os.environ.get("PACS_PASSWORD", "")
    if not password:
        fail("PACS_PASSWORD is not set")
    url = args.url.rstrip("/")
    client = DicomWeb(url + args.dicomweb_root, args.user, password, timeout=TIMEOUT)

    if args.mode == "store":
        manifest = {}
        items = generate(args.studies, args.series, args.instances, args.tag)
        for start in range(0, len(items), 16):
            chunk = items[start:start + 16]
            content_type, body = stow_body([c[3] for c in chunk])
            answer = client.http.post(url + args.dicomweb_root.rstrip("/") + "/studies", data=body,
                                      headers={"Content-Type": content_type,
                                               "Accept": "application/dicom+json"}, timeout=TIMEOUT)
            answer.raise_for_status()
            if failed(answer.content) or len(acknowledged(answer.content)) != len(chunk):
                fail("STOW-RS acknowledged %d of %d" % (len(acknowledged(answer.content)), len(chunk)))
        for study, series, sop, data in items:
            manifest[sop] = {"study": study, "series": series, "sha256": hashlib.sha256(data).hexdigest()}
        print(json.dumps({"instances": len(manifest), "studies": sorted({v["study"] for v in manifest.values()}),
                          "manifest": manifest}))
    elif args.mode == "check":
        with open(args.manifest) as handle:
            manifest = json.load(handle)
        identical = found = 0
        problems = []
        for sop, item in sorted(manifest.items()):
            if item["study"] == args.absent:
                continue
            hits = client.find_instance(sop)
            if len(hits) != 1 or hits[0]["0020000D"]["Value"][0] != item["study"]:
                problems.append("QIDO-RS %s: %d matches" % (sop, len(hits)))
                continue
            found += 1
            oid = orthanc_id(client, url, sop)
            data = client.http.get(url + "/instances/%s/file" % oid, timeout=TIMEOUT).content if oid else b""
            if hashlib.sha256(data).hexdigest() == item["sha256"]:
                identical += 1
            else:
                problems.append("%s: SHA-256 differs (%d bytes)" % (sop, len(data)))
        absent = None
        if args.absent:
            absent = len(client.search_for_studies(search_filters={"StudyInstanceUID": args.absent}))
            if absent:
                problems.append("study %s should be gone, QIDO-RS finds it" % args.absent)
        if problems:
            fail("; ".join(problems[:10]))
        print(json.dumps({"found_by_qido": found, "byte_identical": identical, "absent_study_matches": absent}))
    elif args.mode == "delete":
        got = client.http.post(url + "/tools/lookup", data=args.study, timeout=TIMEOUT)
        got.raise_for_status()
        ids = [r["ID"] for r in got.json() if r.get("Type") == "Study"]
        if len(ids) != 1:
            fail("study %s not found for deletion" % args.study)
        client.http.delete(url + "/studies/" + ids[0], timeout=TIMEOUT).raise_for_status()
        print(json.dumps({"deleted": args.study, "orthanc_id": ids[0]}))
    else:
        hits = client.search_for_studies(search_filters={"StudyInstanceUID": args.study})
        print(json.dumps({"study": args.study, "qido_matches": len(hits)}))


if __name__ == "__main__":
    main()
