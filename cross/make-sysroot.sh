#!/usr/bin/env bash
# make-sysroot.sh ARCH DEST: a private sysroot with the target's static libraries and headers.
#
#   cross/make-sysroot.sh arm64 build/sysroot/arm64
#   cross/make-sysroot.sh armhf build/sysroot/armhf
#
# Downloads the target architecture's -dev packages with cross/apt-xarch.sh (private apt state in
# DEST's parent directory, .apt-xarch/) and unpacks them with `dpkg-deb -x`. Nothing is installed
# through dpkg and no foreign architecture is added to the host. glibc and the kernel headers come
# from the cross toolchain (libc6-dev-<arch>-cross, under /usr/<triplet>), not from here.
#
# Idempotent: when DEST/.packages already lists every package, it returns at once. Remove DEST (or
# set PICKET_SYSROOT_REFRESH=1) to fetch the newest versions again.
# Called by cross/ensure-sysroot.cmake (from the toolchain files) on every cross configure.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: make-sysroot.sh ARCH DEST   (ARCH: arm64 | armhf)" >&2
  exit 2
fi
arch=$1
case "$arch" in
  arm64 | armhf) ;;
  *) echo "make-sysroot.sh: unsupported ARCH '$arch' (arm64 or armhf)" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$(dirname "$2")"
dest=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
packages=(libuv1-dev libsqlite3-dev libzookeeper-mt-dev libssl-dev libc-ares-dev zlib1g-dev libzstd-dev libseccomp-dev libmbedtls-dev)

complete() {
  local p
  [ -f "$dest/.packages" ] || return 1
  for p in "${packages[@]}"; do
    grep -q "^${p}_" "$dest/.packages" || return 1
  done
}
if [ "${PICKET_SYSROOT_REFRESH:-0}" != 1 ] && complete; then
  echo "make-sysroot.sh: $dest already holds ${packages[*]}"
  exit 0
fi

for tool in apt-get dpkg-deb; do
  command -v "$tool" >/dev/null || { echo "make-sysroot.sh: $tool not found (Debian host needed)" >&2; exit 1; }
done

export APT_XARCH_DIR=${APT_XARCH_DIR:-$(dirname "$dest")/.apt-xarch}
echo "make-sysroot.sh: $arch packages into $dest (apt state in $APT_XARCH_DIR/$arch)"

# One suite's index failing (a mirror mid-sync, seen for armhf bookworm-security) is not fatal:
# apt then falls back to the point-release version, and the download below still fails loudly
# when a package is missing altogether.
if ! "$here/apt-xarch.sh" "$arch" update -qq; then
  echo "make-sysroot.sh: warning: 'apt-get update' for $arch reported errors; continuing with the indexes it got" >&2
fi

work=$(mktemp -d "$(dirname "$dest")/.sysroot-$arch.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/debs" "$work/root"
if ! (cd "$work/debs" && "$here/apt-xarch.sh" "$arch" download -qq "${packages[@]}"); then
  echo "make-sysroot.sh: could not download ${packages[*]} for $arch (network to the Debian mirror?)" >&2
  exit 1
fi
: >"$work/root/.packages"
for deb in "$work"/debs/*.deb; do
  dpkg-deb -x "$deb" "$work/root"
  basename "$deb" >>"$work/root/.packages"
done

# Swap in the finished tree only now, so an interrupted run never looks complete.
rm -rf "$dest"
mv "$work/root" "$dest"
echo "make-sysroot.sh: done:"
sed 's/^/  /' "$dest/.packages"
