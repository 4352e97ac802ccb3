"""Lab hosts for medimg.pacs: systemd containers on this machine, described by an inventory.

The ``scripts/lab`` command (a thin wrapper: ``python -m medimg_lab.cli``). Only this module knows
about Docker. The roles see ordinary hosts (reached through the
community.docker.docker connection plugin), so the same roles run unchanged on bare metal.

    scripts/lab engine                 start a Docker engine when none answers (root only)
    scripts/lab image [RELEASE...]     build the lab base images (debootstrap, docker import)
    scripts/lab up [-i INVENTORY]      create/start the lab hosts of the inventory's `lab` group
    scripts/lab status [-i INVENTORY]  show the lab hosts
    scripts/lab stop [-i INVENTORY]    stop the lab hosts (their data stays)
    scripts/lab destroy [-i INVENTORY] remove the lab hosts (and the data inside them)
    scripts/lab samples [--host H] [--port P] [--aet AET]
                                       C-STORE the sample studies to a PACS (idempotent)
    scripts/lab plugin [--tarball T] [--image I] [--rebuild]
                                       build Orthanc's PostgreSQL plugins from the upstream source
                                       once (cached in ~/.cache/medimg-pacs/plugin-build/); prints the directory
                                       holding the .so files (heavy: run it inside flock)

Inventory host variables read here (all optional):
    ansible_host   container name (default: medimg-lab-<inventory_hostname>)
    lab_image      image (default: $LAB_IMAGE or medimg/lab-bookworm:latest)
    lab_ports      list of "127.0.0.1:HOSTPORT:CONTAINERPORT"
    lab_network    Docker network (default: $LAB_NETWORK or medimg-lab)

Every lab host keeps the .deb files it downloads in a package cache on this machine (a bind mount
of /var/cache/apt/archives, one directory per image and host: see apt_cache_dir), so the next lab
host of the same name and release installs without downloading them again. MEDIMG_LAB_CACHE moves
the cache (default: ~/.cache/medimg-pacs); `rm -rf` it to empty it.

LAB_IMAGE selects a public systemd image instead (for example an Ubuntu 22.04 systemd image) on
machines that can pull one; `image` then builds nothing.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

from medimg_lab import ROOT as _ROOT, cache_root

ROOT = str(_ROOT)
# debootstrap + docker import of a Debian release (the lab image), next to this module
BUILD_IMAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "build-image.sh")
DEFAULT_IMAGE = "medimg/lab-bookworm:latest"
SYSTEMD_RUN_FLAGS = [
    "--cap-add", "SYS_ADMIN",
    "--security-opt", "seccomp=unconfined",
    "--cgroupns=host",
    "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--tmpfs", "/run",
    "--tmpfs", "/run/lock",
    "--stop-signal", "SIGRTMIN+3",
]
LOCAL_IMAGES = {
    "medimg/lab-bookworm:latest": "bookworm",
    "medimg/lab-bullseye:latest": "bullseye",
    "medimg/lab-trixie:latest": "trixie",
}




def apt_cache_dir(container, image):
    """The package cache of one lab host: /var/cache/apt/archives of container `container` made of
    `image`. One directory per image and host, so hosts converging at the same time never wait for
    each other's apt lock, and a release never sees another release's packages."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in image)
    return str(cache_root() / "apt" / safe / container)


def log(msg):
    print("lab: " + msg, flush=True)


def die(msg, code=1):
    print("lab: error: " + msg, file=sys.stderr, flush=True)
    sys.exit(code)


def run(cmd, check=True, capture=False, **kw):
    res = subprocess.run(cmd, check=False, text=True,
                         stdout=subprocess.PIPE if capture else None,
                         stderr=subprocess.PIPE if capture else None, **kw)
    if check and res.returncode != 0:
        detail = (res.stderr or "").strip() if capture else ""
        die("command failed (%d): %s%s" % (res.returncode, " ".join(cmd),
                                           ("\n" + detail) if detail else ""))
    return res


def docker_ok():
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, check=False).returncode == 0


def cmd_engine(_args):
    if docker_ok():
        log("Docker engine answers")
        return
    if os.geteuid() != 0:
        die("no Docker engine answers and this user is not root: start Docker yourself "
            "(or add this user to the docker group)")
    if not shutil.which("dockerd"):
        log("installing docker.io from the distribution")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run(["apt-get", "update", "-qq"], env=env)
        run(["apt-get", "install", "-y", "-qq", "docker.io"], env=env)
    if docker_ok():
        return
    logdir = os.path.join(ROOT, ".lab")
    os.makedirs(logdir, exist_ok=True)
    log("starting dockerd (log: .lab/dockerd.log)")
    with open(os.path.join(logdir, "dockerd.log"), "ab") as out:
        subprocess.Popen(["dockerd"], stdout=out, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 90
    while time.time() < deadline:
        if docker_ok():
            log("Docker engine started")
            return
        time.sleep(1)
    die("dockerd did not answer within 90 s; see .lab/dockerd.log")


def load_inventory(path):
    exe = os.path.join(os.path.dirname(sys.executable), "ansible-inventory")
    if not os.path.exists(exe):
        exe = shutil.which("ansible-inventory") or die("ansible-inventory not found (run make venv)")
    res = run([exe, "-i", path, "--list"], capture=True, cwd=ROOT)
    data = json.loads(res.stdout)
    hostvars = data.get("_meta", {}).get("hostvars", {})
    hosts = []
    for name in _group_hosts(data, "lab"):
        hv = hostvars.get(name, {})
        hosts.append({
            "name": name,
            "container": hv.get("ansible_host") or "medimg-lab-" + name,
            "image": os.environ.get("LAB_IMAGE") or hv.get("lab_image") or DEFAULT_IMAGE,
            "ports": hv.get("lab_ports") or [],
            "network": os.environ.get("LAB_NETWORK") or hv.get("lab_network") or "medimg-lab",
        })
    if not hosts:
        die("inventory %s has no hosts in group 'lab'" % path)
    return hosts


def _group_hosts(data, group, seen=None):
    seen = seen or set()
    if group in seen:
        return []
    seen.add(group)
    g = data.get(group, {})
    hosts = list(g.get("hosts", []))
    for child in g.get("children", []):
        hosts.extend(h for h in _group_hosts(data, child, seen) if h not in hosts)
    return hosts


def cmd_image(args):
    cmd_engine(args)
    releases = args.release or []
    if not releases:
        wanted = os.environ.get("LAB_IMAGE") or DEFAULT_IMAGE
        if wanted not in LOCAL_IMAGES:
            log("LAB_IMAGE=%s is not built here; pulling it" % wanted)
            run(["docker", "pull", wanted])
            return
        releases = [LOCAL_IMAGES[wanted]]
    # One debootstrap per release, side by side: each works in a directory of its own, and most of
    # their time is waiting on the mirror and on dpkg, not CPU. Each one's output goes to a log of its
    # own, printed when it ends, so that the lines of one build stay together.
    builds = []
    logs = cache_root()
    logs.mkdir(parents=True, exist_ok=True)
    for rel in releases:
        out = open(str(logs / ("image-%s.log" % rel)), "w+")
        proc = subprocess.Popen(["bash", BUILD_IMAGE, rel] + (["--force"] if args.force else []),
                                stdout=out, stderr=subprocess.STDOUT, text=True)
        builds.append((rel, proc, out))
    failed = []
    for rel, proc, out in builds:
        code = proc.wait()
        out.seek(0)
        sys.stdout.write(out.read())
        sys.stdout.flush()
        out.close()
        if code != 0:
            failed.append("%s (exit %d)" % (rel, code))
    if failed:
        die("building the lab image failed for: %s" % ", ".join(failed))


def container_state(name):
    res = run(["docker", "inspect", "-f", "{{.State.Status}}", name], check=False, capture=True)
    return res.stdout.strip() if res.returncode == 0 else None


def wait_systemd(container, timeout=120):
    deadline = time.time() + timeout
    state = ""
    while time.time() < deadline:
        res = run(["docker", "exec", container, "systemctl", "is-system-running"],
                  check=False, capture=True)
        state = res.stdout.strip()
        if state in ("running", "degraded"):
            return state
        time.sleep(1)
    die("systemd in %s did not come up within %d s (state: %s)" % (container, timeout, state or "?"))


def cmd_up(args):
    cmd_engine(args)
    hosts = load_inventory(args.inventory)
    for h in hosts:
        if h["image"] in LOCAL_IMAGES and run(["docker", "image", "inspect", h["image"]],
                                              check=False, capture=True).returncode != 0:
            run(["bash", BUILD_IMAGE,
                 LOCAL_IMAGES[h["image"]]])
        if run(["docker", "network", "inspect", h["network"]], check=False,
               capture=True).returncode != 0:
            run(["docker", "network", "create", h["network"]], capture=True)
        state = container_state(h["container"])
        if state == "running":
            log("%s (%s) already running" % (h["name"], h["container"]))
        elif state:
            log("starting %s (%s)" % (h["name"], h["container"]))
            run(["docker", "start", h["container"]], capture=True)
        else:
            log("creating %s (%s) from %s" % (h["name"], h["container"], h["image"]))
            cmd = ["docker", "run", "-d", "--name", h["container"], "--hostname", h["name"],
                   "--network", h["network"], "--network-alias", h["name"],
                   "--label", "medimg.lab=1"] + SYSTEMD_RUN_FLAGS
            for p in h["ports"]:
                cmd += ["-p", str(p)]
            cmd += ["-v", apt_cache_dir(h["container"], h["image"]) + ":/var/cache/apt/archives"]
            run(cmd + [h["image"], "/sbin/init"], capture=True)
        log("%s: systemd %s" % (h["name"], wait_systemd(h["container"])))


def cmd_status(args):
    for h in load_inventory(args.inventory):
        print("%-12s %-24s %-10s %s" % (h["name"], h["container"],
                                        container_state(h["container"]) or "absent",
                                        " ".join(h["ports"])))


def cmd_stop(args):
    for h in load_inventory(args.inventory):
        if container_state(h["container"]) == "running":
            log("stopping %s" % h["container"])
            run(["docker", "stop", h["container"]], capture=True)


def cmd_destroy(args):
    for h in load_inventory(args.inventory):
        if container_state(h["container"]):
            log("removing %s and the data inside it" % h["container"])
            run(["docker", "rm", "-f", h["container"]], capture=True)


def cmd_samples(args):
    from medimg_lab.dimse import cstore
    from medimg_lab.samples import sample_datasets

    datasets = sample_datasets()
    stored = cstore(datasets, args.host, args.port, args.aet, timeout=args.timeout)
    studies = sorted({str(ds.StudyInstanceUID) for ds in datasets})
    log("stored %d instances in %d studies at %s:%d (%s)"
        % (stored, len(studies), args.host, args.port, args.aet))


def cmd_plugin(args):
    from medimg_lab import plugin_build

    try:
        out = plugin_build.build(args.tarball, args.image, jobs=args.jobs, rebuild=args.rebuild, log=log)
    except plugin_build.Unavailable as exc:
        die("cannot build the plugin here: %s" % exc, code=3)
    except plugin_build.BuildFailed as exc:
        die(str(exc))
    print(out)


def main():
    ap = argparse.ArgumentParser(prog="scripts/lab", description=__doc__.split("\n", maxsplit=1)[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("engine")
    p = sub.add_parser("image")
    p.add_argument("release", nargs="*")
    p.add_argument("--force", action="store_true")
    for name in ("up", "status", "stop", "destroy"):
        p = sub.add_parser(name)
        p.add_argument("-i", "--inventory", default="inventories/lab")
    p = sub.add_parser("samples")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=4242)
    p.add_argument("--aet", default="MEDIMG_LAB1")
    p.add_argument("--timeout", type=float, default=30)
    from medimg_lab import plugin_build
    p = sub.add_parser("plugin")
    p.add_argument("--tarball", default=str(plugin_build.DEFAULT_TARBALL))
    p.add_argument("--image", default=plugin_build.DEFAULT_IMAGE)
    p.add_argument("--rebuild", action="store_true")
    p.add_argument("-j", "--jobs", type=int, default=2)
    args = ap.parse_args()
    os.chdir(ROOT)
    {"engine": cmd_engine, "image": cmd_image, "up": cmd_up, "status": cmd_status,
     "stop": cmd_stop, "destroy": cmd_destroy, "samples": cmd_samples,
     "plugin": cmd_plugin}[args.cmd](args)


if __name__ == "__main__":
    main()
