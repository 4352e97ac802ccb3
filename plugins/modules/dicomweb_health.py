#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: medimg.pacs maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: dicomweb_health
short_description: Probe the health of DICOMweb endpoints (QIDO-RS, WADO-RS, STOW-RS round trip)
version_added: "0.1.0"
description:
  - Probes one or more DICOMweb endpoints (Orthanc with its DICOMweb plugin, DCM4CHEE, or any other
    DICOMweb server) and reports, per endpoint and per probe, whether it works and how long it took.
  - Always runs a QIDO-RS search C(GET <url>/studies?limit=1).
  - With O(study_uid), also fetches the WADO-RS metadata of that study.
  - With O(roundtrip=true), stores a freshly generated tiny test instance with STOW-RS, finds it with
    QIDO-RS, retrieves it with WADO-RS and deletes it again through the Orthanc REST API or the DCM4CHEE
    REST API (reject, then delete). The test study leaves no trace, so the module never reports a change.
  - Several endpoints are probed concurrently, one thread per endpoint.
  - Failures are classified into clear messages (connection refused, DNS failure, timeout, TLS verification
    failure, HTTP 401/403/404, an HTML or non-JSON answer meaning "not a DICOMweb service").
  - With O(retries) and O(delay) the module can wait for a service that is still starting.
  - The probes need only the Python standard library on the target; the round trip writes its test instance
    with pydicom.
author:
  - medimg.pacs maintainers (@medimg)
requirements:
  - pydicom (on the host that executes the task), only for O(roundtrip=true) outside check mode
options:
  url:
    description:
      - DICOMweb root URL of a single endpoint, for example V(http://pacs.example.org:8042/dicom-web) for
        Orthanc or V(http://pacs.example.org:8080/dcm4chee-arc/aets/DCM4CHEE/rs) for DCM4CHEE.
      - Exactly one of O(url) and O(endpoints) is required.
    type: str
  name:
    description:
      - Label of the O(url) endpoint in the results. Defaults to the URL.
    type: str
  endpoints:
    description:
      - Several endpoints to probe concurrently. Options not given in an entry are taken from the
        module-level options of the same name.
    type: list
    elements: dict
    suboptions:
      url:
        description: DICOMweb root URL of this endpoint.
        type: str
        required: true
      name:
        description: Label of this endpoint in the results. Defaults to the URL.
        type: str
      study_uid:
        description: Study Instance UID whose WADO-RS metadata is fetched.
        type: str
      roundtrip:
        description: Run the STOW/QIDO/WADO/delete round trip on this endpoint.
        type: bool
      server_type:
        description: Kind of server, see the module-level O(server_type).
        type: str
        choices: [auto, orthanc, dcm4chee, generic]
      api_url:
        description: Native REST API root of this server, see the module-level O(api_url).
        type: str
      url_username:
        description: User name for HTTP basic authentication.
        type: str
      url_password:
        description: Password for HTTP basic authentication.
        type: str
      bearer_token:
        description: Bearer token (for example an OAuth2/Keycloak access token).
        type: str
  use_proxy:
    description:
      - Use the proxy defined in the environment (C(https_proxy), C(http_proxy), C(no_proxy)).
    type: bool
    default: true
  study_uid:
    description:
      - Study Instance UID of a study known to exist; its WADO-RS metadata is fetched as an extra probe.
    type: str
  roundtrip:
    description:
      - Store, find, retrieve and delete a generated test study (Secondary Capture, 4x4 pixels, patient
        ID C(MEDIMG-HEALTH-PROBE)).
      - Skipped, with a note, in check mode and when the server type cannot delete studies (V(generic)).
      - The round trip needs a user allowed to store and delete.
    type: bool
    default: false
  server_type:
    description:
      - Kind of server, used to find the REST API that deletes the round trip study and to report server
        information.
      - V(auto) recognises DCM4CHEE by its C(/dcm4chee-arc/aets/<AET>/rs) URL and Orthanc by its C(/system)
        answer next to the C(/dicom-web) root (or at O(api_url)).
    type: str
    choices: [auto, orthanc, dcm4chee, generic]
    default: auto
  api_url:
    description:
      - Root of the server's native REST API when it cannot be derived from the DICOMweb URL, for example
        V(http://pacs.example.org:8042) for an Orthanc whose DICOMweb root is not C(/dicom-web).
    type: str
  fail_on_unhealthy:
    description:
      - Fail the task when an endpoint is not healthy. With V(false) the task succeeds and reports
        RV(healthy=false) and the details.
    type: bool
    default: true
extends_documentation_fragment:
  - medimg.pacs.http_api
  - medimg.pacs.http_api.retry
notes:
  - Check mode is supported; the round trip, which writes and deletes data, is skipped in check mode.
  - The module never reports a change (C(changed=false)), also after a round trip, which leaves no trace.
seealso:
  - module: medimg.pacs.dicom_echo
  - module: medimg.pacs.orthanc_modality
attributes:
  check_mode:
    support: full
    description: Runs the read-only probes; the round trip is skipped.
  diff_mode:
    support: none
    description: Nothing is changed.
"""

EXAMPLES = r"""
- name: Wait until Orthanc answers DICOMweb queries
  medimg.pacs.dicomweb_health:
    url: http://127.0.0.1:8042/dicom-web
    url_username: admin
    url_password: "{{ orthanc_admin_password }}"
    retries: 20
    delay: 3

- name: Full round trip through Orthanc (store, query, retrieve, delete a test study)
  medimg.pacs.dicomweb_health:
    url: https://pacs.example.org/dicom-web
    ca_path: /etc/ssl/certs/medimg-ca.pem
    url_username: healthcheck
    url_password: "{{ healthcheck_password }}"
    roundtrip: true

- name: Probe Orthanc and DCM4CHEE concurrently, report without failing
  medimg.pacs.dicomweb_health:
    endpoints:
      - name: orthanc
        url: http://orthanc.example.org:8042/dicom-web
        url_username: admin
        url_password: "{{ orthanc_admin_password }}"
      - name: dcm4chee
        url: http://dcm4chee.example.org:8080/dcm4chee-arc/aets/DCM4CHEE/rs
        bearer_token: "{{ keycloak_token }}"
        study_uid: 1.2.826.0.1.3680043.8.1055.1.20111103111148288.98361414.79379639
    fail_on_unhealthy: false
  register: pacs_health

- name: Show unhealthy endpoints
  ansible.builtin.debug:
    msg: "{{ pacs_health.endpoints | rejectattr('ok') | map(attribute='msg') | list }}"
"""

RETURN = r"""
healthy:
  description: Whether every endpoint passed every requested probe.
  returned: always
  type: bool
  sample: true
msg:
  description: Summary, naming each unhealthy endpoint and the reason.
  returned: always
  type: str
  sample: "1 of 2 DICOMweb endpoint(s) unhealthy: dcm4chee: QIDO-RS: Connection refused by 10.0.0.5:8080 ..."
endpoints:
  description: One result per endpoint, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Label of the endpoint.
      type: str
      returned: always
    url:
      description: DICOMweb root URL probed.
      type: str
      returned: always
    ok:
      description: Whether the endpoint is healthy.
      type: bool
      returned: always
    msg:
      description: V(healthy) or the reason(s) of the failure.
      type: str
      returned: always
    server_type:
      description: Kind of server (V(orthanc), V(dcm4chee), V(generic)); null when not reachable.
      type: str
      returned: always
    server:
      description: Server information, for Orthanc the answer of C(/system) (Version, DicomAet, ...).
      type: dict
      returned: always
    notes:
      description: Remarks, for example why the round trip was skipped.
      type: list
      elements: str
      returned: always
    probes:
      description:
        - Per probe (C(qido), C(wado_metadata), C(roundtrip)) a dict with C(ok), C(latency_ms),
          C(http_status), C(attempts), and on failure C(kind) and C(msg).
        - C(kind) is one of C(invalid_url), C(connection_refused), C(dns), C(timeout), C(tls), C(connection),
          C(unauthorized), C(forbidden), C(not_found), C(http_error), C(server_error), C(not_dicomweb),
          C(protocol).
        - C(roundtrip) holds C(study_uid), C(skipped), C(latency_ms) and C(steps) (C(stow), C(qido), C(wado),
          C(delete)).
      type: dict
      returned: always
      sample:
        qido: {ok: true, latency_ms: 12, http_status: 200, attempts: 1}
"""

from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.medimg.pacs.plugins.module_utils.dicom_files import HAS_PYDICOM, PYDICOM_IMPORT_ERROR
from ansible_collections.medimg.pacs.plugins.module_utils.http_client import http_argument_spec, http_auth_argument_spec
from ansible_collections.medimg.pacs.plugins.module_utils.health import (
    endpoint_configs,
    probe_endpoint,
    summarize,
)

SERVER_TYPES = ['auto', 'orthanc', 'dcm4chee', 'generic']


def main():
    endpoint_spec = dict(
        url=dict(type='str', required=True),
        name=dict(type='str'),
        study_uid=dict(type='str'),
        roundtrip=dict(type='bool'),
        server_type=dict(type='str', choices=SERVER_TYPES),
        api_url=dict(type='str'),
    )
    endpoint_spec.update(http_auth_argument_spec())
    argument_spec = dict(
        url=dict(type='str'),
        name=dict(type='str'),
        endpoints=dict(type='list', elements='dict', options=endpoint_spec),
        use_proxy=dict(type='bool', default=True),
        study_uid=dict(type='str'),
        roundtrip=dict(type='bool', default=False),
        server_type=dict(type='str', default='auto', choices=SERVER_TYPES),
        api_url=dict(type='str'),
        fail_on_unhealthy=dict(type='bool', default=True),
    )
    argument_spec.update(http_argument_spec(retry=True))
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=[('url', 'endpoints'), ('url_username', 'bearer_token')],
        required_one_of=[('url', 'endpoints')],
        supports_check_mode=True,
    )
    params = module.params
    for option in ('timeout', 'retries', 'delay'):
        if params[option] < 0 or (option == 'timeout' and params[option] == 0):
            module.fail_json(msg='%s must be %s, got %s' % (
                option, 'a positive number of seconds' if option == 'timeout' else '0 or more', params[option]))

    configs = endpoint_configs(params)
    if not configs:
        module.fail_json(msg='no endpoint given: set url or a non-empty endpoints list')

    if not HAS_PYDICOM and not module.check_mode and any(config.get('roundtrip') for config in configs):
        module.fail_json(msg=missing_required_lib('pydicom') + ' (roundtrip=true writes a test instance with it)',
                         exception=PYDICOM_IMPORT_ERROR, healthy=False, endpoints=[], changed=False)

    if len(configs) == 1:
        results = [probe_endpoint(configs[0], module.check_mode)]
    else:
        with ThreadPoolExecutor(max_workers=min(8, len(configs))) as pool:
            results = list(pool.map(lambda config: probe_endpoint(config, module.check_mode), configs))

    healthy = all(result['ok'] for result in results)
    msg = summarize(results)
    if not healthy and params['fail_on_unhealthy']:
        module.fail_json(msg=msg, healthy=False, endpoints=results, changed=False)
    module.exit_json(msg=msg, healthy=healthy, endpoints=results, changed=False)


if __name__ == '__main__':
    main()
