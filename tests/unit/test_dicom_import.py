# -*- coding: utf-8 -*-
"""Unit tests for module_utils/dicom_import.py: Part-10 header parser, multipart bodies,
STOW-RS answers, the file walk (no services)."""

from __future__ import absolute_import, division, print_function

import email.parser
import glob
import io
import json
import os
import sys
import zlib

import pytest

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_COLLECTIONS = os.path.join(_ROOT, '.collections')
if os.path.isdir(_COLLECTIONS) and _COLLECTIONS not in sys.path:
    sys.path.insert(0, _COLLECTIONS)

from ansible_collections.medimg.pacs.plugins.module_utils import dicom_import as di  # noqa: E402

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
    header = di.read_part10_header(path)
    assert header == _expected(ds)
    # and pydicom agrees with what was written
    assert di.read_header_pydicom(path) == header


def test_parser_deflated_file_is_really_deflated(tmp_path):
    ds = _dataset(TS['deflated'])
    path = _write(ds, str(tmp_path / 'deflated.dcm'), 'deflated')
    with open(path, 'rb') as handle:
        data = handle.read()
    # the UIDs are not readable in the raw file: the parser had to inflate
    assert str(ds.StudyInstanceUID).encode() not in data


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

    monkeypatch.setattr(di, 'open', spy_open, raising=False)
    assert di.read_part10_header(path)['study_instance_uid'] == str(ds.StudyInstanceUID)
    assert reads and all(0 <= size < 65536 for size in reads)
    assert sum(reads) < 4096


def test_parser_encapsulated_syntax_header(tmp_path):
    ds = _dataset(TS['explicit'], pixels=False)
    ds.file_meta.TransferSyntaxUID = TS['jpeg-baseline']
    path = str(tmp_path / 'jpeg.dcm')
    ds.save_as(path, enforce_file_format=True, implicit_vr=False, little_endian=True)
    assert di.read_part10_header(path) == _expected(ds)


def test_parser_uid_missing_falls_back_to_meta(tmp_path):
    ds = _dataset(TS['explicit'], pixels=False)
    del ds.SOPInstanceUID
    del ds.StudyInstanceUID
    path = str(tmp_path / 'nouid.dcm')
    ds.save_as(path, enforce_file_format=True, implicit_vr=False, little_endian=True)
    header = di.read_part10_header(path)
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
    with pytest.raises(di.NotDicomError) as err:
        di.read_part10_header(str(path))
    assert reason in str(err.value)


@pytest.mark.parametrize('tail, reason', [
    (b'\xff' * 64, 'no file meta information'),
    (b'\x02\x00\x10\x00UI', 'file ends inside the file meta'),
    (b'\x02\x00\x10\x00UI\x14\x001.2.840.10008.1.2.1\x00'
     b'\x08\x00\x18\x00UI\xff\x7f', 'file ends inside an element'),
    (b'\x02\x00\x10\x00UI\x14\x001.2.840.10008.1.2.1\x00'
     b'\x08\x00\x05\x00\x01\x02\x04\x00', 'invalid value representation'),
    (b'\x02\x00\x02\x00UI\x04\x001.2\x00', 'no Transfer Syntax UID'),
])
def test_corrupt_headers(tmp_path, tail, reason):
    path = tmp_path / 'bad.dcm'
    path.write_bytes(b'\0' * 128 + b'DICM' + tail)
    with pytest.raises(di.DicomHeaderError) as err:
        di.read_part10_header(str(path))
    assert reason in str(err.value)


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
    with pytest.raises(di.DicomHeaderError):
        di.read_part10_header(str(short))


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
        assert di.read_part10_header(path) == _expected(ds)


def _bundled_files():
    from pydicom.data import get_testdata_file
    base = os.path.dirname(get_testdata_file('CT_small.dcm'))
    return sorted(glob.glob(os.path.join(base, '*.dcm')))


@pytest.mark.parametrize('path', _bundled_files(), ids=os.path.basename)
def test_parser_agrees_with_pydicom_on_bundled_files(path):
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except pydicom.errors.InvalidDicomError:
        with pytest.raises((di.NotDicomError, di.DicomHeaderError)):
            di.read_part10_header(path)
        return
    except Exception as exc:  # pydicom cannot read it either
        pytest.skip('pydicom cannot read it: %s' % exc)
    meta = ds.file_meta
    try:
        ours = di.read_part10_header(path)
    except di.DicomHeaderError:
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
    header = di.read_part10_header(dicomdir)
    assert header['sop_class_uid'] == di.MEDIA_STORAGE_DIRECTORY
    opts = di.ImportOptions(src=dicomdir, url='http://127.0.0.1:9/dicom-web', check_mode=True)
    kind = di.Importer(opts)._parse_one((dicomdir, 'DICOMDIR', os.path.getsize(dicomdir)))
    assert kind[0] == 'non_dicom' and 'DICOMDIR' in kind[4]


def test_read_header_auto_falls_back_to_pydicom(tmp_path, monkeypatch):
    ds = _dataset(TS['explicit'])
    path = _write(ds, str(tmp_path / 'a.dcm'), 'explicit')

    def broken(_path):
        raise di.DicomHeaderError('simulated')

    monkeypatch.setattr(di, 'read_part10_header', broken)
    assert di.read_header(path, 'auto') == _expected(ds)
    with pytest.raises(di.DicomHeaderError):
        di.read_header(path, 'builtin')


# ---------------------------------------------------------------------------------------------
# multipart/related
# ---------------------------------------------------------------------------------------------
def _parse_multipart(body, content_type):
    msg = email.parser.BytesParser().parsebytes(
        b'Content-Type: ' + content_type.encode() + b'\r\nMIME-Version: 1.0\r\n\r\n' + body)
    assert msg.is_multipart()
    return msg


def test_multipart_layout_and_stream(tmp_path):
    payloads = [b'\x00DICM' * 10, b'', os.urandom(3000), b'--medimg-import-x\r\n']
    paths = []
    for idx, payload in enumerate(payloads):
        path = tmp_path / ('p%d' % idx)
        path.write_bytes(payload)
        paths.append((str(path), len(payload)))
    boundary = di.new_boundary()
    streamed = b''.join(di.iter_multipart(paths, boundary, chunk_size=7))
    _heads, _trailer, total = di.multipart_layout([len(p) for p in payloads], boundary)
    assert len(streamed) == total
    assert streamed == di.build_multipart(payloads, boundary)
    ctype = di.multipart_content_type(boundary)
    assert ctype.startswith('multipart/related; type="application/dicom"; boundary=')
    msg = _parse_multipart(streamed, ctype)
    parts = msg.get_payload()
    assert [p.get_content_type() for p in parts] == ['application/dicom'] * 4
    assert [p.get_payload(decode=True) for p in parts] == payloads
    assert [int(p['Content-Length']) for p in parts] == [len(p) for p in payloads]


def test_multipart_agrees_with_dicomweb_parser():
    from ansible_collections.medimg.pacs.plugins.module_utils.dicomweb import parse_multipart_related
    payloads = [b'a' * 10, b'b\r\n' * 5]
    boundary = di.new_boundary()
    body = di.build_multipart(payloads, boundary)
    parts = parse_multipart_related(body, di.multipart_content_type(boundary))
    assert [payload for _h, payload in parts] == payloads


def test_multipart_file_shrinks(tmp_path):
    path = tmp_path / 'f'
    path.write_bytes(b'x' * 10)
    with pytest.raises(di.SourceFileError):
        b''.join(di.iter_multipart([(str(path), 20)], 'b'))
    with pytest.raises(di.SourceFileError):
        b''.join(di.iter_multipart([(str(tmp_path / 'gone'), 20)], 'b'))


def test_boundary_is_unique():
    assert di.new_boundary() != di.new_boundary()


# ---------------------------------------------------------------------------------------------
# STOW-RS answers
# ---------------------------------------------------------------------------------------------
ORTHANC_PARTIAL = {
    '00080005': {'Value': ['ISO_IR 100'], 'vr': 'CS'},
    '00081198': {'vr': 'SQ'},
    '00081199': {'Value': [{'00081150': {'Value': ['1.2.840.10008.5.1.4.1.1.2'], 'vr': 'UI'},
                            '00081155': {'Value': ['1.2.3.4'], 'vr': 'UI'}}], 'vr': 'SQ'},
}


def test_parse_stow_response_orthanc_shape():
    stored, failed, listed = di.parse_stow_response(json.dumps(ORTHANC_PARTIAL).encode())
    assert stored == {'1.2.3.4'} and failed == {} and listed


def test_parse_stow_response_failed_sequence():
    body = {'00081198': {'vr': 'SQ', 'Value': [
        {'00081155': {'vr': 'UI', 'Value': ['9.9']}, '00081197': {'vr': 'US', 'Value': [0xC122]}},
        {'00081155': {'vr': 'UI', 'Value': ['9.8']}, '00081197': {'vr': 'US', 'Value': [0xA7FF]}},
        {'00081155': {'vr': 'UI', 'Value': ['9.7']}}]}}
    stored, failed, listed = di.parse_stow_response(json.dumps([body]).encode())
    assert listed and not stored
    assert failed['9.9'] == 'STOW-RS failure reason 0xC122 (transfer syntax not supported)'
    assert failed['9.8'] == 'STOW-RS failure reason 0xA7FF (out of resources)'
    assert failed['9.7'].startswith('STOW-RS failure reason')


@pytest.mark.parametrize('body', [b'', b'<html>nope</html>', b'{}', b'[]', b'"x"', b'\xff\xfe'])
def test_parse_stow_response_unlisted(body):
    assert di.parse_stow_response(body) == (set(), {}, False)


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
    assert _rel(di.iter_files(src)) == ['DICOMDIR', 'top.dcm', 'a/1.dcm', 'a/2.txt', 'b/c/3.dcm', 'skip/4.dcm']
    assert _rel(di.iter_files(src, include=['*.dcm'])) == ['top.dcm', 'a/1.dcm', 'b/c/3.dcm', 'skip/4.dcm']
    assert _rel(di.iter_files(src, exclude=['skip', 'DICOMDIR', '*.txt'])) == ['top.dcm', 'a/1.dcm', 'b/c/3.dcm']
    assert _rel(di.iter_files(src, include=['b/*/*.dcm'])) == ['b/c/3.dcm']
    assert _rel(di.iter_files(src, recurse=False)) == ['DICOMDIR', 'top.dcm']
    assert _rel(di.iter_files(src, max_files=3)) == ['DICOMDIR', 'top.dcm', 'a/1.dcm']
    single = str(tmp_path / 'top.dcm')
    assert list(di.iter_files(single)) == [(single, 'top.dcm', 1)]


def test_iter_files_symlinks_and_loops(tmp_path):
    _touch(tmp_path / 'real' / 'x.dcm')
    os.symlink(str(tmp_path / 'real'), str(tmp_path / 'linkdir'))
    os.symlink(str(tmp_path / 'real' / 'x.dcm'), str(tmp_path / 'linkfile.dcm'))
    os.symlink(str(tmp_path), str(tmp_path / 'real' / 'loop'))
    os.symlink(str(tmp_path / 'nowhere'), str(tmp_path / 'dangling'))
    src = str(tmp_path)
    assert _rel(di.iter_files(src)) == ['real/x.dcm']
    followed = _rel(di.iter_files(src, follow_symlinks=True))
    # linkdir/ and real/ are one directory: visited once (under the first name); the loop ends
    assert followed == ['linkfile.dcm', 'linkdir/x.dcm']


def test_make_batches_by_count_and_bytes():
    opts = di.ImportOptions(src='/', url='http://127.0.0.1:9/dicom-web', batch_size=3, batch_bytes=100)
    imp = di.Importer(opts)
    recs = [{'path': '/p%02d' % i, 'size': 10, 'uid': str(i), 'study': 's%d' % (i % 2), 'series': 'x'}
            for i in range(8)]
    batches = imp.make_batches(recs)
    assert [len(b) for b in batches] == [3, 3, 2]
    # sorted by study, so a study's instances travel together
    assert [r['study'] for b in batches for r in b] == ['s0'] * 4 + ['s1'] * 4
    big = [{'path': '/b%d' % i, 'size': 60, 'uid': str(i), 'study': 's', 'series': 'x'} for i in range(3)]
    assert [len(b) for b in imp.make_batches(big)] == [1, 1, 1]
    huge = [{'path': '/h', 'size': 10 ** 9, 'uid': 'h', 'study': 's', 'series': 'x'}]
    assert [len(b) for b in imp.make_batches(huge)] == [1]


@pytest.mark.parametrize('kwargs, fragment', [
    (dict(src='/nonexistent/dir'), 'does not exist'),
    (dict(url='ftp://x/dicom-web'), "scheme 'ftp'"),
    (dict(url='127.0.0.1:8042/dicom-web'), 'scheme'),
    (dict(url='http://exa mple/'), 'white space'),
    (dict(url='http://h:99999/dicom-web'), 'port'),
    (dict(workers=0), 'workers must be at least 1'),
    (dict(workers=1000), 'workers must be at most 64'),
    (dict(batch_size=0), 'batch_size'),
    (dict(server_type='orthanc', url='http://h/other'), 'orthanc_url'),
    (dict(ca_path='/nonexistent.pem'), 'ca_path'),
    (dict(progress_file='/nonexistent/dir/p.jsonl'), 'progress_file'),
    (dict(bearer_token='t', username='u'), 'either bearer_token'),
])
def test_validate_options(tmp_path, kwargs, fragment):
    args = dict(src=str(tmp_path), url='http://127.0.0.1:8042/dicom-web')
    args.update(kwargs)
    problems = di.validate_options(di.ImportOptions(**args))
    assert any(fragment in p for p in problems), problems


def test_inflate_reader_skip_and_eof():
    raw = bytes(range(256)) * 100
    comp = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    data = comp.compress(raw) + comp.flush()
    reader = di._InflateReader(io.BytesIO(data))
    assert reader.read(3) == b'\x00\x01\x02'
    reader.skip(253 + 256 * 50)
    assert reader.read(2) == b'\x00\x01'
    with pytest.raises(di._Truncated):
        reader.read(10 ** 6)
