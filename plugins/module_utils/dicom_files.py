# -*- coding: utf-8 -*-
# Copyright: medimg.pacs maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""DICOM files through pydicom: the source tree walk, Part-10 header UIDs, a generated test instance.

* :func:`iter_files` walks a tree (include/exclude globs, symlink policy, each directory once).
* :func:`read_header` reads the identifying UIDs of a Part-10 file with pydicom, whatever the
  pixel data size: from the first 64 KiB in memory, pydicom's element generator walks the file
  meta group and the data set up to the Series Instance UID (other values skipped); anything
  that path does not settle (deflated or private transfer syntaxes, a data set in another VR
  encoding than its transfer syntax says, a longer header, odd or broken files) is read by
  pydicom's ``read_partial``, which then also gives the error.
* :func:`build_test_instance` writes a tiny Secondary Capture instance (``dicomweb_health``'s
  round trip) with pydicom's Dataset, FileMetaDataset and dcmwrite.

pydicom is imported guarded: callers check :data:`HAS_PYDICOM` and fail with
``missing_required_lib('pydicom')`` (:data:`PYDICOM_IMPORT_ERROR` holds the traceback).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import fnmatch
import io
import logging
import os
import re
import stat
import traceback
import warnings

try:
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.filereader import data_element_generator, read_partial
    from pydicom.uid import UID, generate_uid as _generate_uid
    HAS_PYDICOM = True
    PYDICOM_IMPORT_ERROR = None
except ImportError:
    pydicom = Dataset = FileMetaDataset = data_element_generator = read_partial = UID = _generate_uid = None
    HAS_PYDICOM = False
    PYDICOM_IMPORT_ERROR = traceback.format_exc()

MEDIA_STORAGE_DIRECTORY = '1.2.840.10008.1.3.10'  # DICOMDIR
SECONDARY_CAPTURE_SOP_CLASS = '1.2.840.10008.5.1.4.1.1.7'
EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1'
IMPLEMENTATION_CLASS_UID = '2.25.90462217893153373040357282935218106437'
IMPLEMENTATION_VERSION_NAME = 'MEDIMG_PACS_01'
PROBE_PATIENT_ID = 'MEDIMG-HEALTH-PROBE'
PROBE_PATIENT_NAME = 'HEALTH^PROBE'
PROBE_STUDY_DESCRIPTION = 'medimg.pacs health probe (deleted after the check)'

_LAST_WANTED = 0x0020000E  # Series Instance UID: nothing after it is needed
_WANTED = [0x00080016, 0x00080018, 0x0020000D, 0x0020000E]
_WANTED_SET = frozenset(_WANTED)
_UID_RE = re.compile(r'^[0-9]+(\.[0-9]+)*$')
HEAD_BYTES = 64 * 1024     # headers of ordinary files fit here; larger ones are read from the file


class NotDicomError(Exception):
    """The file is not a DICOM Part-10 file (no 'DICM' prefix, or too short)."""


class DicomHeaderError(Exception):
    """The file claims to be DICOM (prefix present) but its header cannot be read."""


def quiet_pydicom():
    """Keep pydicom's warnings and log lines (about odd files) out of the module output."""
    logger = logging.getLogger('pydicom')
    logger.handlers = [logging.NullHandler()]
    logger.propagate = False
    warnings.filterwarnings('ignore', module=r'pydicom(\.|$)')


# --------------------------------------------------------------------------------------------
# Header UIDs
# --------------------------------------------------------------------------------------------
def _stop(tag, _vr, _length):
    return int.__gt__(tag, _LAST_WANTED)


def _not_meta(tag, _vr, _length):
    return (tag >> 16) != 0x0002


def _uid(value):
    text = value.decode('ascii', 'replace').strip('\x00 ') if isinstance(value, bytes) else None
    return text if text and _UID_RE.match(text) else None


def _quick_header(head):
    """The UIDs from the bytes ``head`` through pydicom's element generator, or None when this
    path cannot vouch for the answer (the caller then reads the file with ``read_partial``)."""
    fobj = io.BytesIO(head)
    fobj.seek(132)
    try:
        meta = dict((elem.tag & 0xFFFF, elem.value) for elem in data_element_generator(
            fobj, False, True, stop_when=_not_meta))
        tsyntax = _uid(meta.get(0x0010))
        if tsyntax is None:
            return None
        syntax = UID(tsyntax)
        if not syntax.is_transfer_syntax or syntax.is_deflated:
            return None
        found = {}
        for elem in data_element_generator(fobj, syntax.is_implicit_VR, syntax.is_little_endian, stop_when=_stop,
                                           specific_tags=_WANTED):
            if elem.tag in _WANTED_SET:
                found[int(elem.tag)] = _uid(elem.value)
    except Exception:  # pylint: disable=broad-except  # read_partial decides what is wrong
        return None
    sop_class = found.get(0x00080016) or _uid(meta.get(0x0002))
    if not (found.get(0x00080018) and found.get(0x0020000E) and sop_class) or None in found.values():
        return None
    return {'transfer_syntax': tsyntax, 'sop_class_uid': sop_class, 'sop_instance_uid': found[0x00080018],
            'study_instance_uid': found.get(0x0020000D), 'series_instance_uid': found[0x0020000E]}


def _text(dataset, keyword):
    value = dataset.get(keyword) if dataset is not None else None
    if value is None:
        return None
    return str(value).strip('\x00 ') or None


def _parse(fobj):
    try:
        return read_partial(fobj, stop_when=_stop, specific_tags=_WANTED)
    except Exception as exc:  # pylint: disable=broad-except  # any corruption pydicom trips over
        raise DicomHeaderError('%s: %s' % (type(exc).__name__, exc))


def read_header(path):
    """The identifying UIDs of the DICOM Part-10 file ``path``.

    Returns a dict with ``transfer_syntax``, ``sop_class_uid``, ``sop_instance_uid``,
    ``study_instance_uid``, ``series_instance_uid`` (None when absent; the SOP UIDs fall back to
    the file meta information). Raises :class:`NotDicomError` for files without the 128-byte
    preamble and 'DICM' prefix and :class:`DicomHeaderError` for files with the prefix whose
    header pydicom cannot read.
    """
    if not HAS_PYDICOM:
        raise DicomHeaderError('pydicom is not installed')
    with open(path, 'rb') as fobj:
        head = fobj.read(HEAD_BYTES)
        if len(head) < 132:
            raise NotDicomError('not a DICOM Part-10 file (only %d bytes long)' % len(head))
        if head[128:132] != b'DICM':
            raise NotDicomError("no 'DICM' prefix at byte 128 (not a DICOM Part-10 file)")
        quick = _quick_header(head)
        if quick is not None:
            return quick
        whole = len(head) < HEAD_BYTES
        try:
            ds = _parse(io.BytesIO(head))
        except DicomHeaderError:
            if whole:
                raise
            ds = None
        if ds is None or (not whole and 'SeriesInstanceUID' not in ds):
            fobj.seek(0)  # the header goes on past the first HEAD_BYTES: read it from the file
            ds = _parse(fobj)
    meta = getattr(ds, 'file_meta', None)
    if not meta:
        raise DicomHeaderError('no file meta information group (0002,xxxx) after the DICM prefix')
    tsyntax = _text(meta, 'TransferSyntaxUID')
    if tsyntax is None:
        raise DicomHeaderError('the file meta information has no Transfer Syntax UID (0002,0010)')
    return {
        'transfer_syntax': tsyntax,
        'sop_class_uid': _text(ds, 'SOPClassUID') or _text(meta, 'MediaStorageSOPClassUID'),
        'sop_instance_uid': _text(ds, 'SOPInstanceUID') or _text(meta, 'MediaStorageSOPInstanceUID'),
        'study_instance_uid': _text(ds, 'StudyInstanceUID'),
        'series_instance_uid': _text(ds, 'SeriesInstanceUID'),
    }


def classify_file(path):
    """``('dicom', header)``, ``('non_dicom', reason)`` or ``('unreadable', reason)`` for one file."""
    try:
        header = read_header(path)
    except NotDicomError as exc:
        return 'non_dicom', str(exc)
    except DicomHeaderError as exc:
        return 'unreadable', 'unreadable DICOM header, not sent: %s' % exc
    except (IOError, OSError) as exc:
        return 'unreadable', 'cannot read the file: %s' % (exc.strerror or exc)
    if header.get('sop_class_uid') == MEDIA_STORAGE_DIRECTORY:
        return 'non_dicom', 'DICOMDIR (media storage directory), not an instance'
    if not header.get('sop_instance_uid'):
        return 'unreadable', 'no SOP Instance UID (0008,0018) in the header, not sent'
    return 'dicom', header


# --------------------------------------------------------------------------------------------
# Scanning the source tree
# --------------------------------------------------------------------------------------------
def _match_any(patterns, relpath):
    name = relpath.rsplit('/', 1)[-1]
    for pattern in patterns:
        if fnmatch.fnmatchcase(relpath, pattern) or fnmatch.fnmatchcase(name, pattern):
            return True
    return False


def iter_files(src, recurse=True, follow_symlinks=False, include=None, exclude=None, max_files=None):
    """Yield (path, relpath, size) of regular files under ``src``, sorted, filtered by globs.

    ``include``/``exclude`` patterns match the path relative to ``src`` (with '/') or the bare
    file name; an ``exclude`` matching a directory prunes it. Symlinked directories are entered
    only with ``follow_symlinks`` and each directory (device, inode) only once.
    """
    include = list(include or [])
    exclude = list(exclude or [])
    if os.path.isfile(src):
        yield src, os.path.basename(src), os.stat(src).st_size
        return
    seen_dirs = set()
    stack = [('', src)]
    produced = 0
    while stack:
        rel_dir, abs_dir = stack.pop()
        try:
            st = os.stat(abs_dir)
            names = sorted(os.listdir(abs_dir))
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in seen_dirs:
            continue
        seen_dirs.add((st.st_dev, st.st_ino))
        subdirs = []
        for name in names:
            path = os.path.join(abs_dir, name)
            rel = (rel_dir + '/' + name) if rel_dir else name
            try:
                lst = os.lstat(path)
                is_link = stat.S_ISLNK(lst.st_mode)
                if is_link and not follow_symlinks:
                    continue
                st = os.stat(path) if is_link else lst
            except OSError:
                continue  # vanished, or a dangling symlink
            if stat.S_ISDIR(st.st_mode):
                if recurse and not _match_any(exclude, rel):
                    subdirs.append((rel, path))
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            if (include and not _match_any(include, rel)) or (exclude and _match_any(exclude, rel)):
                continue
            yield path, rel, st.st_size
            produced += 1
            if max_files is not None and produced >= max_files:
                return
        stack.extend(reversed(subdirs))


# --------------------------------------------------------------------------------------------
# A generated test instance
# --------------------------------------------------------------------------------------------
def generate_uid():
    """A new UUID derived UID (2.25.<decimal UUID>, DICOM PS3.5 B.2)."""
    return str(_generate_uid(prefix=None))


def build_test_instance(study_uid=None, series_uid=None, sop_uid=None, now=None, rows=4, columns=4):
    """Return ``(part10_bytes, uids)`` for a fresh Secondary Capture instance (MONOCHROME2, 4x4).

    ``uids`` has the keys study_uid, series_uid, sop_uid, sop_class_uid and builder.
    """
    uids = {'study_uid': study_uid or generate_uid(), 'series_uid': series_uid or generate_uid(),
            'sop_uid': sop_uid or generate_uid(), 'sop_class_uid': SECONDARY_CAPTURE_SOP_CLASS,
            'builder': 'pydicom'}
    now = now or datetime.datetime.now()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(SECONDARY_CAPTURE_SOP_CLASS)
    meta.MediaStorageSOPInstanceUID = UID(uids['sop_uid'])
    meta.TransferSyntaxUID = UID(EXPLICIT_VR_LITTLE_ENDIAN)
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    ds = Dataset()
    ds.file_meta = meta
    ds.preamble = b'\x00' * 128
    values = [
        ('SpecificCharacterSet', 'ISO_IR 100'), ('SOPClassUID', SECONDARY_CAPTURE_SOP_CLASS),
        ('SOPInstanceUID', uids['sop_uid']), ('StudyDate', now.strftime('%Y%m%d')),
        ('StudyTime', now.strftime('%H%M%S')), ('AccessionNumber', ''), ('Modality', 'OT'),
        ('ConversionType', 'WSD'), ('ReferringPhysicianName', ''), ('StudyDescription', PROBE_STUDY_DESCRIPTION),
        ('SeriesDescription', 'health probe'), ('PatientName', PROBE_PATIENT_NAME), ('PatientID', PROBE_PATIENT_ID),
        ('PatientBirthDate', ''), ('PatientSex', 'O'), ('StudyInstanceUID', uids['study_uid']),
        ('SeriesInstanceUID', uids['series_uid']), ('StudyID', '1'), ('SeriesNumber', 1), ('InstanceNumber', 1),
        ('PatientOrientation', ''), ('SamplesPerPixel', 1), ('PhotometricInterpretation', 'MONOCHROME2'),
        ('Rows', rows), ('Columns', columns), ('BitsAllocated', 8), ('BitsStored', 8), ('HighBit', 7),
        ('PixelRepresentation', 0),
    ]
    for keyword, value in values:
        setattr(ds, keyword, value)
    count = rows * columns
    ds.PixelData = bytes(bytearray((i * 255 // max(1, count - 1)) for i in range(count)))
    buf = io.BytesIO()
    try:
        pydicom.dcmwrite(buf, ds, enforce_file_format=True)  # pydicom >= 3
    except TypeError:  # pragma: no cover - pydicom 2 (Python 3.8 targets)
        ds.is_little_endian = True
        ds.is_implicit_VR = False
        pydicom.dcmwrite(buf, ds, write_like_original=False)
    return buf.getvalue(), uids
