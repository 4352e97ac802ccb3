# -*- coding: utf-8 -*-
"""Fixtures for the module integration tests: a real Orthanc and a real DICOM peer on loopback.

The Orthanc launcher is the lab tooling's (medimg_lab.orthanc), the DICOM peer and the fixed-answer
servers are the test helpers' (tests/helpers).

Orthanc comes from the Debian packages listed in tests/requirements-apt.txt
(orthanc, orthanc-dicomweb) and is started directly (no systemd) with a temp
config, storage and free loopback ports; it is stopped at teardown.
When Orthanc is missing the tests are skipped, unless MEDIMG_REQUIRE_ORTHANC=1
(or CI=true) is set, in which case they fail.
"""
from __future__ import absolute_import, division, print_function

import os
import shutil
import tempfile

import pytest

from ansible_collections.medimg.pacs.tests.helpers.loopback import free_port
from medimg_lab.orthanc import OrthancProcess, find_orthanc


def _require():
    return os.environ.get('MEDIMG_REQUIRE_ORTHANC') == '1' or os.environ.get('CI', '').lower() == 'true'


@pytest.fixture(scope='session')
def orthanc_install():
    binary, plugin_or_reason = find_orthanc()
    if binary is None:
        if _require():
            pytest.fail(plugin_or_reason)
        pytest.skip(plugin_or_reason)
    return binary, plugin_or_reason


@pytest.fixture(scope='session')
def orthanc(orthanc_install):
    """A shared Orthanc (DICOMweb on, authentication on, DicomModalitiesInDatabase true)."""
    workdir = tempfile.mkdtemp(prefix='medimg-orthanc-')
    server = OrthancProcess(workdir, *orthanc_install)
    try:
        server.start()
    except Exception:
        server.cleanup()
        raise
    yield server
    server.cleanup()


@pytest.fixture
def orthanc_factory(orthanc_install):
    """Factory for private Orthanc instances (for restart tests); all stopped at teardown."""
    created = []

    def make(**kwargs):
        workdir = tempfile.mkdtemp(prefix='medimg-orthanc-')
        server = OrthancProcess(workdir, *orthanc_install, **kwargs)
        created.append(server)
        server.start()
        return server

    yield make
    for server in created:
        server.cleanup()


@pytest.fixture
def storage_scp():
    pytest.importorskip('pynetdicom')
    from ansible_collections.medimg.pacs.tests.helpers.scp import StorageScp
    scp = StorageScp()
    yield scp
    scp.stop()


@pytest.fixture
def closed_port():
    return free_port()


@pytest.fixture
def html_server():
    from ansible_collections.medimg.pacs.tests.helpers.servers import LoopbackServer
    server = LoopbackServer(200, 'text/html; charset=utf-8',
                            b'<!DOCTYPE html><html><head><title>Welcome</title></head><body>It works</body></html>')
    yield server
    server.stop()


@pytest.fixture
def selfsigned_server():
    pytest.importorskip('cryptography')
    from ansible_collections.medimg.pacs.tests.helpers.servers import LoopbackServer, self_signed_context
    workdir = tempfile.mkdtemp(prefix='medimg-tls-')
    context, cert_path = self_signed_context(workdir)
    server = LoopbackServer(200, 'application/dicom+json', b'[]', tls_context=context)
    server.cert_path = cert_path
    yield server
    server.stop()
    shutil.rmtree(workdir, ignore_errors=True)
