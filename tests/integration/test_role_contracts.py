"""Each role keeps its contract in step: defaults, meta/argument_specs.yml and README."""
import pathlib

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "defaults" / "main.yml").exists())


def _load(role):
    defaults = yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text()) or {}
    specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
    return defaults, specs["argument_specs"]["main"]["options"]


def _documented(name, readme_lines):
    """The README names the variable, in full or as a `_suffix` next to a sibling's name."""
    if any(name in line for line in readme_lines):
        return True
    parts = name.split("_")
    for i in range(2, len(parts)):
        head, tail = "_".join(parts[:i]), "`_" + "_".join(parts[i:]) + "`"
        if any(head in line and tail in line for line in readme_lines):
            return True
    return False


@pytest.mark.parametrize("role", ROLES)
def test_defaults_and_argument_specs_agree(role):
    defaults, options = _load(role)
    assert sorted(set(defaults) - set(options)) == [], "defaults without an argument spec"
    assert sorted(set(options) - set(defaults)) == [], "argument spec options without a default"
    for name, spec in options.items():
        assert name.startswith(role + "_"), "%s is not prefixed with the role name" % name
        assert spec.get("description"), "%s has no description" % name


@pytest.mark.parametrize("role", ROLES)
def test_readme_documents_every_variable(role):
    defaults = _load(role)[0]
    lines = (ROOT / "roles" / role / "README.md").read_text().splitlines()
    missing = sorted(name for name in defaults if not _documented(name, lines))
    assert missing == [], "roles/%s/README.md does not mention %s" % (role, missing)
