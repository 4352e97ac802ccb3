# -*- coding: utf-8 -*-
"""orthanc_modality as a real subprocess: bad input and connection failures, no secret in the output."""
from __future__ import absolute_import, division, print_function

import json

import pytest


@pytest.mark.parametrize('args,fragment', [
    (dict(name='bad name', aet='A', host='h', port=104), 'not a valid Orthanc modality name'),
    (dict(name='ws', aet='A\\B', host='h', port=104), 'backslash'),
    (dict(name='ws', aet='A', host='h', port=104, local_aet='X' * 17), 'local_aet'),
    (dict(name='ws', aet='A', host='h', port=99999), 'port'),
    (dict(name='ws', aet='A'), 'missing'),
])
def test_orthanc_modality_bad_input(assert_clean_failure, run_module, closed_port, args, fragment):
    args = dict(args, url='http://127.0.0.1:%d' % closed_port)
    result, out, err = run_module('orthanc_modality', args)
    assert_clean_failure(result, out, err, fragment)


def test_orthanc_modality_refused(assert_clean_failure, run_module, closed_port):
    result, out, err = run_module('orthanc_modality', dict(url='http://127.0.0.1:%d' % closed_port, name='ws',
                                                           aet='WS', host='h', port=104, url_password='pw123456'))
    assert_clean_failure(result, out, err, 'Connection refused')
    assert 'pw123456' not in json.dumps(result)
