"""`ansible-galaxy collection build` makes a tarball that installs and works elsewhere."""
import json
import os
import pathlib
import subprocess
import sys
import tarfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent


def _run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=300, check=False, **kw)


def test_build_install_and_use(tmp_path):
    out = tmp_path / "dist"
    res = _run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(out), str(ROOT)],
               cwd=str(ROOT))
    assert res.returncode == 0, res.stdout + res.stderr
    tarballs = list(out.glob("medimg-pacs-*.tar.gz"))
    assert len(tarballs) == 1, tarballs
    with tarfile.open(str(tarballs[0])) as tar:
        names = set(tar.getnames())
    for must in ("MANIFEST.json", "plugins/modules/dicomweb_health.py", "roles/orthanc/tasks/main.yml",
                 "roles/nginx/meta/argument_specs.yml", "site.yml", "COPYING"):
        assert must in names, must
    for never in (".collections", ".venv", "tests/output", "inventories/lab/.credentials", "lab"):
        assert not any(n == never or n.startswith(never + "/") for n in names), never
    with tarfile.open(str(tarballs[0])) as tar:
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    # Galaxy publishes these as the collection's links: a real address or none, never a placeholder
    for key in ("repository", "issues", "homepage", "documentation"):
        link = manifest["collection_info"].get(key) or ""
        assert "example." not in link and "invalid" not in link, (key, link)

    # install it somewhere else and use it from a directory that knows nothing of this checkout
    # (with a configuration of its own: this checkout's ansible.cfg already resolves medimg.pacs,
    # and ansible-galaxy would find it "already installed" there)
    dest = tmp_path / "collections"
    cfg = tmp_path / "ansible.cfg"
    cfg.write_text("[defaults]\ncollections_path = %s\n" % dest)
    env = dict(os.environ, ANSIBLE_CONFIG=str(cfg))
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)
    res = _run([str(BIN / "ansible-galaxy"), "collection", "install", "--offline", "--no-deps", "--force",
                "-p", str(dest), str(tarballs[0])], cwd=str(tmp_path), env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (dest / "ansible_collections" / "medimg" / "pacs" / "MANIFEST.json").exists(), res.stdout
    res = _run([str(BIN / "ansible-doc"), "medimg.pacs.orthanc_modality"], cwd=str(tmp_path), env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert str(dest) in res.stdout, res.stdout  # documented from the installed copy
    res = _run([str(BIN / "ansible-doc"), "-t", "role", "medimg.pacs.orthanc"], cwd=str(tmp_path), env=env)
    assert res.returncode == 0 and "orthanc_aet" in res.stdout, res.stdout + res.stderr
