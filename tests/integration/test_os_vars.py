"""Every promised platform has its OS variables, and they say the same things the same way.

The roles promise platforms in meta/main.yml (galaxy_info.platforms); tasks/vars.yml loads
vars/<os family>.yml, vars/<distribution>.yml, vars/<distribution>-<major>.yml. Here:

- every host role with OS variables (a vars/Debian.yml) has vars/<distribution>-<major>.yml for
  each platform it promises, and these per-release files all name the same keys (an Ubuntu file
  the same keys as the Debian ones); vars/Ubuntu.yml, if any, only overrides family keys;
- the documented facts (``__<role>_distribution_versions``) are version strings (a YAML float
  would turn "1.10" into 1.1), name the same components in every release, and the release name
  matches the file; Orthanc comes from Debian's "main" and Ubuntu's "universe";
- docs/platforms.md shows the same versions as the variable files (one source, no drift);
- where this machine runs one of the releases and has its package lists, the facts for that
  release match what apt-cache offers here (skipped with the reason elsewhere).

Plain pytest: no Docker, no network.
"""
import pathlib
import re
import shutil
import subprocess

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
ROLES = ROOT / "roles"
HOST_ROLES = sorted(p.name for p in ROLES.iterdir() if (p / "tasks" / "preflight.yml").exists())
# Roles whose installs depend on the OS: they have an OS family file.
OS_ROLES = [r for r in HOST_ROLES if (ROLES / r / "vars" / "Debian.yml").exists()]
# Codenames galaxy_info.platforms uses -> ansible_facts['distribution_major_version'].
MAJOR = {
    "Debian": {"bullseye": "11", "bookworm": "12", "trixie": "13"},
    "Ubuntu": {"focal": "20", "jammy": "22", "noble": "24"},
}
RELEASE_NAME = {"Debian": "{distribution} {major} ({codename})", "Ubuntu": "{distribution} {major}.04 ({codename})"}
VERSION = re.compile(r"^[0-9]+(\.[0-9]+)*$")
# The facts that name a distribution package's upstream version, by role: fact key -> package.
PACKAGES = {
    # the component names of the role's own __orthanc_versions (vars/main.yml: __orthanc_component_packages)
    "orthanc": {"orthanc": "orthanc", "dicomweb": "orthanc-dicomweb", "postgresql": "orthanc-postgresql",
                "pydicom": "python3-pydicom"},
    "nginx": {"nginx": "nginx", "python3": "python3", "openssl": "openssl"},
}


def _vars(role, name):
    path = ROLES / role / "vars" / ("%s.yml" % name)
    return yaml.safe_load(path.read_text()) or {} if path.exists() else None


def _promised(role):
    meta = yaml.safe_load((ROLES / role / "meta" / "main.yml").read_text())
    platforms = meta["galaxy_info"]["platforms"]
    out = []
    for platform in platforms:
        for codename in platform["versions"]:
            known = MAJOR.get(platform["name"], {})
            assert codename in known, (
                "roles/%s/meta/main.yml promises %s %s, which this test does not know: add its major version "
                "to MAJOR and its vars files" % (role, platform["name"], codename))
            out.append((platform["name"], codename, known[codename]))
    return out


def _releases(role):
    return ["%s-%s" % (dist, major) for dist, _codename, major in _promised(role)]


def test_the_os_roles_are_the_ones_expected():
    # Not vacuous: these four install distribution packages; ohif and pki need no OS variables.
    assert OS_ROLES == ["dcm4chee", "nginx", "orthanc", "postgresql"], OS_ROLES
    for role in OS_ROLES:
        assert {d for d, _c, _m in _promised(role)} == {"Debian", "Ubuntu"}, role


@pytest.mark.parametrize("role", OS_ROLES)
def test_every_promised_platform_has_its_vars_file(role):
    missing = [name for name in _releases(role) if _vars(role, name) is None]
    assert missing == [], "roles/%s promises %s in meta/main.yml but has no vars/%s" % (
        role, missing, ", vars/".join("%s.yml" % m for m in missing))


@pytest.mark.parametrize("role", OS_ROLES)
def test_release_files_name_the_same_keys_as_the_debian_ones(role):
    names = _releases(role)
    keys = {name: set(_vars(role, name) or {}) for name in names}
    reference = set().union(*(keys[n] for n in names if n.startswith("Debian-")))
    assert reference, "roles/%s: the Debian release files name no variable" % role
    differ = {n: sorted(k ^ reference) for n, k in keys.items() if k != reference}
    assert differ == {}, "roles/%s: release files whose keys differ from the Debian ones (%s): %s" % (
        role, sorted(reference), differ)
    family = set(_vars(role, "Debian") or {})
    ubuntu = set(_vars(role, "Ubuntu") or {})
    assert ubuntu <= family, "roles/%s/vars/Ubuntu.yml names keys vars/Debian.yml does not: %s" % (
        role, sorted(ubuntu - family))


def _facts(role):
    return {name: _vars(role, name) for name in _releases(role)}


@pytest.mark.parametrize("role", sorted(PACKAGES))
def test_distribution_versions_are_version_strings_with_the_same_components(role):
    facts = _facts(role)
    key = "__%s_distribution_versions" % role
    components = {name: sorted((v or {}).get(key) or {}) for name, v in facts.items()}
    assert set(map(tuple, components.values())) == {tuple(sorted(PACKAGES[role]))}, (
        "roles/%s: %s must name %s in every release file, got %s" % (role, key, sorted(PACKAGES[role]), components))
    bad = {"%s %s" % (name, c): value for name, v in facts.items() for c, value in v[key].items()
           if not (isinstance(value, str) and VERSION.match(value))}
    assert bad == {}, "roles/%s: %s values must be quoted version strings: %s" % (role, key, bad)


@pytest.mark.parametrize("role", sorted(PACKAGES))
def test_release_names_match_the_files(role):
    for dist, codename, major in _promised(role):
        name = "%s-%s" % (dist, major)
        expected = RELEASE_NAME[dist].format(distribution=dist, major=major, codename=codename)
        got = _vars(role, name).get("__%s_distribution_release" % role)
        assert got == expected, "roles/%s/vars/%s.yml: __%s_distribution_release is %r, expected %r" % (
            role, name, role, got, expected)


def test_orthanc_packages_come_from_main_on_debian_and_universe_on_ubuntu():
    for dist, _codename, major in _promised("orthanc"):
        component = _vars("orthanc", "%s-%s" % (dist, major))["__orthanc_distribution_component"]
        assert component == {"Debian": "main", "Ubuntu": "universe"}[dist], (dist, major, component)


DOC_ROW = re.compile(r"^\|\s*(?P<release>(?:Debian|Ubuntu) [0-9.]+ \([a-z]+\))\s*\|(?P<cells>.*)\|\s*$")


def _cell(text):
    """A table cell's value: without backticks and the marks of derived values ("1.5.8\\*", "1.x")."""
    text = text.strip().strip("`").replace("\\*", "").rstrip("*")
    return text[:-2] if text.endswith(".x") else text


def _doc_rows():
    """The rows of the versions table of docs/platforms.md (the one whose header starts | release | Orthanc |)."""
    lines = (ROOT / "docs" / "platforms.md").read_text().splitlines()
    header = [i for i, line in enumerate(lines) if re.match(r"^\|\s*release\s*\|\s*Orthanc\s*\|", line)]
    assert len(header) == 1, "docs/platforms.md needs one table with the header | release | Orthanc | ..."
    rows = {}
    for line in lines[header[0] + 2:]:
        match = DOC_ROW.match(line)
        if not match:
            break
        rows[match.group("release")] = [_cell(c) for c in match.group("cells").split("|")]
    return rows


def test_docs_platforms_table_shows_the_versions_of_the_vars_files():
    rows = _doc_rows()
    for dist, codename, major in _promised("orthanc"):
        name = "%s-%s" % (dist, major)
        orthanc = _vars("orthanc", name)
        nginx = _vars("nginx", name)["__nginx_distribution_versions"]
        postgresql = _vars("postgresql", name)["__postgresql_distribution_version"]
        versions = orthanc["__orthanc_distribution_versions"]
        release = orthanc["__orthanc_distribution_release"]
        assert release in rows, "docs/platforms.md has no row for %s" % release
        expected = [versions["orthanc"], versions["dicomweb"], versions["postgresql"], postgresql,
                    nginx["nginx"], nginx["python3"], nginx["openssl"], versions["pydicom"],
                    orthanc["__orthanc_distribution_component"]]
        assert rows[release][:len(expected)] == expected, "docs/platforms.md row %s: %s, vars say %s" % (
            release, rows[release][:len(expected)], expected)


def _upstream(package_version):
    """'1:1.9.2+really1.9.1+dfsg-1+deb11u2' -> '1.9.1'; '15+248+deb12u2' -> '15'."""
    version = package_version.split(":", 1)[-1]
    version = version.rsplit("-", 1)[0] if "-" in version else version
    version = version.split("+really", 1)[-1]
    return re.match(r"[0-9][0-9.]*", version).group(0).rstrip(".")


def test_upstream_version_parsing():
    assert _upstream("1.9.2+really1.9.1+dfsg-1+deb11u2") == "1.9.1"
    assert _upstream("15+248+deb12u2") == "15"
    assert _upstream("1:3.0.22-1~deb12u2") == "3.0.22"
    assert _upstream("1.20+dfsg-1") == "1.20"


def _this_release():
    try:
        osr = dict(line.split("=", 1) for line in pathlib.Path("/etc/os-release").read_text().splitlines() if "=" in line)
    except OSError:
        return None
    dist = {"debian": "Debian", "ubuntu": "Ubuntu"}.get(osr.get("ID", "").strip('"'))
    major = osr.get("VERSION_ID", "").strip('"').split(".")[0]
    return "%s-%s" % (dist, major) if dist and major else None


def _candidate(package):
    out = subprocess.run(["apt-cache", "policy", package], capture_output=True, text=True, timeout=60, check=False)
    match = re.search(r"Candidate:\s*(\S+)", out.stdout)
    return None if not match or match.group(1) == "(none)" else match.group(1)


def test_facts_match_the_archive_of_this_machine():
    release = _this_release()
    if release is None or shutil.which("apt-cache") is None:
        pytest.skip("this machine is not a Debian/Ubuntu host with apt-cache")
    if release not in _releases("orthanc"):
        pytest.skip("this machine runs %s, which the roles do not promise" % release)
    wanted = [(role, key, package, _vars(role, release)["__%s_distribution_versions" % role][key])
              for role, packages in sorted(PACKAGES.items()) for key, package in sorted(packages.items())]
    wanted.append(("postgresql", "__postgresql_distribution_version", "postgresql",
                   _vars("postgresql", release)["__postgresql_distribution_version"]))
    found = {package: _candidate(package) for _r, _k, package, _v in wanted}
    if found.get("orthanc") is None or found.get("nginx") is None:
        pytest.skip("apt-cache offers no orthanc/nginx here (no package lists: run apt-get update)")
    wrong = []
    for role, key, package, fact in wanted:
        have = found[package] and _upstream(found[package])
        if not have or have.split(".")[:len(fact.split("."))] != fact.split("."):
            wrong.append("roles/%s/vars/%s.yml %s=%s, apt-cache policy %s: %s"
                         % (role, release, key, fact, package, found[package]))
    assert wrong == [], wrong
