#!/usr/bin/env bash
# A tarball of the three static picketd (x86_64, aarch64, armhf) with SHA256SUMS, the copyright
# of every embedded library and the man page:
#   picketd-<version>-static/{picketd-x86_64,picketd-aarch64,picketd-armhf,SHA256SUMS,COPYRIGHT,picketd.8}
# usage: packaging/static-tarball.sh [--build] [--arch LIST] [--out DIR] [--from DIR]
#   --build      configure and build the missing static presets first (slow: each rebuilds curl
#                and libpcap; see README "Building"; needs setup-debian.sh --static)
#   --arch LIST  comma-separated subset of x86_64,aarch64,armhf (default all three)
#   --out DIR    where the tarball goes (default build/dist)
#   --from DIR   the build tree holding static-<arch>/bin/picketd (default build)
# Every binary is checked: statically linked, for its architecture; the tarball is reproducible
# (sorted, fixed owner and mtime from the last commit).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=0 arches=x86_64,aarch64,armhf out=$src/build/dist from=$src/build
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=1; shift ;;
    --arch) arches=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --from) from=$(cd "$2" && pwd); shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "static-tarball.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
version=$(sed -n 's/^project(picket VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
name=picketd-$version-static
stage=$(mktemp -d /tmp/picket-tarball-XXXXXX)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/$name" "$out"
expect_of() { case "$1" in x86_64) echo x86-64 ;; aarch64) echo aarch64 ;; armhf) echo 'ARM, EABI5' ;; esac; }
for arch in ${arches//,/ }; do
  case "$arch" in x86_64|aarch64|armhf) ;; *) echo "static-tarball.sh: unknown arch '$arch'" >&2; exit 2 ;; esac
  bin=$from/static-$arch/bin/picketd
  if [ ! -x "$bin" ] && [ "$build" -eq 1 ]; then
    [ "$from" = "$src/build" ] || { echo "static-tarball.sh: --build builds only in $src/build" >&2; exit 2; }
    (cd "$src" && cmake --preset "static-$arch" -DPICKET_BUILD_TESTS=OFF >/dev/null \
       && cmake --build "build/static-$arch" -j2 --target picketd)
  fi
  [ -x "$bin" ] || { echo "static-tarball.sh: $bin missing: build the static-$arch preset (or --build)" >&2; exit 1; }
  info=$(file -b "$bin")
  case "$info" in *"$(expect_of "$arch")"*) ;; *) echo "static-tarball.sh: $bin is not $arch: $info" >&2; exit 1 ;; esac
  case "$info" in *"statically linked"*) ;; *) echo "static-tarball.sh: $bin is not static: $info" >&2; exit 1 ;; esac
  install -m 0755 "$bin" "$stage/$name/picketd-$arch"
done
install -m 0644 "$src/packaging/deb/picketd/copyright" "$stage/$name/COPYRIGHT"
install -m 0644 "$src/packaging/man/picketd.8" "$stage/$name/picketd.8"
(cd "$stage/$name" && sha256sum picketd-* COPYRIGHT picketd.8 > SHA256SUMS)
mtime=$(git -C "$src" log -1 --format=%cI 2>/dev/null || date -u +%FT%TZ)
tar -C "$stage" --sort=name --owner=0 --group=0 --numeric-owner --mtime="$mtime" \
  -cf - "$name" | gzip -9n > "$out/$name.tar.gz"
(cd "$out" && sha256sum "$name.tar.gz" > "$name.tar.gz.sha256")
echo "static-tarball.sh: $out/$name.tar.gz ($(du -h "$out/$name.tar.gz" | cut -f1))"
cat "$stage/$name/SHA256SUMS"
