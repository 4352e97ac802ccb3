# -*- coding: utf-8 -*-
"""The tests' one helper package (plain functions, classes and a few explicit fixtures).

Import it as ``ansible_collections.medimg.pacs.tests.helpers.<module>``: that name resolves under
``ansible-test units`` (the collection tree on its path) and under plain pytest (pytest.ini puts
``.collections`` on ``pythonpath``, where the committed link
``.collections/ansible_collections/medimg/pacs`` points at the repository root).

* :mod:`.loopback`     free ports, loopback HTTP(S) servers, throw-away certificates (unit and integration)
* :mod:`.servers`      fixed-answer loopback servers for failure cases (integration)
* :mod:`.scp`          a pynetdicom Storage/Verification SCP on loopback (integration)
* :mod:`.dicom_import` the dicom_import tests' Orthanc fixture, sample trees and Ansible runs
* :mod:`.preflight`    the preflight tests' inventories (the controller as the hosts) and check-mode runs

Lab tooling shared with ``make demo`` and the benchmarks (Orthanc launcher, Ansible runner,
DICOMweb/DIMSE clients, sample data) is the ``medimg_lab`` package in ``lab/``.
"""
