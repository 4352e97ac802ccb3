# -*- coding: utf-8 -*-
# Copyright: medimg.pacs maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""DCM4CHEE archive (dcm4chee-arc-light) REST helpers: AE titles and devices, study rejection and deletion.

Endpoints used, all relative to the archive root ``http(s)://HOST:PORT/dcm4chee-arc``:

* ``GET  /aes?dicomAETitle=X``         AE titles of all configured devices (ApplicationEntityInfo)
* ``GET  /unique/aets``                registry of unique AE titles (JSON array of strings)
* ``POST|DELETE /unique/aets/{aet}``   register / unregister an AE title in that registry
* ``GET|POST|PUT|DELETE /devices/{name}``  read / create / update / delete a device (JSON)

Relative to a DICOMweb root ``.../dcm4chee-arc/aets/{AET}/rs``:

* ``POST /studies/{uid}/reject/{code}`` then ``DELETE /studies/{uid}``  reject, then delete a study

A remote AE (an Orthanc, a modality, a workstation) becomes known to the
archive as a *device* holding one network AE and one network connection.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import re

from urllib.parse import quote

from ansible_collections.medimg.pacs.plugins.module_utils.ae_title import ae_title_error
from ansible_collections.medimg.pacs.plugins.module_utils.http_errors import (
    DicomWebError,
    KIND_NOT_FOUND,
    join_url,
)

DEVICE_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$')

#: Rejection note code used before deleting a study (Data Retention Policy Expired)
DCM4CHEE_REJECTION_CODE = '113039^DCM'


def dcm4chee_archive_root(dicomweb_url):
    """Return (archive_root, aet) for .../dcm4chee-arc/aets/<AET>/rs URLs, else (None, None)."""
    match = re.match(r'^(.*?/dcm4chee-arc)/aets/([^/]+)/rs/?$', dicomweb_url.rstrip('/'))
    if not match:
        return None, None
    return match.group(1), match.group(2)


def reject_and_delete_study(http, dicomweb_url, study_uid, rejection_code=DCM4CHEE_REJECTION_CODE):
    """Reject, then permanently delete a study through the archive's REST API at ``dicomweb_url``."""
    base = dicomweb_url.rstrip('/')
    reject_url = '%s/studies/%s/reject/%s' % (base, quote(study_uid, safe=''), quote(rejection_code, safe='^'))
    http.request('POST', reject_url, headers={'Accept': 'application/json'})
    http.request('DELETE', join_url(base, 'studies', study_uid))
    return True


class Dcm4cheeClient:
    """REST client for the archive configuration API rooted at ``base_url``."""

    def __init__(self, http, base_url):
        self.http = http
        self.base_url = base_url.rstrip('/')

    def url(self, *segments, **query):
        return join_url(self.base_url, *segments, **query)

    def _json(self, url, what):
        _response, data = self.http.get_json(url, what=what)
        return data

    def unique_aets(self):
        data = self._json(self.url('unique', 'aets'), 'DCM4CHEE /unique/aets answer') or []
        if not isinstance(data, list):
            raise DicomWebError('protocol', 'Unexpected answer from %s: expected a JSON array'
                                % self.url('unique', 'aets'))
        return [str(item) for item in data]

    def register_unique_aet(self, aet):
        self.http.request('POST', self.url('unique', 'aets', aet), data=b'',
                          headers={'Content-Type': 'application/json'})

    def unregister_unique_aet(self, aet):
        self.http.request('DELETE', self.url('unique', 'aets', aet))

    def find_aes(self, aet):
        """ApplicationEntityInfo entries whose dicomAETitle is ``aet``."""
        data = self._json(self.url('aes', dicomAETitle=aet), 'DCM4CHEE /aes answer') or []
        return [item for item in data if isinstance(item, dict) and item.get('dicomAETitle') == aet]

    def get_device(self, name):
        try:
            return self._json(self.url('devices', name), 'DCM4CHEE device answer')
        except DicomWebError as exc:
            if exc.kind == KIND_NOT_FOUND:
                return None
            raise

    def create_device(self, name, document, register=True):
        url = self.url('devices', name, register=None if register else 'false')
        self.http.request('POST', url, data=json.dumps(document).encode('utf-8'),
                          headers={'Content-Type': 'application/json'})

    def update_device(self, name, document):
        self.http.request('PUT', self.url('devices', name), data=json.dumps(document).encode('utf-8'),
                          headers={'Content-Type': 'application/json'})

    def delete_device(self, name):
        self.http.request('DELETE', self.url('devices', name))


def ae_params_error(params):
    error = ae_title_error(params.get('aet'), 'aet')
    if error:
        return error
    device = params.get('device_name')
    if device is not None and not DEVICE_NAME_RE.match(device):
        return ('device_name %r is not valid: use 1 to 64 letters, digits, "_", "-" or "." starting with a '
                'letter or digit' % device)
    if params.get('state') == 'present' and params.get('mode') == 'device':
        if not params.get('host'):
            return 'state=present with mode=device requires host'
        if re.search(r'[\s/\\@]', params['host']):
            return 'host %r is not a valid host name or IP address' % params['host']
        if params.get('port') is None:
            return 'state=present with mode=device requires port'
        if not 1 <= int(params['port']) <= 65535:
            return 'port %s is out of range; a TCP port is from 1 to 65535' % params['port']
    return None


def default_device_name(aet):
    """A device name derived from the AE title (lower case, unsupported characters replaced)."""
    name = re.sub(r'[^A-Za-z0-9_.\-]', '-', aet.strip(' ').lower()).strip('-')
    return name or 'aet'


def build_device(name, aet, host, port, description=None, initiator=True, acceptor=True, installed=True):
    """Device document holding one network AE and one DICOM connection."""
    ae = {
        'dicomAETitle': aet,
        'dicomNetworkConnectionReference': ['/dicomNetworkConnection/0'],
        'dicomAssociationInitiator': bool(initiator),
        'dicomAssociationAcceptor': bool(acceptor),
    }
    if description:
        ae['dicomDescription'] = description
    return {
        'dicomDeviceName': name,
        'dicomInstalled': bool(installed),
        'dicomNetworkConnection': [{'cn': 'dicom', 'dicomHostname': host, 'dicomPort': int(port)}],
        'dicomNetworkAE': [ae],
    }


def _connection_index(reference):
    match = re.match(r'^/dicomNetworkConnection/(\d+)$', reference or '')
    return int(match.group(1)) if match else None


def device_ae_summary(device, aet):
    """Flat view {aet, device_name, host, port, description, ...} of ``aet`` in ``device`` (None if absent)."""
    if not device:
        return None
    for ae in device.get('dicomNetworkAE') or []:
        if ae.get('dicomAETitle') != aet:
            continue
        host = port = None
        connections = device.get('dicomNetworkConnection') or []
        for reference in ae.get('dicomNetworkConnectionReference') or []:
            index = _connection_index(reference)
            if index is not None and index < len(connections):
                conn = connections[index]
                if not conn.get('dicomTLSCipherSuite'):
                    host, port = conn.get('dicomHostname'), conn.get('dicomPort')
                    break
                if host is None:
                    host, port = conn.get('dicomHostname'), conn.get('dicomPort')
        return {
            'aet': aet,
            'device_name': device.get('dicomDeviceName'),
            'host': host,
            'port': port,
            'description': ae.get('dicomDescription'),
            'association_initiator': ae.get('dicomAssociationInitiator', False),
            'association_acceptor': ae.get('dicomAssociationAcceptor', False),
            'installed': device.get('dicomInstalled', True),
        }
    return None


def desired_summary(params, device_name, aet=None):
    return {
        'aet': aet or params['aet'].strip(' '),
        'device_name': device_name,
        'host': params['host'],
        'port': int(params['port']),
        'description': params.get('description'),
        'association_initiator': bool(params.get('association_initiator', True)),
        'association_acceptor': bool(params.get('association_acceptor', True)),
        'installed': bool(params.get('installed', True)),
    }


def summary_differences(current, desired):
    keys = []
    for key, value in desired.items():
        have = current.get(key)
        if key == 'description' and value is None:
            continue  # not managed when not given
        if key == 'port' and have is not None:
            have = int(have)
        if have != value:
            keys.append(key)
    return sorted(keys)


def apply_summary(device, desired):
    """Return a copy of ``device`` with the AE/connection changed to ``desired``."""
    updated = copy.deepcopy(device)
    updated['dicomInstalled'] = desired['installed']
    connections = updated.setdefault('dicomNetworkConnection', [])
    for ae in updated.get('dicomNetworkAE') or []:
        if ae.get('dicomAETitle') != desired['aet']:
            continue
        ae['dicomAssociationInitiator'] = desired['association_initiator']
        ae['dicomAssociationAcceptor'] = desired['association_acceptor']
        if desired.get('description') is not None:
            ae['dicomDescription'] = desired['description']
        references = ae.get('dicomNetworkConnectionReference') or []
        target = None
        for reference in references:
            index = _connection_index(reference)
            if index is not None and index < len(connections) and not connections[index].get('dicomTLSCipherSuite'):
                target = connections[index]
                break
        if target is None:
            target = {'cn': 'dicom'}
            connections.append(target)
            ae['dicomNetworkConnectionReference'] = references + [
                '/dicomNetworkConnection/%d' % (len(connections) - 1)]
        target['dicomHostname'] = desired['host']
        target['dicomPort'] = desired['port']
    return updated


def remove_ae(device, aet):
    """Copy of ``device`` without the network AE ``aet`` (connections are kept)."""
    updated = copy.deepcopy(device)
    updated['dicomNetworkAE'] = [ae for ae in updated.get('dicomNetworkAE') or [] if ae.get('dicomAETitle') != aet]
    return updated
