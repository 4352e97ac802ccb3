#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: medimg.pacs maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: dicom_echo
short_description: Verify a DICOM peer with C-ECHO (optionally over DICOM TLS)
version_added: "0.1.0"
description:
  - Opens a DICOM association from O(calling_aet) to O(called_aet) at O(host):O(port), sends a C-ECHO
    (Verification SOP Class) and reports the status and round trip time.
  - Connection problems (refused, DNS, timeout), association rejection (wrong called AE title, calling AE
    title not known to the peer) and TLS failures are reported with clear messages.
  - With O(retries) and O(delay) the module can wait for a DICOM service that is still starting; only
    connection failures are retried, a rejected association is not.
author:
  - medimg.pacs maintainers (@medimg)
requirements:
  - pynetdicom (on the host that executes the task)
options:
  host:
    description: Host name or IP address of the DICOM peer.
    type: str
    required: true
  port:
    description: DICOM port of the peer.
    type: int
    default: 104
  called_aet:
    description: AE title of the peer (1 to 16 characters of the DICOM default repertoire, no backslash).
    type: str
    required: true
  calling_aet:
    description: AE title this module uses; the peer may have to know it.
    type: str
    default: MEDIMG-ECHO
  timeout:
    description: Timeout in seconds for connecting, the association and the C-ECHO response.
    type: int
    default: 10
  retries:
    description: How many times to try again after a connection failure.
    type: int
    default: 0
  delay:
    description: Seconds to wait between two attempts.
    type: int
    default: 3
  tls:
    description: Use DICOM TLS.
    type: bool
    default: false
  ca_cert:
    description: PEM file with the CA certificate(s) that signed the peer's certificate (O(tls=true)).
    type: path
  client_cert:
    description: PEM client certificate, for peers that require mutual TLS.
    type: path
  client_key:
    description: PEM private key of O(client_cert).
    type: path
  tls_verify:
    description: Verify the peer's certificate and host name. Only set to V(false) on test systems.
    type: bool
    default: true
  tls_server_name:
    description: Host name expected in the peer's certificate, when it differs from O(host).
    type: str
notes:
  - C-ECHO changes nothing, so the module runs normally in check mode and never reports a change.
seealso:
  - module: medimg.pacs.dicomweb_health
  - module: medimg.pacs.orthanc_modality
attributes:
  check_mode:
    support: full
    description: C-ECHO is read-only and also runs in check mode.
  diff_mode:
    support: none
    description: Nothing is changed.
"""

EXAMPLES = r"""
- name: C-ECHO the Orthanc DICOM port, waiting up to a minute for it
  medimg.pacs.dicom_echo:
    host: 127.0.0.1
    port: 4242
    called_aet: ORTHANC
    calling_aet: ANSIBLE
    retries: 20
    delay: 3

- name: C-ECHO over DICOM TLS with a client certificate
  medimg.pacs.dicom_echo:
    host: pacs.example.org
    port: 2762
    called_aet: DCM4CHEE
    tls: true
    ca_cert: /etc/ssl/certs/medimg-ca.pem
    client_cert: /etc/medimg/tls/client.pem
    client_key: /etc/medimg/tls/client.key
  register: echo

- name: Show round trip time
  ansible.builtin.debug:
    msg: "C-ECHO took {{ echo.rtt_ms }} ms"
"""

RETURN = r"""
status:
  description: DIMSE status of the C-ECHO.
  returned: success
  type: str
  sample: Success
status_code:
  description: Numeric DIMSE status (0 is success).
  returned: success
  type: int
  sample: 0
rtt_ms:
  description: Milliseconds from opening the association to the C-ECHO response.
  returned: success
  type: int
  sample: 7
attempts:
  description: Number of attempts made.
  returned: success
  type: int
  sample: 1
kind:
  description:
    - Class of the failure, one of C(invalid_input), C(connection_refused), C(dns), C(timeout), C(connection),
      C(association_rejected), C(association_aborted), C(association_failed), C(no_response), C(echo_failed),
      C(tls), C(missing_library).
  returned: failure
  type: str
  sample: association_rejected
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.medimg.pacs.plugins.module_utils.ae_title import ae_title_error
from ansible_collections.medimg.pacs.plugins.module_utils import dimse


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host=dict(type='str', required=True),
            port=dict(type='int', default=104),
            called_aet=dict(type='str', required=True),
            calling_aet=dict(type='str', default='MEDIMG-ECHO'),
            timeout=dict(type='int', default=10),
            retries=dict(type='int', default=0),
            delay=dict(type='int', default=3),
            tls=dict(type='bool', default=False),
            ca_cert=dict(type='path'),
            client_cert=dict(type='path'),
            client_key=dict(type='path'),
            tls_verify=dict(type='bool', default=True),
            tls_server_name=dict(type='str'),
        ),
        required_by={'client_key': 'client_cert'},
        supports_check_mode=True,
    )
    params = module.params

    errors = [ae_title_error(params['called_aet'], 'called_aet'), ae_title_error(params['calling_aet'], 'calling_aet')]
    if not params['host'].strip() or any(c in params['host'] for c in ' /\\@'):
        errors.append('host %r is not a valid host name or IP address' % params['host'])
    if not 1 <= params['port'] <= 65535:
        errors.append('port %s is out of range; a TCP port is from 1 to 65535' % params['port'])
    if params['timeout'] <= 0 or params['retries'] < 0 or params['delay'] < 0:
        errors.append('timeout must be positive, retries and delay 0 or more')
    errors = [error for error in errors if error]
    if errors:
        module.fail_json(msg='; '.join(errors), kind='invalid_input')

    if not dimse.HAS_PYNETDICOM:
        module.fail_json(msg=missing_required_lib('pynetdicom') + ' Hint: ' + dimse.INSTALL_HINT,
                         exception=dimse.PYNETDICOM_IMPORT_ERROR, kind='missing_library')

    tls_context = None
    if params['tls']:
        try:
            tls_context = dimse.make_tls_context(params['ca_cert'], params['client_cert'], params['client_key'],
                                                 params['tls_verify'])
        except (OSError, ValueError) as exc:
            module.fail_json(msg='cannot load the TLS certificate files: %s' % exc, kind='tls')

    try:
        result = dimse.c_echo(params['host'], params['port'], params['calling_aet'].strip(' '),
                              params['called_aet'].strip(' '), timeout=params['timeout'], retries=params['retries'],
                              delay=params['delay'], tls_context=tls_context,
                              server_hostname=params['tls_server_name'])
    except dimse.DimseError as exc:
        module.fail_json(msg=exc.message, kind=exc.kind, changed=False)
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg='C-ECHO to %s:%s failed unexpectedly: %s: %s'
                         % (params['host'], params['port'], type(exc).__name__, exc), kind='unexpected')

    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
