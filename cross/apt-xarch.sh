#!/usr/bin/env bash
# apt-xarch.sh ARCH APT-GET-ARGS...: apt-get for another architecture's .debs, with private state.
#
#   cross/apt-xarch.sh arm64 update
#   cross/apt-xarch.sh arm64 download libssl-dev
#
# Uses its own sources list, package lists, cache and an empty dpkg status under
# ${APT_XARCH_DIR:-/var/tmp/picket-apt-xarch}/ARCH. It never touches dpkg's architecture list,
# /etc/apt or /var/lib/apt, so it cannot break the host's apt (a multiarch `dpkg
# --add-architecture` can: see cross/README.md). It only downloads; installing is
# `dpkg-deb -x` into a sysroot (cross/make-sysroot.sh).
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: apt-xarch.sh ARCH APT-GET-ARGS...   (ARCH: arm64, armhf, ...)" >&2
  exit 2
fi
arch=$1
shift
mirror=${PICKET_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security_mirror=${PICKET_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
state=${APT_XARCH_DIR:-/var/tmp/picket-apt-xarch}/$arch

mkdir -p "$state/lists/partial" "$state/cache/archives/partial"
[ -f "$state/status" ] || : >"$state/status"
# Same suites as the host: bookworm with its updates and security fixes.
cat >"$state/sources.list" <<EOF
deb [arch=$arch signed-by=$keyring] $mirror bookworm main
deb [arch=$arch signed-by=$keyring] $mirror bookworm-updates main
deb [arch=$arch signed-by=$keyring] $security_mirror bookworm-security main
EOF

# APT::Sandbox::User=root: the private dirs are root's, so the _apt sandbox user could not write
# them (apt would warn on every download).
exec apt-get \
  -o Dir::Etc::SourceList="$state/sources.list" -o Dir::Etc::SourceParts=/nonexistent \
  -o Dir::State::Lists="$state/lists" -o Dir::State::status="$state/status" \
  -o Dir::Cache="$state/cache" \
  -o APT::Architecture="$arch" -o APT::Architectures::="$arch" \
  -o APT::Sandbox::User="$(id -un)" -o Debug::NoLocking=1 \
  "$@"
