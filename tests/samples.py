"""Sample studies for the demo and the tests: real DICOM, made on the controller.

- pydicom's own bundled files (a CT and an MR slice), and
- a synthetic CT series (a cylinder phantom with internal structures, 16-bit, realistic tags),
  with stable UIDs so a second load is a no-op for the archive.
"""
import math
import time

import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid


def _uid(*parts):
    # pydicom's own UID root, made deterministic so a reload stores nothing new
    return generate_uid(entropy_srcs=["medimg-samples"] + [str(p) for p in parts])


def phantom_slice(rows, cols, z, nslices):
    """A water cylinder (0 HU) in air (-1000 HU), with bone and soft-tissue inserts."""
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    cy, cx = rows / 2.0, cols / 2.0
    r = np.hypot(y - cy, x - cx)
    img = np.full((rows, cols), -1000.0, dtype=np.float32)
    img[r < rows * 0.42] = 0.0
    frac = z / max(nslices - 1, 1)
    for k, hu in enumerate((700.0, 60.0, -100.0, 1200.0)):
        ang = k * math.pi / 2 + frac * 0.6
        iy, ix = cy + rows * 0.22 * math.sin(ang), cx + cols * 0.22 * math.cos(ang)
        rad = rows * (0.05 + 0.02 * math.sin(frac * math.pi + k))
        img[np.hypot(y - iy, x - ix) < rad] = hu
    rng = np.random.default_rng(z)
    img += rng.normal(0, 8, size=img.shape).astype(np.float32)
    return img


def ct_series(patient_id="MEDIMG-0001", patient_name="Phantom^Cylinder", nslices=16,
              rows=256, cols=256, study_key="ct-phantom"):
    """A CT series as a list of pydicom Datasets (CT Image Storage, 16-bit signed)."""
    study_uid = _uid(study_key, "study")
    series_uid = _uid(study_key, "series")
    frame_uid = _uid(study_key, "frame")
    out = []
    for i in range(nslices):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = _uid(study_key, "instance", i)
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.PatientID = patient_id
        ds.PatientName = patient_name
        ds.PatientBirthDate = "19700101"
        ds.PatientSex = "O"
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20260101"
        ds.StudyTime = ds.SeriesTime = ds.ContentTime = "120000"
        ds.AccessionNumber = "ACC" + patient_id[-4:]
        ds.StudyID = "1"
        ds.StudyDescription = "Phantom CT"
        ds.SeriesDescription = "Axial 5mm"
        ds.Modality = "CT"
        ds.Manufacturer = "medimg.pacs samples"
        ds.SeriesNumber = 1
        ds.InstanceNumber = i + 1
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.ImagePositionPatient = [-125.0, -125.0, float(i * 5)]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.SliceThickness = 5.0
        ds.SliceLocation = float(i * 5)
        ds.PixelSpacing = [250.0 / cols, 250.0 / rows]
        ds.KVP = 120
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = rows, cols
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
        ds.PixelRepresentation = 1
        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
        ds.WindowCenter, ds.WindowWidth = 40, 400
        pixels = (phantom_slice(rows, cols, i, nslices) + 1024).clip(-32768, 32767).astype(np.int16)
        ds.PixelData = pixels.tobytes()
        ds.is_little_endian, ds.is_implicit_VR = True, False  # pydicom < 3 compatibility
        out.append(ds)
    return out


def sample_datasets():
    """All demo samples: pydicom's CT and MR test files plus one synthetic CT series."""
    out = []
    for name in ("CT_small.dcm", "MR_small.dcm"):
        out.append(pydicom.dcmread(get_testdata_file(name)))
    out.extend(ct_series())
    return out


def cstore(datasets, host, port, called_aet, calling_aet="MEDIMG_DEMO", timeout=30):
    """C-STORE datasets to host:port, retrying the association until `timeout` (bounded)."""
    from pynetdicom import AE

    ae = AE(ae_title=calling_aet)
    for sop_class in sorted({str(ds.SOPClassUID) for ds in datasets}):
        ae.add_requested_context(sop_class, [ExplicitVRLittleEndian, "1.2.840.10008.1.2"])
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    deadline = time.time() + timeout
    while True:
        assoc = ae.associate(host, port, ae_title=called_aet)
        if assoc.is_established:
            break
        if time.time() > deadline:
            raise RuntimeError("no DICOM association with %s at %s:%d" % (called_aet, host, port))
        time.sleep(2)
    stored = 0
    try:
        for ds in datasets:
            status = assoc.send_c_store(ds)
            if not status or status.Status not in (0x0000, 0xB000, 0xB007, 0xB006):
                raise RuntimeError("C-STORE of %s failed: %r" % (ds.SOPInstanceUID, status))
            stored += 1
    finally:
        assoc.release()
    return stored
