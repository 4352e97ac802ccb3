# -*- coding: utf-8 -*-
# Copyright: medimg.pacs maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""DICOMweb health probes used by the dicomweb_health module."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.medimg.pacs.plugins.module_utils.dcm4chee import dcm4chee_archive_root, reject_and_delete_study
from ansible_collections.medimg.pacs.plugins.module_utils.dicom_files import build_test_instance
from ansible_collections.medimg.pacs.plugins.module_utils.dicomweb import (
    dicom_json_value,
    qido_studies,
    stow_instances,
    wado_instance,
    wado_study_metadata,
)
from ansible_collections.medimg.pacs.plugins.module_utils.http_client import (
    DicomWebError,
    KIND_INVALID_URL,
    KIND_PROTOCOL,
    http_client_from_params,
    join_url,
    validate_url,
)
from ansible_collections.medimg.pacs.plugins.module_utils.orthanc import OrthancClient, split_orthanc_root

#: options that an entry of ``endpoints`` may override
ENDPOINT_KEYS = ('url', 'name', 'study_uid', 'server_type', 'api_url', 'url_username', 'url_password',
                 'bearer_token')


def endpoint_configs(params):
    """Merge the module-level options into one config dict per endpoint."""
    base = dict((key, params.get(key)) for key in (
        'url_username', 'url_password', 'bearer_token', 'validate_certs', 'ca_path', 'timeout', 'retries',
        'delay', 'study_uid', 'roundtrip', 'server_type', 'api_url', 'use_proxy'))
    configs = []
    if params.get('url'):
        config = dict(base)
        config['url'] = params['url']
        config['name'] = params.get('name') or params['url']
        configs.append(config)
    for entry in params.get('endpoints') or []:
        config = dict(base)
        for key in ENDPOINT_KEYS:
            if entry.get(key) is not None:
                config[key] = entry[key]
        if entry.get('roundtrip') is not None:
            config['roundtrip'] = entry['roundtrip']
        config['name'] = entry.get('name') or entry.get('url')
        configs.append(config)
    return configs


def config_error(config):
    """Validate one endpoint config; returns an error string or None."""
    error = validate_url(config.get('url'), 'url')
    if error:
        return error
    if config.get('api_url'):
        error = validate_url(config['api_url'], 'api_url')
        if error:
            return error
    if config.get('bearer_token') and config.get('url_username'):
        return 'url_username/url_password and bearer_token are mutually exclusive (endpoint %s)' % config['url']
    return None


def _step(name, func):
    """Run one probe step; returns (step_result, value)."""
    started = time.time()
    try:
        response, value = func()
        step = {'ok': True, 'latency_ms': response.latency_ms, 'http_status': response.status,
                'attempts': response.attempts}
        return step, value
    except DicomWebError as exc:
        step = {'ok': False, 'latency_ms': int(round((time.time() - started) * 1000))}
        step.update(exc.to_dict())
        step['msg'] = '%s: %s' % (name, exc.message)
        return step, None


def detect_server(client, dicomweb_url, api_url=None):
    """Return (server_type, server_info) for a DICOMweb URL: orthanc, dcm4chee or generic."""
    arc_root, aet = dcm4chee_archive_root(dicomweb_url)
    if arc_root and not api_url:
        return 'dcm4chee', {'archive_url': arc_root, 'aet': aet}
    root = api_url or split_orthanc_root(dicomweb_url)
    if root:
        try:
            info = OrthancClient(client, root).system()
            if 'DicomAet' in info:
                return 'orthanc', info
        except DicomWebError:
            pass
    return 'generic', {}


def probe_endpoint(config, check_mode=False):
    """Probe one DICOMweb endpoint; returns a JSON-serialisable result dict (never raises)."""
    url = (config.get('url') or '').rstrip('/')
    result = {'name': config.get('name') or url, 'url': url, 'ok': False, 'server_type': None, 'server': {},
              'probes': {}, 'msg': '', 'notes': []}
    error = config_error(config)
    if error:
        result['probes']['qido'] = {'ok': False, 'kind': KIND_INVALID_URL, 'msg': error}
        result['msg'] = error
        return result
    try:
        return _probe(config, url, result, check_mode)
    except Exception as exc:  # pylint: disable=broad-except
        # Never let a surprise become a traceback: report it as a failed probe.
        result['msg'] = 'unexpected error while probing %s: %s: %s' % (url, type(exc).__name__, exc)
        return result


def _probe(config, url, result, check_mode):
    client = http_client_from_params(config)
    probes = result['probes']

    probes['qido'], _studies = _step('QIDO-RS', lambda: qido_studies(client, url, limit=1))
    if not probes['qido']['ok']:
        result['msg'] = probes['qido']['msg']
        return result

    # Server identification (best effort, never fatal)
    server_type = config.get('server_type') or 'auto'
    no_retry = client.copy(retries=0)
    if server_type == 'auto':
        server_type, info = detect_server(no_retry, url, config.get('api_url'))
    else:
        info = {}
        if server_type == 'orthanc':
            detected, info = detect_server(no_retry, url, config.get('api_url') or split_orthanc_root(url))
            if detected != 'orthanc':
                info = {}
        elif server_type == 'dcm4chee':
            root, aet = dcm4chee_archive_root(url)
            info = {'archive_url': config.get('api_url') or root, 'aet': aet}
    result['server_type'] = server_type
    result['server'] = info

    failures = []
    study_uid = config.get('study_uid')
    if study_uid:
        probes['wado_metadata'], metadata = _step('WADO-RS metadata',
                                                  lambda: wado_study_metadata(client, url, study_uid))
        if probes['wado_metadata']['ok']:
            probes['wado_metadata']['instances'] = len(metadata or [])
            if not metadata:
                probes['wado_metadata'].update(ok=False, msg='WADO-RS metadata: study %s has no instances on %s'
                                               % (study_uid, url))
        if not probes['wado_metadata']['ok']:
            failures.append(probes['wado_metadata']['msg'])

    if config.get('roundtrip'):
        probes['roundtrip'] = _roundtrip(client, config, url, server_type, check_mode)
        if probes['roundtrip'].get('skipped'):
            result['notes'].append(probes['roundtrip']['msg'])
        elif not probes['roundtrip']['ok']:
            failures.append(probes['roundtrip']['msg'])

    result['ok'] = not failures
    result['msg'] = '; '.join(failures) if failures else 'healthy'
    return result


def _delete_target(config, url, server_type):
    if server_type == 'orthanc':
        root = config.get('api_url') or split_orthanc_root(url)
        if root:
            return 'orthanc', root
    if server_type == 'dcm4chee':
        return 'dcm4chee', url
    return None, None


def _roundtrip(client, config, url, server_type, check_mode):
    outcome = {'ok': False, 'skipped': False, 'steps': {}}
    if check_mode:
        outcome.update(ok=True, skipped=True, msg='roundtrip skipped in check mode (it would store and delete a '
                                                  'test study)')
        return outcome
    kind, target = _delete_target(config, url, server_type)
    if kind is None:
        outcome.update(skipped=True, msg='roundtrip skipped for %s: the server type is %r, so the test study '
                                         'could not be deleted afterwards; set server_type to orthanc or dcm4chee '
                                         '(and api_url if the REST API is not next to the DICOMweb root)'
                                         % (url, server_type))
        return outcome
    started = time.time()
    steps = outcome['steps']
    data, uids = build_test_instance()
    outcome['study_uid'] = uids['study_uid']
    outcome['instance_builder'] = uids['builder']
    stored = False
    try:
        steps['stow'], _dataset = _step('STOW-RS', lambda: stow_instances(client, url, [data]))
        if not steps['stow']['ok']:
            outcome['msg'] = steps['stow']['msg']
            return outcome
        stored = True
        steps['qido'], found = _step('QIDO-RS of the stored study', lambda: qido_studies(
            client, url, limit=None, StudyInstanceUID=uids['study_uid']))
        if steps['qido']['ok'] and len(found or []) != 1:
            steps['qido'].update(ok=False, msg='QIDO-RS did not find the study %s just stored on %s'
                                 % (uids['study_uid'], url))
        if steps['qido']['ok']:
            found_uid = dicom_json_value(found[0], '0020000D')
            if found_uid != uids['study_uid']:
                steps['qido'].update(ok=False, msg='QIDO-RS returned study %r instead of %s'
                                     % (found_uid, uids['study_uid']))
        steps['wado'], instance = _step('WADO-RS retrieve', lambda: wado_instance(
            client, url, uids['study_uid'], uids['series_uid'], uids['sop_uid']))
        if steps['wado']['ok']:
            if instance[128:132] != b'DICM' and uids['sop_uid'].encode('ascii') not in instance:
                steps['wado'].update(ok=False, kind=KIND_PROTOCOL,
                                     msg='WADO-RS returned data that is not the stored instance')
            else:
                steps['wado']['bytes'] = len(instance)
    finally:
        if stored:
            steps['delete'], _deleted = _step('delete of the test study', lambda: _delete(
                client, kind, target, uids['study_uid']))
    failed = [step['msg'] for step in steps.values() if not step['ok']]
    outcome['latency_ms'] = int(round((time.time() - started) * 1000))
    outcome['ok'] = not failed
    outcome['msg'] = '; '.join(failed) if failed else 'STOW -> QIDO -> WADO -> delete succeeded'
    return outcome


class _Done:
    latency_ms = 0
    status = None
    attempts = 1


def _delete(client, kind, target, study_uid):
    started = time.time()
    if kind == 'orthanc':
        deleted = OrthancClient(client, target).delete_study(study_uid)
        if not deleted:
            raise DicomWebError(KIND_PROTOCOL, 'Orthanc at %s does not know the study %s, so it could not be deleted'
                                % (target, study_uid), join_url(target, 'tools', 'lookup'))
    else:
        deleted = reject_and_delete_study(client, target, study_uid)
    done = _Done()
    done.latency_ms = int(round((time.time() - started) * 1000))
    done.status = 200
    return done, deleted


def summarize(results):
    """Overall message for a list of endpoint results."""
    bad = [r for r in results if not r['ok']]
    if not bad:
        return 'all %d DICOMweb endpoint(s) healthy' % len(results)
    return '%d of %d DICOMweb endpoint(s) unhealthy: %s' % (
        len(bad), len(results), ' | '.join('%s: %s' % (r['name'], r['msg']) for r in bad))
