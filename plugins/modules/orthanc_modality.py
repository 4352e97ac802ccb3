#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: medimg.pacs maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: orthanc_modality
short_description: Register or remove a remote DICOM modality in Orthanc through its REST API
version_added: "0.1.0"
description:
  - Ensures that the remote DICOM modality O(name) is defined (or not) in Orthanc, through
    C(PUT /modalities/{name}) and C(DELETE /modalities/{name}) of the Orthanc REST API.
  - Idempotent. The current definition (C(GET /modalities?expand)) is compared with the desired one and
    Orthanc is only changed when they differ. Supports check mode and diff mode.
  - Every field that Orthanc 1.10 stores is managed; options that are not given get Orthanc's defaults
    (every C(Allow*) permission true, manufacturer V(Generic), no DICOM TLS, global local AET and timeout).
  - Registrations made through the REST API survive a restart of Orthanc only when the Orthanc
    configuration sets C(DicomModalitiesInDatabase) to V(true) (the C(medimg.pacs.orthanc) role sets
    C(orthanc_dicom_modalities_in_database=true)). Otherwise they live in memory only and are lost, and
    the C(DicomModalities) of the configuration file apply again after the restart.
author:
  - medimg.pacs maintainers (@medimg)
options:
  url:
    description:
      - Root URL of the Orthanc REST API, for example V(http://127.0.0.1:8042).
    type: str
    required: true
  name:
    description:
      - Symbolic name of the modality in Orthanc (1 to 64 letters, digits, C(_), C(-) or C(.)).
    type: str
    required: true
  state:
    description: Whether the modality should be defined.
    type: str
    choices: [present, absent]
    default: present
  aet:
    description: AE title of the remote modality (required with O(state=present)).
    type: str
  host:
    description: Host name or IP address of the remote modality (required with O(state=present)).
    type: str
  port:
    description: DICOM port of the remote modality (required with O(state=present)).
    type: int
  manufacturer:
    description:
      - Manufacturer patches Orthanc applies for this peer. Orthanc 1.10 accepts V(Generic),
        V(GenericNoWildcardInDates), V(GenericNoUniversalWildcard), V(Vitrea) and V(GE); Orthanc rejects other
        values with a clear error.
    type: str
    default: Generic
  allow_echo:
    description:
      - Accept C-ECHO from this modality (only effective when C(DicomAlwaysAllowEcho) is false).
      - Defaults to V(true), as in Orthanc.
    type: bool
  allow_find:
    description: Accept C-FIND (patient/study/series/instance) from this modality. Defaults to V(true).
    type: bool
  allow_find_worklist:
    description: Accept worklist C-FIND from this modality (Orthanc 1.10 or later). Defaults to V(true).
    type: bool
  allow_get:
    description: Accept C-GET from this modality. Defaults to V(true).
    type: bool
  allow_move:
    description: Accept C-MOVE from this modality. Defaults to V(true).
    type: bool
  allow_store:
    description:
      - Accept C-STORE from this modality (only effective when C(DicomAlwaysAllowStore) is false).
      - Defaults to V(true).
    type: bool
  allow_storage_commitment:
    description:
      - Accept storage commitment (N-ACTION and N-EVENT-REPORT) from this modality. Orthanc stores it as
        C(AllowNAction) and C(AllowEventReport). Defaults to V(true).
    type: bool
  allow_transcoding:
    description:
      - Allow Orthanc to transcode to uncompressed transfer syntaxes for this peer (C-GET SCP, C-STORE SCU).
        Defaults to V(true).
    type: bool
  use_dicom_tls:
    description: Use DICOM TLS when Orthanc connects to this modality (Orthanc 1.9.0 or later).
    type: bool
    default: false
  local_aet:
    description: AE title Orthanc uses when it connects to this modality, instead of its C(DicomAet).
    type: str
  dicom_timeout:
    description:
      - DICOM timeout in seconds for connections from Orthanc to this modality; V(0) or unset uses the global
        C(DicomScuTimeout).
    type: int
extends_documentation_fragment:
  - medimg.pacs.http_api
  - medimg.pacs.http_api.retry
notes:
  - The symbolic O(name) is what the Orthanc REST API uses (C(/modalities/{name}/store), C(/modalities/{name}/echo)).
seealso:
  - module: medimg.pacs.dicom_echo
  - module: medimg.pacs.dcm4chee_ae
attributes:
  check_mode:
    support: full
    description: Reports what would change without changing Orthanc.
  diff_mode:
    support: full
    description: Returns the definition before and after.
"""

EXAMPLES = r"""
- name: Let Orthanc send studies to a workstation
  medimg.pacs.orthanc_modality:
    url: http://127.0.0.1:8042
    url_username: admin
    url_password: "{{ orthanc_admin_password }}"
    name: workstation1
    aet: WS1
    host: 10.1.2.3
    port: 104
    allow_move: false
    allow_get: false

- name: Remove a decommissioned modality
  medimg.pacs.orthanc_modality:
    url: https://pacs.example.org
    ca_path: /etc/ssl/certs/medimg-ca.pem
    url_username: admin
    url_password: "{{ orthanc_admin_password }}"
    name: old-ct
    state: absent
"""

RETURN = r"""
name:
  description: Symbolic name of the modality.
  returned: always
  type: str
  sample: workstation1
modality:
  description: Definition of the modality after the task (empty when absent), as Orthanc reports it.
  returned: always
  type: dict
  sample: {AET: WS1, Host: 10.1.2.3, Port: 104, Manufacturer: Generic, AllowEcho: true}
differences:
  description: Fields that differed from the desired definition (empty when nothing had to change).
  returned: always
  type: list
  elements: str
  sample: [Port]
diff:
  description: Definition before and after (with C(--diff)).
  returned: changed and diff mode
  type: dict
"""

from ansible_collections.medimg.pacs.plugins.module_utils.http_client import DicomWebError, rest_module
from ansible_collections.medimg.pacs.plugins.module_utils.orthanc import (
    OrthancClient,
    desired_modality,
    modality_differences,
    modality_params_error,
    payload_for_put,
)


def main():
    argument_spec = dict(
        url=dict(type='str', required=True),
        name=dict(type='str', required=True),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        aet=dict(type='str'),
        host=dict(type='str'),
        port=dict(type='int'),
        manufacturer=dict(type='str', default='Generic'),
        allow_echo=dict(type='bool'),
        allow_find=dict(type='bool'),
        allow_find_worklist=dict(type='bool'),
        allow_get=dict(type='bool'),
        allow_move=dict(type='bool'),
        allow_store=dict(type='bool'),
        allow_storage_commitment=dict(type='bool'),
        allow_transcoding=dict(type='bool'),
        use_dicom_tls=dict(type='bool', default=False),
        local_aet=dict(type='str'),
        dicom_timeout=dict(type='int'),
    )
    module, http = rest_module(argument_spec, modality_params_error,
                               required_if=[('state', 'present', ('aet', 'host', 'port'))])
    params = module.params
    orthanc = OrthancClient(http, params['url'])
    name = params['name']
    try:
        current = orthanc.get_modality(name)
        result = dict(changed=False, name=name, modality=current or {}, differences=[])
        if params['state'] == 'absent':
            if current is not None:
                result['changed'] = True
                result['modality'] = {}
                if not module.check_mode:
                    orthanc.delete_modality(name)
        else:
            desired = desired_modality(params)
            differences = sorted(desired) if current is None else modality_differences(current, desired)
            result['differences'] = differences
            if differences:
                result['changed'] = True
                if module.check_mode:
                    result['modality'] = dict(current or {}, **desired)
                else:
                    orthanc.put_modality(name, payload_for_put(desired))
                    result['modality'] = orthanc.get_modality(name) or desired
        if result['changed'] and module._diff:
            result['diff'] = {'before': current or {}, 'after': result['modality']}
    except DicomWebError as exc:
        module.fail_json(msg='Orthanc modality %r: %s' % (name, exc.message), kind=exc.kind)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
