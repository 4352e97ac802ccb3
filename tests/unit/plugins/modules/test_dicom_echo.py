# -*- coding: utf-8 -*-
"""dicom_echo as a real subprocess: bad input and connection failures, never a traceback."""
from __future__ import absolute_import, division, print_function

import pytest


@pytest.mark.parametrize('args,fragment', [
    (dict(host='127.0.0.1', port=104, called_aet='THIS-IS-TOO-LONG-X'), 'at most 16'),
    (dict(host='127.0.0.1', port=104, called_aet='A\\B'), 'backslash'),
    (dict(host='127.0.0.1', port=104, called_aet='OK', calling_aet='   '), 'only of spaces'),
    (dict(host='127.0.0.1', port=0, called_aet='OK'), 'port'),
    (dict(host='nonexistent.invalid', port=104, called_aet='OK'), 'Cannot resolve'),
])
def test_dicom_echo_bad_input(assert_clean_failure, run_module, args, fragment):
    result, out, err = run_module('dicom_echo', args)
    assert_clean_failure(result, out, err, fragment)


def test_dicom_echo_refused(assert_clean_failure, run_module, closed_port):
    pytest.importorskip('pynetdicom')
    result, out, err = run_module('dicom_echo', dict(host='127.0.0.1', port=closed_port, called_aet='X',
                                                     retries=1, delay=0))
    assert_clean_failure(result, out, err, 'Connection refused')
    assert result['kind'] == 'connection_refused'
    assert 'after 2 attempts' in result['msg']
