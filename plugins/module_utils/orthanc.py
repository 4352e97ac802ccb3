# -*- coding: utf-8 -*-
# Copyright: medimg.pacs maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Orthanc REST API helpers: system information, study lookup, instances and deletion, DICOM modalities."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible_collections.medimg.pacs.plugins.module_utils.ae_title import ae_title_error
from ansible_collections.medimg.pacs.plugins.module_utils.http_errors import (
    DicomWebError,
    KIND_NOT_FOUND,
    http_error,
    join_url,
)

#: module option -> Orthanc modality key (Orthanc >= 1.5; 1.10 semantics)
ALLOW_OPTIONS = (
    ('allow_echo', 'AllowEcho'),
    ('allow_find', 'AllowFind'),
    ('allow_find_worklist', 'AllowFindWorklist'),
    ('allow_get', 'AllowGet'),
    ('allow_move', 'AllowMove'),
    ('allow_store', 'AllowStore'),
    ('allow_transcoding', 'AllowTranscoding'),
)
#: "AllowStorageCommitment" is an alias that Orthanc stores as these two keys
STORAGE_COMMITMENT_KEYS = ('AllowNAction', 'AllowEventReport')

MODALITY_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$')


def split_orthanc_root(dicomweb_url):
    """Guess the Orthanc REST root from a DICOMweb URL ending with /dicom-web."""
    url = dicomweb_url.rstrip('/')
    if url.endswith('/dicom-web'):
        return url[:-len('/dicom-web')] or url
    return None


class OrthancClient:
    """Thin wrapper over HttpClient for the Orthanc REST API rooted at ``base_url``."""

    def __init__(self, http, base_url):
        self.http = http
        self.base_url = base_url.rstrip('/')
        self._modalities = None

    def url(self, *segments, **query):
        return join_url(self.base_url, *segments, **query)

    def system(self):
        _response, info = self.http.get_json(self.url('system'), what='Orthanc /system answer')
        if not isinstance(info, dict) or 'Version' not in info:
            raise DicomWebError('not_orthanc', 'The server at %s does not look like Orthanc (no "Version" in '
                                '/system)' % self.base_url, self.url('system'))
        return info

    def lookup_studies(self, study_uid):
        """Orthanc IDs of the studies whose StudyInstanceUID is ``study_uid`` (``POST /tools/lookup``)."""
        response = self.http.request('POST', self.url('tools', 'lookup'), data=study_uid.encode('ascii'),
                                     headers={'Content-Type': 'text/plain', 'Accept': 'application/json'})
        matches = response.json('Orthanc /tools/lookup answer') or []
        return [match['ID'] for match in (matches if isinstance(matches, list) else [])
                if isinstance(match, dict) and match.get('Type') == 'Study' and match.get('ID')]

    def study_instance_uids(self, study_uid):
        """SOP Instance UIDs Orthanc holds for ``study_uid`` (lookup, then ``/studies/{id}/instances``)."""
        existing = set()
        for study_id in self.lookup_studies(study_uid):
            url = self.url('studies', study_id, 'instances')
            response = self.http.request('GET', url, headers={'Accept': 'application/json'}, raise_for_status=False)
            if response.status == 404:
                continue  # deleted meanwhile
            if response.status != 200:
                raise http_error(url, response.status, response.reason, response.body, response.headers)
            for instance in response.json('Orthanc instances answer') or []:
                uid = (instance.get('MainDicomTags') or {}).get('SOPInstanceUID') if isinstance(instance, dict) else None
                if uid:
                    existing.add(str(uid).strip())
        return existing

    def delete_study(self, study_uid):
        """Delete the study with this StudyInstanceUID; True when Orthanc knew it."""
        study_ids = self.lookup_studies(study_uid)
        for study_id in study_ids:
            self.http.request('DELETE', self.url('studies', study_id))
        return bool(study_ids)

    def list_modalities(self):
        """All modalities, expanded: {name: definition}."""
        _response, data = self.http.get_json(self.url('modalities') + '?expand',
                                             what='Orthanc /modalities answer')
        if isinstance(data, list):  # very old Orthanc without ?expand support
            result = {}
            for name in data:
                _response, result[name] = self.http.get_json(self.url('modalities', name, 'configuration'))
            return result
        if not isinstance(data, dict):
            raise DicomWebError('protocol', 'Unexpected answer from %s/modalities?expand' % self.base_url)
        return data

    def get_modality(self, name):
        """Definition of one modality or None when it does not exist."""
        if self._modalities is None:
            self._modalities = self.list_modalities()
        return self._modalities.get(name)

    def put_modality(self, name, definition):
        self.http.request('PUT', self.url('modalities', name), data=json.dumps(definition).encode('utf-8'),
                          headers={'Content-Type': 'application/json'})
        self._modalities = None

    def delete_modality(self, name):
        try:
            self.http.request('DELETE', self.url('modalities', name))
        except DicomWebError as exc:
            if exc.kind != KIND_NOT_FOUND:
                raise
        self._modalities = None


def modality_params_error(params):
    """Validate orthanc_modality parameters; returns an error string or None."""
    name = params.get('name')
    if not name or not MODALITY_NAME_RE.match(name):
        return ('name %r is not a valid Orthanc modality name: use 1 to 64 letters, digits, "_", "-" or "." '
                'starting with a letter or digit' % (name,))
    if params.get('state') == 'absent':
        return None
    for option in ('aet', 'host', 'port'):
        if params.get(option) in (None, ''):
            return 'state=present requires the option %s' % option
    error = ae_title_error(params['aet'], 'aet')
    if error:
        return error
    if params.get('local_aet'):
        error = ae_title_error(params['local_aet'], 'local_aet')
        if error:
            return error
    host = params['host']
    if re.search(r'[\s/\\@]', host) or len(host) > 255:
        return 'host %r is not a valid host name or IP address' % host
    port = params['port']
    if not 1 <= int(port) <= 65535:
        return 'port %s is out of range; a TCP port is from 1 to 65535' % port
    if params.get('dicom_timeout') is not None and int(params['dicom_timeout']) < 0:
        return 'dicom_timeout must be 0 (use the global DicomScuTimeout) or a positive number of seconds'
    return None


def desired_modality(params):
    """Build the Orthanc definition (as PUT to /modalities/{name}) from module parameters."""
    definition = {
        'AET': params['aet'].strip(' '),
        'Host': params['host'],
        'Port': int(params['port']),
        'Manufacturer': params.get('manufacturer') or 'Generic',
    }
    for option, key in ALLOW_OPTIONS:
        value = params.get(option)
        definition[key] = True if value is None else bool(value)
    commitment = params.get('allow_storage_commitment')
    for key in STORAGE_COMMITMENT_KEYS:
        definition[key] = True if commitment is None else bool(commitment)
    definition['UseDicomTls'] = bool(params.get('use_dicom_tls'))
    definition['LocalAet'] = params.get('local_aet') or ''
    definition['Timeout'] = int(params.get('dicom_timeout') or 0)
    return definition


def modality_differences(current, desired):
    """Keys whose value differs between the current and desired definition.

    Keys that the running Orthanc does not report (older versions) are only
    compared for the core fields AET/Host/Port/Manufacturer.
    """
    core = ('AET', 'Host', 'Port', 'Manufacturer')
    differences = []
    for key, value in desired.items():
        if key not in current and key not in core:
            continue
        have = current.get(key)
        if key == 'Port':
            try:
                have = int(have)
            except (TypeError, ValueError):
                pass
        if have != value:
            differences.append(key)
    return sorted(differences)


def payload_for_put(desired):
    """Definition to send: the alias AllowStorageCommitment plus optional keys only when set."""
    payload = dict(desired)
    payload['AllowStorageCommitment'] = desired['AllowNAction'] and desired['AllowEventReport']
    if not payload.get('LocalAet'):
        payload.pop('LocalAet', None)
    if not payload.get('Timeout'):
        payload.pop('Timeout', None)
    return payload
