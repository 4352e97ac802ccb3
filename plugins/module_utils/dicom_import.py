# -*- coding: utf-8 -*-
# Copyright: medimg.pacs maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bulk import of DICOM Part-10 files into a PACS through DICOMweb (STOW-RS).

Used by the ``medimg.pacs.dicom_import`` module. Pipeline:

1. **scan** - walk ``src`` (:func:`~dicom_files.iter_files`: include/exclude globs, symlink
   policy), read each file's header UIDs with pydicom (:func:`~dicom_files.classify_file`, which
   stops after the Series Instance UID whatever the pixel data size) and sort the files into
   DICOM instances, non-DICOM files and unreadable DICOM files.
2. **check** - ask the PACS which of those instances it already has: one paged QIDO-RS query
   per study (:func:`~dicomweb.qido_instance_uids`) or, for Orthanc, its REST API
   (:meth:`~orthanc.OrthancClient.study_instance_uids`); queries run concurrently.
3. **send** - STOW-RS ``multipart/related; type="application/dicom"`` batches (``batch_size``
   instances or ``batch_bytes``), streamed from disk (:func:`~multipart.iter_multipart`: a batch
   is never held in memory) over ``workers`` threads, each with its own keep-alive connection of
   the one HTTP layer (:class:`~http_client.HttpClient`). A batch the PACS refuses as a whole is
   split in halves until the offending files are isolated; transient errors (connection loss,
   timeouts, 408/429/502/503/504) are retried with a doubling back-off (Retry-After honoured).

Progress is appended to an optional JSON-lines file; the summary is a plain dict.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import threading
import time

from concurrent.futures import ThreadPoolExecutor, as_completed

from ansible_collections.medimg.pacs.plugins.module_utils.dicom_files import (
    HAS_PYDICOM, classify_file, iter_files, quiet_pydicom)
from ansible_collections.medimg.pacs.plugins.module_utils.dicomweb import parse_stow_response, qido_instance_uids
from ansible_collections.medimg.pacs.plugins.module_utils.http_client import (
    DicomWebError, HttpClient, KIND_INVALID_URL, KIND_SERVER_ERROR, http_error, validate_url)
from ansible_collections.medimg.pacs.plugins.module_utils.multipart import (
    SourceFileError, iter_multipart, multipart_content_type, multipart_layout, new_boundary)
from ansible_collections.medimg.pacs.plugins.module_utils.orthanc import OrthancClient, split_orthanc_root

MAX_SERVER_ERRORS_IN_A_ROW = 20


class FatalImportError(Exception):
    """Stops the whole import (authentication, unreachable PACS, not a DICOMweb service)."""

    def __init__(self, error):
        super(FatalImportError, self).__init__(getattr(error, 'message', str(error)))
        self.error = error


class ImportOptions:
    """All knobs of one import (module options map 1:1)."""

    def __init__(self, src, url, username=None, password=None, bearer_token=None, validate_certs=True,
                 ca_path=None, timeout=60, workers=4, batch_size=50, batch_bytes=32 * 1024 * 1024,
                 retries=3, skip_existing=True, recurse=True, follow_symlinks=False, include=None,
                 exclude=None, server_type='dicomweb', orthanc_url=None, max_instances=None,
                 max_seconds=None, progress_file=None, progress_interval=5.0, check_mode=False, report_limit=1000,
                 max_files=None):
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
        self.progress_fh = None
        self.last_progress = 0.0
        self.phase = 'scan'
        # uploads: a doubling back-off from 1 s (at most 15 s), no proxy, redirects reported, not followed
        self.http = HttpClient(username=opts.username, password=opts.password, bearer_token=opts.bearer_token,
                               validate_certs=opts.validate_certs, ca_path=opts.ca_path, timeout=opts.timeout,
                               retries=opts.retries, delay=1.0, backoff=2.0, max_delay=15.0, use_proxy=False,
                               follow_redirects=False, user_agent='medimg.pacs-dicom_import')
        self.orthanc_url = (opts.orthanc_url or split_orthanc_root(opts.url)) \
            if opts.server_type == 'orthanc' else None
        self.deadline = (self.started + opts.max_seconds) if opts.max_seconds else None
        self.send_started = None
        self.send_ended = None
        self.server_errors_in_a_row = 0

    # -- bookkeeping ---------------------------------------------------------------------------
    def _close_all(self):
        self.http.close()

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
    @staticmethod
    def _parse_one(entry):
        path, rel, size = entry
        kind, info = classify_file(path)
        return kind, path, rel, size, info

    def scan(self):
        files = iter_files(self.opts.src, self.opts.recurse, self.opts.follow_symlinks, self.opts.include,
                           self.opts.exclude, self.opts.max_files)
        quiet_pydicom()
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
        if self.orthanc_url:
            return OrthancClient(self.http, self.orthanc_url).study_instance_uids(study_uid)
        return qido_instance_uids(self.http, self.opts.url, study_uid)

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
        """POST one multipart batch, streamed from the files; returns the HttpResponse."""
        boundary = new_boundary('medimg-import')
        parts = [(rec['path'], rec['size']) for rec in batch]
        _heads, _trailer, total = multipart_layout([size for _path, size in parts], boundary)
        headers = {'Content-Type': multipart_content_type(boundary), 'Accept': 'application/dicom+json'}
        return self.http.request('POST', '%s/studies' % self.opts.url, data=lambda: iter_multipart(parts, boundary),
                                 headers=headers, content_length=total, raise_for_status=False,
                                 stop_event=self.stop_event)

    def _split(self, batch, depth):
        half = len(batch) // 2
        return self.send_batch(batch[:half], depth + 1) + self.send_batch(batch[half:], depth + 1)

    def send_batch(self, batch, depth=0):
        """Send a batch, bisecting on whole-batch refusals; records outcomes; returns stored count."""
        if self.stop_event.is_set():
            return 0
        url = '%s/studies' % self.opts.url
        try:
            response = self._post(batch)
        except SourceFileError as exc:
            # a file vanished or changed size while sending: isolate it by halves
            if len(batch) > 1:
                return self._split(batch, depth)
            self._reject(batch[0]['path'], batch[0]['uid'], str(exc), sending=True)
            return 0
        status = response.status
        if status in (401, 403, 404, 405) or 300 <= status < 400:
            raise FatalImportError(http_error(url, status, response.reason, response.body, response.headers))
        stored_uids, failed, listed = parse_stow_response(response.body)
        if status in (200, 202) and not listed:
            stored_uids = set(rec['uid'] for rec in batch)  # no per-instance answer: all stored
        elif not stored_uids and not failed:
            # the whole batch was refused without a per-instance answer: isolate the culprit(s)
            if len(batch) > 1:
                return self._split(batch, depth)
            err = http_error(url, status, response.reason, response.body, response.headers)
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
            'pydicom_available': HAS_PYDICOM,
            'report_truncated': c.rejected > len(self.rejected) or c.non_dicom > len(self.non_dicom),
        }
        return result


def run_import(opts):
    """Validate, run, and return (summary, error_message, error_kind)."""
    if not HAS_PYDICOM:
        return None, 'the Python library pydicom is required to read the DICOM headers', 'missing_library'
    problems = validate_options(opts)
    if problems:
        return None, '; '.join(problems), KIND_INVALID_URL if any('url' in p for p in problems) else 'invalid'
    return Importer(opts).run()


__all__ = ['ImportOptions', 'Importer', 'FatalImportError', 'run_import', 'validate_options']
