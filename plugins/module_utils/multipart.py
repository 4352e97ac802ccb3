# -*- coding: utf-8 -*-
# Copyright: medimg.pacs maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""multipart/related (RFC 2387) bodies as STOW-RS sends and WADO-RS answers them.

* Building: :func:`iter_multipart` is the one builder. Each part is a bytes payload (small
  bodies) or a ``(path, size)`` pair streamed from disk in chunks (a STOW-RS batch is never held
  in memory); :func:`multipart_layout` gives the exact ``Content-Length`` beforehand and
  :func:`build_multipart` joins the chunks for in-memory bodies.
* Parsing: :func:`parse_multipart_related` uses the standard library's MIME parser
  (:class:`email.parser.BytesParser`), so parts without headers and binary payloads holding
  blank lines, bare CR/LF or ``--`` lines come back byte for byte.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import email.parser
import email.policy
import uuid

from ansible_collections.medimg.pacs.plugins.module_utils.http_errors import DicomWebError, KIND_PROTOCOL


class SourceFileError(Exception):
    """A source file could not be read (or changed size) while its body was being sent."""


def new_boundary(prefix='medimg'):
    return '%s-%s' % (prefix, uuid.uuid4().hex)


def multipart_content_type(boundary, root_type='application/dicom'):
    return 'multipart/related; type="%s"; boundary=%s' % (root_type, boundary)


def _size(part):
    return len(part) if isinstance(part, bytes) else part[1]


def multipart_layout(sizes, boundary, part_type='application/dicom'):
    """Return (part_headers, trailer, total_length) of a body whose parts have ``sizes``.

    Part i is ``part_headers[i]`` + its payload + ``b'\\r\\n'``; the body ends with ``trailer``.
    """
    delim = b'--' + boundary.encode('ascii')
    heads = []
    total = 0
    for size in sizes:
        head = (delim + b'\r\nContent-Type: ' + part_type.encode('ascii') + b'\r\nContent-Length: ' +
                str(size).encode('ascii') + b'\r\n\r\n')
        heads.append(head)
        total += len(head) + size + 2
    trailer = delim + b'--\r\n'
    return heads, trailer, total + len(trailer)


def _file_chunks(path, size, chunk_size):
    try:
        fobj = open(path, 'rb')
    except (IOError, OSError) as exc:
        raise SourceFileError('cannot open %s: %s' % (path, exc.strerror or exc))
    remaining = size
    with fobj:
        while remaining > 0:
            try:
                chunk = fobj.read(min(chunk_size, remaining))
            except (IOError, OSError) as exc:
                raise SourceFileError('cannot read %s: %s' % (path, exc.strerror or exc))
            if not chunk:
                raise SourceFileError('%s shrank while it was being sent' % path)
            remaining -= len(chunk)
            yield chunk


def iter_multipart(parts, boundary, part_type='application/dicom', chunk_size=1 << 20):
    """Yield the body for ``parts`` (bytes payloads or ``(path, size)`` pairs) in chunks.

    Files are opened one at a time as the body is consumed; SourceFileError when a file cannot
    be read or shrank since its size was taken (the Content-Length is fixed beforehand).
    """
    heads, trailer, _total = multipart_layout([_size(part) for part in parts], boundary, part_type)
    for part, head in zip(parts, heads):
        yield head
        if isinstance(part, bytes):
            yield part
        else:
            yield from _file_chunks(part[0], part[1], chunk_size)
        yield b'\r\n'
    yield trailer


def build_multipart(payloads, boundary=None, part_type='application/dicom', root_type=None):
    """``(body, content_type)`` of an in-memory multipart/related body (a fresh boundary when the
    given one occurs in a payload)."""
    if boundary is None or any(('--' + boundary).encode('ascii') in payload for payload in payloads):
        boundary = new_boundary()
        while any(('--' + boundary).encode('ascii') in payload for payload in payloads):
            boundary = new_boundary()  # pragma: no cover - a random 128-bit collision
    body = b''.join(iter_multipart(list(payloads), boundary, part_type))
    return body, multipart_content_type(boundary, root_type or part_type)


def parse_multipart_related(body, content_type):
    """Parse a multipart body into a list of ``(headers, payload_bytes)``; ``headers`` has
    lower-case names. A non-multipart answer or one without its boundary is a KIND_PROTOCOL error."""
    content_type = (content_type or '').replace('\r', ' ').replace('\n', ' ')
    head = ('Content-Type: %s\r\nMIME-Version: 1.0\r\n\r\n' % content_type).encode('latin-1', 'replace')
    message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(head + (body or b''))
    if message.get_content_maintype() != 'multipart':
        raise DicomWebError(KIND_PROTOCOL, 'Expected a multipart answer, got Content-Type %r' % content_type)
    if not message.get_boundary():
        raise DicomWebError(KIND_PROTOCOL, 'The multipart answer has no boundary parameter (%r)' % content_type)
    if not message.is_multipart():
        raise DicomWebError(KIND_PROTOCOL, 'The multipart answer holds no part delimited by its boundary %r'
                            % message.get_boundary())
    parts = []
    for part in message.get_payload():
        if part.is_multipart():
            raise DicomWebError(KIND_PROTOCOL, 'The multipart answer holds a nested multipart part (not supported)')
        headers = dict((key.lower(), str(value).strip()) for key, value in part.items())
        payload = part.get_payload(decode=True)
        parts.append((headers, payload if payload is not None else b''))
    return parts
