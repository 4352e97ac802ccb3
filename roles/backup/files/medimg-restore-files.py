"""Bring back the DICOM files of a restored Orthanc index, and report what is missing.

Run by playbooks/restore.yml on the restored host, after PostgreSQL came back. Reads its settings as
JSON on stdin: {"database", "port", "storage_dir",
"owner", "max_snapshots", "restore": true|false}; storage_dir empty when the files are in PostgreSQL. Orthanc's attachment files are immutable and
uniquely named (the attachment's UUID, <dir>/<uuid[0:2]>/<uuid[2:4]>/<uuid>), so restoring from the
newest snapshot back to older ones, only the files the index still lacks, gives every indexed file
that any snapshot kept; files that are on disk are never overwritten or deleted.
Prints one JSON object: attachments, missing_before, restored (snapshot -> files), missing.
"""
import json
import os
import pwd
import subprocess
import sys

BACKUP = "/usr/local/sbin/medimg-backup"


def psql(settings, sql):
    out = subprocess.run(
        ["runuser", "-u", "postgres", "--", "psql", "-X", "-At", "-p", str(settings["port"]),
         "-d", settings["database"], "-c", sql],
        check=True, capture_output=True, text=True, timeout=600).stdout
    return [line for line in out.splitlines() if line]


def path_of(root, uuid):
    return os.path.join(root, uuid[0:2], uuid[2:4], uuid)


def main():
    settings = json.load(sys.stdin)
    result = {"restored": {}}
    if settings.get("storage_dir") in (None, "", "None"):
        # files in PostgreSQL: every attachment needs its row in the storage area
        missing = psql(settings, "SELECT a.uuid FROM attachedfiles a LEFT JOIN storagearea s "
                                 "ON s.uuid = a.uuid WHERE s.uuid IS NULL")
        result.update(attachments=len(psql(settings, "SELECT uuid FROM attachedfiles")),
                      missing_before=len(missing), missing=missing)
        print(json.dumps(result))
        return
    root = settings["storage_dir"]
    uuids = psql(settings, "SELECT uuid FROM attachedfiles")
    missing = [u for u in uuids if not os.path.isfile(path_of(root, u))]
    result.update(attachments=len(uuids), missing_before=len(missing))
    if missing and settings.get("restore", True):
        listing = subprocess.run([BACKUP, "restic", "snapshots", "--json", "--tag", "medimg-pacs"],
                                 check=True, capture_output=True, text=True, timeout=600).stdout
        snapshots = sorted(json.loads(listing) or [], key=lambda s: s["time"], reverse=True)
        for snap in snapshots[:int(settings.get("max_snapshots", 10))]:
            if not missing:
                break
            argv = [BACKUP, "restic", "restore", snap["id"], "--target", "/"]
            if len(missing) <= 500:
                for uuid in missing:
                    argv += ["--include", path_of(root, uuid)]
            else:
                argv += ["--include", root]
            subprocess.run(argv, check=True, capture_output=True, text=True, timeout=3600)
            still = [u for u in missing if not os.path.isfile(path_of(root, u))]
            result["restored"][snap["short_id"]] = len(missing) - len(still)
            missing = still
        owner = pwd.getpwnam(settings["owner"])
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                full = os.path.join(dirpath, name)
                st = os.lstat(full)
                if (st.st_uid, st.st_gid) != (owner.pw_uid, owner.pw_gid):
                    os.lchown(full, owner.pw_uid, owner.pw_gid)
    result["missing"] = missing
    print(json.dumps(result))


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as exc:
        sys.exit("restore_files: %s failed (%s): %s" % (exc.cmd[:4], exc.returncode, (exc.stderr or "")[-2000:]))
