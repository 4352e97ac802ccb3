# -*- coding: utf-8 -*-
# Copyright: medimg.pacs maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""DICOMweb (PS3.18) helpers: QIDO-RS, WADO-RS and STOW-RS over the one HTTP layer, DICOM JSON values.

Requests go through :class:`~http_client.HttpClient`; failures are :class:`DicomWebError`
(``KIND_*``). Multipart bodies are built and parsed by :mod:`multipart`.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.medimg.pacs.plugins.module_utils.http_errors import (
    DicomWebError, KIND_NOT_DICOMWEB, KIND_PROTOCOL, http_error, join_url, looks_like_html, redact_url)
from ansible_collections.medimg.pacs.plugins.module_utils.multipart import build_multipart, parse_multipart_related


# --------------------------------------------------------------------------------------------
# DICOM JSON (PS3.18 F.2)
# --------------------------------------------------------------------------------------------
def dicom_json_values(dataset, tag):
    """All values of ``tag`` (8 hex digits) in a DICOM JSON dataset ([] when absent)."""
    if not isinstance(dataset, dict):
        return []
    element = dataset.get(tag.upper()) or dataset.get(tag.lower())
    if not isinstance(element, dict):
        return []
    return element.get('Value') or []


def dicom_json_value(dataset, tag, default=None):
    """First value of ``tag`` in a DICOM JSON dataset."""
    values = dicom_json_values(dataset, tag)
    return values[0] if values else default


def _expect_dicom_json_list(response, what):
    if response.status == 204:
        return []
    data = response.json(what)
    if data is None:
        return []
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise DicomWebError(
            KIND_NOT_DICOMWEB, 'The %s from %s is JSON but not a list of DICOM JSON datasets (got %s): this is '
                               'not a DICOMweb service' % (what, redact_url(response.url), type(data).__name__),
            response.url, response.status)
    return data


# --------------------------------------------------------------------------------------------
# QIDO-RS, WADO-RS, STOW-RS
# --------------------------------------------------------------------------------------------
def qido_studies(client, base_url, limit=1, **filters):
    """QIDO-RS search for studies. Returns (HttpResponse, list_of_datasets)."""
    query = dict(filters)
    if limit is not None:
        query['limit'] = limit
    response = client.request('GET', join_url(base_url, 'studies', **query),
                              headers={'Accept': 'application/dicom+json'})
    return response, _expect_dicom_json_list(response, 'QIDO-RS answer')


def qido_instance_uids(client, base_url, study_uid, page_size=1000, max_pages=1000):
    """SOP Instance UIDs the server holds for ``study_uid``, by paged QIDO-RS
    (``/studies/{uid}/instances?includefield=00080018``)."""
    existing = set()
    offset = 0
    for _page in range(max_pages):
        url = join_url(base_url, 'studies', study_uid, 'instances')
        url += '?includefield=00080018&limit=%d&offset=%d' % (page_size, offset)
        response = client.request('GET', url, headers={'Accept': 'application/dicom+json'},
                                  raise_for_status=False)
        if response.status in (204, 404):
            return existing
        if response.status != 200:
            raise http_error(url, response.status, response.reason, response.body, response.headers)
        items = _expect_dicom_json_list(response, 'QIDO-RS answer')
        before = len(existing)
        for item in items:
            existing.update(str(value) for value in dicom_json_values(item, '00080018'))
        # a short page is the last one, unless the server capped it below `limit` and said so
        # (DCM4CHEE: "Warning: 299 ...: There are more results that match the query")
        more = 'more results' in (response.headers.get('warning') or '').lower()
        if not items or len(existing) == before or (len(items) < page_size and not more):
            return existing
        offset += len(items)
    return existing


def wado_study_metadata(client, base_url, study_uid):
    """WADO-RS metadata of a study. Returns (HttpResponse, list_of_datasets)."""
    response = client.request('GET', join_url(base_url, 'studies', study_uid, 'metadata'),
                              headers={'Accept': 'application/dicom+json'})
    return response, _expect_dicom_json_list(response, 'WADO-RS metadata answer')


def wado_instance(client, base_url, study_uid, series_uid, sop_uid):
    """WADO-RS retrieve of one instance. Returns (HttpResponse, part10_bytes)."""
    url = join_url(base_url, 'studies', study_uid, 'series', series_uid, 'instances', sop_uid)
    response = client.request('GET', url, headers={
        'Accept': 'multipart/related; type="application/dicom"; transfer-syntax=*'})
    if looks_like_html(response.body, response.content_type):
        response.json('WADO-RS answer')  # raises the "not DICOMweb" error
    parts = parse_multipart_related(response.body, response.content_type)
    dicom_parts = [payload for headers, payload in parts
                   if headers.get('content-type', 'application/dicom').lower().startswith('application/dicom')]
    if not dicom_parts:
        raise DicomWebError(KIND_PROTOCOL, 'The WADO-RS answer from %s holds no application/dicom part'
                            % redact_url(url), url, response.status)
    return response, dicom_parts[0]


def stow_instances(client, base_url, instances, study_uid=None):
    """STOW-RS the given Part 10 byte strings. Returns (HttpResponse, response_dataset)."""
    body, ctype = build_multipart(instances)
    url = join_url(base_url, 'studies', study_uid) if study_uid else join_url(base_url, 'studies')
    response = client.request('POST', url, data=body, headers={'Content-Type': ctype,
                                                               'Accept': 'application/dicom+json'})
    dataset = response.json('STOW-RS answer') if response.body.strip() else {}
    if isinstance(dataset, list):
        dataset = dataset[0] if dataset else {}
    if not isinstance(dataset, dict):
        raise DicomWebError(KIND_NOT_DICOMWEB, 'The STOW-RS answer from %s is not a DICOM JSON dataset'
                            % redact_url(url), url, response.status)
    failed = dicom_json_values(dataset, '00081198')
    if failed:
        reasons = [str(dicom_json_value(item, '00081197', '?')) for item in failed]
        raise DicomWebError(KIND_PROTOCOL, 'STOW-RS to %s refused %d instance(s) (failure reason %s)'
                            % (redact_url(url), len(failed), ', '.join(reasons)), url, response.status)
    return response, dataset


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
    for item in dicom_json_values(dataset, '00081199'):
        stored.update(str(uid) for uid in dicom_json_values(item, '00081155'))
    failed = {}
    for item in dicom_json_values(dataset, '00081198'):
        codes = dicom_json_values(item, '00081197')
        for uid in dicom_json_values(item, '00081155'):
            failed[str(uid)] = describe_failure_reason(codes[0] if codes else None)
    return stored, failed, listed
