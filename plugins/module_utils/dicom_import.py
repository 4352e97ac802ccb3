# -*- coding: utf-8 -*-
# Copyright: medimg.pacs maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bulk import of DICOM Part-10 files into a PACS through DICOMweb (STOW-RS).

Used by the ``medimg.pacs.dicom_import`` module; standard library plus ``ansible.module_utils``
only (``pydicom`` is used as a fallback header reader when it happens to be installed).

Pipeline:

1. **scan** - walk ``src`` (include/exclude globs, symlink policy), read each file's Part-10 header
   with :func:`read_part10_header` (a small parser that stops before the study/series group is
   passed, so it reads a few hundred bytes per file whatever the pixel data size) and sort the
   files into DICOM instances, non-DICOM files and unreadable DICOM files.
2. **check** - ask the PACS which of those instances it already has: one QIDO-RS query per study
   (``/studies/{uid}/instances?includefield=00080018``, paged) or, for Orthanc, ``/tools/lookup``
   plus ``/studies/{id}/instances``; queries run concurrently and are cached per study.
3. **send** - STOW-RS ``multipart/related; type="application/dicom"`` batches (``batch_size``
   instances or ``batch_bytes``), streamed from disk (a batch is never held in memory) over
   ``workers`` threads, each with its own keep-alive ``http.client`` connection. A batch the PACS
   refuses as a whole is split in halves until the offending files are isolated; transient errors
   (connection loss, timeouts, 429/502/503/504) are retried with back-off.

Progress is appended to an optional JSON-lines file; the summary is a plain dict.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import fnmatch
import json
import os
import socket
import ssl
import stat
import struct
import threading
import time
import uuid
import zlib

from http.client import HTTPConnection, HTTPSConnection, HTTPException
from urllib.parse import quote, urlsplit

from concurrent.futures import ThreadPoolExecutor, as_completed

from ansible_collections.medimg.pacs.plugins.module_utils.dicomweb import (
    DicomWebError, KIND_CONNECTION, KIND_FORBIDDEN, KIND_HTTP, KIND_INVALID_URL, KIND_NOT_DICOMWEB,
    KIND_NOT_FOUND, KIND_PROTOCOL, KIND_SERVER_ERROR, KIND_UNAUTHORIZED, classify_exception,
    split_orthanc_root, validate_url)

try:  # optional: pydicom gives a second opinion on files the built-in parser cannot read.
    # Only looked up here; imported when first needed (importing it costs a noticeable fraction
    # of a second, for nothing in the usual case).
    from importlib.util import find_spec
    HAS_PYDICOM = find_spec('pydicom') is not None
except Exception:  # pylint: disable=broad-except  # pragma: no cover - depends on the host
    HAS_PYDICOM = False

# --------------------------------------------------------------------------------------------
# Part-10 header parsing
# --------------------------------------------------------------------------------------------
IMPLICIT_VR_LE = '1.2.840.10008.1.2'
EXPLICIT_VR_LE = '1.2.840.10008.1.2.1'
DEFLATED_EXPLICIT_VR_LE = '1.2.840.10008.1.2.1.99'
EXPLICIT_VR_BE = '1.2.840.10008.1.2.2'
MEDIA_STORAGE_DIRECTORY = '1.2.840.10008.1.3.10'  # DICOMDIR

TAG_SOP_CLASS_UID = 0x00080016
TAG_SOP_INSTANCE_UID = 0x00080018
TAG_STUDY_INSTANCE_UID = 0x0020000D
TAG_SERIES_INSTANCE_UID = 0x0020000E
_WANTED = frozenset([TAG_SOP_CLASS_UID, TAG_SOP_INSTANCE_UID, TAG_STUDY_INSTANCE_UID,
                     TAG_SERIES_INSTANCE_UID])
_LAST_WANTED = TAG_SERIES_INSTANCE_UID

_LONG_VRS = frozenset([b'OB', b'OD', b'OF', b'OL', b'OV', b'OW', b'SQ', b'SV', b'UC', b'UN', b'UR',
                       b'UT', b'UV'])
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQ_END = 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
_MAX_ELEMENTS = 200000       # bound on elements walked in one file
_MAX_DEPTH = 24              # bound on nested sequences
_MAX_VALUE = 1 << 20         # a wanted (UI) value larger than this is corruption
_MAX_META = 1 << 20          # a file meta group larger than this is corruption


class NotDicomError(Exception):
    """The file is not a DICOM Part-10 file (no 'DICM' prefix, or too short)."""


class DicomHeaderError(Exception):
    """The file claims to be DICOM (prefix present) but its header cannot be read."""


class _Truncated(Exception):
    pass


class SourceFileError(Exception):
    """A source file could not be read (or changed size) while its batch was being sent."""


class _FileReader:
    """Sequential reads from a seekable binary file; raises _Truncated at a premature end."""

    def __init__(self, fobj):
        self.fobj = fobj

    def read(self, size):
        data = self.fobj.read(size)
        if len(data) != size:
            raise _Truncated()
        return data

    def skip(self, size):
        here = self.fobj.tell()
        self.fobj.seek(size, os.SEEK_CUR)
        # seeking past the end is allowed by the OS: check against the file size
        end = os.fstat(self.fobj.fileno()).st_size if hasattr(self.fobj, 'fileno') else None
        if end is not None and here + size > end:
            raise _Truncated()


class _InflateReader:
    """Reads a raw-deflated (RFC 1951) stream, for the Deflated Explicit VR Little Endian syntax."""

    def __init__(self, fobj):
        self.fobj = fobj
        self.inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        self.buffer = b''

    def _fill(self, size):
        rounds = 0
        while len(self.buffer) < size:
            rounds += 1
            if rounds > 100000:
                raise _Truncated()
            chunk = self.fobj.read(16384)
            if not chunk:
                self.buffer += self.inflater.flush()
                break
            try:
                self.buffer += self.inflater.decompress(chunk)
            except zlib.error as exc:
                raise DicomHeaderError('deflated data set cannot be inflated: %s' % exc)

    def read(self, size):
        self._fill(size)
        if len(self.buffer) < size:
            raise _Truncated()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def skip(self, size):
        remaining = size
        while remaining > 0:
            step = min(remaining, 1 << 20)
            self.read(step)
            remaining -= step


def _clean_uid(raw):
    return raw.decode('ascii', 'replace').strip('\x00 ')


class _DataSetWalker:
    """Walks data set elements in one transfer syntax, picking the wanted top-level values."""

    def __init__(self, reader, implicit, big_endian):
        self.reader = reader
        self.implicit = implicit
        self.endian = '>' if big_endian else '<'
        self.count = 0

    def _tag(self):
        group, elem = struct.unpack(self.endian + 'HH', self.reader.read(4))
        return (group << 16) | elem

    def _header(self, implicit):
        """Return (tag, vr, length) of the next element (vr None when implicit or an item tag)."""
        self.count += 1
        if self.count > _MAX_ELEMENTS:
            raise DicomHeaderError('more than %d elements before the study/series UIDs' % _MAX_ELEMENTS)
        tag = self._tag()
        if tag >> 16 == 0xFFFE or implicit:
            length = struct.unpack(self.endian + 'L', self.reader.read(4))[0]
            return tag, None, length
        vr = self.reader.read(2)
        if vr in _LONG_VRS:
            self.reader.read(2)
            length = struct.unpack(self.endian + 'L', self.reader.read(4))[0]
        elif vr.isalpha() and vr.isupper():
            length = struct.unpack(self.endian + 'H', self.reader.read(2))[0]
        else:
            raise DicomHeaderError('invalid value representation %r in element (%04X,%04X)'
                                   % (vr, tag >> 16, tag & 0xFFFF))
        return tag, vr, length

    def _skip_sequence(self, implicit, depth):
        """Skip an undefined-length sequence (or encapsulated value) up to its delimiter."""
        if depth > _MAX_DEPTH:
            raise DicomHeaderError('sequences nested deeper than %d levels' % _MAX_DEPTH)
        while True:
            tag, _vr, length = self._header(True)
            if tag == _SEQ_END:
                return
            if tag != _ITEM:
                raise DicomHeaderError('unexpected element (%04X,%04X) in a sequence'
                                       % (tag >> 16, tag & 0xFFFF))
            if length != _UNDEFINED:
                self.reader.skip(length)
            else:
                self._skip_item(implicit, depth + 1)

    def _skip_item(self, implicit, depth):
        while True:
            tag, vr, length = self._header(implicit)
            if tag == _ITEM_END:
                return
            self._skip_value(vr, length, implicit, depth)

    def _skip_value(self, vr, length, implicit, depth):
        if length != _UNDEFINED:
            self.reader.skip(length)
        elif vr == b'UN':
            # UN with undefined length: a sequence encoded in Implicit VR Little Endian (PS3.5 6.2.2)
            self._skip_sequence(True, depth + 1)
        else:
            self._skip_sequence(implicit, depth + 1)

    def walk(self):
        """Return {tag: uid string} for the wanted tags found before the data set passes them."""
        found = {}
        while True:
            try:
                tag, vr, length = self._header(self.implicit)
            except _Truncated:
                return found  # end of data set (or truncated): what was found is the answer
            if tag > _LAST_WANTED:
                return found
            if tag in _WANTED:
                if length == _UNDEFINED or length > _MAX_VALUE:
                    raise DicomHeaderError('element (%04X,%04X) has an invalid length'
                                           % (tag >> 16, tag & 0xFFFF))
                found[tag] = _clean_uid(self.reader.read(length))
            else:
                self._skip_value(vr, length, self.implicit, 0)
            if len(found) == len(_WANTED):
                return found


def _read_meta(fobj):
    """Read the file meta group (explicit VR little endian) after the 'DICM' prefix."""
    meta = {}
    total = 0
    while True:
        head = fobj.read(8)
        if not head:
            return meta  # a file of only a meta group
        if len(head) < 8:
            raise DicomHeaderError('file ends inside the file meta information')
        group, elem = struct.unpack('<HH', head[:4])
        if group != 0x0002:
            fobj.seek(-8, os.SEEK_CUR)
            return meta
        vr = head[4:6]
        if vr in _LONG_VRS:
            rest = fobj.read(4)
            if len(rest) < 4:
                raise DicomHeaderError('file ends inside the file meta information')
            length = struct.unpack('<L', rest)[0]
        elif vr.isalpha() and vr.isupper():
            length = struct.unpack('<H', head[6:8])[0]
        else:
            # some writers put the meta group in implicit VR: the 4 bytes are the length
            length = struct.unpack('<L', head[4:8])[0]
        total += length
        if length == _UNDEFINED or total > _MAX_META:
            raise DicomHeaderError('file meta information element (0002,%04X) has an invalid length' % elem)
        value = fobj.read(length)
        if len(value) < length:
            raise DicomHeaderError('file ends inside the file meta information')
        meta[elem] = value


def _walk(reader, implicit, big_endian):
    try:
        return _DataSetWalker(reader, implicit, big_endian).walk()
    except _Truncated:
        raise DicomHeaderError('file ends inside an element before the study/series UIDs')
    except struct.error as exc:
        raise DicomHeaderError('malformed element: %s' % exc)


def read_part10_header(path):
    """Read the identifying UIDs of a DICOM Part-10 file without any third-party library.

    Returns a dict with ``transfer_syntax``, ``sop_class_uid``, ``sop_instance_uid``,
    ``study_instance_uid``, ``series_instance_uid`` (None when absent). Raises
    :class:`NotDicomError` for files without the 128-byte preamble and 'DICM' prefix and
    :class:`DicomHeaderError` for files with the prefix whose header cannot be parsed.
    """
    with open(path, 'rb') as fobj:
        head = fobj.read(132)
        if len(head) < 132:
            raise NotDicomError('not a DICOM Part-10 file (only %d bytes long)' % len(head))
        if head[128:132] != b'DICM':
            raise NotDicomError("no 'DICM' prefix at byte 128 (not a DICOM Part-10 file)")
        meta = _read_meta(fobj)
        if not meta:
            raise DicomHeaderError('no file meta information group (0002,xxxx) after the DICM prefix')
        tsyntax = _clean_uid(meta.get(0x0010, b'')) or None
        if tsyntax is None:
            raise DicomHeaderError('the file meta information has no Transfer Syntax UID (0002,0010)')
        if tsyntax == DEFLATED_EXPLICIT_VR_LE:
            found = _walk(_InflateReader(fobj), False, False)
        else:
            start = fobj.tell()
            implicit = tsyntax == IMPLICIT_VR_LE
            big_endian = tsyntax == EXPLICIT_VR_BE
            try:
                found = _walk(_FileReader(fobj), implicit, big_endian)
            except DicomHeaderError as first:
                # some writers encode the data set in the other VR mode than the transfer syntax
                # says (pydicom and DCMTK tolerate that too): one more try in the other mode
                fobj.seek(start)
                try:
                    found = _walk(_FileReader(fobj), not implicit, big_endian)
                except DicomHeaderError:
                    raise first
    sop_class = found.get(TAG_SOP_CLASS_UID) or _clean_uid(meta.get(0x0002, b'')) or None
    sop_uid = found.get(TAG_SOP_INSTANCE_UID) or _clean_uid(meta.get(0x0003, b'')) or None
    return {
        'transfer_syntax': tsyntax,
        'sop_class_uid': sop_class,
        'sop_instance_uid': sop_uid,
        'study_instance_uid': found.get(TAG_STUDY_INSTANCE_UID) or None,
        'series_instance_uid': found.get(TAG_SERIES_INSTANCE_UID) or None,
    }


def read_header_pydicom(path):
    """The same answer as :func:`read_part10_header`, from pydicom (stop_before_pixels)."""
    if not HAS_PYDICOM:
        raise DicomHeaderError('pydicom is not installed')
    try:
        import pydicom  # pylint: disable=import-outside-toplevel
        from pydicom.errors import InvalidDicomError  # pylint: disable=import-outside-toplevel
    except Exception as exc:  # pylint: disable=broad-except
        raise DicomHeaderError('pydicom cannot be imported: %s' % exc)
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=False)
    except InvalidDicomError as exc:
        raise NotDicomError('not a DICOM Part-10 file (pydicom: %s)' % exc)
    except Exception as exc:  # pylint: disable=broad-except
        raise DicomHeaderError('pydicom cannot read the header: %s' % exc)
    meta = getattr(ds, 'file_meta', None)

    def _get(dataset, keyword):
        value = getattr(dataset, keyword, None) if dataset is not None else None
        return str(value).strip('\x00 ') or None if value is not None else None

    return {
        'transfer_syntax': _get(meta, 'TransferSyntaxUID'),
        'sop_class_uid': _get(ds, 'SOPClassUID') or _get(meta, 'MediaStorageSOPClassUID'),
        'sop_instance_uid': _get(ds, 'SOPInstanceUID') or _get(meta, 'MediaStorageSOPInstanceUID'),
        'study_instance_uid': _get(ds, 'StudyInstanceUID'),
        'series_instance_uid': _get(ds, 'SeriesInstanceUID'),
    }


def read_header(path, parser='auto'):
    """Header UIDs of ``path`` with the chosen parser: builtin, pydicom, or auto.

    ``auto`` uses the built-in parser and asks pydicom (when installed) only about files the
    built-in parser could not read.
    """
    if parser == 'pydicom':
        return read_header_pydicom(path)
    try:
        return read_part10_header(path)
    except DicomHeaderError:
        if parser == 'auto' and HAS_PYDICOM:
            return read_header_pydicom(path)
        raise


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
        st = os.stat(src)
        yield src, os.path.basename(src), st.st_size
        return
    seen_dirs = set()
    stack = [('', src)]
    produced = 0
    while stack:
        rel_dir, abs_dir = stack.pop()
        try:
            st = os.stat(abs_dir)
        except OSError:
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs:
            continue
        seen_dirs.add(key)
        try:
            names = sorted(os.listdir(abs_dir))
        except OSError:
            continue
        subdirs = []
        for name in names:
            path = os.path.join(abs_dir, name)
            rel = (rel_dir + '/' + name) if rel_dir else name
            try:
                lst = os.lstat(path)
            except OSError:
                continue
            is_link = stat.S_ISLNK(lst.st_mode)
            if is_link and not follow_symlinks:
                continue
            try:
                st = os.stat(path) if is_link else lst
            except OSError:
                continue  # dangling symlink
            if stat.S_ISDIR(st.st_mode):
                if recurse and not _match_any(exclude, rel):
                    subdirs.append((rel, path))
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            if include and not _match_any(include, rel):
                continue
            if exclude and _match_any(exclude, rel):
                continue
            yield path, rel, st.st_size
            produced += 1
            if max_files is not None and produced >= max_files:
                return
        stack.extend(reversed(subdirs))


# --------------------------------------------------------------------------------------------
# Multipart/related bodies, streamed from disk
# --------------------------------------------------------------------------------------------
def new_boundary():
    return 'medimg-import-%s' % uuid.uuid4().hex


def multipart_layout(sizes, boundary):
    """Return (part_headers, trailer, total_length) of a multipart/related body for parts of ``sizes``.

    Part i is ``part_headers[i]`` + the file's bytes + ``b'\\r\\n'``; the body ends with ``trailer``.
    """
    delim = b'--' + boundary.encode('ascii')
    headers = []
    total = 0
    for size in sizes:
        head = delim + b'\r\nContent-Type: application/dicom\r\nContent-Length: ' + \
            str(size).encode('ascii') + b'\r\n\r\n'
        headers.append(head)
        total += len(head) + size + 2
    trailer = delim + b'--\r\n'
    total += len(trailer)
    return headers, trailer, total


def multipart_content_type(boundary):
    return 'multipart/related; type="application/dicom"; boundary=%s' % boundary


def iter_multipart(paths_sizes, boundary, chunk_size=1 << 20):
    """Yield the multipart body for [(path, size), ...] in chunks, reading the files lazily.

    Raises SourceFileError when a file cannot be read or shrank since it was scanned (the
    Content-Length is fixed before the first byte is sent).
    """
    heads, trailer, _total = multipart_layout([size for _p, size in paths_sizes], boundary)
    for (path, size), head in zip(paths_sizes, heads):
        yield head
        remaining = size
        try:
            fobj = open(path, 'rb')
        except (IOError, OSError) as exc:
            raise SourceFileError('cannot open %s: %s' % (path, exc.strerror or exc))
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
        yield b'\r\n'
    yield trailer


def build_multipart(payloads, boundary):
    """The whole multipart body for in-memory payloads (tests, small uploads)."""
    heads, trailer, _total = multipart_layout([len(p) for p in payloads], boundary)
    out = []
    for head, payload in zip(heads, payloads):
        out.extend((head, payload, b'\r\n'))
    out.append(trailer)
    return b''.join(out)


# --------------------------------------------------------------------------------------------
# HTTP with keep-alive connections
# --------------------------------------------------------------------------------------------
_TRANSIENT_STATUS = frozenset([408, 429, 502, 503, 504])


class HttpConfig:
    """Where and how to connect: one per import, shared (read-only) by the worker threads."""

    def __init__(self, url, username=None, password=None, bearer_token=None, validate_certs=True,
                 ca_path=None, timeout=60, user_agent='medimg.pacs-dicom_import'):
        parts = urlsplit(url)
        self.url = url.rstrip('/')
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == 'https' else 80)
        self.timeout = timeout
        self.headers = {'User-Agent': user_agent}
        if bearer_token:
            self.headers['Authorization'] = 'Bearer %s' % bearer_token
        elif username is not None:
            token = base64.b64encode(('%s:%s' % (username, password or '')).encode('utf-8'))
            self.headers['Authorization'] = 'Basic %s' % token.decode('ascii')
        self.ssl_context = None
        if self.scheme == 'https':
            if validate_certs:
                self.ssl_context = ssl.create_default_context(cafile=ca_path or None)
            else:
                self.ssl_context = ssl.create_default_context()
                self.ssl_context.check_hostname = False
                self.ssl_context.verify_mode = ssl.CERT_NONE


class KeepAliveConnection:
    """One persistent HTTP(S) connection (one per worker thread), re-opened when it breaks."""

    def __init__(self, config):
        self.config = config
        self.conn = None
        self.requests = 0

    def _connect(self):
        cfg = self.config
        if cfg.scheme == 'https':
            conn = HTTPSConnection(cfg.host, cfg.port, timeout=cfg.timeout, context=cfg.ssl_context)
        else:
            conn = HTTPConnection(cfg.host, cfg.port, timeout=cfg.timeout)
        conn.connect()
        try:
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, AttributeError):
            pass
        return conn

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # pylint: disable=broad-except
                pass
            self.conn = None

    def request(self, method, url, body=None, headers=None, content_length=None):
        """Send one request; ``body`` is bytes or an iterable of bytes (then content_length is required).

        Returns (status, reason, headers_dict_lowercase, body_bytes); raises the underlying
        socket/HTTP exceptions (the caller classifies and retries).
        """
        parts = urlsplit(url)
        target = parts.path or '/'
        if parts.query:
            target += '?' + parts.query
        reused = self.conn is not None
        if self.conn is None:
            self.conn = self._connect()
        try:
            self.conn.putrequest(method, target, skip_accept_encoding=True)
            all_headers = dict(self.config.headers)
            all_headers.update(headers or {})
            if body is None:
                all_headers['Content-Length'] = '0' if method in ('POST', 'PUT') else None
            elif isinstance(body, bytes):
                all_headers['Content-Length'] = str(len(body))
            else:
                all_headers['Content-Length'] = str(content_length)
            for key, value in all_headers.items():
                if value is not None:
                    self.conn.putheader(key, value)
            self.conn.endheaders()
            if isinstance(body, bytes):
                self.conn.send(body)
            elif body is not None:
                for chunk in body:
                    self.conn.send(chunk)
            resp = self.conn.getresponse()
            data = resp.read()
            status, reason = resp.status, resp.reason
            resp_headers = dict((k.lower(), v) for k, v in resp.getheaders())
            if resp.will_close:
                self.close()
        except Exception as exc:
            self.close()
            exc.reused_connection = reused  # a stale keep-alive connection is retried at once
            raise
        self.requests += 1
        return status, reason, resp_headers, data


def status_error(url, status, reason, body, location=None):
    """A DicomWebError for a non-success HTTP status (messages for 3xx/401/403/404/5xx)."""
    text = (body or b'')[:300].decode('utf-8', 'replace').strip()
    detail = ''
    if text and not text.lstrip().lower().startswith(('<!doctype', '<html')):
        try:
            parsed = json.loads(body.decode('utf-8'))
            if isinstance(parsed, dict):
                detail = parsed.get('Details') or parsed.get('Message') or ''
        except (ValueError, UnicodeDecodeError):
            detail = text.splitlines()[0][:200]
    suffix = (': %s' % detail) if detail else ''
    if 300 <= status < 400:
        return DicomWebError(KIND_HTTP,
                             'HTTP %d redirect from %s to %s: redirects are not followed for uploads; set url '
                             'to the final address' % (status, url, location or '(no Location header)'),
                             url, status)
    if status == 401:
        return DicomWebError(KIND_UNAUTHORIZED,
                             'HTTP 401 Unauthorized from %s: the PACS rejected the credentials (or none were '
                             'sent); check url_username/url_password or bearer_token' % url, url, status)
    if status == 403:
        return DicomWebError(KIND_FORBIDDEN,
                             'HTTP 403 Forbidden from %s: the credentials were accepted but this user may not '
                             'do this%s' % (url, suffix), url, status)
    if status == 404:
        return DicomWebError(KIND_NOT_FOUND,
                             'HTTP 404 Not Found for %s: is url the DICOMweb root (Orthanc: /dicom-web, '
                             'DCM4CHEE: /dcm4chee-arc/aets/<AET>/rs)?' % url, url, status)
    if status >= 500:
        return DicomWebError(KIND_SERVER_ERROR, 'HTTP %d %s from %s%s' % (status, reason or '', url, suffix),
                             url, status)
    return DicomWebError(KIND_HTTP, 'HTTP %d %s from %s%s' % (status, reason or '', url, suffix), url, status)


class FatalImportError(Exception):
    """Stops the whole import (authentication, unreachable PACS, not a DICOMweb service)."""

    def __init__(self, error):
        super(FatalImportError, self).__init__(getattr(error, 'message', str(error)))
        self.error = error


MAX_SERVER_ERRORS_IN_A_ROW = 20


def call_with_retries(conn, method, url, retries, body_factory=None, headers=None, content_length=None,
                      stop_event=None, backoff=1.0, max_backoff=15.0):
    """Perform a request with retries of transient failures.

    Returns (status, reason, headers, body) for any HTTP answer that is not transient (the caller
    decides what a 4xx means); raises DicomWebError when transient failures outlast ``retries``.
    """
    attempt = 0
    delay = backoff
    fresh_retry_used = False
    while True:
        body = body_factory() if body_factory is not None else None
        try:
            status, reason, resp_headers, data = conn.request(method, url, body, headers, content_length)
        except (OSError, HTTPException, ssl.SSLError) as exc:
            if getattr(exc, 'reused_connection', False) and not fresh_retry_used and \
                    isinstance(exc, (HTTPException, ConnectionError)):
                fresh_retry_used = True  # the server closed an idle keep-alive connection
                continue
            error = classify_exception(exc, url, conn.config.timeout)
            if error.kind == 'tls' or attempt >= retries:
                raise error
        else:
            if status not in _TRANSIENT_STATUS or attempt >= retries:
                return status, reason, resp_headers, data
        attempt += 1
        if stop_event is not None and stop_event.is_set():
            raise DicomWebError(KIND_CONNECTION, 'import stopped while retrying %s' % url, url)
        time.sleep(delay)
        delay = min(delay * 2, max_backoff)


# --------------------------------------------------------------------------------------------
# Which instances does the PACS already have?
# --------------------------------------------------------------------------------------------
def _dicom_json_values(item, tag):
    element = item.get(tag) if isinstance(item, dict) else None
    if not isinstance(element, dict):
        return []
    return element.get('Value') or []


def _parse_json(body, url, what):
    try:
        return json.loads(body.decode('utf-8')) if body.strip() else None
    except (ValueError, UnicodeDecodeError):
        raise DicomWebError(KIND_NOT_DICOMWEB, 'The %s from %s is not JSON (starts with %r): is url a DICOMweb '
                                               'root?' % (what, url, body[:40]), url)


def qido_existing(conn, base_url, study_uid, retries, page_size=1000, max_pages=1000):
    """SOP Instance UIDs the PACS holds for ``study_uid``, by paged QIDO-RS."""
    existing = set()
    offset = 0
    for _page in range(max_pages):
        url = '%s/studies/%s/instances?includefield=00080018&limit=%d&offset=%d' % (
            base_url, quote(study_uid, safe=''), page_size, offset)
        status, reason, resp_headers, body = call_with_retries(
            conn, 'GET', url, retries, headers={'Accept': 'application/dicom+json'})
        if status in (204, 404):
            return existing
        if status != 200:
            raise status_error(url, status, reason, body, resp_headers.get('location'))
        items = _parse_json(body, url, 'QIDO-RS answer') or []
        if not isinstance(items, list):
            raise DicomWebError(KIND_NOT_DICOMWEB, 'The QIDO-RS answer from %s is not a JSON list' % url, url)
        before = len(existing)
        for item in items:
            for value in _dicom_json_values(item, '00080018'):
                existing.add(str(value))
        # a short page is the last one, unless the server capped it below `limit` and said so
        # (DCM4CHEE: "Warning: 299 ...: There are more results that match the query")
        more = 'more results' in (resp_headers.get('warning') or '').lower()
        if not items or len(existing) == before or (len(items) < page_size and not more):
            return existing
        offset += len(items)
    return existing


def orthanc_existing(conn, orthanc_url, study_uid, retries):
    """SOP Instance UIDs Orthanc holds for ``study_uid``, through its REST API."""
    url = '%s/tools/lookup' % orthanc_url
    status, reason, _headers, body = call_with_retries(
        conn, 'POST', url, retries, body_factory=lambda: study_uid.encode('ascii'),
        headers={'Content-Type': 'text/plain', 'Accept': 'application/json'})
    if status != 200:
        raise status_error(url, status, reason, body)
    matches = _parse_json(body, url, 'Orthanc /tools/lookup answer') or []
    existing = set()
    for match in matches if isinstance(matches, list) else []:
        if not isinstance(match, dict) or match.get('Type') != 'Study' or not match.get('ID'):
            continue
        url = '%s/studies/%s/instances' % (orthanc_url, quote(match['ID'], safe=''))
        status, reason, _headers, body = call_with_retries(conn, 'GET', url, retries,
                                                           headers={'Accept': 'application/json'})
        if status == 404:
            continue
        if status != 200:
            raise status_error(url, status, reason, body)
        for inst in _parse_json(body, url, 'Orthanc instances answer') or []:
            uid = (inst.get('MainDicomTags') or {}).get('SOPInstanceUID') if isinstance(inst, dict) else None
            if uid:
                existing.add(str(uid).strip())
    return existing


# --------------------------------------------------------------------------------------------
# STOW-RS
# --------------------------------------------------------------------------------------------
FAILURE_REASONS = {
    0x0110: 'processing failure',
    0x0117: 'invalid SOP instance',
    0x0122: 'SOP class not supported',
    0x0124: 'not authorized',
    0x0210: 'duplicate invocation',
    0x0211: 'unrecognized operation',
    0x0212: 'mistyped argument',
    0xA700: 'out of resources',
    0xA770: 'out of resources (instance)',
    0xA900: 'data set does not match SOP class',
    0xC000: 'cannot understand',
    0xC122: 'transfer syntax not supported',
}


def describe_failure_reason(code):
    """Human text for a STOW-RS Failure Reason (0008,1197) code."""
    try:
        code = int(code)
    except (TypeError, ValueError):
        return 'STOW-RS failure reason %r' % (code,)
    text = FAILURE_REASONS.get(code) or FAILURE_REASONS.get(code & 0xFF00) or FAILURE_REASONS.get(code & 0xF000)
    return 'STOW-RS failure reason 0x%04X%s' % (code, (' (%s)' % text) if text else '')


def parse_stow_response(body):
    """Return (stored_uids, {failed_uid: reason}, listed) from a STOW-RS DICOM JSON answer.

    ``listed`` is False when the answer holds neither a ReferencedSOPSequence nor a
    FailedSOPSequence (empty body, not JSON, or another shape).
    """
    try:
        dataset = json.loads(body.decode('utf-8')) if body and body.strip() else None
    except (ValueError, UnicodeDecodeError):
        return set(), {}, False
    if isinstance(dataset, list):
        dataset = dataset[0] if dataset else None
    if not isinstance(dataset, dict):
        return set(), {}, False
    listed = '00081199' in dataset or '00081198' in dataset
    stored = set()
    for item in _dicom_json_values(dataset, '00081199'):
        for uid in _dicom_json_values(item, '00081155'):
            stored.add(str(uid))
    failed = {}
    for item in _dicom_json_values(dataset, '00081198'):
        codes = _dicom_json_values(item, '00081197')
        for uid in _dicom_json_values(item, '00081155'):
            failed[str(uid)] = describe_failure_reason(codes[0] if codes else None)
    return stored, failed, listed


# --------------------------------------------------------------------------------------------
# The import
# --------------------------------------------------------------------------------------------
class ImportOptions:
    """All knobs of one import (module options map 1:1)."""

    def __init__(self, src, url, username=None, password=None, bearer_token=None, validate_certs=True,
                 ca_path=None, timeout=60, workers=4, batch_size=50, batch_bytes=32 * 1024 * 1024,
                 retries=3, skip_existing=True, recurse=True, follow_symlinks=False, include=None,
                 exclude=None, server_type='dicomweb', orthanc_url=None, max_instances=None,
                 max_seconds=None, progress_file=None, progress_interval=5.0, header_parser='auto',
                 check_mode=False, report_limit=1000, max_files=None):
        self.src = src
        self.url = (url or '').rstrip('/')
        self.username = username
        self.password = password
        self.bearer_token = bearer_token
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.timeout = timeout
        self.workers = workers
        self.batch_size = batch_size
        self.batch_bytes = batch_bytes
        self.retries = retries
        self.skip_existing = skip_existing
        self.recurse = recurse
        self.follow_symlinks = follow_symlinks
        self.include = include or []
        self.exclude = exclude or []
        self.server_type = server_type
        self.orthanc_url = orthanc_url.rstrip('/') if orthanc_url else None
        self.max_instances = max_instances
        self.max_seconds = max_seconds
        self.progress_file = progress_file
        self.progress_interval = progress_interval
        self.header_parser = header_parser
        self.check_mode = check_mode
        self.report_limit = report_limit
        self.max_files = max_files


def validate_options(opts):
    """Return a list of human readable problems with the options (empty when usable)."""
    problems = []
    if not opts.src:
        problems.append('src is required')
    elif not os.path.exists(opts.src):
        problems.append('src %s does not exist on this host' % opts.src)
    elif not (os.path.isdir(opts.src) or os.path.isfile(opts.src)):
        problems.append('src %s is neither a directory nor a regular file' % opts.src)
    elif not os.access(opts.src, os.R_OK):
        problems.append('src %s is not readable by this user' % opts.src)
    error = validate_url(opts.url, 'url')
    if error:
        problems.append(error)
    if opts.server_type == 'orthanc':
        root = opts.orthanc_url or split_orthanc_root(opts.url or '')
        if not root:
            problems.append('server_type=orthanc needs orthanc_url (url %s does not end with /dicom-web, so '
                            'the Orthanc REST root cannot be derived)' % opts.url)
        else:
            error = validate_url(root, 'orthanc_url')
            if error:
                problems.append(error)
    if opts.bearer_token and opts.username:
        problems.append('use either bearer_token or url_username/url_password, not both')
    if opts.ca_path and not os.path.isfile(opts.ca_path):
        problems.append('ca_path %s is not a file on this host' % opts.ca_path)
    for name, minimum in (('workers', 1), ('batch_size', 1), ('batch_bytes', 1), ('timeout', 1),
                          ('retries', 0), ('report_limit', 0)):
        value = getattr(opts, name)
        if value is None or value < minimum:
            problems.append('%s must be at least %d (got %r)' % (name, minimum, value))
    if opts.workers and opts.workers > 64:
        problems.append('workers must be at most 64 (got %d)' % opts.workers)
    if opts.max_instances is not None and opts.max_instances < 0:
        problems.append('max_instances must be 0 or more')
    if opts.max_seconds is not None and opts.max_seconds <= 0:
        problems.append('max_seconds must be more than 0')
    if opts.progress_file:
        parent = os.path.dirname(os.path.abspath(opts.progress_file))
        if not os.path.isdir(parent):
            problems.append('the directory of progress_file (%s) does not exist' % parent)
    return problems


class _Counters:
    def __init__(self):
        self.files_scanned = 0
        self.dicom = 0
        self.skipped_existing = 0
        self.to_send = 0
        self.sent = 0
        self.bytes_sent = 0
        self.rejected = 0
        self.non_dicom = 0
        self.batches = 0
        self.send_rejected = 0


class Importer:
    """One bulk import run: scan, check, send. Call :meth:`run`; it returns the summary dict."""

    def __init__(self, opts, clock=time.time):
        self.opts = opts
        self.clock = clock
        self.started = clock()
        self.c = _Counters()
        self.rejected = []
        self.non_dicom = []
        self.duplicates = []
        self.failure = None
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.local = threading.local()
        self.connections = []
        self.progress_fh = None
        self.last_progress = 0.0
        self.phase = 'scan'
        self.http = HttpConfig(opts.url, opts.username, opts.password, opts.bearer_token,
                               opts.validate_certs, opts.ca_path, opts.timeout)
        self.orthanc_url = (opts.orthanc_url or split_orthanc_root(opts.url)) \
            if opts.server_type == 'orthanc' else None
        self.deadline = (self.started + opts.max_seconds) if opts.max_seconds else None
        self.send_started = None
        self.send_ended = None
        self.server_errors_in_a_row = 0

    # -- bookkeeping ---------------------------------------------------------------------------
    def _conn(self):
        conn = getattr(self.local, 'conn', None)
        if conn is None:
            conn = KeepAliveConnection(self.http)
            self.local.conn = conn
            with self.lock:
                self.connections.append(conn)
        return conn

    def _close_all(self):
        for conn in self.connections:
            conn.close()

    def _reject(self, path, uid, reason, sending=False):
        with self.lock:
            self.c.rejected += 1
            if sending:
                self.c.send_rejected += 1
                self.server_errors_in_a_row = 0
            if len(self.rejected) < self.opts.report_limit:
                self.rejected.append({'path': path, 'sop_instance_uid': uid, 'reason': reason})

    def _elapsed(self):
        return max(self.clock() - self.started, 1e-6)

    def _rate(self):
        send_elapsed = max(self.clock() - (self.send_started or self.started), 1e-6)
        return self.c.sent / send_elapsed if self.c.sent else 0.0

    def progress(self, force=False, phase=None):
        if phase:
            self.phase = phase
        if not self.opts.progress_file or self.opts.check_mode:
            return  # check mode changes nothing, not even the progress file
        now = self.clock()
        if not force and now - self.last_progress < self.opts.progress_interval:
            return
        self.last_progress = now
        c = self.c
        rate = self._rate()
        left = max(c.to_send - c.sent - c.rejected, 0) if self.phase == 'send' else None
        record = {
            'time': time.strftime('%Y-%m-%dT%H:%M:%S', time.localtime(now)),
            'phase': self.phase, 'elapsed': round(now - self.started, 3),
            'files_scanned': c.files_scanned, 'dicom': c.dicom, 'non_dicom': c.non_dicom,
            'skipped_existing': c.skipped_existing, 'to_send': c.to_send, 'sent': c.sent,
            'rejected': c.rejected, 'bytes_sent': c.bytes_sent,
            'instances_per_second': round(rate, 2),
            'eta_seconds': round(left / rate, 1) if (left is not None and rate > 0) else None,
        }
        try:
            if self.progress_fh is None:
                self.progress_fh = open(self.opts.progress_file, 'a')
            self.progress_fh.write(json.dumps(record, sort_keys=True) + '\n')
            self.progress_fh.flush()
        except (IOError, OSError):
            self.progress_fh = None  # progress is best effort, never fatal

    def _out_of_time(self):
        return self.deadline is not None and self.clock() >= self.deadline

    # -- phase 1: scan -------------------------------------------------------------------------
    def _parse_one(self, entry):
        path, rel, size = entry
        try:
            header = read_header(path, self.opts.header_parser)
        except NotDicomError as exc:
            return ('non_dicom', path, rel, size, str(exc))
        except DicomHeaderError as exc:
            return ('unreadable', path, rel, size, 'unreadable DICOM header, not sent: %s' % exc)
        except (IOError, OSError) as exc:
            return ('unreadable', path, rel, size, 'cannot read the file: %s' % (exc.strerror or exc))
        if header.get('sop_class_uid') == MEDIA_STORAGE_DIRECTORY:
            return ('non_dicom', path, rel, size, 'DICOMDIR (media storage directory), not an instance')
        if not header.get('sop_instance_uid'):
            return ('unreadable', path, rel, size, 'no SOP Instance UID (0008,0018) in the header, not sent')
        return ('dicom', path, rel, size, header)

    def scan(self):
        files = iter_files(self.opts.src, self.opts.recurse, self.opts.follow_symlinks, self.opts.include,
                           self.opts.exclude, self.opts.max_files)
        instances = {}  # sop uid -> record
        chunk = []

        def consume(results):
            for kind, path, rel, size, info in results:
                self.c.files_scanned += 1
                if kind == 'non_dicom':
                    self.c.non_dicom += 1
                    if len(self.non_dicom) < self.opts.report_limit:
                        self.non_dicom.append({'path': path, 'reason': info})
                elif kind == 'unreadable':
                    self._reject(path, None, info)
                else:
                    uid = info['sop_instance_uid']
                    if uid in instances:
                        if len(self.duplicates) < self.opts.report_limit:
                            self.duplicates.append({'path': path, 'sop_instance_uid': uid,
                                                    'same_as': instances[uid]['path']})
                        continue
                    self.c.dicom += 1
                    instances[uid] = {'path': path, 'size': size, 'uid': uid,
                                      'study': info.get('study_instance_uid'),
                                      'series': info.get('series_instance_uid')}
            self.progress()

        with ThreadPoolExecutor(max_workers=min(self.opts.workers, 8)) as pool:
            for entry in files:
                chunk.append(entry)
                if len(chunk) >= 256:
                    consume(pool.map(self._parse_one, chunk))
                    chunk = []
            if chunk:
                consume(pool.map(self._parse_one, chunk))
        return instances

    # -- phase 2: check ------------------------------------------------------------------------
    def _existing_for_study(self, study_uid):
        conn = self._conn()
        if self.orthanc_url:
            return orthanc_existing(conn, self.orthanc_url, study_uid, self.opts.retries)
        return qido_existing(conn, self.opts.url, study_uid, self.opts.retries)

    def check(self, instances):
        """Drop the instances the PACS already holds; returns the ones to send."""
        studies = sorted(set(rec['study'] for rec in instances.values() if rec['study']))
        existing = {}
        with ThreadPoolExecutor(max_workers=self.opts.workers) as pool:
            futures = dict((pool.submit(self._existing_for_study, study), study) for study in studies)
            try:
                for future in as_completed(futures):
                    existing[futures[future]] = future.result()
            except DicomWebError:
                for future in futures:
                    future.cancel()
                raise
        todo = []
        for rec in instances.values():
            if rec['study'] and rec['uid'] in existing.get(rec['study'], ()):
                self.c.skipped_existing += 1
            else:
                todo.append(rec)
        return todo, len(studies)

    # -- phase 3: send -------------------------------------------------------------------------
    def make_batches(self, todo):
        todo.sort(key=lambda r: (r['study'] or '', r['series'] or '', r['path']))
        batches = []
        current, current_bytes = [], 0
        for rec in todo:
            if current and (len(current) >= self.opts.batch_size or
                            current_bytes + rec['size'] > self.opts.batch_bytes):
                batches.append(current)
                current, current_bytes = [], 0
            current.append(rec)
            current_bytes += rec['size']
        if current:
            batches.append(current)
        return batches

    def _post(self, batch):
        """POST one multipart batch; returns (status, reason, body, location)."""
        boundary = new_boundary()
        pairs = [(rec['path'], rec['size']) for rec in batch]
        _heads, _trailer, total = multipart_layout([size for _p, size in pairs], boundary)
        url = '%s/studies' % self.opts.url
        headers = {'Content-Type': multipart_content_type(boundary), 'Accept': 'application/dicom+json'}
        status, reason, resp_headers, body = call_with_retries(
            self._conn(), 'POST', url, self.opts.retries, body_factory=lambda: iter_multipart(pairs, boundary),
            headers=headers, content_length=total, stop_event=self.stop_event)
        return status, reason, body, resp_headers.get('location')

    def _split(self, batch, depth):
        half = len(batch) // 2
        return self.send_batch(batch[:half], depth + 1) + self.send_batch(batch[half:], depth + 1)

    def send_batch(self, batch, depth=0):
        """Send a batch, bisecting on whole-batch refusals; records outcomes; returns stored count."""
        if self.stop_event.is_set():
            return 0
        url = '%s/studies' % self.opts.url
        try:
            status, reason, body, location = self._post(batch)
        except SourceFileError as exc:
            # a file vanished or changed size while sending: isolate it by halves
            if len(batch) > 1:
                return self._split(batch, depth)
            self._reject(batch[0]['path'], batch[0]['uid'], str(exc), sending=True)
            return 0
        if status in (401, 403, 404, 405) or 300 <= status < 400:
            raise FatalImportError(status_error(url, status, reason, body, location))
        stored_uids, failed, listed = parse_stow_response(body)
        if status in (200, 202) and not listed:
            stored_uids = set(rec['uid'] for rec in batch)  # no per-instance answer: all stored
        elif not stored_uids and not failed:
            # the whole batch was refused without a per-instance answer: isolate the culprit(s)
            if len(batch) > 1:
                return self._split(batch, depth)
            err = status_error(url, status, reason, body)
            if status >= 500:
                with self.lock:
                    self.server_errors_in_a_row += 1
                    if self.server_errors_in_a_row > MAX_SERVER_ERRORS_IN_A_ROW:
                        raise FatalImportError(DicomWebError(
                            KIND_SERVER_ERROR, 'the PACS failed %d single-instance uploads in a row (last: %s); '
                            'stopping, re-run to resume' % (self.server_errors_in_a_row, err.message), url, status))
            self._reject(batch[0]['path'], batch[0]['uid'], err.message, sending=True)
            return 0
        stored = 0
        nbytes = 0
        for rec in batch:
            if rec['uid'] in failed:
                self._reject(rec['path'], rec['uid'], failed[rec['uid']], sending=True)
            elif rec['uid'] in stored_uids:
                stored += 1
                nbytes += rec['size']
            else:
                self._reject(rec['path'], rec['uid'],
                             'not acknowledged in the STOW-RS answer (HTTP %d): the PACS could not '
                             'store it (unparsable or invalid file?)' % status, sending=True)
        with self.lock:
            self.c.sent += stored
            self.c.bytes_sent += nbytes
            self.c.batches += 1
            if stored:
                self.server_errors_in_a_row = 0
        return stored

    def _worker(self, batch):
        if self.stop_event.is_set() or self._out_of_time():
            return None
        try:
            self.send_batch(batch)
        except FatalImportError as exc:
            self.stop_event.set()
            return exc.error
        except DicomWebError as exc:
            self.stop_event.set()
            return exc
        return None

    def send(self, batches):
        self.send_started = self.clock()
        error = None
        with ThreadPoolExecutor(max_workers=self.opts.workers) as pool:
            futures = [pool.submit(self._worker, batch) for batch in batches]
            for future in as_completed(futures):
                result = future.result()
                if result is not None and error is None:
                    error = result
                self.progress()
        return error

    # -- all together --------------------------------------------------------------------------
    def run(self):
        """Run the import; returns (summary dict, error message or None, error kind or None)."""
        error = None
        studies = 0
        remaining = 0
        would_send_bytes = 0
        self.progress(force=True, phase='scan')
        try:
            instances = self.scan()
            todo = list(instances.values())
            if self.opts.skip_existing and todo:
                self.progress(force=True, phase='check')
                todo, studies = self.check(instances)
            else:
                studies = len(set(rec['study'] for rec in todo if rec['study']))
            if self.opts.max_instances is not None and len(todo) > self.opts.max_instances:
                todo.sort(key=lambda r: (r['study'] or '', r['series'] or '', r['path']))
                remaining = len(todo) - self.opts.max_instances
                todo = todo[:self.opts.max_instances]
            self.c.to_send = len(todo)
            would_send_bytes = sum(rec['size'] for rec in todo)
            if not self.opts.check_mode and todo:
                self.progress(force=True, phase='send')
                error = self.send(self.make_batches(todo))
                remaining += max(self.c.to_send - self.c.sent - self.c.send_rejected, 0)
        except FatalImportError as exc:
            error = exc.error
        except DicomWebError as exc:
            error = exc
        finally:
            self._close_all()
        elapsed = self._elapsed()
        self.progress(force=True, phase='failed' if error else 'done')
        if self.progress_fh is not None:
            self.progress_fh.close()
        summary = self.summary(elapsed, studies, remaining, would_send_bytes)
        if error is not None:
            return summary, getattr(error, 'message', None) or str(error), getattr(error, 'kind', None)
        return summary, None, None

    def summary(self, elapsed, studies, remaining, would_send_bytes):
        c = self.c
        self.send_ended = self.send_ended or self.clock()
        send_elapsed = (self.send_ended - self.send_started) if self.send_started else 0.0
        result = {
            'files_scanned': c.files_scanned,
            'dicom_files': c.dicom,
            'studies': studies,
            'sent': c.sent,
            'skipped_existing': c.skipped_existing,
            'rejected': self.rejected,
            'rejected_count': c.rejected,
            'non_dicom': self.non_dicom,
            'non_dicom_count': c.non_dicom,
            'duplicates': self.duplicates,
            'bytes_sent': c.bytes_sent,
            'batches': c.batches,
            'remaining': remaining,
            'elapsed': round(elapsed, 3),
            'send_elapsed': round(max(send_elapsed, 0.0), 3),
            'instances_per_second': round(c.sent / send_elapsed, 2) if c.sent and send_elapsed > 0 else 0.0,
            'would_send': c.to_send if self.opts.check_mode else 0,
            'would_send_bytes': would_send_bytes if self.opts.check_mode else 0,
            'header_parser': self.opts.header_parser,
            'pydicom_available': HAS_PYDICOM,
            'report_truncated': c.rejected > len(self.rejected) or c.non_dicom > len(self.non_dicom),
        }
        return result


def run_import(opts):
    """Validate, run, and return (summary, error_message, error_kind)."""
    problems = validate_options(opts)
    if problems:
        return None, '; '.join(problems), KIND_INVALID_URL if any('url' in p for p in problems) else 'invalid'
    return Importer(opts).run()


__all__ = ['read_part10_header', 'read_header', 'read_header_pydicom', 'NotDicomError', 'DicomHeaderError',
           'iter_files', 'multipart_layout', 'iter_multipart', 'build_multipart', 'parse_stow_response',
           'ImportOptions', 'Importer', 'run_import', 'validate_options', 'KIND_PROTOCOL', 'KIND_HTTP']
