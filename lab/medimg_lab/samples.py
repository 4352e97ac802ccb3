"""Sample studies for the demo, the tests and the benchmarks: real DICOM (pydicom), made on the controller.

- pydicom's own bundled files (a CT and an MR slice), and
- a synthetic CT series (a cylinder phantom with internal structures, 16-bit, realistic tags),
  with stable UIDs so a second load is a no-op for the archive;
- copies of a template with fresh UIDs, fast (one data set, new UIDs per copy): the benchmarks,
  the durability test, the load and cross-site clients.
"""
import copy
import io
import math
import pathlib

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
              rows=256, cols=256, study_key="ct-phantom", fresh_uids=False, study_uid=None,
              slice_spacing=5.0, pixel_spacing=None, pixels=phantom_slice, tags=None):
    """A CT series as a list of pydicom Datasets (CT Image Storage, 16-bit signed): one evenly
    spaced axial stack (one frame of reference, no gaps), so a viewer can also build a volume.

    UIDs are stable (from ``study_key``) unless ``fresh_uids`` (``study_uid`` keeps the study);
    ``pixels(rows, cols, z, nslices)`` gives each slice in HU (default :func:`phantom_slice`);
    ``pixel_spacing`` defaults to a 250 mm field of view; ``tags``: attributes set on every slice last.
    """
    def uid(*parts):
        return generate_uid() if fresh_uids else _uid(study_key, *parts)

    study_uid = study_uid or uid("study")
    series_uid = uid("series")
    frame_uid = uid("frame")
    spacing = [pixel_spacing, pixel_spacing] if pixel_spacing else [250.0 / cols, 250.0 / rows]
    out = []
    for i in range(nslices):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = uid("instance", i)
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
        ds.ImagePositionPatient = [-125.0, -125.0, float(i * slice_spacing)]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.SliceThickness = slice_spacing
        ds.SliceLocation = float(i * slice_spacing)
        ds.PixelSpacing = spacing
        ds.KVP = 120
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = rows, cols
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
        ds.PixelRepresentation = 1
        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
        ds.WindowCenter, ds.WindowWidth = 40, 400
        stored = (pixels(rows, cols, i, nslices) + 1024).clip(-32768, 32767).astype(np.int16)
        ds.PixelData = stored.tobytes()
        ds.is_little_endian, ds.is_implicit_VR = True, False  # pydicom < 3 compatibility
        for keyword, value in (tags or {}).items():
            setattr(ds, keyword, value)
        out.append(ds)
    return out


def sample_datasets():
    """All demo samples: pydicom's CT and MR test files plus one synthetic CT series."""
    out = []
    for name in ("CT_small.dcm", "MR_small.dcm"):
        out.append(pydicom.dcmread(get_testdata_file(name)))
    out.extend(ct_series())
    return out


def part10(ds):
    """``ds`` as Part-10 bytes (preamble, DICM, file meta)."""
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def testdata(name="CT_small.dcm"):
    """One of pydicom's bundled test files as a data set."""
    return pydicom.dcmread(get_testdata_file(name))


def with_new_uids(template, patient_id, study_uid=None, patient_name=None):
    """A copy of ``template`` as a new instance (new SOP and series UIDs; new study unless given)."""
    ds = copy.deepcopy(template)
    ds.PatientID = patient_id
    if patient_name:
        ds.PatientName = patient_name
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def template(rows, cols):
    """One CT slice of :func:`ct_series` to copy with new UIDs (:func:`make_instances`)."""
    return ct_series(patient_id="MEDIMG-BENCH", nslices=1, rows=rows, cols=cols, study_key="bench-template")[0]


def make_instances(ds_template, nstudies, per_study, tag, patient_prefix="BENCH"):
    """[(sop_uid, study_uid, Part-10 bytes)]: nstudies x per_study instances with fresh UIDs
    (one series per study)."""
    out = []
    ds = ds_template
    for s in range(nstudies):
        study = generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, generate_uid()
        ds.PatientID = "%s-%s-%06d" % (patient_prefix, tag, s)
        ds.PatientName = "%s^%s%06d" % (patient_prefix, tag, s)
        ds.AccessionNumber = ("A%s%06d" % (tag, s))[:16]
        for i in range(per_study):
            sop = generate_uid()
            ds.SOPInstanceUID = sop
            ds.file_meta.MediaStorageSOPInstanceUID = sop
            ds.InstanceNumber = i + 1
            out.append((sop, study, part10(ds)))
    return out


def write_files(items, directory):
    """Write :func:`make_instances` items as ``NNNNNN.dcm`` files; returns the directory."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for idx, (_sop, _study, data) in enumerate(items):
        (directory / ("%06d.dcm" % idx)).write_bytes(data)
    return directory
