#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: medimg.pacs maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: dcm4chee_ae
short_description: Register or unregister AE titles in a DCM4CHEE archive through its REST API
version_added: "0.1.0"
description:
  - Manages application entity (AE) titles in a DCM4CHEE archive (dcm4chee-arc-light 5.x) through the
    archive's configuration REST API under C(/dcm4chee-arc).
  - With O(mode=device) (default) the AE title is a remote DICOM node (an Orthanc, a modality, a
    workstation), and the module creates, updates or deletes a device (C(/dcm4chee-arc/devices/{device})) that
    holds one network AE with this title and one DICOM network connection (host and port). The archive
    then knows where to send C-MOVE results and whom to accept. The AE title is registered in the unique
    AE title registry along with the device.
  - With O(mode=unique) only the unique AE title registry (C(/dcm4chee-arc/unique/aets/{aet})) is changed,
    so the title is reserved (or released) without any device.
  - Idempotent, with check mode and diff mode. A title already used by another device is reported as an
    error, never taken over.
author:
  - medimg.pacs maintainers (@medimg)
options:
  url:
    description:
      - Root URL of the archive REST API, for example V(http://pacs.example.org:8080/dcm4chee-arc).
    type: str
    required: true
  aet:
    description: The AE title (1 to 16 characters of the DICOM default repertoire, no backslash).
    type: str
    required: true
  state:
    description: Whether the AE title should be registered.
    type: str
    choices: [present, absent]
    default: present
  mode:
    description:
      - V(device) manages a device with a network AE and connection; V(unique) only the unique AE title registry.
    type: str
    choices: [device, unique]
    default: device
  device_name:
    description:
      - Name of the device holding the AE title (O(mode=device)). Defaults to the AE title in lower case.
    type: str
  host:
    description: Host name or IP address of the DICOM node (required with O(state=present), O(mode=device)).
    type: str
  port:
    description: DICOM port of the node (required with O(state=present), O(mode=device)).
    type: int
  description:
    description: Description of the network AE. Not managed when not given.
    type: str
  association_initiator:
    description: The node opens associations (it is an SCU, for example it sends C-FIND or C-MOVE).
    type: bool
    default: true
  association_acceptor:
    description: The node accepts associations (it is an SCP, for example a C-MOVE or C-STORE destination).
    type: bool
    default: true
  installed:
    description: Value of C(dicomInstalled) of the device.
    type: bool
    default: true
  bearer_token:
    description:
      - Bearer token, sent in an C(Authorization) header of type C(Bearer), for example a Keycloak access token
        of a user with the C(admin) role.
      - Mutually exclusive with O(url_username).
extends_documentation_fragment:
  - medimg.pacs.http_api
  - medimg.pacs.http_api.retry
notes:
  - With O(state=absent) and O(mode=device) the device is deleted when the AE title is its only network AE;
    otherwise only that network AE is removed from the device.
  - The archive's own AE titles (C(GET /dcm4chee-arc/aets)) are never changed by this module.
seealso:
  - module: medimg.pacs.orthanc_modality
attributes:
  check_mode:
    support: full
    description: Reports what would change without changing the archive.
  diff_mode:
    support: full
    description: Returns the AE title before and after.
"""

EXAMPLES = r"""
- name: Make the Orthanc server known to DCM4CHEE as a C-MOVE destination
  medimg.pacs.dcm4chee_ae:
    url: http://dcm4chee.example.org:8080/dcm4chee-arc
    bearer_token: "{{ keycloak_token }}"
    aet: ORTHANC
    host: orthanc.example.org
    port: 4242
    description: Orthanc front archive

- name: Reserve an AE title for a modality that is not installed yet
  medimg.pacs.dcm4chee_ae:
    url: http://dcm4chee.example.org:8080/dcm4chee-arc
    aet: CT2
    mode: unique

- name: Remove a workstation
  medimg.pacs.dcm4chee_ae:
    url: http://dcm4chee.example.org:8080/dcm4chee-arc
    aet: WS1
    state: absent
"""

RETURN = r"""
aet:
  description: The AE title managed.
  returned: always
  type: str
  sample: ORTHANC
ae:
  description:
    - The AE title after the task (O(mode=device)) with the keys C(aet), C(device_name), C(host), C(port),
      C(description), C(association_initiator), C(association_acceptor), C(installed). Empty when absent.
    - For O(mode=unique), C(aet) and C(registered).
  returned: always
  type: dict
  sample: {aet: ORTHANC, device_name: orthanc, host: orthanc.example.org, port: 4242}
differences:
  description: Fields that had to change.
  returned: always
  type: list
  elements: str
  sample: [port]
diff:
  description: AE title before and after (with C(--diff)).
  returned: changed and diff mode
  type: dict
"""

from ansible_collections.medimg.pacs.plugins.module_utils.http_client import DicomWebError, rest_module
from ansible_collections.medimg.pacs.plugins.module_utils.dcm4chee import (
    Dcm4cheeClient,
    ae_params_error,
    apply_summary,
    build_device,
    default_device_name,
    desired_summary,
    device_ae_summary,
    remove_ae,
    summary_differences,
)


class AeTitleConflict(Exception):
    pass


def run_unique(module, arc, aet):
    registered = aet in arc.unique_aets()
    want = module.params['state'] == 'present'
    result = dict(changed=registered != want, aet=aet, ae={'aet': aet, 'registered': want},
                  differences=['registered'] if registered != want else [])
    if result['changed'] and not module.check_mode:
        if want:
            arc.register_unique_aet(aet)
        else:
            arc.unregister_unique_aet(aet)
    if result['changed'] and module._diff:
        result['diff'] = {'before': {'aet': aet, 'registered': registered}, 'after': result['ae']}
    return result


def run_device(module, arc, aet):
    params = module.params
    holders = sorted(set(info.get('dicomDeviceName') for info in arc.find_aes(aet) if info.get('dicomDeviceName')))
    device_name = params['device_name'] or (holders[0] if len(holders) == 1 else default_device_name(aet))
    other = [name for name in holders if name != device_name]
    if other:
        raise AeTitleConflict('AE title %s is already used by the device %s, not by %s; choose another AE title or '
                              'set device_name to %s' % (aet, ', '.join(other), device_name, other[0]))
    device = arc.get_device(device_name)
    current = device_ae_summary(device, aet)
    result = dict(changed=False, aet=aet, ae=current or {}, differences=[])

    if params['state'] == 'absent':
        if current is not None:
            result.update(changed=True, ae={}, differences=['present'])
            if not module.check_mode:
                if len(device.get('dicomNetworkAE') or []) <= 1:
                    arc.delete_device(device_name)
                else:
                    arc.update_device(device_name, remove_ae(device, aet))
    else:
        desired = desired_summary(params, device_name, aet)
        if device is None:
            result.update(changed=True, differences=sorted(desired))
            after = desired
            if not module.check_mode:
                register = aet not in arc.unique_aets()
                arc.create_device(device_name, build_device(
                    device_name, aet, desired['host'], desired['port'], desired['description'],
                    desired['association_initiator'], desired['association_acceptor'], desired['installed']),
                    register=register)
        elif current is None:
            raise AeTitleConflict('the device %s exists but holds no network AE %s (it holds %s); use another '
                                  'device_name' % (device_name, aet, ', '.join(
                                      ae.get('dicomAETitle', '?') for ae in device.get('dicomNetworkAE') or []) or
                                      'none'))
        else:
            differences = summary_differences(current, desired)
            after = dict(current, **dict((k, v) for k, v in desired.items() if v is not None))
            if differences:
                result.update(changed=True, differences=differences)
                if not module.check_mode:
                    arc.update_device(device_name, apply_summary(device, desired))
        if result['changed']:
            if not module.check_mode:
                after = device_ae_summary(arc.get_device(device_name), aet) or after
            result['ae'] = after
    if result['changed'] and module._diff:
        result['diff'] = {'before': current or {}, 'after': result['ae']}
    return result


def main():
    argument_spec = dict(
        url=dict(type='str', required=True),
        aet=dict(type='str', required=True),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        mode=dict(type='str', default='device', choices=['device', 'unique']),
        device_name=dict(type='str'),
        host=dict(type='str'),
        port=dict(type='int'),
        description=dict(type='str'),
        association_initiator=dict(type='bool', default=True),
        association_acceptor=dict(type='bool', default=True),
        installed=dict(type='bool', default=True),
    )
    module, http = rest_module(argument_spec, ae_params_error)
    params = module.params
    aet = params['aet'].strip(' ')
    arc = Dcm4cheeClient(http, params['url'])
    try:
        if params['mode'] == 'unique':
            result = run_unique(module, arc, aet)
        else:
            result = run_device(module, arc, aet)
    except AeTitleConflict as exc:
        module.fail_json(msg=str(exc), kind='conflict')
    except DicomWebError as exc:
        module.fail_json(msg='DCM4CHEE AE title %s: %s' % (aet, exc.message), kind=exc.kind)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
