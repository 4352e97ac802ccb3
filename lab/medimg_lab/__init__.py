"""medimg.pacs lab tooling: what ``make demo``, ``scripts/lab``, ``bench/`` and the tests share.

Not part of the collection (galaxy.yml ``build_ignore``); ``make venv`` installs it into the
project's virtualenv in editable mode (``lab/pyproject.toml``), and pytest.ini puts ``lab`` on
the path for plain pytest runs.

* :mod:`medimg_lab.cli`          the ``scripts/lab`` command: lab hosts, lab image, sample studies
* :mod:`medimg_lab.samples`      sample DICOM data (pydicom): demo studies, CT series, fresh-UID copies
* :mod:`medimg_lab.dicomweb`     STOW-RS / QIDO-RS / WADO-RS clients on dicomweb-client, the one STOW worker
* :mod:`medimg_lab.dimse`        C-STORE / C-ECHO with pynetdicom
* :mod:`medimg_lab.keepalive`    a small keep-alive HTTP(S) client (benchmarks, durability)
* :mod:`medimg_lab.orthanc`      one Orthanc on loopback, started and stopped by its caller
* :mod:`medimg_lab.ansible_run`  run a medimg.pacs module or playbook with the project's ansible.cfg
* :mod:`medimg_lab.labkit`       lab hosts of a dedicated inventory: up, converge, docker exec, secrets
* :mod:`medimg_lab.delay_proxy`  a loopback TCP proxy adding latency
* :mod:`medimg_lab.load`         bounded mixed DICOMweb load (the multisite rolling-update check)
* :mod:`medimg_lab.plugin_build` Orthanc's PostgreSQL plugins built once from ../shared/upstream, cached
"""
import os
import pathlib

# the repository root (lab/medimg_lab/__init__.py): ansible.cfg, site.yml, inventories
ROOT = pathlib.Path(__file__).resolve().parents[2]


def cache_root():
    """The lab's caches on this machine (lab hosts' packages, built plugins): outside the checkout,
    so a fresh clone on the same machine (CI) finds them. MEDIMG_LAB_CACHE moves them."""
    return pathlib.Path(os.environ.get("MEDIMG_LAB_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "medimg-pacs"))
