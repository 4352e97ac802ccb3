"""The host roles share one layout for their OS variables and their preflight entry point.

- every host role (a role with tasks/preflight.yml) has tasks/vars.yml, the same file in each;
- its preflight.yml includes vars.yml first, its main.yml includes preflight.yml first and does
  not load OS variables itself; no task file anywhere loads variable files another way
  (include_vars, first_found) than tasks/vars.yml;
- OS variable files are named vars/<family or distribution>[-<major version>].yml;
- meta/argument_specs.yml has an entry point `preflight` that is the same spec as `main`, and
  site.yml's preflight play includes each role through it (tasks_from without .yml, so Ansible
  validates the spec).
"""
import pathlib
import re

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
HOST_ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks" / "preflight.yml").exists())
INCLUDE_TASKS = ("ansible.builtin.include_tasks", "include_tasks", "ansible.builtin.import_tasks", "import_tasks")
INCLUDE_VARS = ("ansible.builtin.include_vars", "include_vars")


def _tasks(path):
    return yaml.safe_load(path.read_text()) or []


def _walk(tasks):
    for task in tasks:
        yield task
        for key in ("block", "rescue", "always"):
            yield from _walk(task.get(key) or [])


def _included_file(task):
    for key in INCLUDE_TASKS:
        if key in task:
            value = task[key]
            return value.get("file") if isinstance(value, dict) else value
    return None


def test_there_are_host_roles():
    assert {"postgresql", "orthanc", "nginx", "ohif", "dcm4chee"} <= set(HOST_ROLES), HOST_ROLES


def test_every_host_role_has_the_same_vars_yml():
    texts = {role: (ROOT / "roles" / role / "tasks" / "vars.yml").read_text()
             for role in HOST_ROLES if (ROOT / "roles" / role / "tasks" / "vars.yml").exists()}
    assert sorted(texts) == HOST_ROLES, "host roles without tasks/vars.yml: %s" % sorted(set(HOST_ROLES) - set(texts))
    reference = texts[HOST_ROLES[0]]
    differ = sorted(role for role, text in texts.items() if text != reference)
    assert differ == [], "tasks/vars.yml differs from roles/%s/tasks/vars.yml in %s" % (HOST_ROLES[0], differ)


@pytest.mark.parametrize("role", HOST_ROLES)
def test_preflight_loads_os_variables_first_and_main_runs_preflight_first(role):
    tasks_dir = ROOT / "roles" / role / "tasks"
    preflight = _tasks(tasks_dir / "preflight.yml")
    assert _included_file(preflight[0]) == "vars.yml", "roles/%s/tasks/preflight.yml does not include vars.yml first" % role
    main = _tasks(tasks_dir / "main.yml")
    assert _included_file(main[0]) == "preflight.yml", "roles/%s/tasks/main.yml does not include preflight.yml first" % role
    assert "vars.yml" not in [_included_file(t) for t in _walk(main)], \
        "roles/%s/tasks/main.yml loads vars.yml itself (preflight.yml does)" % role


@pytest.mark.parametrize("path", sorted((ROOT / "roles").glob("*/tasks/*.yml")), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_task_file_loads_variable_files_another_way(path):
    if path.name == "vars.yml":
        return
    text = path.read_text()
    assert "first_found" not in text, "%s looks files up with first_found (use tasks/vars.yml)" % path
    loading = [t.get("name") for t in _walk(_tasks(path)) if any(key in t for key in INCLUDE_VARS)]
    assert loading == [], "%s loads variable files with include_vars (use tasks/vars.yml): %s" % (path, loading)


@pytest.mark.parametrize("role", HOST_ROLES)
def test_os_variable_files_are_named_after_the_platform(role):
    names = sorted(p.name for p in (ROOT / "roles" / role / "vars").glob("*.yml") if p.name != "main.yml")
    odd = [n for n in names if not re.match(r"^[A-Z][A-Za-z]*(-[0-9]+)?\.yml$", n)]
    assert odd == [], "roles/%s/vars: %s is not <family or distribution>[-<major>].yml" % (role, odd)


@pytest.mark.parametrize("role", HOST_ROLES)
def test_preflight_entry_point_is_the_main_spec(role):
    specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    assert "preflight" in specs, "roles/%s/meta/argument_specs.yml has no entry point preflight" % role
    assert specs["preflight"] == specs["main"], "roles/%s: entry point preflight differs from main" % role


def test_site_preflight_uses_the_preflight_entry_point():
    plays = yaml.safe_load((ROOT / "playbooks" / "preflight.yml").read_text())
    includes = [t["ansible.builtin.include_role"] for play in plays for t in _walk(play.get("tasks") or [])
                if "ansible.builtin.include_role" in t]
    assert includes, "playbooks/preflight.yml includes no role"
    assert all(i.get("tasks_from") == "preflight" for i in includes), includes
    tiers = [t.get("loop") for play in plays for t in _walk(play.get("tasks") or []) if "ansible.builtin.include_role" in t]
    for role in HOST_ROLES:
        assert any(role in str(loop) for loop in tiers), "playbooks/preflight.yml does not run the %s preflight" % role
