#!/usr/bin/env bash
# Build a systemd-capable lab base image for a Debian release with debootstrap and import it
# into the local Docker engine as medimg/lab-<release>:latest.
#
# The mirror is read from this machine's own apt configuration (never hard-coded), so the
# image is built from the same packages the host trusts.
#
# usage: build-image.sh [bookworm|bullseye|trixie] [--force]
set -euo pipefail

release="${1:-bookworm}"
force="${2:-}"
tag="medimg/lab-${release}:latest"

case "$release" in
  bookworm|bullseye|trixie) ;;
  *) echo "build-image.sh: unsupported release '$release' (bookworm, bullseye or trixie)" >&2; exit 2 ;;
esac

if [ "$force" != "--force" ] && docker image inspect "$tag" >/dev/null 2>&1; then
  echo "image $tag already present"
  exit 0
fi

if ! command -v debootstrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  else
    echo "build-image.sh: debootstrap is not installed (apt-get install debootstrap)" >&2
    exit 1
  fi
fi

# The first Debian mirror in the host's apt configuration (deb822 .sources or one-line .list).
mirror="${LAB_MIRROR:-}"
if [ -z "$mirror" ]; then
  mirror=$(
    {
      grep -hE '^[[:space:]]*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' || true
      grep -hE '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
        | sed -E 's/\[[^]]*\]//' | awk '{print $2}' || true
    } | grep -E '/debian/?$' | grep -v security | head -n1 || true
  )
fi
if [ -z "$mirror" ]; then
  echo "build-image.sh: no Debian mirror found in /etc/apt; set LAB_MIRROR" >&2
  exit 1
fi

work=$(mktemp -d /var/tmp/medimg-lab-XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "debootstrap $release from $mirror"
debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,python3,python3-apt,sudo,ca-certificates,iproute2,procps,gnupg,curl,locales \
  "$release" "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
    tail -n 30 "$work/debootstrap.log" >&2; exit 1; }

root="$work/root"
# apt sources inside the image: same mirror, plus security updates where the host has them.
security=$(grep -hE 'URIs:.*security|^deb .*security' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
  | sed -E 's/\[[^]]*\]//' | awk '{print $2}' | head -n1 || true)
# A security archive is used only when it serves the release's packages, not just its index: a
# partial mirror (this project's CI has one for bullseye) lists updates whose files answer 404, and
# every install of such a package would fail. Probed with the first file of its package index.
serves_packages() {  # <archive URL> <suite>
  local first
  first=$(curl -fsS --max-time 30 "$1/dists/$2/main/binary-amd64/Packages.xz" 2>/dev/null | xz -dc 2>/dev/null \
            | awk '/^Filename:/ {print $2; exit}') || true
  [ -n "$first" ] && curl -fsSI --max-time 30 "$1/$first" >/dev/null 2>&1
}
if [ -n "$security" ] && ! serves_packages "$security" "${release}-security"; then
  echo "build-image.sh: $security serves the index of ${release}-security but not its packages;" \
       "the $release image is built without security updates" >&2
  security=""
fi
{
  echo "deb $mirror $release main"
  [ "$release" = bullseye ] || echo "deb $mirror ${release}-updates main"
  if [ -n "$security" ]; then
    echo "deb $security ${release}-security main"
  fi
} >"$root/etc/apt/sources.list"
# Faster, smaller apt in containers; the roles still install whatever they need.
cat >"$root/etc/apt/apt.conf.d/90medimg-lab" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Retries "3";
EOF
# systemd in a container: nothing tries to touch the console or udev.
for unit in getty@tty1.service console-getty.service systemd-udevd.service systemd-udev-trigger.service \
            systemd-modules-load.service sys-kernel-config.mount systemd-remount-fs.service; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
echo "medimg-lab" >"$root/etc/hostname"
: >"$root/etc/machine-id"
rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*
# The package lists are gone: the lists directory must not look fresh. Ansible's apt module takes
# its mtime for the time of the last update (cache_valid_time), and a role that runs within the
# hour after the build would otherwise find no package at all ("No package matching ...").
rm -f "$root/var/lib/apt/periodic/update-success-stamp"
touch -d @0 "$root/var/lib/apt/lists"

tar -C "$root" -c . | docker import \
  --change 'ENV container=docker' \
  --change 'CMD ["/sbin/init"]' \
  - "$tag" >/dev/null
echo "built $tag"
