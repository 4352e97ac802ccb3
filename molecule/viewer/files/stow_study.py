"""Generate a small synthetic CT series and store it with STOW-RS (runs on the controller).

Pixels are a non-trivial phantom (ellipses of different densities plus a gradient) so that a
rendered viewport can be told apart from a blank one. Prints the StudyInstanceUID as JSON.

The series is one evenly spaced axial stack (one FrameOfReference, same orientation, no
gaps), so a viewer can also reconstruct it as a volume (OHIF's MPR layout). For MPR, make the
volume about as deep as it is wide, e.g. --slices 48 (48 x 5 mm for 256 x 1 mm pixels), and
store it compressed so that the viewer's WASM decoders are exercised:
--transfer-syntax jpeg-ls (needs the pyjpegls package) or jpeg2000 (pylibjpeg and
pylibjpeg-openjpeg).

The series is medimg_lab.samples.ct_series (pydicom) with this scenario's phantom and tags; it is
stored with medimg_lab.dicomweb (dicomweb-client).

usage: stow_study.py --url https://host/dicom-web --user U --password-env VAR [--slices 8]
                     [--size 256] [--slice-spacing 5.0] [--pixel-spacing 1.0]
                     [--transfer-syntax explicit|rle|jpeg-ls|jpeg2000] [--accession-number A]
"""
import argparse
import json
import os
import sys

import numpy as np
import requests
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless, generate_uid

from medimg_lab.dicomweb import DicomWeb
from medimg_lab.samples import ct_series

# --transfer-syntax: how the pixel data is stored (and so which decoder the viewer needs).
# Encoders: pydicom itself (rle), pyjpegls (jpeg-ls), pylibjpeg + pylibjpeg-openjpeg (jpeg2000).
# OHIF decodes RLE in JavaScript, JPEG-LS (CharLS) and JPEG 2000 (OpenJPEG) in WebAssembly.
TRANSFER_SYNTAXES = {
    "explicit": None,   # uncompressed (default)
    "rle": RLELossless,
    "jpeg-ls": JPEGLSLossless,
    "jpeg2000": JPEG2000Lossless,
}


def phantom(size, z, slices):
    """One slice in HU: a body with lungs, a spine whose size varies by slice, vessels, texture."""
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
    return np.clip(img, -1024, 3071)


def series(args, study_uid):
    """The slices as pydicom data sets, compressed (losslessly) as --transfer-syntax asks."""
    datasets = ct_series(
        patient_id="MEDIMG-VIEWER-0001", patient_name="MEDIMG^VIEWER^TEST", nslices=args.slices,
        rows=args.size, cols=args.size, fresh_uids=True, study_uid=study_uid,
        slice_spacing=args.slice_spacing, pixel_spacing=args.pixel_spacing,
        pixels=lambda rows, cols, z, n: phantom(rows, z, n),
        tags={"StudyDate": "20240101", "SeriesDate": "20240101", "AccessionNumber": args.accession_number,
              "StudyDescription": "medimg viewer smoke test", "SeriesDescription": "synthetic phantom"})
    syntax = TRANSFER_SYNTAXES[args.transfer_syntax]
    if syntax:
        for ds in datasets:
            ds.compress(syntax)  # lossless: the decoded pixels are the phantom's, bit for bit
    return datasets


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

    study_uid = args.study_uid or generate_uid()
    try:
        datasets = series(args, study_uid)
    except RuntimeError as exc:   # pydicom: no encoder installed for --transfer-syntax
        print("cannot encode --transfer-syntax %s: %s" % (args.transfer_syntax, exc), file=sys.stderr)
        return 2
    # self-signed lab front door: verify=False (on every request, whatever REQUESTS_CA_BUNDLE says)
    client = DicomWeb(args.url, args.user, password, verify=False, timeout=120)
    try:
        acked, failed = client.store(datasets)[:2]
    except requests.RequestException as exc:
        detail = exc.response.text[:500] if getattr(exc, "response", None) is not None else ""
        print("STOW-RS failed: %s %s" % (exc, detail), file=sys.stderr)
        return 1
    if failed or len(acked) != len(datasets):
        print("STOW-RS stored %d of %d instances (failed: %s)" % (len(acked), len(datasets), failed),
              file=sys.stderr)
        return 1
    print(json.dumps({"study_uid": study_uid, "series_uid": str(datasets[0].SeriesInstanceUID),
                      "instances": len(acked)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
