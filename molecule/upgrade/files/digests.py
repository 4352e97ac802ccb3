"""Every instance Orthanc serves, as its SHA-256, read through the front door (runs on the controller).

usage: digests.py --url https://host --user ADMIN --password-env VAR [--qido-user U --qido-password-env V]

Reads the instance list and each instance's file (/orthanc/instances, /orthanc/instances/<id>/file, as
the admin), and finds each study with QIDO-RS (/dicom-web/studies?StudyInstanceUID=..., as the viewer
when given). Prints JSON: {"instances": {sop_uid: sha256}, "studies": {study_uid: qido_hits}}.
"""
import argparse
import hashlib
import json
import os
import sys

import requests
import urllib3

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
# The self-signed lab front door: verify=False on every request (a session's verify gives way to
# REQUESTS_CA_BUNDLE).


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password-env", required=True)
    ap.add_argument("--qido-user")
    ap.add_argument("--qido-password-env")
    ap.add_argument("--timeout", type=float, default=60)
    args = ap.parse_args()
    admin = requests.Session()
    admin.auth = (args.user, os.environ[args.password_env])
    viewer = requests.Session()
    viewer.auth = ((args.qido_user, os.environ[args.qido_password_env]) if args.qido_user else admin.auth)
    base = args.url.rstrip("/")
    ids = admin.get(verify=False, url=base + "/orthanc/instances", timeout=args.timeout)
    ids.raise_for_status()
    instances, studies = {}, {}
    for oid in ids.json():
        tags = admin.get(verify=False, url="%s/orthanc/instances/%s/simplified-tags" % (base, oid), timeout=args.timeout)
        tags.raise_for_status()
        data = admin.get(verify=False, url="%s/orthanc/instances/%s/file" % (base, oid), timeout=args.timeout)
        data.raise_for_status()
        instances[tags.json()["SOPInstanceUID"]] = hashlib.sha256(data.content).hexdigest()
        studies.setdefault(tags.json()["StudyInstanceUID"], None)
    for uid in studies:
        qido = viewer.get(verify=False, url=base + "/dicom-web/studies", params={"StudyInstanceUID": uid},
                          headers={"Accept": "application/dicom+json"}, timeout=args.timeout)
        qido.raise_for_status()
        studies[uid] = len(qido.json()) if qido.content else 0
    json.dump({"instances": instances, "studies": studies}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
