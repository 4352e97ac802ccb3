"""The dcm4chee role against real services, without the WildFly/dcm4chee-arc downloads.

One lab container (systemd, the lab image) is converged with the role several times:

* preflight: no archives -> a clear stop naming the variables; a bad AE title -> stop;
* ``dcm4chee_components: [ldap]`` with no archive: slapd from the distribution, the DICOM schema of the
  standard (roles/dcm4chee/files/ldap/dicom.ldif) loaded through cn=config, the device/AE/connection
  rendered by the role's templates; queried back with ldapsearch; second converge changed=0;
* ``[ldap]`` with a stand-in "dcm4chee-arc-<ver>-psql.zip" built here with the real layout
  (ldap/schema, ldap/*.ldif, sql/psql): the archive-LDIF path (base DN / AE title / port replacements);
* ``[database]`` with the postgresql role creating the database and owner (the documented values), then
  the role running the stand-in create-psql.sql once; checked with psql; second converge changed=0;
* the WildFly CLI script, ldap.properties and systemd unit rendered with test values, the unit checked
  with ``systemd-analyze verify`` in the container.

The stand-in archive's SQL and LDIF content is a fixture; the real files come with the distribution.
Needs a Docker engine and the lab image (make image); skipped otherwise.
"""
import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "dcm4chee"
IMAGE = os.environ.get("MOLECULE_IMAGE", "medimg/lab-bookworm:latest")
PREFIX = os.environ.get("DCM4CHEE_TEST_CONTAINER_PREFIX", "medimg-dcm4chee-dev-it")
LDAP_PW = "it-ldap-" + uuid.uuid4().hex[:12]
DB_PW = "it-db-" + uuid.uuid4().hex[:12]
BASE_DN = "dc=medimg,dc=test"
ADMIN_DN = "cn=admin," + BASE_DN
ARC_VERSION = "5.99.0"

pytestmark = pytest.mark.integration


def _docker(*args, check=True, timeout=120):
    return subprocess.run(["docker"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, check=check, timeout=timeout)


def _docker_ok():
    if not shutil.which("docker"):
        return False
    if _docker("info", check=False).returncode != 0:
        return False
    return _docker("image", "inspect", IMAGE, check=False).returncode == 0


@pytest.fixture(scope="module")
def lab():
    if not _docker_ok():
        pytest.skip("needs a Docker engine and the lab image %s (make image)" % IMAGE)
    name = "%s-%d-%s" % (PREFIX, os.getpid(), uuid.uuid4().hex[:6])
    _docker("run", "-d", "--name", name, "--hostname", "dcm4chee-it",
            "--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined", "--cgroupns=host",
            "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run", "--tmpfs", "/run/lock", IMAGE)
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            state = _docker("exec", name, "systemctl", "is-system-running", check=False).stdout.strip()
            if state in ("running", "degraded"):
                break
            time.sleep(2)
        else:
            pytest.fail("systemd in %s did not come up (state %r)" % (name, state))
        yield name
    finally:
        _docker("rm", "-f", name, check=False)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("dcm4chee")


def _sh(lab, script, check=True):
    proc = _docker("exec", lab, "bash", "-c", script, check=False, timeout=300)
    if check and proc.returncode != 0:
        pytest.fail("in %s: %s\n%s" % (lab, script, proc.stdout))
    return proc


def _playbook(lab, workdir, plays, name):
    """Run plays (list of dicts) against the lab container; return (rc, output, changed count)."""
    path = workdir / ("%s.yml" % name)
    path.write_text(json.dumps(plays, indent=1))
    inv = workdir / "inventory.ini"
    inv.write_text("[dcm4chee]\n%s ansible_connection=community.docker.docker "
                   "ansible_python_interpreter=/usr/bin/python3\n" % lab)
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0",)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
                           "-i", str(inv), str(path)], cwd=str(ROOT), env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=1200,
                          check=False)
    (workdir / ("%s.log" % name)).write_text(proc.stdout)
    m = re.search(r"%s\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)" % re.escape(lab),
                  proc.stdout)
    changed = int(m.group(1)) if m else -1
    return proc.returncode, proc.stdout, changed


def _role_play(role_vars, roles=None):
    return [{"name": "dcm4chee test", "hosts": "dcm4chee", "become": True, "gather_facts": True,
             "roles": roles or [{"role": "medimg.pacs.dcm4chee", "vars": role_vars}]}]


def _base_vars(**extra):
    v = {"dcm4chee_ldap_admin_password": LDAP_PW, "dcm4chee_db_password": DB_PW,
         "dcm4chee_ldap_base_dn": BASE_DN, "dcm4chee_ldap_organisation": "medimg test"}
    v.update(extra)
    return v


def _ldapsearch(lab, base, flt="(objectClass=*)", attrs="", scope="sub"):
    return _sh(lab, "ldapsearch -o ldif-wrap=no -LLL -x -H ldap://127.0.0.1:389 -D '%s' -w '%s' -s %s -b '%s' '%s' %s"
               % (ADMIN_DN, LDAP_PW, scope, base, flt, attrs), check=False)


# ---- a stand-in distribution zip with the real layout ------------------------------------------------
@pytest.fixture(scope="module")
def arc_zip(workdir):
    top = "dcm4chee-arc-%s-psql" % ARC_VERSION
    path = workdir / ("%s.zip" % top)
    init = textwrap.dedent("""\
        dn: cn=DICOM Configuration,dc=dcm4che,dc=org
        objectClass: dicomConfigurationRoot
        cn: DICOM Configuration

        dn: cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org
        objectClass: dicomDevicesRoot
        cn: Devices

        dn: cn=Unique AE Titles Registry,cn=DICOM Configuration,dc=dcm4che,dc=org
        objectClass: dicomUniqueAETitlesRegistryRoot
        cn: Unique AE Titles Registry
        """)
    device = textwrap.dedent("""\
        dn: dicomAETitle=DCM4CHEE,cn=Unique AE Titles Registry,cn=DICOM Configuration,dc=dcm4che,dc=org
        objectClass: dicomUniqueAETitle
        dicomAETitle: DCM4CHEE

        dn: dicomDeviceName=dcm4chee-arc,cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org
        objectClass: dicomDevice
        dicomDeviceName: dcm4chee-arc
        dicomInstalled: TRUE
        dicomDescription: DCM4CHEE Archive stand-in

        dn: cn=dicom,dicomDeviceName=dcm4chee-arc,cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org
        objectClass: dicomNetworkConnection
        cn: dicom
        dicomHostname: localhost
        dicomPort: 11112

        dn: dicomAETitle=DCM4CHEE,dicomDeviceName=dcm4chee-arc,cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org
        objectClass: dicomNetworkAE
        dicomAETitle: DCM4CHEE
        dicomNetworkConnectionReference: cn=dicom,dicomDeviceName=dcm4chee-arc,cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org
        dicomAssociationInitiator: TRUE
        dicomAssociationAcceptor: TRUE
        """).replace("\n", "\r\n")  # the distribution ships LDIF with DOS line ends
    sql = textwrap.dedent("""\
        create table patient (pk int8 not null, created_time timestamp not null, primary key (pk));
        create table study (pk int8 not null, study_iuid varchar(255) not null, patient_fk int8,
                            primary key (pk));
        create sequence study_pk_seq;
        """)
    with zipfile.ZipFile(str(path), "w") as z:
        z.write(str(ROLE / "files" / "ldap" / "dicom.ldif"), top + "/ldap/schema/dicom.ldif")
        z.writestr(top + "/ldap/init-config.ldif", init)
        z.writestr(top + "/ldap/default-config.ldif", device)
        z.writestr(top + "/sql/psql/create-psql.sql", sql)
        z.writestr(top + "/sql/psql/create-fk-index.sql", "create index fk_study_patient on study (patient_fk);\n")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"dcm4chee_arc_archive_path": str(path), "dcm4chee_arc_archive_checksum": "sha256:" + digest,
            "dcm4chee_version": ARC_VERSION, "dcm4chee_ldap_schemas": ["dicom"]}


# ---- preflight ---------------------------------------------------------------------------------------
def test_preflight_stops_without_archives(lab, workdir):
    rc, out, _unused = _playbook(lab, workdir, _role_play(_base_vars()), "preflight-noarchive")
    assert rc != 0
    assert "dcm4chee_wildfly_archive_url" in out and "dcm4chee_arc_archive_path" in out, out[-3000:]


@pytest.mark.parametrize("aet", ["THIS_AE_IS_TOO_LONG", "BAD\\AE", ""])
def test_preflight_rejects_bad_ae_titles(lab, workdir, aet):
    rc, out, _unused = _playbook(lab, workdir, _role_play(_base_vars(dcm4chee_components=["ldap"], dcm4chee_aet=aet)),
                                 "preflight-aet")
    assert rc != 0
    assert "dcm4chee_aet must be 1 to 16 characters" in out, out[-3000:]


def test_preflight_rejects_default_passwords(lab, workdir):
    rc, out, _unused = _playbook(lab, workdir, _role_play(_base_vars(dcm4chee_components=["ldap"],
                                                                     dcm4chee_ldap_admin_password="secret")),
                                 "preflight-pw")
    assert rc != 0
    assert "dcm4chee_ldap_admin_password must be set" in out, out[-3000:]


# ---- LDAP without the distribution: the standard schema and the role's templates -----------------------
def test_ldap_standard_schema_and_device(lab, workdir):
    v = _base_vars(dcm4chee_components=["ldap"], dcm4chee_aet="IT_STD_AE", dcm4chee_device_name="it-std",
                   dcm4chee_dicom_port=11119, dcm4chee_dicom_hostname="pacs.it.test")
    rc, out, changed = _playbook(lab, workdir, _role_play(v), "ldap-std-1")
    assert rc == 0, out[-5000:]
    assert changed > 0
    rc, out, changed = _playbook(lab, workdir, _role_play(v), "ldap-std-2")
    assert rc == 0, out[-5000:]
    assert changed == 0, "second converge not idempotent:\n" + out[-5000:]

    schema = _sh(lab, "ldapsearch -o ldif-wrap=no -Q -LLL -Y EXTERNAL -H ldapi:/// -b cn=schema,cn=config "
                      "'(cn=*dicom)' olcObjectClasses olcAttributeTypes").stdout
    for oid, name in [("1.2.840.10008.15.0.4.4", "dicomDevice"), ("1.2.840.10008.15.0.4.5", "dicomNetworkAE"),
                      ("1.2.840.10008.15.0.4.6", "dicomNetworkConnection"),
                      ("1.2.840.10008.15.0.3.7", "dicomAETitle"), ("1.2.840.10008.15.0.3.13", "dicomPort")]:
        assert re.search(r"\( %s NAME '%s'" % (re.escape(oid), name), schema), name

    suffix = _sh(lab, "ldapsearch -o ldif-wrap=no -Q -LLL -Y EXTERNAL -H ldapi:/// -b cn=config "
                      "'(olcSuffix=*)' olcSuffix olcRootDN").stdout
    assert "olcSuffix: %s" % BASE_DN in suffix and "olcRootDN: %s" % ADMIN_DN in suffix

    ae = _ldapsearch(lab, BASE_DN, "(&(objectClass=dicomNetworkAE)(dicomAETitle=IT_STD_AE))",
                     "dicomNetworkConnectionReference dicomAssociationAcceptor")
    assert ae.returncode == 0, ae.stdout
    assert "dn: dicomAETitle=IT_STD_AE,dicomDeviceName=it-std,cn=Devices,cn=DICOM Configuration,%s" % BASE_DN \
        in ae.stdout
    ref = re.search(r"^dicomNetworkConnectionReference: (.+)$", ae.stdout, re.M).group(1).strip()
    conn = _ldapsearch(lab, ref, attrs="dicomHostname dicomPort", scope="base")
    assert "dicomPort: 11119" in conn.stdout and "dicomHostname: pacs.it.test" in conn.stdout, conn.stdout
    reg = _ldapsearch(lab, "cn=Unique AE Titles Registry,cn=DICOM Configuration," + BASE_DN,
                      "(dicomAETitle=IT_STD_AE)", "dn")
    assert "dicomAETitle=IT_STD_AE" in reg.stdout
    tc = _ldapsearch(lab, BASE_DN, "(&(objectClass=dicomTransferCapability)(dicomSOPClass=1.2.840.10008.1.1))",
                     "dicomTransferRole")
    assert "dicomTransferRole: SCP" in tc.stdout
    # slapd listens on loopback only by default
    listen = _sh(lab, "cat /etc/default/slapd").stdout
    assert 'SLAPD_SERVICES="ldap://127.0.0.1:389/ ldapi:///"' in listen

    # a changed port is enforced on the next converge
    v["dcm4chee_dicom_port"] = 11120
    rc, out, changed = _playbook(lab, workdir, _role_play(v), "ldap-std-3")
    assert rc == 0 and changed >= 1, out[-5000:]  # the attribute (and the rendered LDIF copy)
    conn = _ldapsearch(lab, ref, attrs="dicomPort", scope="base")
    assert "dicomPort: 11120" in conn.stdout


# ---- LDAP with the distribution's own LDIF files ------------------------------------------------------
def test_ldap_archive_ldifs_edited_from_inventory(lab, workdir, arc_zip):
    v = _base_vars(dcm4chee_components=["ldap"], dcm4chee_aet="IT_ARC", dcm4chee_dicom_port=11112 + 7,
                   dcm4chee_dicom_hostname="arc.it.test", **arc_zip)
    rc, out, changed = _playbook(lab, workdir, _role_play(v), "ldap-arc-1")
    assert rc == 0, out[-5000:]
    rc, out, changed = _playbook(lab, workdir, _role_play(v), "ldap-arc-2")
    assert rc == 0 and changed == 0, out[-5000:]
    dev = "dicomDeviceName=dcm4chee-arc,cn=Devices,cn=DICOM Configuration," + BASE_DN
    ae = _ldapsearch(lab, dev, "(objectClass=dicomNetworkAE)", "dicomAETitle")
    assert "dicomAETitle: IT_ARC" in ae.stdout and "DCM4CHEE" not in ae.stdout, ae.stdout
    conn = _ldapsearch(lab, "cn=dicom," + dev, attrs="dicomHostname dicomPort", scope="base")
    assert "dicomPort: 11119" in conn.stdout and "dicomHostname: arc.it.test" in conn.stdout, conn.stdout
    assert _ldapsearch(lab, "dc=dcm4che,dc=org", scope="base").returncode != 0
    _sh(lab, "test -L /opt/dcm4chee/current && test -d /opt/dcm4chee/current/dcm4chee-arc-%s-psql/ldap" % ARC_VERSION)


def test_archive_checksum_mismatch_stops(lab, workdir, arc_zip):
    bad = dict(arc_zip, dcm4chee_arc_archive_checksum="sha256:" + "0" * 64)
    rc, out, _unused = _playbook(lab, workdir, _role_play(_base_vars(dcm4chee_components=["ldap"], **bad)),
                                 "ldap-arc-badsum")
    assert rc != 0 and "does not match dcm4chee_arc_archive_checksum" in out, out[-3000:]


# ---- the archive tables in PostgreSQL, database and owner from the postgresql role ----------------------
def test_database_schema_with_postgresql_role(lab, workdir, arc_zip):
    if not (ROOT / "roles" / "postgresql" / "tasks" / "main.yml").is_file():
        pytest.skip("the postgresql role is not in this checkout")
    pg_vars = {"postgresql_users": [{"name": "pacs", "password": DB_PW}],
               "postgresql_databases": [{"name": "pacsdb", "owner": "pacs"}]}
    roles = [{"role": "medimg.pacs.postgresql", "vars": pg_vars},
             {"role": "medimg.pacs.dcm4chee", "vars": _base_vars(dcm4chee_components=["database"], **arc_zip)}]
    rc, out, changed = _playbook(lab, workdir, _role_play(None, roles), "db-1")
    assert rc == 0, out[-6000:]
    rc, out, changed = _playbook(lab, workdir, _role_play(None, roles), "db-2")
    assert rc == 0 and changed == 0, out[-6000:]
    q = _sh(lab, "PGPASSWORD='%s' psql -X -w -tA -h 127.0.0.1 -U pacs -d pacsdb -c "
                 "\"select string_agg(tablename, ',' order by tablename) from pg_tables where tableowner='pacs'\""
            % DB_PW).stdout.strip()
    assert q == "patient,study", q
    idx = _sh(lab, "PGPASSWORD='%s' psql -X -w -tA -h 127.0.0.1 -U pacs -d pacsdb -c "
                   "\"select count(*) from pg_indexes where indexname='fk_study_patient'\"" % DB_PW).stdout.strip()
    assert idx == "1"


# ---- WildFly CLI script, ldap.properties, systemd unit --------------------------------------------------
def test_rendered_wildfly_cli_and_unit(lab, workdir):
    out_dir = workdir / "rendered"
    out_dir.mkdir(exist_ok=True)
    home = "/opt/dcm4chee/current/wildfly-32.0.1.Final"
    role_vars = _base_vars(
        dcm4chee_aet="IT_RENDER", dcm4chee_db_host="db.it.test", dcm4chee_db_port=5433,
        dcm4chee_db_name="itpacs", dcm4chee_db_user="itpacs", dcm4chee_http_port=8081,
        dcm4chee_jms_queues=[{"name": "StgCmtSCP"}, {"name": "Export1", "entries": ["java:/jms/queue/Export1"]}],
        dcm4chee_system_properties={"org.example.flag": "on"}, dcm4chee_device_name="it-render",
        __dcm4chee_ear="/opt/x/deploy/dcm4chee-arc-ear-5.33.1-psql.ear",
        __dcm4chee_ui_war="/opt/x/deploy/dcm4chee-arc-ui2-5.33.1.war",
        dcm4chee_components=["archive"])
    test_vars = workdir / "render-vars.json"
    test_vars.write_text(json.dumps(role_vars))
    plays = [{"name": "render", "hosts": "localhost", "connection": "local", "gather_facts": False,
              # vars_files outrank play vars: the test values come last, as a file of their own
              "vars_files": [str(ROLE / "defaults" / "main.yml"), str(ROLE / "vars" / "main.yml"),
                             str(ROLE / "vars" / "Debian.yml"), str(test_vars)],
              "tasks": [{"name": "render " + t, "ansible.builtin.template": {
                  "src": str(ROLE / "templates" / (t + ".j2")), "dest": str(out_dir / t), "mode": "0600"}}
                  for t in ("dcm4chee-arc.cli", "dcm4chee-arc.service", "ldap.properties",
                            "postgresql-module.xml")]}]
    rc, out, _unused = _playbook(lab, workdir, plays, "render")
    assert rc == 0, out[-4000:]
    cli = (out_dir / "dcm4chee-arc.cli").read_text()
    assert cli.splitlines()[0].startswith("#")
    assert "embed-server --server-config=dcm4chee-arc.xml" in cli and cli.rstrip().endswith("stop-embedded-server")
    assert "/subsystem=datasources/jdbc-driver=psql:add(driver-name=psql,driver-module-name=org.postgresql" in cli
    assert 'connection-url="jdbc:postgresql://db.it.test:5433/itpacs"' in cli
    assert 'user-name="itpacs"' in cli and DB_PW in cli
    assert "if (outcome != success) of /subsystem=datasources/data-source=PacsDS:read-resource" in cli
    assert '/subsystem=messaging-activemq/server=default/jms-queue=StgCmtSCP:add(entries=["java:/jms/queue/StgCmtSCP"])' in cli
    assert "jms-queue=Export1:add" in cli
    assert '/system-property=dcm4chee-arc.DeviceName:add(value="it-render")' in cli
    assert '/system-property=org.example.flag:add(value="on")' in cli
    assert "  deploy /opt/x/deploy/dcm4chee-arc-ear-5.33.1-psql.ear" in cli
    assert "  deploy /opt/x/deploy/dcm4chee-arc-ui2-5.33.1.war" in cli
    assert cli.count("if (outcome") == cli.count("end-if")
    props = (out_dir / "ldap.properties").read_text()
    assert "java.naming.provider.url=ldap://127.0.0.1:389/%s" % BASE_DN in props
    assert "java.naming.security.credentials=%s" % LDAP_PW in props
    unit = (out_dir / "dcm4chee-arc.service").read_text()
    assert "-b 127.0.0.1 -bmanagement 127.0.0.1 -Djboss.http.port=8081" in unit
    assert "ExecStart=%s/bin/standalone.sh -c dcm4chee-arc.xml" % home in unit

    # systemd-analyze verify in the lab container, with the user and a stand-in standalone.sh present
    _docker("cp", str(out_dir / "dcm4chee-arc.service"), "%s:/etc/systemd/system/dcm4chee-arc.service" % lab)
    _sh(lab, "getent passwd dcm4chee >/dev/null || useradd -r -M -d /opt/dcm4chee -s /usr/sbin/nologin dcm4chee; "
             "mkdir -p %s/bin %s/standalone /var/lib/dcm4chee/storage/fs1 && printf '#!/bin/sh\\nexit 0\\n' "
             "> %s/bin/standalone.sh && chmod 755 %s/bin/standalone.sh" % (home, home, home, home))
    verify = _sh(lab, "systemd-analyze verify /etc/systemd/system/dcm4chee-arc.service 2>&1", check=False)
    assert verify.returncode == 0, verify.stdout
    assert "dcm4chee-arc.service" not in verify.stdout, verify.stdout
    _sh(lab, "rm -f /etc/systemd/system/dcm4chee-arc.service")
