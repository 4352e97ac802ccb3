"""Store a few synthetic CT instances with STOW-RS through the front door (runs on the controller).

Reads JSON on standard input (the password never on the command line or in the environment):
    {"url": "https://host/dicom-web", "user": "uploader", "password": "...", "ca": "/path/ca.crt",
     "count": 5}
Prints JSON {"stored": n, "failed": n, "study": uid}; exits 1 unless every instance was stored.
"""
import json
import sys

from medimg_lab.dicomweb import DicomWeb
from medimg_lab.samples import ct_series


def main():
    spec = json.load(sys.stdin)
    series = ct_series(patient_id="MEDIMG-MON", patient_name="Monitoring^Check", nslices=int(spec["count"]),
                       rows=64, cols=64, fresh_uids=True)
    client = DicomWeb(spec["url"], spec["user"], spec["password"], verify=spec.get("ca") or True, timeout=60)
    ok, failed = client.store(series)[:2]
    print(json.dumps({"stored": len(ok), "failed": len(failed), "study": str(series[0].StudyInstanceUID)}))
    return 0 if len(ok) == len(series) and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
