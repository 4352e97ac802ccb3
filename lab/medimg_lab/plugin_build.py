"""Orthanc's PostgreSQL plugins built from the unmodified upstream source, once, cached.

``build()`` compiles ``<checkout>/../shared/upstream/orthanc-databases-<version>.tar.gz`` (never copied
into the repository) in a throw-away container of a lab image (Debian 13 by default) against that
release's own Orthanc framework and SDK (``-DORTHANC_FRAMEWORK_SOURCE=system``, the way Debian builds
its orthanc-postgresql package), and returns the directory holding ``libOrthancPostgreSQLIndex.so``
and ``libOrthancPostgreSQLStorage.so`` (plain files, the version suffix dereferenced) and
``build-info.json`` (plugin version, the build image and its id, the versions of the Orthanc
framework, libpq and protobuf it was linked against, build seconds).

The result is cached under ``~/.cache/medimg-pacs/plugin-build/<tarball sha256[:16]>-<image>/``
(``medimg_lab.cache_root``: outside the checkout, so a fresh clone on the same machine, as in CI,
finds it; MEDIMG_LAB_CACHE moves it): keyed by the tarball's content and the build image's name, so a run builds at
most once and a second call returns at once. A file lock beside it makes concurrent callers wait for
the one build instead of building twice. A build that fails leaves ``build.log`` and no result.

This is a heavy job (a C++ build with ``make -j2``): callers run it inside the machine's heavy-job
lock (``flock /tmp/medimg-heavy.lock scripts/lab plugin``; the tests run inside it already), so this
module does not take that lock itself (a nested flock on the same file would wait for ever).

:class:`Unavailable` (the tarball is absent, no Docker engine) carries the reason callers skip with.
"""
import contextlib
import fcntl
import hashlib
import json
import os
import pathlib
import re
import subprocess
import time

from medimg_lab import ROOT, cache_root

UPSTREAM = ROOT.parent / "shared" / "upstream"
DEFAULT_TARBALL = UPSTREAM / "orthanc-databases-10.3.tar.gz"
DEFAULT_IMAGE = "medimg/lab-trixie:latest"
CACHE = cache_root() / "plugin-build"
LIBRARIES = ("libOrthancPostgreSQLIndex.so", "libOrthancPostgreSQLStorage.so")
# Debian's Build-Depends of orthanc-postgresql (apt-cache showsrc) plus the compiler; the Orthanc
# framework's -dev package pulls in the rest (boost, jsoncpp, dcmtk, civetweb, ...).
BUILD_PACKAGES = ("g++", "make", "cmake", "patch", "unzip", "python3", "liborthancframework-dev", "orthanc-dev",
                  "libpq-dev", "postgresql-server-dev-all", "libprotobuf-dev", "protobuf-compiler", "uuid-dev",
                  "libgtest-dev")
# What Debian's debian/rules passes, and what a build without downloads needs: the system's framework,
# SDK, libpq, protobuf and googletest; no static linking.
CMAKE_FLAGS = ("-DCMAKE_BUILD_TYPE=Release", "-DORTHANC_FRAMEWORK_SOURCE=system", "-DSTATIC_BUILD=OFF",
               "-DALLOW_DOWNLOADS=OFF", "-DUSE_SYSTEM_ORTHANC_SDK=ON", "-DUSE_SYSTEM_LIBPQ=ON",
               "-DUSE_SYSTEM_PROTOBUF=ON", "-DUSE_SYSTEM_GOOGLE_TEST=ON", "-DUSE_GOOGLE_TEST_DEBIAN_PACKAGE=ON")
# Only the two plugins: the unit-test executable would double the build and needs a database.
TARGETS = ("OrthancPostgreSQLIndex", "OrthancPostgreSQLStorage")
BUILD_TIMEOUT = 3600
CONTAINER_PREFIX = "medimg-plugin-build-"

_SCRIPT = r"""
set -eu
export DEBIAN_FRONTEND=noninteractive
echo "== apt-get install (build dependencies)"
apt-get update -qq
apt-get install -y -qq --no-install-recommends {packages} >/dev/null
mkdir -p /build/src /build/out
tar -xzf /src/source.tar.gz -C /build/src
srcdir=$(find /build/src -mindepth 2 -maxdepth 2 -type d -name PostgreSQL | head -n1)
test -n "$srcdir" || {{ echo "no PostgreSQL/ directory in the tarball" >&2; exit 1; }}
cd /build/out
echo "== cmake $srcdir"
cmake "$srcdir" {cmake_flags}
echo "== make -j{jobs} {targets}"
make -j{jobs} {targets}
for lib in {libraries}; do cp -L "$lib" /out/; done
ldd /out/*.so
dpkg-query -W -f='${{Package}} ${{Version}}\n' liborthancframework1 liborthancframework-dev orthanc-dev \
  'libpq5' 'libprotobuf[0-9]*' > /out/packages.txt 2>/dev/null || true
chown -R {uid}:{gid} /out
"""


class Unavailable(Exception):
    """The build cannot be attempted here (the message is the reason to skip with)."""


class BuildFailed(Exception):
    """The build ran and failed (the message ends with the tail of build.log)."""


def sha256_file(path):
    digest = hashlib.sha256()
    with open(str(path), "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def plugin_version(tarball):
    """The version in the tarball's name (orthanc-databases-10.3.tar.gz -> 10.3)."""
    match = re.search(r"-(\d+(?:\.\d+)+)\.tar\.gz$", pathlib.Path(tarball).name)
    return match.group(1) if match else "unknown"


def _docker(args, timeout=120, check=True, **kw):
    res = subprocess.run(["docker"] + list(args), capture_output=True, text=True, timeout=timeout, check=False, **kw)
    if check and res.returncode != 0:
        raise BuildFailed("docker %s failed (rc=%d): %s" % (" ".join(args[:2]), res.returncode, res.stderr.strip()))
    return res


def cache_dir(tarball=DEFAULT_TARBALL, image=DEFAULT_IMAGE):
    """Where the build of ``tarball`` in ``image`` is (or would be) cached."""
    tarball = pathlib.Path(tarball)
    if not tarball.is_file():
        raise Unavailable("%s is absent (the unmodified PostgreSQL plugin source, see ../shared/upstream/README.md)"
                          % tarball)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", image).strip("-")
    return CACHE / ("%s-%s" % (sha256_file(tarball)[:16], slug))


def cached(tarball=DEFAULT_TARBALL, image=DEFAULT_IMAGE):
    """The cached build directory, or None when it has not been built yet (raises Unavailable)."""
    out = cache_dir(tarball, image)
    return out if (out / "build-info.json").is_file() else None


@contextlib.contextmanager
def _locked(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(str(path), "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def build(tarball=DEFAULT_TARBALL, image=DEFAULT_IMAGE, jobs=2, rebuild=False, log=print):
    """Build (at most once) and return the directory with the plugin libraries and build-info.json."""
    tarball = pathlib.Path(tarball).resolve() if pathlib.Path(tarball).exists() else pathlib.Path(tarball)
    out = cache_dir(tarball, image)
    if not rebuild and (out / "build-info.json").is_file():
        return out
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        raise Unavailable("no Docker engine answers (scripts/lab engine starts one)")
    if _docker(["image", "inspect", "-f", "{{.Id}}", image], check=False).returncode != 0:
        raise Unavailable("build image %s is absent (scripts/lab image %s)"
                          % (image, image.split("/")[-1].split(":")[0].replace("lab-", "")))
    with _locked(out.with_name(out.name + ".lock")):
        if not rebuild and (out / "build-info.json").is_file():
            return out          # another caller built it while this one waited
        return _build_locked(tarball, image, jobs, out, log)


def _build_locked(tarball, image, jobs, out, log):
    image_id = _docker(["image", "inspect", "-f", "{{.Id}}", image]).stdout.strip()
    staging = out.with_name(out.name + ".partial")
    subprocess.run(["rm", "-rf", str(staging)], check=True)
    staging.mkdir(parents=True)
    name = CONTAINER_PREFIX + out.name[:16] + "-" + str(os.getpid())
    script = _SCRIPT.format(packages=" ".join(BUILD_PACKAGES), cmake_flags=" ".join(CMAKE_FLAGS), jobs=int(jobs),
                            targets=" ".join(TARGETS), libraries=" ".join(LIBRARIES), uid=os.getuid(),
                            gid=os.getgid())
    log("plugin build: %s in %s (make -j%d; log: %s)" % (tarball.name, image, jobs, out.with_name(out.name + ".log")))
    started = time.time()
    logfile = out.with_name(out.name + ".log")
    with open(str(logfile), "w") as handle:
        try:
            res = subprocess.run(["docker", "run", "--rm", "--name", name, "--label", "medimg.plugin-build=1",
                                  "-v", "%s:/src/source.tar.gz:ro" % tarball, "-v", "%s:/out" % staging,
                                  "--entrypoint", "/bin/bash", image, "-c", script],
                                 stdout=handle, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT, check=False)
            rc = res.returncode
        except subprocess.TimeoutExpired:
            _docker(["rm", "-f", name], check=False)
            rc = "timeout after %d s" % BUILD_TIMEOUT
    seconds = round(time.time() - started, 1)
    missing = [lib for lib in LIBRARIES if not (staging / lib).is_file()]
    if rc != 0 or missing:
        tail = logfile.read_text(errors="replace").splitlines()[-40:]
        raise BuildFailed("plugin build failed (rc=%s, missing %s) after %.0f s; %s ends with:\n%s"
                          % (rc, missing or "nothing", seconds, logfile, "\n".join(tail)))
    listed = (staging / "packages.txt").read_text().splitlines() if (staging / "packages.txt").exists() else []
    packages = [line.strip() for line in listed if len(line.split()) == 2]     # installed ones have a version
    info = {"plugin": "orthanc-databases PostgreSQL", "version": plugin_version(tarball),
            "tarball": tarball.name, "tarball_sha256": sha256_file(tarball), "image": image, "image_id": image_id,
            "cmake_flags": list(CMAKE_FLAGS), "packages": packages, "build_seconds": seconds,
            "libraries": {lib: sha256_file(staging / lib) for lib in LIBRARIES}}
    (staging / "build-info.json").write_text(json.dumps(info, indent=2) + "\n")
    subprocess.run(["rm", "-rf", str(out)], check=True)
    os.rename(str(staging), str(out))
    log("plugin build: done in %.0f s -> %s" % (seconds, out))
    return out


def info(directory):
    """build-info.json of a build directory."""
    return json.loads((pathlib.Path(directory) / "build-info.json").read_text())
