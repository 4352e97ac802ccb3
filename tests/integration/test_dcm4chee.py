"""The dcm4chee role against real services, without the WildFly/dcm4chee-arc downloads.

One lab container (systemd, the lab image) is converged with the role several times:

* preflight: no archives -> a clear stop naming the variables; a bad AE title -> stop;
* ``dcm4chee_components: [ldap]`` with the archive's own files (below): slapd from the distribution, the
  archive's schemas loaded through cn=config, its device/AE/connection with the inventory's values;
  queried back with ldapsearch; second converge changed=0;
* the archive's own LDAP account, probed as that account: it binds, finds and writes the DICOM
  configuration, and reads/writes nothing else (base entry, other subtrees, its own entry, cn=config);
  its access rules sit first, before the distribution's; a password change and a removed rule are put
  right by the next converge;
* secrets: no admin password file on the host after a run (also after a run that failed half-way), no
  password in any file under /etc /var /root /tmp /run /opt, none in ``ansible-playbook -vvv`` output
  (command lines, environment, results), and no task of the role puts one in ``environment``/argv;
* ``[ldap]`` with a stand-in "dcm4chee-arc-<ver>-psql.zip" built here with the real layout
  (ldap/schema, ldap/*.ldif, sql/psql): the archive-LDIF path (base DN / AE title / port replacements);
* ``[database]`` with the postgresql role creating the database and owner (the documented values), then
  the role running the stand-in create-psql.sql once; checked with psql; second converge changed=0;
* the WildFly CLI script, ldap.properties and systemd unit rendered with test values, the unit checked
  with ``systemd-analyze verify`` in the container.

* with the archive's own configuration files (5.35.1, from ``<repo>/../shared/upstream``; zipped in tmp at
  test time as inside the distribution, never copied into the project; skipped with the reason when
  absent), on a lab host of their own: ``[database]`` runs the archive's create-psql.sql,
  create-fk-index.sql and create-case-insensitive-index.sql once (tables and indexes read back from
  information_schema / pg_indexes; second converge changed=0); ``[ldap]`` loads the archive's four
  schemas in its order and its init-config / default-config / default-ui-config LDIFs with the
  inventory's device name, AE title, host, port and storage (read back with the archive's object
  classes; second converge changed=0), and the bind of the rendered ldap.properties finds the device.

The stand-in archive's SQL and LDIF content is a fixture of its own (no excerpt of the real files).
Needs a Docker engine and the lab image (make image); skipped otherwise.
"""
import base64
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
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "dcm4chee"
IMAGE = os.environ.get("MOLECULE_IMAGE", "medimg/lab-bookworm:latest")
PREFIX = os.environ.get("DCM4CHEE_TEST_CONTAINER_PREFIX", "medimg-dcm4chee-dev-it")
LDAP_PW = "it-ldap-" + uuid.uuid4().hex[:12]
ARC_PW = "it-arc-" + uuid.uuid4().hex[:12]
DB_PW = "it-db-" + uuid.uuid4().hex[:12]
BASE_DN = "dc=medimg,dc=test"
ADMIN_DN = "cn=admin," + BASE_DN
ARC_DN = "cn=dcm4chee-arc," + BASE_DN
CONFIG_DN = "cn=DICOM Configuration," + BASE_DN
# The rules the role puts first in the olcAccess of the main database.
ARC_ACCESS = [
    'to dn.subtree="%s" by dn.exact="%s" write by * break' % (CONFIG_DN, ARC_DN),
    'to dn.base="%s" attrs=entry by dn.exact="%s" search by * break' % (BASE_DN, ARC_DN),
    'to * by dn.exact="%s" none by * break' % ARC_DN,
]
ADMIN_PW_FILES = ("/run/dcm4chee-ldap/admin.pw", "/etc/ldap/dcm4chee/admin.pw")
ARC_VERSION = "5.99.0"
# The archive's own configuration files (ldap/, sql/psql/, configuration/), beside the checkout.
UPSTREAM = ROOT.parent / "shared" / "upstream" / "dcm4chee-arc-5.35.1-config"
UPSTREAM_VERSION = "5.35.1"

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


def _lab_container():
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
def lab():
    yield from _lab_container()


@pytest.fixture(scope="module")
def upstream_lab(upstream_arc_zip):
    """A lab host of its own for the archive's real configuration files (a slapd and a PostgreSQL that
    have seen nothing else)."""
    yield from _lab_container()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("dcm4chee")


def _sh(lab, script, check=True, stdin=None):
    if stdin is None:
        proc = _docker("exec", lab, "bash", "-c", script, check=False, timeout=300)
    else:
        proc = subprocess.run(["docker", "exec", "-i", lab, "bash", "-c", script], input=stdin,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                              timeout=300, check=False)
    if check and proc.returncode != 0:
        pytest.fail("in %s: %s\n%s" % (lab, script, proc.stdout))
    return proc


def _playbook(lab, workdir, plays, name, verbose=False):
    """Run plays (list of dicts) against the lab container; return (rc, output, changed count).

    verbose: with -vvv (every command line, environment and module result is in the output)."""
    path = workdir / ("%s.yml" % name)
    path.write_text(json.dumps(plays, indent=1))
    inv = workdir / "inventory.ini"
    inv.write_text("[dcm4chee]\n%s ansible_connection=community.docker.docker "
                   "ansible_python_interpreter=/usr/bin/python3\n" % lab)
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0",)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
                           "-i", str(inv), str(path)] + (["-vvv"] if verbose else []),
                          cwd=str(ROOT), env=env, stdout=subprocess.PIPE,
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
         "dcm4chee_ldap_archive_password": ARC_PW,
         "dcm4chee_ldap_base_dn": BASE_DN, "dcm4chee_ldap_organisation": "medimg test"}
    v.update(extra)
    return v


def _ldapsearch(lab, base, flt="(objectClass=*)", attrs="", scope="sub", bind=(ADMIN_DN, LDAP_PW)):
    return _sh(lab, "ldapsearch -o ldif-wrap=no -LLL -x -H ldap://127.0.0.1:389 -D '%s' -w '%s' -s %s -b '%s' '%s' %s"
               % (bind[0], bind[1], scope, base, flt, attrs), check=False)


def _ldap_write(lab, tool, ldif_or_args, bind, stdin=True):
    """ldapadd/ldapmodify (LDIF on stdin) or ldapdelete/ldappasswd (arguments) bound as bind=(dn, pw)."""
    base = "%s -x -H ldap://127.0.0.1:389 -D '%s' -w '%s'" % (tool, bind[0], bind[1])
    if stdin:
        return _sh(lab, base, check=False, stdin=ldif_or_args)
    return _sh(lab, base + " " + ldif_or_args, check=False)


def _olc_access(lab):
    """olcAccess of the main database, in order, without the {n} prefixes."""
    out = _sh(lab, "ldapsearch -o ldif-wrap=no -Q -LLL -Y EXTERNAL -H ldapi:/// -b cn=config "
                   "'(olcSuffix=%s)' olcAccess" % BASE_DN).stdout
    return [re.sub(r"^\{\d+\}", "", line[len("olcAccess: "):]) for line in out.splitlines()
            if line.startswith("olcAccess: ")]


def _files_with(lab, *secrets):
    """Files under the places a role writes to that contain any of the secrets (fixed strings)."""
    pats = " ".join("-e '%s'" % s for s in secrets)
    return _sh(lab, "grep -rlsF %s /etc /var /root /tmp /run /opt /srv /home "
                    "--exclude-dir=postgresql || true" % pats).stdout.split()


def _assert_no_secret_in(out, *secrets):
    for s in secrets:
        assert s not in out, "a password is in the ansible-playbook output:\n" + "\n".join(
            line for line in out.splitlines() if s in line)[:3000]


def _std_vars(arc, **extra):
    v = _base_vars(dcm4chee_components=["ldap"], **arc)
    v.update(dict(dcm4chee_aet="IT_STD_AE", dcm4chee_device_name="it-std",
                  dcm4chee_dicom_port=11119, dcm4chee_dicom_hostname="pacs.it.test"))
    v.update(extra)
    return v


# ---- the role's tasks: no secret in environment or on a command line ---------------------------------
def _tasks(node):
    if isinstance(node, list):
        for item in node:
            yield from _tasks(item)
    elif isinstance(node, dict):
        yield node
        for key in ("block", "rescue", "always"):
            yield from _tasks(node.get(key) or [])


def test_no_secret_in_task_environment_or_command_line():
    # what a task templates in ({{ ... }}) must not name a password (a path to a password file is fine)
    secret = re.compile(r"password|passwd|_pw\b|secret|credential", re.I)

    def secrets_in(value):
        exprs = re.findall(r"{{(.*?)}}", json.dumps(value), re.S)
        return [e for e in exprs if secret.search(e.replace("__dcm4chee_ldap_admin_pw_file", ""))]

    files = sorted((ROLE / "tasks").glob("*.yml")) + [ROLE / "handlers" / "main.yml"]
    checked = 0
    for path in files:
        for task in _tasks(yaml.safe_load(path.read_text()) or []):
            name = "%s: %s" % (path.name, task.get("name"))
            assert not secrets_in(task.get("environment", {})), "%s: a secret in environment" % name
            for module in ("ansible.builtin.command", "ansible.builtin.shell", "command", "shell"):
                if module in task:
                    args = task[module]
                    cmd = (args.get("argv") or args.get("cmd") or "") if isinstance(args, dict) else args
                    assert not secrets_in(cmd), "%s: a secret on the command line: %s" % (name, cmd)
                    stdin = args.get("stdin", "") if isinstance(args, dict) else ""
                    assert not secrets_in(stdin) or task.get("no_log"), "%s: a secret on stdin, not no_log" % name
                    checked += 1
    assert checked > 10


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
        # the schema is the archive's own (from ../shared, when there; the tests that load it need it)
        if (UPSTREAM / "ldap" / "slapd" / "dicom.ldif").is_file():
            z.write(str(UPSTREAM / "ldap" / "slapd" / "dicom.ldif"), top + "/ldap/schema/dicom.ldif")
        z.writestr(top + "/ldap/init-config.ldif", init)
        z.writestr(top + "/ldap/default-config.ldif", device)
        z.writestr(top + "/sql/psql/create-psql.sql", sql)
        z.writestr(top + "/sql/psql/create-fk-index.sql", "create index fk_study_patient on study (patient_fk);\n")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"dcm4chee_arc_archive_path": str(path), "dcm4chee_arc_archive_checksum": "sha256:" + digest,
            "dcm4chee_version": ARC_VERSION, "dcm4chee_ldap_schemas": ["dicom"]}


# ---- the archive's own configuration files (5.35.1), from ../shared, zipped as in the distribution --------
@pytest.fixture(scope="module")
def upstream_arc_zip(workdir):
    """A distribution zip with the archive's real ldap/, sql/ and configuration/ trees, built in tmp at
    test time from <repo>/../shared/upstream (never copied into the project); skipped without them."""
    if not (UPSTREAM / "sql" / "psql" / "create-psql.sql").is_file() or not (UPSTREAM / "ldap" / "slapd").is_dir():
        pytest.skip("the archive's configuration files are not at %s (see issue 14)" % UPSTREAM)
    top = "dcm4chee-arc-%s-psql" % UPSTREAM_VERSION
    path = workdir / ("%s.zip" % top)
    with zipfile.ZipFile(str(path), "w", zipfile.ZIP_DEFLATED) as z:
        for sub in ("ldap", "sql", "configuration"):
            for f in sorted((UPSTREAM / sub).rglob("*")):
                if f.is_file():
                    z.write(str(f), "%s/%s" % (top, f.relative_to(UPSTREAM).as_posix()))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"dcm4chee_arc_archive_path": str(path), "dcm4chee_arc_archive_checksum": "sha256:" + digest,
            "dcm4chee_version": UPSTREAM_VERSION}


def _psql(lab, sql):
    return _sh(lab, "PGPASSWORD='%s' psql -X -w -tA -h 127.0.0.1 -U pacs -d pacsdb -c \"%s\"" % (DB_PW, sql)).stdout.strip()


def test_database_schema_from_the_archive_sql(upstream_lab, workdir, upstream_arc_zip):
    if not (ROOT / "roles" / "postgresql" / "tasks" / "main.yml").is_file():
        pytest.skip("the postgresql role is not in this checkout")
    pg_vars = {"postgresql_users": [{"name": "pacs", "password": DB_PW}],
               "postgresql_databases": [{"name": "pacsdb", "owner": "pacs"}]}
    roles = [{"role": "medimg.pacs.postgresql", "vars": pg_vars},
             {"role": "medimg.pacs.dcm4chee", "vars": _base_vars(dcm4chee_components=["database"], **upstream_arc_zip)}]
    rc, out, changed = _playbook(upstream_lab, workdir, _role_play(None, roles), "updb-1")
    assert rc == 0, out[-6000:]
    assert re.search(r"Create the archive tables.*?create-psql\.sql", out, re.S), out[-6000:]
    rc, out, changed = _playbook(upstream_lab, workdir, _role_play(None, roles), "updb-2")
    assert rc == 0 and changed == 0, out[-6000:]
    tables = set(_psql(upstream_lab, "select string_agg(table_name, ',') from information_schema.tables "
                                     "where table_schema='public'").split(","))
    for table in ("patient", "study", "series", "instance"):
        assert table in tables, tables
    assert len(tables) > 30, tables  # the whole schema of create-psql.sql, not a few tables
    indexes = _psql(upstream_lab, "select string_agg(tablename || ':' || indexdef, E'\\n') from pg_indexes "
                                  "where schemaname='public'").splitlines()
    # create-case-insensitive-index.sql: upper() indexes on the study and series descriptions and names
    upper = [line for line in indexes if "upper(" in line.lower()]
    for table in ("study", "series", "person_name"):
        assert any(line.startswith(table + ":") for line in upper), (table, upper)
    # create-fk-index.sql: indexes on the foreign keys (e.g. study.patient_fk)
    assert any(line.startswith("study:") and "(patient_fk)" in line for line in indexes), indexes
    assert _psql(upstream_lab, "select tableowner from pg_tables where tablename='study'") == "pacs"


UP_AET, UP_DEVICE, UP_PORT, UP_HOST = "IT_UP_AE", "it-up-arc", 11124, "arc-up.it.test"


def _upstream_ldap_vars(upstream_arc_zip):
    return _base_vars(dcm4chee_components=["ldap"], dcm4chee_aet=UP_AET, dcm4chee_device_name=UP_DEVICE,
                      dcm4chee_dicom_port=UP_PORT, dcm4chee_dicom_hostname=UP_HOST, **upstream_arc_zip)


def _attr_values(ldif, attr):
    return [line.split(": ", 1)[1] for line in ldif.splitlines() if line.lower().startswith(attr.lower() + ": ")]


def test_ldap_archive_schemas_and_default_config(upstream_lab, workdir, upstream_arc_zip):
    v = _upstream_ldap_vars(upstream_arc_zip)
    rc, out, changed = _playbook(upstream_lab, workdir, _role_play(v), "upldap-1")
    assert rc == 0, out[-6000:]
    rc, out, changed = _playbook(upstream_lab, workdir, _role_play(v), "upldap-2")
    assert rc == 0 and changed == 0, out[-6000:]

    # the archive's four schemas, in the archive's order, in cn=config
    schemas = _sh(upstream_lab, "ldapsearch -o ldif-wrap=no -Q -LLL -Y EXTERNAL -H ldapi:/// -b cn=schema,cn=config -s one cn").stdout
    names = [re.sub(r"^\{\d+\}", "", cn) for cn in _attr_values(schemas, "cn")]
    wanted = ["dicom", "dcm4che", "dcm4chee-archive", "dcm4chee-archive-ui"]
    assert [n for n in names if n in wanted] == wanted, names

    # the device of default-config.ldif, renamed to the inventory's, with the archive's object classes
    dev = "dicomDeviceName=%s,cn=Devices,%s" % (UP_DEVICE, CONFIG_DN)
    entry = _ldapsearch(upstream_lab, dev, scope="base", attrs="objectClass dicomDeviceName")
    assert entry.returncode == 0, entry.stdout
    classes = set(_attr_values(entry.stdout, "objectClass"))
    assert {"dicomDevice", "dcmDevice", "dcmArchiveDevice"} <= classes, classes
    assert _ldapsearch(upstream_lab, "dicomDeviceName=dcm4chee-arc,cn=Devices," + CONFIG_DN, scope="base").returncode != 0

    # its AE titles: the inventory's instead of DCM4CHEE, network AE classes of dicom, dcm4che and the archive
    aes = _ldapsearch(upstream_lab, dev, "(objectClass=dicomNetworkAE)", "dicomAETitle objectClass", scope="one").stdout
    titles = _attr_values(aes, "dicomAETitle")
    assert UP_AET in titles and "DCM4CHEE" not in titles, titles
    ae = _ldapsearch(upstream_lab, "dicomAETitle=%s,%s" % (UP_AET, dev), scope="base",
                     attrs="objectClass dicomNetworkConnectionReference dicomAssociationAcceptor").stdout
    assert {"dicomNetworkAE", "dcmNetworkAE", "dcmArchiveNetworkAE"} <= set(_attr_values(ae, "objectClass")), ae
    assert "cn=dicom,%s" % dev in _attr_values(ae, "dicomNetworkConnectionReference"), ae
    registry = _ldapsearch(upstream_lab, "cn=Unique AE Titles Registry," + CONFIG_DN, "(dicomAETitle=%s)" % UP_AET,
                           "dicomAETitle", scope="one").stdout
    assert _attr_values(registry, "dicomAETitle") == [UP_AET], registry
    conn = _ldapsearch(upstream_lab, "cn=dicom," + dev, scope="base", attrs="dicomHostname dicomPort").stdout
    assert _attr_values(conn, "dicomHostname") == [UP_HOST] and _attr_values(conn, "dicomPort") == [str(UP_PORT)], conn
    storage = _ldapsearch(upstream_lab, "dcmStorageID=fs1," + dev, scope="base", attrs="dcmURI").stdout
    assert _attr_values(storage, "dcmURI") == ["file:///var/lib/dcm4chee/storage/fs1/"], storage
    # the UI configuration of default-ui-config.ldif, under the same device
    ui = _ldapsearch(upstream_lab, dev, "(objectClass=dcmuiConfig)", "dcmuiConfigName", scope="one").stdout
    assert "default" in _attr_values(ui, "dcmuiConfigName"), ui
    # the stock base DN is nowhere
    assert _ldapsearch(upstream_lab, "dc=dcm4che,dc=org", scope="base").returncode != 0


def test_ldap_bind_of_the_rendered_ldap_properties(upstream_lab, workdir, upstream_arc_zip):
    """The archive binds with what ldap.properties says (URL with base DN, principal, credentials)."""
    v = _upstream_ldap_vars(upstream_arc_zip)
    test_vars = workdir / "upprops-vars.json"
    test_vars.write_text(json.dumps(v))
    plays = [{"name": "render ldap.properties", "hosts": "dcm4chee", "gather_facts": False,
              "vars_files": [str(ROLE / "defaults" / "main.yml"), str(ROLE / "vars" / "main.yml"), str(test_vars)],
              "tasks": [{"name": "Render ldap.properties", "no_log": True, "ansible.builtin.template": {
                  "src": str(ROLE / "templates" / "ldap.properties.j2"), "dest": "/root/it-ldap.properties",
                  "mode": "0600"}}]}]
    rc, out, _unused = _playbook(upstream_lab, workdir, plays, "upprops")
    assert rc == 0, out[-4000:]
    props = {}
    for line in _sh(upstream_lab, "cat /root/it-ldap.properties").stdout.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            props[key] = value
    url, base = props["java.naming.provider.url"].rsplit("/", 1)
    assert base == BASE_DN
    principal, credentials = props["java.naming.security.principal"], props["java.naming.security.credentials"]
    assert principal == ARC_DN and principal != ADMIN_DN
    found = _sh(upstream_lab, "ldapsearch -o ldif-wrap=no -LLL -x -H '%s' -D '%s' -y /dev/stdin -b '%s' "
                              "'(&(objectClass=dcmArchiveDevice)(dicomDeviceName=%s))' dicomDeviceName"
                % (url, principal, base, UP_DEVICE), stdin=credentials, check=False)
    assert found.returncode == 0, found.stdout
    assert _attr_values(found.stdout, "dicomDeviceName") == [UP_DEVICE], found.stdout
    _sh(upstream_lab, "rm -f /root/it-ldap.properties")


# ---- preflight ---------------------------------------------------------------------------------------
def test_preflight_stops_without_archives(lab, workdir):
    rc, out, _unused = _playbook(lab, workdir, _role_play(_base_vars()), "preflight-noarchive")
    assert rc != 0
    assert "dcm4chee_wildfly_archive_url" in out and "dcm4chee_arc_archive_path" in out, out[-3000:]


@pytest.mark.parametrize("aet", ["THIS_AE_IS_TOO_LONG", "BAD\\AE", ""])
def test_preflight_rejects_bad_ae_titles(lab, workdir, arc_zip, aet):
    rc, out, _unused = _playbook(lab, workdir, _role_play(_base_vars(dcm4chee_components=["ldap"], dcm4chee_aet=aet,
                                                                     **arc_zip)),
                                 "preflight-aet")
    assert rc != 0
    assert "dcm4chee_aet must be 1 to 16 characters" in out, out[-3000:]


def test_preflight_rejects_default_passwords(lab, workdir, arc_zip):
    rc, out, _unused = _playbook(lab, workdir, _role_play(_base_vars(dcm4chee_components=["ldap"],
                                                                     dcm4chee_ldap_admin_password="secret", **arc_zip)),
                                 "preflight-pw")
    assert rc != 0
    # the collection's password rule (medimg.pacs.password_problems) names the variable, never the value
    assert "dcm4chee_ldap_admin_password: password is shorter than 12 characters" in out, out[-3000:]


@pytest.mark.parametrize("extra, message", [
    ({"dcm4chee_ldap_archive_password": ""}, "dcm4chee_ldap_archive_password: password is empty"),
    ({"dcm4chee_ldap_archive_password": "dcm4chee"}, "dcm4chee_ldap_archive_password: password is shorter than 12"),
    ({"dcm4chee_ldap_archive_password": "Secret123456!"},
     "dcm4chee_ldap_archive_password: password is a well-known password with digits or symbols added"),
    ({"dcm4chee_ldap_archive_password": LDAP_PW}, "dcm4chee_ldap_archive_password must differ"),
    ({"dcm4chee_ldap_archive_dn": ADMIN_DN}, "dcm4chee_ldap_archive_dn"),
    ({"dcm4chee_ldap_archive_dn": "cn=arc,cn=Devices," + CONFIG_DN}, "outside 'cn=DICOM Configuration,"),
    ({"dcm4chee_ldap_archive_dn": "uid=arc,dc=elsewhere,dc=test"}, "must be a cn=... entry under"),
])
def test_preflight_checks_the_archive_ldap_account(lab, workdir, arc_zip, extra, message):
    rc, out, _unused = _playbook(lab, workdir, _role_play(_base_vars(dcm4chee_components=["ldap"],
                                                                     **dict(arc_zip, **extra))),
                                 "preflight-arc")
    assert rc != 0
    assert message in out, out[-3000:]
    assert "Install slapd" not in out  # stopped in preflight


def test_preflight_archive_only_needs_no_admin_password(lab, workdir):
    # WildFly binds with the archive's account: a host with only the archive component needs no root password
    rc, out, _unused = _playbook(lab, workdir, _role_play(_base_vars(dcm4chee_components=["archive"],
                                                                     dcm4chee_ldap_admin_password="")),
                                 "preflight-archive-only")
    assert rc != 0  # the archives are not supplied here
    assert "dcm4chee_ldap_admin_password" not in out and "dcm4chee_wildfly_archive_url" in out, out[-3000:]


def test_preflight_ldap_needs_the_archive(lab, workdir):
    # the role ships no schema or LDIF of its own: the LDAP stage needs the distribution's
    rc, out, _unused = _playbook(lab, workdir, _role_play(_base_vars(dcm4chee_components=["ldap"])), "preflight-ldap")
    assert rc != 0 and "dcm4chee_arc_archive_path" in out and "Install slapd" not in out, out[-3000:]


# ---- LDAP with the archive's own schemas and LDIFs: slapd, the device, the archive's account ------------
def test_ldap_standard_schema_and_device(lab, workdir, upstream_arc_zip):
    v = _std_vars(upstream_arc_zip)
    rc, out, changed = _playbook(lab, workdir, _role_play(v), "ldap-std-1", verbose=True)
    assert rc == 0, out[-5000:]
    assert changed > 0
    # -vvv shows every command line, environment and unmasked result: no password in any of them
    _assert_no_secret_in(out, LDAP_PW, ARC_PW)
    # the admin password file is gone, and no file holds a password in clear
    _sh(lab, "! ls -d %s 2>/dev/null" % " ".join(ADMIN_PW_FILES))
    assert _files_with(lab, LDAP_PW, ARC_PW) == []
    rc, out, changed = _playbook(lab, workdir, _role_play(v), "ldap-std-2")
    assert rc == 0, out[-5000:]
    assert changed == 0, "second converge not idempotent:\n" + out[-5000:]

    schema = _sh(lab, "ldapsearch -o ldif-wrap=no -Q -LLL -Y EXTERNAL -H ldapi:/// -b cn=schema,cn=config "
                      "'(cn=*dicom)' olcObjectClasses olcAttributeTypes").stdout
    for oid, name in [("1.2.840.10008.15.0.4.4", "dicomDevice"), ("1.2.840.10008.15.0.4.5", "dicomNetworkAE"),
                      ("1.2.840.10008.15.0.4.6", "dicomNetworkConnection"),
                      ("1.2.840.10008.15.0.3.7", "dicomAETitle"), ("1.2.840.10008.15.0.3.13", "dicomPort")]:
        assert re.search(r"\( %s\s+NAME '%s'" % (re.escape(oid), name), schema), name

    suffix = _sh(lab, "ldapsearch -o ldif-wrap=no -Q -LLL -Y EXTERNAL -H ldapi:/// -b cn=config "
                      "'(olcSuffix=*)' olcSuffix olcRootDN").stdout
    assert "olcSuffix: %s" % BASE_DN in suffix and "olcRootDN: %s" % ADMIN_DN in suffix

    ae = _ldapsearch(lab, BASE_DN, "(&(objectClass=dicomNetworkAE)(dicomAETitle=IT_STD_AE))",
                     "dicomNetworkConnectionReference dicomAssociationAcceptor")
    assert ae.returncode == 0, ae.stdout
    assert "dn: dicomAETitle=IT_STD_AE,dicomDeviceName=it-std,cn=Devices,cn=DICOM Configuration,%s" % BASE_DN \
        in ae.stdout
    ref = "cn=dicom,dicomDeviceName=it-std,cn=Devices,cn=DICOM Configuration," + BASE_DN
    assert ref in [r.strip() for r in re.findall(r"^dicomNetworkConnectionReference: (.+)$", ae.stdout, re.M)], ae.stdout
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


# ---- the archive's own LDAP account ------------------------------------------------------------------
def test_ldap_archive_account_least_privilege(lab, workdir, upstream_arc_zip):
    arc_pw2 = "it-arc2-" + uuid.uuid4().hex[:12]
    # drift the next converge must put right: one of the archive's rules removed by hand
    acl = _olc_access(lab)
    if acl[:1] == ARC_ACCESS[:1]:
        _sh(lab, "ldapmodify -Q -Y EXTERNAL -H ldapi:///", stdin="dn: olcDatabase={1}mdb,cn=config\n"
            "changetype: modify\ndelete: olcAccess\nolcAccess: {0}\n-\n")
        assert _olc_access(lab)[:1] != ARC_ACCESS[:1]
    # and a new password for the account
    rc, out, changed = _playbook(lab, workdir, _role_play(_std_vars(upstream_arc_zip, dcm4chee_ldap_archive_password=arc_pw2)),
                                 "ldap-account")
    assert rc == 0, out[-5000:]
    arc = (ARC_DN, arc_pw2)

    # the archive's rules come first; the distribution's rules are still there after them
    acl = _olc_access(lab)
    assert acl[:3] == ARC_ACCESS, acl
    assert "to attrs=userPassword by self write by anonymous auth by * none" in acl[3:], acl
    assert sum(ARC_DN in rule for rule in acl) == 3, acl

    # it binds with the new password only; slapd keeps it hashed
    who = _sh(lab, "ldapwhoami -x -H ldap://127.0.0.1:389 -D '%s' -w '%s'" % arc, check=False)
    assert who.returncode == 0 and who.stdout.strip() == "dn:" + ARC_DN, who.stdout
    old = _sh(lab, "ldapwhoami -x -H ldap://127.0.0.1:389 -D '%s' -w '%s'" % (ARC_DN, ARC_PW), check=False)
    assert old.returncode == 49, old.stdout
    stored = _ldapsearch(lab, ARC_DN, attrs="userPassword", scope="base").stdout
    m = re.search(r"^userPassword:: (\S+)$", stored, re.M)
    assert m and base64.b64decode(m.group(1)).startswith(b"{SSHA}"), stored
    assert arc_pw2 not in stored

    # what the archive does: find the configuration root with a subtree search from the base DN ...
    root = _ldapsearch(lab, BASE_DN, "(&(objectclass=dicomConfigurationRoot)(cn=DICOM Configuration))", "1.1",
                       bind=arc)
    assert root.returncode == 0 and re.findall(r"^dn: (.+)$", root.stdout, re.M) == [CONFIG_DN], root.stdout
    # ... read its device ...
    dev = _ldapsearch(lab, "cn=Devices," + CONFIG_DN, "(dicomDeviceName=it-std)", "dicomDeviceName", bind=arc)
    assert "dicomDeviceName: it-std" in dev.stdout, dev.stdout
    # ... and write under the DICOM configuration: add, modify, delete
    probe = "dicomDeviceName=it-acl-probe,cn=Devices," + CONFIG_DN
    add = _ldap_write(lab, "ldapadd", "dn: %s\nobjectClass: dicomDevice\ndicomDeviceName: it-acl-probe\n"
                                      "dicomInstalled: TRUE\n" % probe, arc)
    assert add.returncode == 0, add.stdout
    mod = _ldap_write(lab, "ldapmodify", "dn: %s\nchangetype: modify\nreplace: dicomDescription\n"
                                         "dicomDescription: written by the archive account\n" % probe, arc)
    assert mod.returncode == 0, mod.stdout
    assert "written by the archive account" in _ldapsearch(lab, probe, scope="base").stdout
    dele = _ldap_write(lab, "ldapdelete", "'%s'" % probe, arc, stdin=False)
    assert dele.returncode == 0, dele.stdout

    # nothing else: an entry outside the configuration (made here with the admin DN) stays invisible
    outside = "ou=it-outside," + BASE_DN
    made = _ldap_write(lab, "ldapadd", "dn: %s\nobjectClass: organizationalUnit\nou: it-outside\n"
                                       "description: not for the archive\n" % outside, (ADMIN_DN, LDAP_PW))
    assert made.returncode in (0, 68), made.stdout  # 68: already there from an earlier run
    assert "not for the archive" in _ldapsearch(lab, outside, scope="base").stdout  # the admin sees it
    assert "not for the archive" not in _ldapsearch(lab, outside, scope="base", bind=arc).stdout
    everything = _ldapsearch(lab, BASE_DN, attrs="1.1", bind=arc)
    seen = re.findall(r"^dn: (.+)$", everything.stdout, re.M)
    assert seen and [dn for dn in seen if not (dn == CONFIG_DN or dn.endswith("," + CONFIG_DN))] == []
    # the base entry: not readable, not writable, no entries added under it, the configuration root stays
    base = _ldapsearch(lab, BASE_DN, scope="base", bind=arc)
    assert "dn: %s" % BASE_DN not in base.stdout and "\no: " not in base.stdout, base.stdout
    assert "o: medimg test" in _ldapsearch(lab, BASE_DN, scope="base").stdout
    mod = _ldap_write(lab, "ldapmodify", "dn: %s\nchangetype: modify\nreplace: o\no: taken over\n" % BASE_DN, arc)
    assert mod.returncode == 50, mod.stdout
    add = _ldap_write(lab, "ldapadd", "dn: ou=it-evil,%s\nobjectClass: organizationalUnit\nou: it-evil\n" % BASE_DN,
                      arc)
    assert add.returncode == 50, add.stdout
    mod = _ldap_write(lab, "ldapmodify", "dn: %s\nchangetype: modify\nreplace: description\n"
                                         "description: changed\n" % outside, arc)
    assert mod.returncode in (32, 50), mod.stdout
    dele = _ldap_write(lab, "ldapdelete", "'%s'" % CONFIG_DN, arc, stdin=False)
    assert dele.returncode == 50, dele.stdout
    # its own entry: no reading its password, no changing it
    own = _ldapsearch(lab, ARC_DN, attrs="userPassword", scope="base", bind=arc)
    assert "userPassword" not in own.stdout, own.stdout
    pw = _ldap_write(lab, "ldappasswd", "-s 'it-arc-selfchange-0123'", arc, stdin=False)
    assert pw.returncode != 0, pw.stdout
    assert _sh(lab, "ldapwhoami -x -H ldap://127.0.0.1:389 -D '%s' -w '%s'" % arc, check=False).returncode == 0
    # cn=config is out of reach
    conf = _ldapsearch(lab, "cn=config", attrs="1.1", bind=arc)
    assert "dn:" not in conf.stdout, conf.stdout

    # a second converge with the same values changes nothing (rules, marker, password)
    rc, out, changed = _playbook(lab, workdir, _role_play(_std_vars(upstream_arc_zip, dcm4chee_ldap_archive_password=arc_pw2)),
                                 "ldap-account-2")
    assert rc == 0 and changed == 0, out[-5000:]
    _assert_no_secret_in(out, LDAP_PW, arc_pw2)


def test_ldap_admin_password_file_removed_when_a_task_fails(lab, workdir, upstream_arc_zip):
    # the device is in LDAP already; another AE title stops the role inside the block that has the file
    rc, out, _unused = _playbook(lab, workdir, _role_play(_std_vars(upstream_arc_zip, dcm4chee_aet="IT_OTHER_AE")), "ldap-fail")
    assert rc != 0 and "has no Network AE IT_OTHER_AE" in out, out[-3000:]
    assert "Remove the admin password file" in out, out[-3000:]
    _sh(lab, "! ls -d %s 2>/dev/null" % " ".join(ADMIN_PW_FILES))
    assert _files_with(lab, LDAP_PW) == []


# ---- LDAP with the distribution's own LDIF files ------------------------------------------------------
def test_ldap_archive_ldifs_edited_from_inventory(lab, workdir, arc_zip, upstream_arc_zip):
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

    # the tables gone, the dcm4chee role alone with -vvv: they come back, and the password is in no command
    # line, environment (PGPASSWORD) or result of the run, nor in a pgpass file afterwards
    _sh(lab, "PGPASSWORD='%s' psql -X -w -q -h 127.0.0.1 -U pacs -d pacsdb -c "
             "'drop table study; drop table patient; drop sequence study_pk_seq'" % DB_PW)
    only = [{"role": "medimg.pacs.dcm4chee", "vars": _base_vars(dcm4chee_components=["database"], **arc_zip)}]
    rc, out, changed = _playbook(lab, workdir, _role_play(None, only), "db-3", verbose=True)
    assert rc == 0 and changed >= 1, out[-6000:]
    _assert_no_secret_in(out, DB_PW)
    assert "PGPASSWORD" not in out
    q = _sh(lab, "PGPASSWORD='%s' psql -X -w -tA -h 127.0.0.1 -U pacs -d pacsdb -c "
                 "\"select string_agg(tablename, ',' order by tablename) from pg_tables where tableowner='pacs'\""
            % DB_PW).stdout.strip()
    assert q == "patient,study", q
    _sh(lab, "! ls -a /root/.pgpass /run/dcm4chee* 2>/dev/null | grep -i pgpass")
    assert _files_with(lab, DB_PW) == []


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
    # WildFly binds as the archive's own account, never as the root DN
    assert "java.naming.security.principal=%s\n" % ARC_DN in props
    assert "java.naming.security.credentials=%s\n" % ARC_PW in props
    assert ADMIN_DN not in props and LDAP_PW not in props
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
