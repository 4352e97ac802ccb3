# -*- coding: utf-8 -*-
"""module_utils/multipart.py: the one multipart/related builder (streamed from files or in memory) and the
parser on the standard library's MIME parser, with the regressions of the hand-written parser."""
from __future__ import absolute_import, division, print_function

import email.parser
import os
import random

import pytest

from ansible_collections.medimg.pacs.plugins.module_utils import multipart as mp
from ansible_collections.medimg.pacs.plugins.module_utils.http_errors import DicomWebError, KIND_PROTOCOL

#: payloads a hand-written "split on the first blank line" parser gets wrong
NASTY = [
    b'\r\n\r\n',                                   # nothing but a blank line
    b'head\r\n\r\nafter a blank line\r\n\r\n',     # CRLFCRLF inside, and at the end
    b'\r', b'\n', b'\r\r\n\n', b'bare\rCR and bare\nLF\n',
    b'--\r\n--not-the-boundary\r\n--\r\n',         # "--" lines
    b'Content-Type: text/plain\r\n\r\nnot a header',  # looks like headers
    b'', b'\x00' * 7, bytes(bytearray(random.Random(12).getrandbits(8) for dummy in range(4096))),
]


def _email_parse(body, content_type):
    msg = email.parser.BytesParser().parsebytes(
        b'Content-Type: ' + content_type.encode() + b'\r\nMIME-Version: 1.0\r\n\r\n' + body)
    assert msg.is_multipart()
    return msg


# ---------------------------------------------------------------------------------------------
# building
# ---------------------------------------------------------------------------------------------
def test_multipart_layout_and_stream(tmp_path):
    payloads = [b'\x00DICM' * 10, b'', os.urandom(3000), b'--medimg-import-x\r\n']
    sources = []
    for idx, payload in enumerate(payloads):
        path = tmp_path / ('p%d' % idx)
        path.write_bytes(payload)
        sources.append((str(path), len(payload)))
    boundary = mp.new_boundary('medimg-import')
    streamed = b''.join(mp.iter_multipart(sources, boundary, chunk_size=7))
    _heads, _trailer, total = mp.multipart_layout([len(p) for p in payloads], boundary)
    assert len(streamed) == total
    in_memory, ctype = mp.build_multipart(payloads, boundary)
    assert streamed == in_memory
    assert ctype == mp.multipart_content_type(boundary)
    assert ctype.startswith('multipart/related; type="application/dicom"; boundary=')
    parts = _email_parse(streamed, ctype).get_payload()
    assert [p.get_content_type() for p in parts] == ['application/dicom'] * 4
    assert [p.get_payload(decode=True) for p in parts] == payloads
    assert [int(p['Content-Length']) for p in parts] == [len(p) for p in payloads]


def test_mixed_sources(tmp_path):
    path = tmp_path / 'f'
    path.write_bytes(b'from a file')
    body = b''.join(mp.iter_multipart([b'in memory', (str(path), 11)], 'XyZ'))
    parsed = mp.parse_multipart_related(body, mp.multipart_content_type('XyZ'))
    assert [payload for _h, payload in parsed] == [b'in memory', b'from a file']


def test_multipart_file_shrinks_or_vanishes(tmp_path):
    path = tmp_path / 'f'
    path.write_bytes(b'x' * 10)
    with pytest.raises(mp.SourceFileError) as err:
        b''.join(mp.iter_multipart([(str(path), 20)], 'b'))
    assert 'shrank' in str(err.value)
    with pytest.raises(mp.SourceFileError) as err:
        b''.join(mp.iter_multipart([(str(tmp_path / 'gone'), 20)], 'b'))
    assert 'cannot open' in str(err.value)


def test_boundary_is_unique():
    assert mp.new_boundary() != mp.new_boundary()


def test_boundary_collision_is_avoided():
    payload = b'abc--XyZdef'
    body, ctype = mp.build_multipart([payload], boundary='XyZ')
    assert 'boundary=XyZ' not in ctype
    assert mp.parse_multipart_related(body, ctype)[0][1] == payload


# ---------------------------------------------------------------------------------------------
# parsing
# ---------------------------------------------------------------------------------------------
def test_roundtrip_with_part_headers():
    parts = [b'\x00\x01binary\r\n--not-a-boundary', b'second']
    body, ctype = mp.build_multipart(parts, boundary='XyZ')
    assert body.startswith(b'--XyZ\r\nContent-Type: application/dicom\r\n')
    assert body.endswith(b'--XyZ--\r\n')
    parsed = mp.parse_multipart_related(body, ctype)
    assert [payload for _h, payload in parsed] == parts
    assert parsed[0][0]['content-type'] == 'application/dicom'
    assert parsed[1][0]['content-length'] == '6'


def test_binary_payloads_roundtrip_byte_for_byte():
    """Regression: CRLFCRLF, bare CR/LF and "--" lines inside a payload once cut it short."""
    body, ctype = mp.build_multipart(NASTY)
    assert [payload for _h, payload in mp.parse_multipart_related(body, ctype)] == NASTY


@pytest.mark.parametrize('payload', NASTY, ids=['nasty%d' % i for i in range(len(NASTY))])
def test_part_without_headers(payload):
    """Regression: a part with no headers (boundary line, CRLF, payload) once lost its payload."""
    body = b'--b1\r\n\r\n' + payload + b'\r\n--b1\r\n\r\nsecond\r\n--b1--\r\n'
    parsed = mp.parse_multipart_related(body, 'multipart/related; type="application/dicom"; boundary=b1')
    assert parsed == [({}, payload), ({}, b'second')]


def test_quoted_boundary_preamble_and_epilogue():
    body = (b'preamble\r\n--b1\r\nContent-Type: application/dicom\r\n'
            b'Content-Location: x\r\n\r\nDATA\r\n\r\n--b1--\r\nepilogue\r\n--b1\r\nnot a part')
    parts = mp.parse_multipart_related(body, 'multipart/related; type="application/dicom"; boundary="b1"')
    assert parts == [({'content-type': 'application/dicom', 'content-location': 'x'}, b'DATA\r\n')]


def test_quoted_boundary_with_special_characters():
    boundary = 'a:b=c d'
    body = b'--a:b=c d\r\n\r\npayload\r\n--a:b=c d--\r\n'
    parts = mp.parse_multipart_related(body, 'multipart/related; boundary="%s"' % boundary)
    assert parts == [({}, b'payload')]


@pytest.mark.parametrize('ctype,body,fragment', [
    ('application/json', b'{"not": "multipart"}', 'Expected a multipart answer'),
    ('text/html', b'<html></html>', 'Expected a multipart answer'),
    ('', b'', 'Expected a multipart answer'),
    ('multipart/related; type="application/dicom"', b'--x\r\n\r\nA\r\n--x--', 'no boundary parameter'),
    ('multipart/related; boundary=zz', b'no delimiter anywhere', 'no part delimited by its boundary'),
])
def test_not_multipart_is_a_clear_error(ctype, body, fragment):
    with pytest.raises(DicomWebError) as err:
        mp.parse_multipart_related(body, ctype)
    assert err.value.kind == KIND_PROTOCOL
    assert fragment in err.value.message
