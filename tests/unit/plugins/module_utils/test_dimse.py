# -*- coding: utf-8 -*-
"""module_utils/dimse.py: classified TCP failures and the C-ECHO retries (no DICOM peer needed)."""
from __future__ import absolute_import, division, print_function

import pytest

from ansible_collections.medimg.pacs.plugins.module_utils import dimse


def test_check_tcp_refused(closed_port):
    with pytest.raises(dimse.DimseError) as err:
        dimse.check_tcp('127.0.0.1', closed_port, 2)
    assert err.value.kind == 'connection_refused'


def test_check_tcp_dns():
    with pytest.raises(dimse.DimseError) as err:
        dimse.check_tcp('nonexistent.invalid', 104, 2)
    assert err.value.kind == 'dns'


def test_c_echo_refused_is_retried(closed_port):
    pytest.importorskip('pynetdicom')
    with pytest.raises(dimse.DimseError) as err:
        dimse.c_echo('127.0.0.1', closed_port, 'A', 'B', timeout=2, retries=1, delay=0)
    assert err.value.kind == 'connection_refused' and 'after 2 attempts' in err.value.message


def test_tls_context_without_verification():
    context = dimse.make_tls_context(verify=False)
    assert context.check_hostname is False
