# -*- coding: utf-8 -*-
"""module_utils/dcm4chee.py: archive root, study rejection and deletion, device documents (the AE title
module's behaviour against the replay server is in tests/unit/plugins/modules/test_dcm4chee_ae.py)."""
from __future__ import absolute_import, division, print_function

from ansible_collections.medimg.pacs.plugins.module_utils import dcm4chee as arc
from ansible_collections.medimg.pacs.plugins.module_utils.http_client import HttpClient


def test_dcm4chee_archive_root():
    assert arc.dcm4chee_archive_root('http://h:8080/dcm4chee-arc/aets/DCM4CHEE/rs') == (
        'http://h:8080/dcm4chee-arc', 'DCM4CHEE')
    assert arc.dcm4chee_archive_root('http://h:8080/dcm4chee-arc/aets/DCM4CHEE/rs/') == (
        'http://h:8080/dcm4chee-arc', 'DCM4CHEE')
    assert arc.dcm4chee_archive_root('http://h:8042/dicom-web') == (None, None)


def test_reject_then_delete(http_server):
    seen = []

    def respond(handler):
        seen.append((handler.command, handler.path))
        return 204, {}, b''

    server = http_server(respond)
    base = server.base + '/dcm4chee-arc/aets/DCM4CHEE/rs'
    assert arc.reject_and_delete_study(HttpClient(timeout=5), base, '1.2.3') is True
    assert seen == [('POST', '/dcm4chee-arc/aets/DCM4CHEE/rs/studies/1.2.3/reject/113039%5EDCM'.replace('%5E', '^')),
                    ('DELETE', '/dcm4chee-arc/aets/DCM4CHEE/rs/studies/1.2.3')]


def test_device_documents():
    device = arc.build_device('ws1', 'WS1', '10.0.0.1', 104, description='a workstation')
    summary = arc.device_ae_summary(device, 'WS1')
    assert summary['host'] == '10.0.0.1' and summary['port'] == 104 and summary['description'] == 'a workstation'
    params = dict(aet='WS1', host='10.0.0.2', port=11112, description=None, association_initiator=True,
                  association_acceptor=True, installed=True)
    desired = arc.desired_summary(params, 'ws1')
    assert arc.summary_differences(summary, desired) == ['host', 'port']
    updated = arc.apply_summary(device, desired)
    assert arc.device_ae_summary(updated, 'WS1')['port'] == 11112
    assert arc.remove_ae(updated, 'WS1')['dicomNetworkAE'] == []
    assert arc.default_device_name('My AE!') == 'my-ae'
