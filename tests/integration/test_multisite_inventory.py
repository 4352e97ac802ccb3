"""The multi-site inventories wire the sites from their groups (no hosts are contacted).

For inventories/lab-multisite and inventories/example-multisite, a playbook on localhost reads
every host's computed variables and checks the cross-site wiring: each Orthanc knows every other
site (modality by AE title, peer, DICOMweb server) and not its own; a scaled-out site keeps
its files in PostgreSQL and is checked for multiple writers; nginx proxies exactly the site's
Orthanc nodes. And roles/orthanc/tasks/multiwriter.yml refuses a locked multi-writer layout
with a message naming the variable.
"""
import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.path.dirname(sys.executable)

DUMP = """
# Each host dumps its own wiring: a variable whose template uses hostvars cannot be read
# through another host's hostvars.
- name: Dump the computed wiring
  hosts: all
  gather_facts: false
  tasks:
    - name: Write this host's wiring
      ansible.builtin.copy:
        dest: "{{ out }}/{{ inventory_hostname }}.json"
        mode: "0600"
        content: "{{ __wiring | to_json }}"
      delegate_to: localhost
      vars:
        __wiring: >-
          {%- set w = {'site': medimg_site, 'groups': group_names} -%}
          {%- if 'orthanc' in group_names -%}
          {%-   set _ = w.update({'aet': orthanc_aet,
                                  'modalities': orthanc_modalities,
                                  'peers': orthanc_peers | map(attribute='name') | list,
                                  'dicomweb_servers': orthanc_dicomweb_servers | map(attribute='name') | list,
                                  'pg_host': orthanc_postgresql_host,
                                  'pg_hosts': orthanc_postgresql_hosts,
                                  'storage_in_pg': orthanc_postgresql_enable_storage,
                                  'multiple_writers': orthanc_multiple_writers}) -%}
          {%- endif -%}
          {%- if 'nginx' in group_names -%}
          {%-   set _ = w.update({'upstreams': nginx_orthanc_upstreams}) -%}
          {%- endif -%}
          {{ w }}
"""


def _run(args, tmp_path):
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    return subprocess.run([os.path.join(BIN, "ansible-playbook")] + args, cwd=str(ROOT), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300,
                          check=False)


def _wiring(inventory, tmp_path, extra=()):
    book = tmp_path / "dump.yml"
    book.write_text(DUMP)
    out = tmp_path / "wiring"
    out.mkdir()
    # The lab inventory generates its passwords under <inventory>/.credentials: use a copy.
    proc = _run(["-i", str(inventory), str(book), "-e", "out=%s" % out, "-e", "ansible_connection=local"]
                + list(extra), tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    return {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}


def _check(wiring):
    sites = sorted({w["site"] for w in wiring.values()})
    assert len(sites) >= 2
    orthanc = {h: w for h, w in wiring.items() if "orthanc" in w["groups"]}
    aet = {w["site"]: w["aet"] for w in orthanc.values()}
    for host, w in orthanc.items():
        others = [s for s in sites if s != w["site"]]
        assert [m["name"] for m in w["modalities"] if m["name"] in sites] == others, host
        for m in w["modalities"]:
            if m["name"] in others:
                assert m["aet"] == aet[m["name"]] and m["port"] == 4242, (host, m)
        # every node of another site is known by AE title and address (DicomCheckModalityHost)
        for site in others:
            nodes = [h for h, x in orthanc.items() if x["site"] == site]
            assert len([m for m in w["modalities"] if m["aet"] == aet[site]]) == len(nodes), (host, site)
        assert w["peers"] == others and w["dicomweb_servers"] == others, host
        nodes = [h for h, x in orthanc.items() if x["site"] == w["site"]]
        assert w["storage_in_pg"] is (len(nodes) > 1) and w["multiple_writers"] is (len(nodes) > 1), host
    for host, w in wiring.items():
        if "nginx" in w["groups"]:
            nodes = [h for h, x in orthanc.items() if x["site"] == w["site"]]
            assert len(w["upstreams"]) == len(nodes) and all(u.endswith(":8042") for u in w["upstreams"]), host
    return orthanc


@pytest.fixture
def lab_copy(tmp_path):
    dest = tmp_path / "lab-multisite"
    subprocess.run(["cp", "-r", str(ROOT / "inventories" / "lab-multisite"), str(dest)], check=True)
    subprocess.run(["rm", "-rf", str(dest / ".credentials")], check=True)
    return dest


def test_lab_multisite_wiring(lab_copy, tmp_path):
    orthanc = _check(_wiring(lab_copy, tmp_path))
    scaled = [h for h, w in orthanc.items() if w["multiple_writers"]]
    assert sorted(scaled) == ["a2", "a3"]
    # site A: a Patroni cluster of three, reached with a libpq multi-host URI; site B one server
    assert orthanc["b1"]["pg_host"] == "127.0.0.1" and orthanc["b1"]["pg_hosts"] == []
    assert orthanc["a2"]["pg_hosts"] == ["medimg-lab-ms-a4", "medimg-lab-ms-a5", "medimg-lab-ms-a6"]


def test_example_multisite_wiring(tmp_path):
    secrets = ["-e", json.dumps({
        "vault_orthanc_db_password": "x", "vault_orthanc_admin_password": "y",
        "vault_orthanc_frontdoor_passwords": {"viewer": "v", "uploader": "u", "admin": "a", "peer": "p"},
        "vault_frontdoor_users": [{"name": "alice", "role": "viewer", "password": "w"}],
        "vault_peer_passwords": {"site_north_to_site_south": "n", "site_south_to_site_north": "s"}})]
    orthanc = _check(_wiring(ROOT / "inventories" / "example-multisite", tmp_path, secrets))
    assert orthanc["north-pacs1"]["modalities"][0]["name"] == "north-ct1"
    assert orthanc["north-pacs1"]["pg_hosts"] == ["north-db%d.pacs.example.org" % i for i in (1, 2, 3)]
    assert orthanc["south-pacs1"]["pg_hosts"] == []


def test_multiwriter_refuses_a_locked_index(tmp_path):
    book = tmp_path / "refuse.yml"
    book.write_text("""
- name: Refuse a locked multi-writer layout
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Check the layout
      ansible.builtin.include_role:
        name: medimg.pacs.orthanc
        tasks_from: multiwriter.yml
      vars:
        orthanc_multiple_writers: true
        orthanc_postgresql_lock: true
        orthanc_postgresql_enable_storage: true
""")
    proc = _run(["-i", "localhost,", "-c", "local", str(book)], tmp_path)
    assert proc.returncode != 0
    assert "orthanc_multiple_writers is true" in proc.stdout and "orthanc_postgresql_lock: false" in proc.stdout, proc.stdout[-2000:]
