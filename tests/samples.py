# -*- coding: utf-8 -*-
"""Transitional re-export: the sample data moved to the lab tooling, ``medimg_lab.samples``.

Only for bench/import_compare.py, which still puts ``tests/`` on ``sys.path`` and imports
``samples``; remove this file once it imports ``medimg_lab.samples``.
"""
from medimg_lab.samples import ct_series, phantom_slice, sample_datasets  # noqa: F401  pylint: disable=unused-import

__all__ = ['ct_series', 'phantom_slice', 'sample_datasets']
