# -*- coding: utf-8 -*-
"""Bad input table: every case fails cleanly (failed=true, clear msg, no traceback, no MODULE FAILURE)."""
from __future__ import absolute_import, division, print_function

import pytest

from medimg_lab.ansible_run import run_module

CASES = [
    # id, module, args builder, expected message fragment
    ('invalid-ae-title-echo', 'dicom_echo',
     lambda ctx: dict(host='127.0.0.1', port=ctx['orthanc'].dicom_port, called_aet='ORTHANC\\BAD'),
     'backslash'),
    ('ae-title-too-long-modality', 'orthanc_modality',
     lambda ctx: dict(url=ctx['orthanc'].url, name='x', aet='A' * 17, host='127.0.0.1', port=104, **ctx['auth']),
     'at most 16'),
    ('malformed-url', 'dicomweb_health',
     lambda ctx: dict(url='htp:/127.0.0.1:8042/dicom-web'), "scheme 'htp'"),
    ('url-without-scheme', 'orthanc_modality',
     lambda ctx: dict(url='127.0.0.1:%d' % ctx['orthanc'].http_port, name='x', aet='X', host='h', port=104),
     'no scheme'),
    ('unresolvable-host', 'dicomweb_health',
     lambda ctx: dict(url='http://nonexistent.invalid:8042/dicom-web'), 'Cannot resolve the host name'),
    ('unresolvable-host-echo', 'dicom_echo',
     lambda ctx: dict(host='nonexistent.invalid', port=104, called_aet='X'), 'Cannot resolve the host name'),
    ('refused-port', 'dicomweb_health',
     lambda ctx: dict(url='http://127.0.0.1:%d/dicom-web' % ctx['closed_port']), 'Connection refused'),
    ('refused-port-echo', 'dicom_echo',
     lambda ctx: dict(host='127.0.0.1', port=ctx['closed_port'], called_aet='X'), 'Connection refused'),
    ('wrong-credentials', 'dicomweb_health',
     lambda ctx: dict(url=ctx['orthanc'].dicomweb_url, url_username='admin', url_password='wrong-password'),
     'HTTP 401'),
    ('wrong-credentials-modality', 'orthanc_modality',
     lambda ctx: dict(url=ctx['orthanc'].url, name='x', aet='X', host='h', port=104, url_username='admin',
                      url_password='wrong-password'), 'HTTP 401'),
    ('tls-verification-failure', 'dicomweb_health',
     lambda ctx: dict(url=ctx['selfsigned'].base + '/dicom-web'), 'TLS certificate verification failed'),
    ('not-dicomweb-html', 'dicomweb_health',
     lambda ctx: dict(url=ctx['html'].base + '/dicom-web'), 'not a DICOMweb service'),
    ('dicom-echo-to-http-port', 'dicom_echo',
     lambda ctx: dict(host='127.0.0.1', port=ctx['orthanc'].http_port, called_aet='ORTHANC', timeout=5),
     'association'),
    ('wrong-dicomweb-path', 'dicomweb_health',
     lambda ctx: dict(url=ctx['orthanc'].url + '/dicomweb', **ctx['auth']), 'HTTP 404'),
]


@pytest.fixture
def ctx(orthanc, closed_port, html_server, selfsigned_server):
    return {'orthanc': orthanc, 'closed_port': closed_port, 'html': html_server, 'selfsigned': selfsigned_server,
            'auth': {'url_username': orthanc.username, 'url_password': orthanc.password}}


@pytest.mark.parametrize('module,build,fragment', [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_fails_cleanly(ctx, module, build, fragment):
    run = run_module(module, build(ctx))
    assert run.result.get('failed') is True, run.result
    assert fragment in run.result['msg'], run.result['msg']
    assert 'Traceback' not in run.output
    assert 'MODULE FAILURE' not in run.output
    assert 'wrong-password' not in run.stdout
    assert run.result.get('changed') is False
