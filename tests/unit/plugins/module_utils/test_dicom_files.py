# -*- coding: utf-8 -*-
"""module_utils/dicom_files.py: header UIDs through pydicom (every transfer syntax, odd and broken
files, DICOMDIR), the source tree walk, the generated test instance (no services)."""

from __future__ import absolute_import, division, print_function

import glob
import io
import os
import struct

import pytest

from ansible_collections.medimg.pacs.plugins.module_utils import dicom_files as df
from ansible_collections.medimg.pacs.plugins.module_utils import dicom_import as di

pydicom = pytest.importorskip('pydicom')
from pydicom.dataset import Dataset, FileMetaDataset  # noqa: E402
from pydicom.sequence import Sequence  # noqa: E402
from pydicom.uid import generate_uid  # noqa: E402

TS = {
    'implicit': '1.2.840.10008.1.2',
    'explicit': '1.2.840.10008.1.2.1',
    'deflated': '1.2.840.10008.1.2.1.99',
    'bigendian': '1.2.840.10008.1.2.2',
    'jpeg-baseline': '1.2.840.10008.1.2.4.50',  # encapsulated: the header is explicit VR LE
}


def _dataset(tsyntax, with_sequences=True, pixels=True):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = '1.2.840.10008.5.1.4.1.1.2'
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = tsyntax
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = 'ISO_IR 100'
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyDate = '20260101'
    ds.Modality = 'CT'
    if with_sequences:
        # sequences (nested, with items) before the study/series UIDs must be skipped correctly
        ref = Dataset()
        ref.ReferencedSOPClassUID = '1.2.840.10008.3.1.2.3.1'
        ref.ReferencedSOPInstanceUID = generate_uid()
        inner = Dataset()
        inner.CodeValue = '123'
        inner.CodingSchemeDesignator = '99X'
        inner.CodeMeaning = 'nested'
        ref.PurposeOfReferenceCodeSequence = Sequence([inner])
        ds.ReferencedStudySequence = Sequence([ref, Dataset()])
        ds.ProcedureCodeSequence = Sequence([])
        ds.add_new(0x00091010, 'LO', 'MEDIMG')  # private creator
        ds.add_new(0x00091011, 'OB', b'\x01\x02' * 100)
    ds.PatientName = 'Test^Parser'
    ds.PatientID = 'P1'
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.InstanceNumber = 1
    if pixels:
        ds.Rows = ds.Columns = 8
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = 'MONOCHROME2'
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        ds.PixelData = b'\x00\x01' * 64
    return ds


def _write(ds, path, kind):
    if kind == 'implicit':
        ds.save_as(path, enforce_file_format=True, implicit_vr=True, little_endian=True)
    elif kind == 'bigendian':
        from pydicom.filewriter import dcmwrite
        ds.preamble = b'\0' * 128
        dcmwrite(path, ds, implicit_vr=False, little_endian=False, force_encoding=True)
    else:
        ds.save_as(path, enforce_file_format=True, implicit_vr=False, little_endian=True)
    return path


def _expected(ds):
    return {
        'transfer_syntax': str(ds.file_meta.TransferSyntaxUID),
        'sop_class_uid': str(ds.SOPClassUID),
        'sop_instance_uid': str(ds.SOPInstanceUID),
        'study_instance_uid': str(ds.StudyInstanceUID),
        'series_instance_uid': str(ds.SeriesInstanceUID),
    }


@pytest.mark.parametrize('kind', ['implicit', 'explicit', 'deflated', 'bigendian'])
@pytest.mark.parametrize('with_sequences', [True, False])
def test_parser_matches_written_dataset(tmp_path, kind, with_sequences):
    ds = _dataset(TS[kind], with_sequences)
    path = _write(ds, str(tmp_path / ('%s.dcm' % kind)), kind)
    assert df.read_header(path) == _expected(ds)


def test_parser_deflated_file_is_really_deflated(tmp_path):
    ds = _dataset(TS['deflated'])
    path = _write(ds, str(tmp_path / 'deflated.dcm'), 'deflated')
    with open(path, 'rb') as handle:
        data = handle.read()
    # the UIDs are not readable in the raw file: the reader had to inflate
    assert str(ds.StudyInstanceUID).encode() not in data
    assert df.read_header(path)['study_instance_uid'] == str(ds.StudyInstanceUID)


def test_parser_reads_only_the_header(tmp_path, monkeypatch):
    """A 40 MB pixel data element after the UIDs is never read."""
    ds = _dataset(TS['explicit'])
    ds.Rows = ds.Columns = 4096
    ds.BitsAllocated = 16
    ds.PixelData = b'\0' * (4096 * 4096 * 2)
    path = _write(ds, str(tmp_path / 'big.dcm'), 'explicit')
    reads = []
    real_open = open

    class Spy(io.BufferedReader):
        def read(self, size=-1):
            reads.append(size)
            return super(Spy, self).read(size)

    def spy_open(name, mode='r', *args, **kwargs):
        if name == path and 'b' in mode:
            return Spy(io.FileIO(name, 'rb'))
        return real_open(name, mode, *args, **kwargs)

    monkeypatch.setattr(df, 'open', spy_open, raising=False)
    assert df.read_header(path)['study_instance_uid'] == str(ds.StudyInstanceUID)
    assert reads and all(0 <= size <= df.HEAD_BYTES for size in reads)
    assert sum(reads) <= df.HEAD_BYTES


def test_header_larger_than_the_first_read(tmp_path):
    """UIDs behind 200 KiB of other elements are still found (read from the file, not the buffer)."""
    for kind in ('explicit', 'implicit'):
        ds = _dataset(TS[kind])
        ds.add_new(0x00091012, 'OB', b'\x07' * (200 * 1024))
        path = _write(ds, str(tmp_path / ('long-%s.dcm' % kind)), kind)
        assert os.path.getsize(path) > df.HEAD_BYTES * 3
        assert df.read_header(path)['series_instance_uid'] == str(ds.SeriesInstanceUID)


def test_parser_encapsulated_syntax_header(tmp_path):
    ds = _dataset(TS['explicit'], pixels=False)
    ds.file_meta.TransferSyntaxUID = TS['jpeg-baseline']
    path = str(tmp_path / 'jpeg.dcm')
    ds.save_as(path, enforce_file_format=True, implicit_vr=False, little_endian=True)
    assert df.read_header(path) == _expected(ds)


def test_parser_uid_missing_falls_back_to_meta(tmp_path):
    ds = _dataset(TS['explicit'], pixels=False)
    del ds.SOPInstanceUID
    del ds.StudyInstanceUID
    path = str(tmp_path / 'nouid.dcm')
    ds.save_as(path, enforce_file_format=True, implicit_vr=False, little_endian=True)
    header = df.read_header(path)
    assert header['sop_instance_uid'] == str(ds.file_meta.MediaStorageSOPInstanceUID)
    assert header['study_instance_uid'] is None
    assert header['series_instance_uid'] == str(ds.SeriesInstanceUID)


@pytest.mark.parametrize('content, reason', [
    (b'', 'only 0 bytes'),
    (b'hello world\n', 'only 12 bytes'),
    (b'\x89PNG\r\n\x1a\n' + b'\0' * 300, "no 'DICM' prefix"),
    (b'\0' * 132, "no 'DICM' prefix"),
])
def test_not_dicom(tmp_path, content, reason):
    path = tmp_path / 'x'
    path.write_bytes(content)
    with pytest.raises(df.NotDicomError) as err:
        df.read_header(str(path))
    assert reason in str(err.value)


@pytest.mark.parametrize('tail, reason', [
    (b'\xff' * 64, 'no file meta information'),
    (b'\x02\x00\x10\x00UI', ''),                                     # ends inside the file meta
    (b'\x02\x00\x02\x00UI\x04\x001.2\x00', 'no Transfer Syntax UID'),
])
def test_corrupt_headers(tmp_path, tail, reason):
    path = tmp_path / 'bad.dcm'
    path.write_bytes(b'\0' * 128 + b'DICM' + tail)
    with pytest.raises(df.DicomHeaderError) as err:
        df.read_header(str(path))
    assert reason in str(err.value)


@pytest.mark.parametrize('tail', [
    b'\x08\x00\x18\x00UI\xff\x7f',            # ends inside the SOP Instance UID value
    b'\x08\x00\x05\x00\x01\x02\x04\x00',      # an invalid value representation
])
def test_corrupt_data_set_is_not_an_instance(tmp_path, tail):
    """A DICM prefix but a data set pydicom cannot read: rejected as unreadable, never sent."""
    meta = b'\x02\x00\x10\x00UI\x14\x001.2.840.10008.1.2.1\x00'
    path = tmp_path / 'bad.dcm'
    path.write_bytes(b'\0' * 128 + b'DICM' + meta + tail)
    kind, reason = df.classify_file(str(path))
    assert kind == 'unreadable', reason


def test_truncated_inside_sequence(tmp_path):
    ds = _dataset(TS['explicit'])
    ds.ReferencedStudySequence[0].is_undefined_length = True
    ds['ReferencedStudySequence'].is_undefined_length = True
    path = str(tmp_path / 'full.dcm')
    ds.save_as(path, enforce_file_format=True, implicit_vr=False, little_endian=True)
    data = open(path, 'rb').read()
    cut = data.index(str(ds.ReferencedStudySequence[0].ReferencedSOPInstanceUID).encode())
    short = tmp_path / 'short.dcm'
    short.write_bytes(data[:cut])
    kind, reason = df.classify_file(str(short))
    assert kind == 'unreadable', reason


def test_undefined_length_sequences_both_syntaxes(tmp_path):
    for kind in ('explicit', 'implicit'):
        ds = _dataset(TS[kind])
        ds['ReferencedStudySequence'].is_undefined_length = True
        for item in ds.ReferencedStudySequence:
            item.is_undefined_length_sequence_item = True
        ds.ReferencedStudySequence[0]['PurposeOfReferenceCodeSequence'].is_undefined_length = True
        path = _write(ds, str(tmp_path / ('u-%s.dcm' % kind)), kind)
        raw = open(path, 'rb').read()
        assert b'\xfe\xff\xdd\xe0' in raw  # a sequence delimiter really is in the file
        assert df.read_header(path) == _expected(ds)


def _bundled_files():
    from pydicom.data import get_testdata_file
    base = os.path.dirname(get_testdata_file('CT_small.dcm'))
    return sorted(glob.glob(os.path.join(base, '*.dcm')))


@pytest.mark.parametrize('path', _bundled_files(), ids=os.path.basename)
def test_parser_agrees_with_pydicom_on_bundled_files(path):
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except pydicom.errors.InvalidDicomError:
        with pytest.raises((df.NotDicomError, df.DicomHeaderError)):
            df.read_header(path)
        return
    except Exception as exc:  # pydicom cannot read it either
        pytest.skip('pydicom cannot read it: %s' % exc)
    meta = ds.file_meta
    try:
        ours = df.read_header(path)
    except df.DicomHeaderError:
        # acceptable only for files pydicom itself reads only by guessing (no transfer syntax)
        assert 'TransferSyntaxUID' not in meta, path
        return
    want_sop = ds.get('SOPInstanceUID') or meta.get('MediaStorageSOPInstanceUID')
    assert ours['sop_instance_uid'] == (str(want_sop) if want_sop else None)
    assert ours['study_instance_uid'] == (str(ds.StudyInstanceUID) if 'StudyInstanceUID' in ds else None)
    assert ours['series_instance_uid'] == (str(ds.SeriesInstanceUID) if 'SeriesInstanceUID' in ds else None)
    assert ours['transfer_syntax'] == str(meta.TransferSyntaxUID)


def test_dicomdir_is_not_an_instance(tmp_path):
    from pydicom.data import get_testdata_file
    dicomdir = get_testdata_file('DICOMDIR')
    if not dicomdir:
        pytest.skip('no bundled DICOMDIR')
    header = df.read_header(dicomdir)
    assert header['sop_class_uid'] == df.MEDIA_STORAGE_DIRECTORY
    opts = di.ImportOptions(src=dicomdir, url='http://127.0.0.1:9/dicom-web', check_mode=True)
    kind = di.Importer(opts)._parse_one((dicomdir, 'DICOMDIR', os.path.getsize(dicomdir)))
    assert kind[0] == 'non_dicom' and 'DICOMDIR' in kind[4]


# ---------------------------------------------------------------------------------------------
# walking the tree
# ---------------------------------------------------------------------------------------------
def _touch(path, data=b'x'):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _rel(entries):
    return [rel for _p, rel, _s in entries]


def test_iter_files_globs_and_recursion(tmp_path):
    for rel in ('a/1.dcm', 'a/2.txt', 'b/c/3.dcm', 'DICOMDIR', 'skip/4.dcm', 'top.dcm'):
        _touch(tmp_path / rel)
    src = str(tmp_path)
    # a directory's own files first (sorted), then its sub-directories (sorted)
    assert _rel(df.iter_files(src)) == ['DICOMDIR', 'top.dcm', 'a/1.dcm', 'a/2.txt', 'b/c/3.dcm', 'skip/4.dcm']
    assert _rel(df.iter_files(src, include=['*.dcm'])) == ['top.dcm', 'a/1.dcm', 'b/c/3.dcm', 'skip/4.dcm']
    assert _rel(df.iter_files(src, exclude=['skip', 'DICOMDIR', '*.txt'])) == ['top.dcm', 'a/1.dcm', 'b/c/3.dcm']
    assert _rel(df.iter_files(src, include=['b/*/*.dcm'])) == ['b/c/3.dcm']
    assert _rel(df.iter_files(src, recurse=False)) == ['DICOMDIR', 'top.dcm']
    assert _rel(df.iter_files(src, max_files=3)) == ['DICOMDIR', 'top.dcm', 'a/1.dcm']
    single = str(tmp_path / 'top.dcm')
    assert list(df.iter_files(single)) == [(single, 'top.dcm', 1)]


def test_iter_files_symlinks_and_loops(tmp_path):
    _touch(tmp_path / 'real' / 'x.dcm')
    os.symlink(str(tmp_path / 'real'), str(tmp_path / 'linkdir'))
    os.symlink(str(tmp_path / 'real' / 'x.dcm'), str(tmp_path / 'linkfile.dcm'))
    os.symlink(str(tmp_path), str(tmp_path / 'real' / 'loop'))
    os.symlink(str(tmp_path / 'nowhere'), str(tmp_path / 'dangling'))
    src = str(tmp_path)
    assert _rel(df.iter_files(src)) == ['real/x.dcm']
    followed = _rel(df.iter_files(src, follow_symlinks=True))
    # linkdir/ and real/ are one directory: visited once (under the first name); the loop ends
    assert followed == ['linkfile.dcm', 'linkdir/x.dcm']


# ---------------------------------------------------------------------------------------------
# the generated test instance (dicomweb_health's round trip)
# ---------------------------------------------------------------------------------------------
def test_test_instance_reads_back_strictly():
    data, uids = df.build_test_instance()
    assert uids['builder'] == 'pydicom'
    assert data[128:132] == b'DICM' and len(data) % 2 == 0
    ds = pydicom.dcmread(io.BytesIO(data))  # strict Part 10 parsing (no force)
    assert ds.file_meta.TransferSyntaxUID == df.EXPLICIT_VR_LITTLE_ENDIAN
    assert ds.file_meta.MediaStorageSOPClassUID == df.SECONDARY_CAPTURE_SOP_CLASS
    assert ds.file_meta.MediaStorageSOPInstanceUID == uids['sop_uid']
    assert (ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID) == (
        uids['sop_uid'], uids['study_uid'], uids['series_uid'])
    assert ds.PatientID == df.PROBE_PATIENT_ID and str(ds.PatientName) == df.PROBE_PATIENT_NAME
    assert ds.Modality == 'OT' and ds.StudyDescription == df.PROBE_STUDY_DESCRIPTION
    assert (ds.Rows, ds.Columns, ds.BitsAllocated, ds.SamplesPerPixel) == (4, 4, 8, 1)
    assert ds.PhotometricInterpretation == 'MONOCHROME2' and len(ds.PixelData) == 16
    group_length = struct.unpack('<I', data[132 + 8:132 + 12])[0]
    meta_end = 132 + 12 + group_length
    assert data[meta_end:meta_end + 2] == b'\x08\x00'  # the file meta group length is right
    tags = [elem.tag for elem in ds]
    assert tags == sorted(tags)
    numpy = pytest.importorskip('numpy')
    pixels = ds.pixel_array
    assert pixels.shape == (4, 4)
    assert int(numpy.max(pixels)) == 255 and int(numpy.min(pixels)) == 0


def test_test_instance_given_uids_and_header():
    data, uids = df.build_test_instance(study_uid='1.2.3', series_uid='1.2.3.4', sop_uid='1.2.3.4.5')
    assert (uids['study_uid'], uids['series_uid'], uids['sop_uid']) == ('1.2.3', '1.2.3.4', '1.2.3.4.5')
    ds = pydicom.dcmread(io.BytesIO(data))
    assert ds.SOPInstanceUID == '1.2.3.4.5'


def test_uids_are_valid_and_unique():
    uids = set(df.generate_uid() for dummy in range(200))
    assert len(uids) == 200
    for uid in uids:
        assert uid.startswith('2.25.') and len(uid) <= 64
        assert all(part.isdigit() and (part == '0' or not part.startswith('0')) for part in uid.split('.'))


def test_missing_pydicom_is_a_header_error(tmp_path, monkeypatch):
    monkeypatch.setattr(df, 'HAS_PYDICOM', False)
    path = tmp_path / 'a.dcm'
    path.write_bytes(b'\0' * 128 + b'DICM' + b'\0' * 64)
    with pytest.raises(df.DicomHeaderError) as err:
        df.read_header(str(path))
    assert 'pydicom' in str(err.value)


def test_ordinary_files_take_the_element_generator_path(tmp_path, monkeypatch):
    ds = _dataset(TS['explicit'])
    path = _write(ds, str(tmp_path / 'a.dcm'), 'explicit')

    def no_read_partial(*args, **kwargs):
        raise AssertionError('read_partial is only the fallback')

    monkeypatch.setattr(df, 'read_partial', no_read_partial)
    assert df.read_header(path) == _expected(ds)


@pytest.mark.parametrize('kind', ['deflated', 'mismatch'])
def test_deflated_and_mismatched_vr(tmp_path, monkeypatch, kind):
    """Deflated data sets are read by pydicom's read_partial; a data set in implicit VR under an explicit
    VR transfer syntax (some writers do that) is tolerated by pydicom either way."""
    if kind == 'deflated':
        ds = _dataset(TS['deflated'])
        path = _write(ds, str(tmp_path / 'd.dcm'), 'deflated')
    else:
        from pydicom.filebase import DicomBytesIO
        from pydicom.filewriter import write_dataset, write_file_meta_info
        ds = _dataset(TS['explicit'])
        meta = DicomBytesIO()
        meta.is_little_endian, meta.is_implicit_VR = True, False
        write_file_meta_info(meta, ds.file_meta, enforce_standard=True)
        body = DicomBytesIO()
        body.is_little_endian, body.is_implicit_VR = True, True
        write_dataset(body, ds)  # the data set in implicit VR, the meta saying explicit VR
        path = str(tmp_path / 'm.dcm')
        with open(path, 'wb') as handle:
            handle.write(b'\0' * 128 + b'DICM' + meta.getvalue() + body.getvalue())
    calls = []
    real = df.read_partial
    monkeypatch.setattr(df, 'read_partial', lambda *a, **k: calls.append(1) or real(*a, **k))
    header = df.read_header(path)
    assert calls or kind == 'mismatch', 'read_partial was not asked'
    assert header['study_instance_uid'] == str(ds.StudyInstanceUID)
    assert header['series_instance_uid'] == str(ds.SeriesInstanceUID)
    assert header['sop_instance_uid'] == str(ds.SOPInstanceUID)
