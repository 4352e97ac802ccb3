"""The OHIF data source of a DCM4CHEE archive, as OHIF's own recipe defines it.

OHIF's recipe for DCM4CHEE behind nginx (``platform/app/.recipes/Nginx-Dcm4chee``, which builds the
viewer with ``platform/app/public/config/docker-nginx-dcm4chee.js``) configures the DICOMweb data
source with the archive's per-AE roots on the front door and a handful of keys. The role's
``app-config.js.j2`` is rendered here by Ansible itself (the role's preflight entry point first, so
its argument spec and checks run, then its template with the role's variables), on localhost, and
the data source is compared with the recipe field by field. Orthanc sources stay as they were.
"""
import json
import pathlib
import re

import pytest
import yaml

from medimg_lab.ansible_run import run_playbook

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "roles" / "ohif" / "templates" / "app-config.js.j2"

# OHIF's recipe, key by key (the values its docker-nginx-dcm4chee.js sets; AE title DCM4CHEE there).
RECIPE_FIELDS = {
    "qidoSupportsIncludeField": False,
    "imageRendering": "wadors",
    "thumbnailRendering": "wadors",
    "dicomUploadEnabled": True,
    "omitQuotationForMultipartRequest": True,
}
# Keys other OHIF configs set that this recipe leaves to OHIF's defaults.
NOT_IN_RECIPE = ("supportsReject", "supportsFuzzyMatching", "supportsWildcard", "enableStudyLazyLoad",
                 "bulkDataURI")


def _render(tmp_path, data_sources, default=""):
    dest = tmp_path / "app-config.js"
    play = [{
        "name": "render the OHIF configuration",
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": True,
        "vars": {"ohif_data_sources": data_sources, "ohif_default_data_source": default},
        "tasks": [
            {"name": "Preflight of the ohif role",
             "ansible.builtin.include_role": {"name": "medimg.pacs.ohif", "tasks_from": "preflight", "public": True}},
            {"name": "Render the role's app-config.js",
             "ansible.builtin.template": {"src": str(TEMPLATE), "dest": str(dest), "mode": "0644"}},
        ],
    }]
    playbook = tmp_path / "render.yml"
    playbook.write_text(yaml.safe_dump(play))
    run = run_playbook(playbook, timeout=300)
    return run, dest


def _config(path):
    text = path.read_text()
    body = "\n".join(line for line in text.splitlines() if not line.startswith("//"))
    match = re.search(r"window\.config = (\{.*\});\s*$", body, re.S)
    assert match, text
    return json.loads(match.group(1))


def _source(config, name):
    hits = [ds for ds in config["dataSources"] if ds["sourceName"] == name]
    assert len(hits) == 1, config["dataSources"]
    return hits[0]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ohif-dcm4chee")
    run, dest = _render(tmp, [
        {"name": "orthanc", "server_type": "orthanc", "qido_root": "/dicom-web", "wado_root": "/dicom-web"},
        {"name": "dcm4chee", "friendly_name": "DCM4CHEE", "server_type": "dcm4chee", "aet": "ARCHIVE1"},
    ], default="orthanc")
    assert run.rc == 0, run.output
    return _config(dest)


def test_namespace_and_names(rendered):
    ds = _source(rendered, "dcm4chee")
    assert ds["namespace"] == "@ohif/extension-default.dataSourcesModule.dicomweb"
    assert ds["configuration"]["name"] == "dcm4chee"
    assert ds["configuration"]["friendlyName"] == "DCM4CHEE"


def test_qido_root_is_the_aet_rs_path(rendered):
    assert _source(rendered, "dcm4chee")["configuration"]["qidoRoot"] == "/dcm4chee-arc/aets/ARCHIVE1/rs"


def test_wado_root_is_the_aet_rs_path(rendered):
    assert _source(rendered, "dcm4chee")["configuration"]["wadoRoot"] == "/dcm4chee-arc/aets/ARCHIVE1/rs"


def test_wado_uri_root_is_the_aet_wado_path(rendered):
    assert _source(rendered, "dcm4chee")["configuration"]["wadoUriRoot"] == "/dcm4chee-arc/aets/ARCHIVE1/wado"


def test_qido_supports_include_field_is_false(rendered):
    assert _source(rendered, "dcm4chee")["configuration"]["qidoSupportsIncludeField"] is False


def test_image_rendering_is_wadors(rendered):
    assert _source(rendered, "dcm4chee")["configuration"]["imageRendering"] == "wadors"


def test_thumbnail_rendering_is_wadors(rendered):
    assert _source(rendered, "dcm4chee")["configuration"]["thumbnailRendering"] == "wadors"


def test_dicom_upload_enabled(rendered):
    assert _source(rendered, "dcm4chee")["configuration"]["dicomUploadEnabled"] is True


def test_omit_quotation_for_multipart_request(rendered):
    assert _source(rendered, "dcm4chee")["configuration"]["omitQuotationForMultipartRequest"] is True


def test_exactly_the_recipe_fields(rendered):
    conf = _source(rendered, "dcm4chee")["configuration"]
    for key in NOT_IN_RECIPE:
        assert key not in conf, key
    assert set(conf) == {"name", "friendlyName", "qidoRoot", "wadoRoot", "wadoUriRoot"} | set(RECIPE_FIELDS)
    assert {k: conf[k] for k in RECIPE_FIELDS} == RECIPE_FIELDS


def test_orthanc_source_unchanged(rendered):
    conf = _source(rendered, "orthanc")["configuration"]
    assert conf["qidoRoot"] == conf["wadoRoot"] == conf["wadoUriRoot"] == "/dicom-web"
    assert conf["qidoSupportsIncludeField"] is False
    assert conf["supportsReject"] is False
    assert conf["bulkDataURI"] == {"enabled": True, "relativeResolution": "studies"}
    assert rendered["defaultDataSourceName"] == "orthanc"


def test_explicit_roots_and_settings_win(tmp_path):
    run, dest = _render(tmp_path, [
        {"name": "arc", "server_type": "dcm4chee", "aet": "ARC",
         "qido_root": "https://pacs.example.org/dcm4chee-arc/aets/ARC/rs",
         "wado_root": "https://pacs.example.org/dcm4chee-arc/aets/ARC/rs",
         "settings": {"supportsFuzzyMatching": True}},
    ])
    assert run.rc == 0, run.output
    conf = _source(_config(dest), "arc")["configuration"]
    assert conf["qidoRoot"] == "https://pacs.example.org/dcm4chee-arc/aets/ARC/rs"
    assert conf["wadoUriRoot"] == "https://pacs.example.org/dcm4chee-arc/aets/ARC/wado"
    assert conf["supportsFuzzyMatching"] is True


def test_preflight_wants_roots_for_other_servers(tmp_path):
    run, _dest = _render(tmp_path, [{"name": "orthanc", "server_type": "orthanc", "qido_root": "/dicom-web"}])
    assert run.rc != 0
    assert "wado_root found in ohif_data_sources" in run.output
    run, _dest = _render(tmp_path, [{"name": "orthanc", "server_type": "orthanc", "qido_root": "", "wado_root": ""}])
    assert run.rc != 0
    assert "ohif_data_sources[0] (orthanc)" in run.output
