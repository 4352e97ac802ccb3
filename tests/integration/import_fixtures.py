# -*- coding: utf-8 -*-
"""Transitional re-export: these helpers moved to ``tests/helpers/dicom_import.py``.

Only for bench/import_compare.py, which still puts ``tests/integration`` on ``sys.path`` and
imports ``import_fixtures`` (without ``.collections`` on its path, so it cannot name
``ansible_collections.medimg.pacs.tests.helpers.dicom_import``): the module is loaded from its
file. Remove this file once import_compare imports the helpers (or ``medimg_lab``) directly.
"""
import importlib.util
import pathlib

_PATH = pathlib.Path(__file__).resolve().parents[1] / 'helpers' / 'dicom_import.py'
_SPEC = importlib.util.spec_from_file_location('medimg_dicom_import_helpers', str(_PATH))
_MODULE = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_MODULE)
globals().update({name: getattr(_MODULE, name) for name in _MODULE.__all__})
__all__ = list(_MODULE.__all__)
