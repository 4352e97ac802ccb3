#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: medimg.pacs maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: dicom_import
short_description: Bulk import a folder tree of DICOM files into a PACS over DICOMweb (STOW-RS)
version_added: "0.1.0"
description:
  - Walks O(src) on the host the module runs on (the controller with C(delegate_to=localhost),
    or the managed host), reads the Study, Series and SOP Instance UIDs from each file's DICOM
    Part-10 header, and uploads the instances with STOW-RS to any DICOMweb root URL (Orthanc,
    DCM4CHEE, an nginx front door, ...).
  - Instances go in C(multipart/related; type="application/dicom") batches of O(batch_size)
    instances (or O(batch_bytes)), streamed from disk, over O(workers) concurrent keep-alive
    connections.
  - With O(skip_existing) (the default) the PACS is first asked which instances it already holds
    (one QIDO-RS query per study, or the Orthanc REST API with O(server_type=orthanc)), so an
    interrupted import simply resumes when run again, and a finished one reports C(changed=false).
  - Files that are not DICOM Part-10 files are reported in RV(non_dicom) and are not an error.
    Instances the PACS refuses, and files with an unreadable DICOM header, are reported in
    RV(rejected) with a reason (the STOW-RS FailedSOPSequence reason or the HTTP error); they fail
    the task only with O(fail_on_rejected).
  - The file headers are read with pydicom, which stops after the Series Instance UID (the pixel
    data is never read); files are sent byte for byte as they are on disk.
  - Ansible modules cannot stream output; for long imports write a O(progress_file) (JSON lines,
    one record every O(progress_interval) seconds with counts, rate and ETA) and run the task with
    C(async)/C(poll) (see C(playbooks/import.yml) and C(docs/import.md)).
  - The connection goes directly to the host in O(url) (HTTP proxies from the environment are not
    used).
author:
  - medimg.pacs maintainers (@medimg)
requirements:
  - pydicom (on the host that executes the task)
options:
  src:
    description:
      - A directory (or a single file) holding DICOM files, on the host the module runs on.
    type: path
    required: true
  url:
    description:
      - The DICOMweb root URL, for example V(https://pacs.example.org/dicom-web) or the Orthanc
        default V(http://127.0.0.1:8042/dicom-web), or DCM4CHEE
        V(http://host:8080/dcm4chee-arc/aets/DCM4CHEE/rs).
      - Instances are POSTed to C(<url>/studies).
    type: str
    required: true
  # url_username, url_password, bearer_token, validate_certs, ca_path: from medimg.pacs.http_api;
  # only the aliases are added here.
  url_username:
    aliases: [username]
  url_password:
    aliases: [password]
  timeout:
    description: Socket timeout in seconds for each request (connect, send and answer).
    type: int
    default: 120
  workers:
    description: Number of concurrent connections (threads) uploading batches.
    type: int
    default: 4
  batch_size:
    description: Maximum number of instances in one STOW-RS request.
    type: int
    default: 50
  batch_bytes:
    description:
      - Maximum total file size of one STOW-RS request, in bytes. A single larger file is still
        sent, alone in its batch.
    type: int
    default: 33554432
  retries:
    description:
      - How many times a request is retried after a transient failure (connection lost, timeout,
        HTTP 408/429/502/503/504), with a doubling delay starting at one second (at most 15 seconds;
        a C(Retry-After) header of the answer is honoured, up to 120 seconds).
    type: int
    default: 3
  skip_existing:
    description:
      - Ask the PACS which instances it already holds and send only the others.
      - Without it every instance is sent again (the PACS decides what a duplicate means) and
        C(changed) only says that the PACS acknowledged instances, not that they were new.
    type: bool
    default: true
  server_type:
    description:
      - How to ask which instances exist. V(dicomweb) uses QIDO-RS
        (C(/studies/{uid}/instances?includefield=00080018)), which works with any PACS.
        V(orthanc) uses the Orthanc REST API (C(/tools/lookup), C(/studies/{id}/instances)) at
        O(orthanc_url).
    type: str
    choices: [dicomweb, orthanc]
    default: dicomweb
  orthanc_url:
    description:
      - The Orthanc REST root for O(server_type=orthanc). Defaults to O(url) without its trailing
        C(/dicom-web).
    type: str
  recurse:
    description: Descend into sub-directories of O(src).
    type: bool
    default: true
  follow_symlinks:
    description:
      - Follow symbolic links to files and directories (each directory is visited once, so link
        loops are harmless). Without it symbolic links are ignored.
    type: bool
    default: false
  include:
    description:
      - Shell-style patterns; when given, only files whose path relative to O(src) or whose name
        matches one of them are considered (for example V(*.dcm)).
    type: list
    elements: str
    default: []
  exclude:
    description:
      - Shell-style patterns of files or directories (path relative to O(src) or name) to leave
        out, for example V(DICOMDIR) or V(*.txt).
    type: list
    elements: str
    default: []
  max_instances:
    description:
      - Send at most this many instances in this run (after skipping the existing ones); the rest
        is reported in RV(remaining). Useful to import in slices.
    type: int
  max_seconds:
    description:
      - Start no new batch after this many seconds; the instances not attempted are reported in
        RV(remaining) and the next run resumes. Keep it below the C(async) time of the task.
    type: int
  progress_file:
    description:
      - Append progress records (JSON lines) to this file on the host the module runs on, at most
        one every O(progress_interval) seconds plus one per phase change and a final one.
      - Not written in check mode.
    type: path
  progress_interval:
    description: Seconds between two progress records.
    type: float
    default: 5.0
  fail_on_rejected:
    description: Fail the task when any instance was rejected (the summary is still returned).
    type: bool
    default: false
  report_limit:
    description: At most this many entries in each of RV(rejected), RV(non_dicom) and RV(duplicates).
    type: int
    default: 1000
extends_documentation_fragment:
  - medimg.pacs.http_api
notes:
  - Supports check mode; it scans O(src), asks the PACS which instances exist and reports in
    RV(would_send) what would be sent, without sending anything.
  - Every file is sent byte for byte as it is on disk; nothing is decoded or re-encoded.
  - HTTP redirects are not followed; a redirect stops the import with the target address in the
    message.
  - Instances are matched to existing ones by SOP Instance UID only.
  - Two files with the same SOP Instance UID are sent once; the others are listed in RV(duplicates).
seealso:
  - name: DICOM PS3.18 STOW-RS
    description: The Store Over the Web service.
    link: https://dicom.nema.org/medical/dicom/current/output/html/part18.html
'''

EXAMPLES = r'''
- name: Import a folder from the controller into Orthanc through the front door
  medimg.pacs.dicom_import:
    src: /srv/incoming/dicom
    url: https://pacs.example.org/dicom-web
    url_username: importer
    url_password: "{{ vault_import_password }}"
    ca_path: /etc/ssl/certs/site-ca.pem
  delegate_to: localhost

- name: Import a large archive from the managed host, resumable, with progress and async
  medimg.pacs.dicom_import:
    src: /mnt/old-pacs-export
    url: http://127.0.0.1:8042/dicom-web
    server_type: orthanc
    workers: 8
    batch_size: 100
    exclude: ["DICOMDIR", "*.txt"]
    progress_file: /var/tmp/dicom-import.progress.jsonl
    max_seconds: 80000
  async: 86400
  poll: 30

- name: What would be sent?
  medimg.pacs.dicom_import:
    src: /srv/incoming/dicom
    url: http://127.0.0.1:8042/dicom-web
  check_mode: true
  register: plan

- name: DCM4CHEE with a bearer token, only .dcm files, at most 1000 instances now
  medimg.pacs.dicom_import:
    src: /data/study-export
    url: https://arc.example.org/dcm4chee-arc/aets/DCM4CHEE/rs
    bearer_token: "{{ keycloak_token }}"
    include: ["*.dcm"]
    max_instances: 1000
'''

RETURN = r'''
files_scanned:
  description: Regular files looked at under O(src) (after O(include)/O(exclude)).
  returned: always
  type: int
  sample: 1204
dicom_files:
  description: Distinct DICOM instances found (by SOP Instance UID).
  returned: always
  type: int
  sample: 1200
studies:
  description: Distinct studies among the instances found.
  returned: always
  type: int
  sample: 3
sent:
  description: Instances the PACS acknowledged as stored in this run.
  returned: always
  type: int
  sample: 600
skipped_existing:
  description: Instances not sent because the PACS already held them.
  returned: always
  type: int
  sample: 600
rejected:
  description:
    - Files that were not stored, each with C(path), C(sop_instance_uid) (null when the header
      could not be read) and C(reason) (STOW-RS failure reason, HTTP error, or header problem).
    - At most O(report_limit) entries; RV(rejected_count) has the total.
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/srv/in/x.dcm", "sop_instance_uid": "1.2.3", "reason": "STOW-RS failure reason 0xC000 (cannot understand)"}]
rejected_count:
  description: Number of rejected files.
  returned: always
  type: int
  sample: 0
non_dicom:
  description: Files that are not DICOM Part-10 files, with C(path) and C(reason); not an error.
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/srv/in/README.txt", "reason": "no 'DICM' prefix at byte 128 (not a DICOM Part-10 file)"}]
non_dicom_count:
  description: Number of non-DICOM files.
  returned: always
  type: int
  sample: 4
duplicates:
  description: Files whose SOP Instance UID was already seen in another file (C(path), C(sop_instance_uid), C(same_as)).
  returned: always
  type: list
  elements: dict
  sample: []
bytes_sent:
  description: Total size of the files stored in this run.
  returned: always
  type: int
  sample: 314572800
batches:
  description: STOW-RS requests that stored or reported on instances.
  returned: always
  type: int
  sample: 12
remaining:
  description:
    - Instances that still need sending after this run (cut by O(max_instances), O(max_seconds)
      or an error); run again to resume.
  returned: always
  type: int
  sample: 0
elapsed:
  description: Wall-clock seconds of the whole run (scan, check, send).
  returned: always
  type: float
  sample: 41.2
send_elapsed:
  description: Seconds spent sending.
  returned: always
  type: float
  sample: 38.9
instances_per_second:
  description: Instances stored per second of sending.
  returned: always
  type: float
  sample: 15.4
would_send:
  description: In check mode, the number of instances that would be sent (0 otherwise).
  returned: always
  type: int
  sample: 600
would_send_bytes:
  description: In check mode, their total size in bytes (0 otherwise).
  returned: always
  type: int
  sample: 157286400
pydicom_available:
  description: Whether pydicom could be imported on the host (always true when the module ran; without
    pydicom the module fails with C(error_kind=missing_library)).
  returned: always
  type: bool
  sample: true
report_truncated:
  description: True when RV(rejected) or RV(non_dicom) were cut at O(report_limit).
  returned: always
  type: bool
  sample: false
error_kind:
  description: On failure, the class of the failure (unauthorized, connection_refused, dns, timeout, tls, not_found,
    missing_library, ...).
  returned: failure
  type: str
  sample: unauthorized
'''

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.medimg.pacs.plugins.module_utils.dicom_files import HAS_PYDICOM, PYDICOM_IMPORT_ERROR
from ansible_collections.medimg.pacs.plugins.module_utils.http_client import http_argument_spec

try:
    from ansible_collections.medimg.pacs.plugins.module_utils.dicom_import import ImportOptions, run_import
    IMPORT_ERROR = None
except Exception:  # pylint: disable=broad-except  # pragma: no cover - a broken install
    IMPORT_ERROR = traceback.format_exc()


def main():
    argument_spec = http_argument_spec()
    argument_spec['url_username']['aliases'] = ['username']
    argument_spec['url_password']['aliases'] = ['password']
    argument_spec.update(
        src=dict(type='path', required=True),
        url=dict(type='str', required=True),
        timeout=dict(type='int', default=120),
        workers=dict(type='int', default=4),
        batch_size=dict(type='int', default=50),
        batch_bytes=dict(type='int', default=32 * 1024 * 1024),
        retries=dict(type='int', default=3),
        skip_existing=dict(type='bool', default=True),
        server_type=dict(type='str', default='dicomweb', choices=['dicomweb', 'orthanc']),
        orthanc_url=dict(type='str'),
        recurse=dict(type='bool', default=True),
        follow_symlinks=dict(type='bool', default=False),
        include=dict(type='list', elements='str', default=[]),
        exclude=dict(type='list', elements='str', default=[]),
        max_instances=dict(type='int'),
        max_seconds=dict(type='int'),
        progress_file=dict(type='path'),
        progress_interval=dict(type='float', default=5.0),
        fail_on_rejected=dict(type='bool', default=False),
        report_limit=dict(type='int', default=1000),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=[['bearer_token', 'url_username']],
        required_by={'url_password': 'url_username'},
        supports_check_mode=True,
    )
    if IMPORT_ERROR:
        module.fail_json(msg='medimg.pacs module_utils dicom_import could not be loaded', exception=IMPORT_ERROR)
    if not HAS_PYDICOM:
        module.fail_json(msg=missing_required_lib('pydicom'), exception=PYDICOM_IMPORT_ERROR,
                         error_kind='missing_library')
    p = module.params
    opts = ImportOptions(
        src=p['src'], url=p['url'], username=p['url_username'], password=p['url_password'],
        bearer_token=p['bearer_token'], validate_certs=p['validate_certs'], ca_path=p['ca_path'],
        timeout=p['timeout'], workers=p['workers'], batch_size=p['batch_size'], batch_bytes=p['batch_bytes'],
        retries=p['retries'], skip_existing=p['skip_existing'], recurse=p['recurse'],
        follow_symlinks=p['follow_symlinks'], include=p['include'], exclude=p['exclude'],
        server_type=p['server_type'], orthanc_url=p['orthanc_url'], max_instances=p['max_instances'],
        max_seconds=p['max_seconds'], progress_file=p['progress_file'],
        progress_interval=p['progress_interval'], check_mode=module.check_mode, report_limit=p['report_limit'])
    try:
        summary, error, kind = run_import(opts)
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg='dicom_import failed unexpectedly: %s: %s' % (type(exc).__name__, exc),
                         exception=traceback.format_exc())
    if summary is None:
        module.fail_json(msg=error, error_kind=kind)
    changed = summary['sent'] > 0
    if error:
        msg = error
        if summary['sent']:
            msg = '%s (%d instance(s) were stored before the failure, %d remain; run again to resume)' % (
                error, summary['sent'], summary['remaining'])
        module.fail_json(msg=msg, changed=changed, error_kind=kind, **summary)
    if p['fail_on_rejected'] and summary['rejected_count']:
        module.fail_json(msg='%d file(s) were rejected (see rejected)' % summary['rejected_count'],
                         changed=changed, **summary)
    if module.check_mode:
        msg = 'check mode: %d instance(s) would be sent, %d already on the PACS, %d non-DICOM file(s)' % (
            summary['would_send'], summary['skipped_existing'], summary['non_dicom_count'])
    else:
        msg = 'stored %d instance(s), %d already on the PACS, %d rejected, %d non-DICOM file(s), %d remaining' % (
            summary['sent'], summary['skipped_existing'], summary['rejected_count'],
            summary['non_dicom_count'], summary['remaining'])
    module.exit_json(changed=changed, msg=msg, **summary)


if __name__ == '__main__':
    main()
