"""Generate a small synthetic CT series and store it with STOW-RS.

Pixels are a non-trivial phantom (ellipses of different densities plus a gradient) so that a
rendered viewport can be told apart from a blank one. Prints the StudyInstanceUID as JSON.

usage: stow_study.py --url https://host/dicom-web --user U --password-env VAR [--slices 8]
"""
import argparse
import json
import os
import sys
import uuid

import numpy as np
import requests
import urllib3
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid


def phantom(size, z, slices):
    y, x = np.mgrid[-1:1:complex(size), -1:1:complex(size)]
    img = np.full((size, size), -1000.0)                       # air
    img[(x / 0.85) ** 2 + (y / 0.7) ** 2 <= 1] = 40.0            # soft tissue body
    img[((x + 0.35) / 0.18) ** 2 + (y / 0.3) ** 2 <= 1] = -800.0  # lung left
    img[((x - 0.35) / 0.18) ** 2 + (y / 0.3) ** 2 <= 1] = -800.0  # lung right
    r = 0.08 + 0.06 * np.sin(np.pi * z / max(slices - 1, 1))
    img[(x ** 2 + (y + 0.45) ** 2) <= r ** 2] = 900.0             # spine, size varies by slice
    body = (x / 0.85) ** 2 + (y / 0.7) ** 2 <= 1
    img[body] += 25.0 * np.sin(9 * x[body]) * np.cos(7 * y[body])  # texture
    for cx, cy, rad in ((-0.1, 0.2, 0.05), (0.15, 0.25, 0.04), (0.0, -0.05, 0.07)):
        img[((x - cx) ** 2 + (y - cy) ** 2) <= rad ** 2] = 250.0  # contrast-filled vessels
    img += 60.0 * x                                               # gradient
    return np.clip(img, -1024, 3071).astype(np.int16)


def make_slice(study_uid, series_uid, frame_uid, index, slices, size):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = frame_uid
    ds.PatientName = "MEDIMG^VIEWER^TEST"
    ds.PatientID = "MEDIMG-VIEWER-0001"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyDate = ds.SeriesDate = "20240101"
    ds.StudyTime = ds.SeriesTime = "120000"
    ds.AccessionNumber = "VIEWER0001"
    ds.StudyID = "1"
    ds.StudyDescription = "medimg viewer smoke test"
    ds.SeriesDescription = "synthetic phantom"
    ds.Modality = "CT"
    ds.SeriesNumber = 1
    ds.InstanceNumber = index + 1
    ds.ImagePositionPatient = [0.0, 0.0, float(index) * 5.0]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.SliceThickness = 5.0
    ds.PixelSpacing = [1.0, 1.0]
    ds.Rows = ds.Columns = size
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleIntercept = 0
    ds.RescaleSlope = 1
    ds.WindowCenter = 40
    ds.WindowWidth = 400
    ds.PixelData = phantom(size, index, slices).tobytes()
    buf = DicomBytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True, help="DICOMweb root, e.g. https://host/dicom-web")
    ap.add_argument("--user", required=True)
    ap.add_argument("--password-env", required=True, help="environment variable holding the password")
    ap.add_argument("--slices", type=int, default=8)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--study-uid", default="")
    args = ap.parse_args()
    password = os.environ[args.password_env]
    urllib3.disable_warnings()

    study_uid = args.study_uid or generate_uid()
    series_uid, frame_uid = generate_uid(), generate_uid()
    boundary = uuid.uuid4().hex
    parts = []
    for i in range(args.slices):
        parts.append(
            b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n"
            + make_slice(study_uid, series_uid, frame_uid, i, args.slices, args.size) + b"\r\n"
        )
    body = b"".join(parts) + b"--" + boundary.encode() + b"--\r\n"
    resp = requests.post(
        args.url.rstrip("/") + "/studies",
        data=body,
        auth=(args.user, password),
        headers={
            "Content-Type": 'multipart/related; type="application/dicom"; boundary=' + boundary,
            "Accept": "application/dicom+json",
        },
        verify=False,
        timeout=120,
    )
    if resp.status_code not in (200, 202):
        print("STOW-RS failed: HTTP %d %s" % (resp.status_code, resp.text[:500]), file=sys.stderr)
        return 1
    print(json.dumps({"study_uid": study_uid, "series_uid": series_uid,
                      "instances": args.slices, "status": resp.status_code}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
