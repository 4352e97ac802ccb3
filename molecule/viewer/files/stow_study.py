"""Generate a small synthetic CT series and store it with STOW-RS.

Pixels are a non-trivial phantom (ellipses of different densities plus a gradient) so that a
rendered viewport can be told apart from a blank one. Prints the StudyInstanceUID as JSON.

The series is one evenly spaced axial stack (one FrameOfReference, same orientation, no
gaps), so a viewer can also reconstruct it as a volume (OHIF's MPR layout). For MPR, make the
volume about as deep as it is wide, e.g. --slices 48 (48 x 5 mm for 256 x 1 mm pixels), and
store it compressed so that the viewer's WASM decoders are exercised:
--transfer-syntax jpeg-ls (needs the pyjpegls package) or jpeg2000 (pylibjpeg and
pylibjpeg-openjpeg).

usage: stow_study.py --url https://host/dicom-web --user U --password-env VAR [--slices 8]
                     [--size 256] [--slice-spacing 5.0] [--pixel-spacing 1.0]
                     [--transfer-syntax explicit|rle|jpeg-ls|jpeg2000] [--accession-number A]
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
from pydicom.uid import (CTImageStorage, ExplicitVRLittleEndian, JPEG2000Lossless, JPEGLSLossless,
                         RLELossless, generate_uid)

# --transfer-syntax: how the pixel data is stored (and so which decoder the viewer needs).
# Encoders: pydicom itself (rle), pyjpegls (jpeg-ls), pylibjpeg + pylibjpeg-openjpeg (jpeg2000).
# OHIF decodes RLE in JavaScript, JPEG-LS (CharLS) and JPEG 2000 (OpenJPEG) in WebAssembly.
TRANSFER_SYNTAXES = {
    "explicit": ExplicitVRLittleEndian,   # uncompressed (default)
    "rle": RLELossless,
    "jpeg-ls": JPEGLSLossless,
    "jpeg2000": JPEG2000Lossless,
}


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


def make_slice(study_uid, series_uid, frame_uid, index, slices, size,
               slice_spacing=5.0, pixel_spacing=1.0, transfer_syntax="explicit",
               accession_number="VIEWER0001"):
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
    ds.AccessionNumber = accession_number
    ds.StudyID = "1"
    ds.StudyDescription = "medimg viewer smoke test"
    ds.SeriesDescription = "synthetic phantom"
    ds.Modality = "CT"
    ds.SeriesNumber = 1
    ds.InstanceNumber = index + 1
    ds.ImagePositionPatient = [0.0, 0.0, float(index) * slice_spacing]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.SliceThickness = slice_spacing
    ds.PixelSpacing = [pixel_spacing, pixel_spacing]
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
    pixels = phantom(size, index, slices)
    ds.PixelData = pixels.tobytes()
    if transfer_syntax != "explicit":
        # Lossless compression: the decoded pixels are the phantom's, bit for bit.
        ds.compress(TRANSFER_SYNTAXES[transfer_syntax], pixels)
    buf = DicomBytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True, help="DICOMweb root, e.g. https://host/dicom-web")
    ap.add_argument("--user", required=True)
    ap.add_argument("--password-env", required=True, help="environment variable holding the password")
    ap.add_argument("--slices", type=int, default=8)
    ap.add_argument("--size", type=int, default=256, help="rows and columns")
    ap.add_argument("--slice-spacing", type=float, default=5.0,
                    help="distance between slices (and slice thickness), mm")
    ap.add_argument("--pixel-spacing", type=float, default=1.0, help="row and column spacing, mm")
    ap.add_argument("--transfer-syntax", choices=sorted(TRANSFER_SYNTAXES), default="explicit",
                    help="how the pixel data is stored (jpeg-ls needs pyjpegls, jpeg2000 needs "
                         "pylibjpeg + pylibjpeg-openjpeg)")
    ap.add_argument("--study-uid", default="")
    ap.add_argument("--accession-number", default="VIEWER0001",
                    help="what the viewer's study list shows for the study (OHIF_STUDY_TEXT)")
    args = ap.parse_args()
    if args.slices < 1 or args.size < 8 or args.slice_spacing <= 0 or args.pixel_spacing <= 0:
        ap.error("--slices, --size, --slice-spacing and --pixel-spacing must be positive (size >= 8)")
    password = os.environ[args.password_env]
    urllib3.disable_warnings()

    study_uid = args.study_uid or generate_uid()
    series_uid, frame_uid = generate_uid(), generate_uid()
    boundary = uuid.uuid4().hex
    parts = []
    try:
        for i in range(args.slices):
            parts.append(
                b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n"
                + make_slice(study_uid, series_uid, frame_uid, i, args.slices, args.size,
                             args.slice_spacing, args.pixel_spacing, args.transfer_syntax,
                             args.accession_number) + b"\r\n"
            )
    except RuntimeError as exc:   # pydicom: no encoder installed for --transfer-syntax
        print("cannot encode --transfer-syntax %s: %s" % (args.transfer_syntax, exc), file=sys.stderr)
        return 2
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
