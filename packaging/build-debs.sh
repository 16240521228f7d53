#!/usr/bin/env bash
# Builds picket's two Debian packages with dpkg-deb from the built binaries.
#   picketd_<version>_<arch>.deb  the static edge daemon (from a static-<arch> build)
#   picket_<version>_amd64.deb    collector, sync and CLI (from the dev build; dynamic)
# usage: packaging/build-debs.sh [--picketd BIN] [--picket BIN] [--out DIR] [--version V]
#   defaults: --picketd build/static-x86_64/bin/picketd, --picket build/dev/bin/picket,
#   --out build/debs. --no-picketd / --no-picket (or an empty path) skip a package.
# Run from the source root; needs dpkg-dev (dpkg-shlibdeps) and binutils (strip).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
picketd_bin=$src/build/static-x86_64/bin/picketd
picket_bin=$src/build/dev/bin/picket
out=$src/build/debs
version=$(sed -n 's/^project(picket VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
while [ $# -gt 0 ]; do
  case "$1" in
    --picketd) picketd_bin=$2; shift 2 ;;
    --picket) picket_bin=$2; shift 2 ;;
    --no-picketd) picketd_bin=; shift ;;
    --no-picket) picket_bin=; shift ;;
    --out) out=$2; shift 2 ;;
    --version) version=$2; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "build-debs.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d /tmp/picket-debs-XXXXXX)
trap 'rm -rf "$work"' EXIT
maintainer="picket maintainers <picket@example.invalid>"

deb_arch_of() {  # the Debian architecture of an ELF binary
  case "$(file -b "$1")" in
    *x86-64*) echo amd64 ;;
    *aarch64*|*ARM\ aarch64*) echo arm64 ;;
    *ARM*) echo armhf ;;
    *) echo "build-debs.sh: cannot tell the architecture of $1" >&2; return 1 ;;
  esac
}
strip_for() {  # the strip that reads this architecture's ELF
  case "$1" in
    amd64) echo strip ;; arm64) echo aarch64-linux-gnu-strip ;; armhf) echo arm-linux-gnueabihf-strip ;;
  esac
}
gz() { gzip -9n < "$1" > "$2"; chmod 0644 "$2"; }
# install_common ROOT PKG: changelog and copyright, as Debian policy puts them.
install_common() {
  install -d -m 0755 "$1/usr/share/doc/$2"
  install -m 0644 "$src/packaging/deb/$2/copyright" "$1/usr/share/doc/$2/copyright"
  gz "$src/packaging/deb/changelog" "$1/usr/share/doc/$2/changelog.gz"
}
# finish ROOT PKG: control files, md5sums, root-owned .deb.
finish() {
  local root=$1 pkg=$2
  install -d -m 0755 "$root/DEBIAN"
  for s in postinst prerm postrm; do install -m 0755 "$src/packaging/deb/$pkg/$s" "$root/DEBIAN/$s"; done
  (cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z \
     | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
  chmod 0644 "$root/DEBIAN/md5sums"
  find "$root" -type d -exec chmod 0755 {} +
  dpkg-deb --root-owner-group -Zxz --build "$root" "$out/${pkg}_${version}_$3.deb" >/dev/null
  echo "build-debs.sh: $out/${pkg}_${version}_$3.deb"
}

if [ -n "$picketd_bin" ]; then
  arch=$(deb_arch_of "$picketd_bin")
  file -b "$picketd_bin" | grep -q 'statically linked' \
    || { echo "build-debs.sh: $picketd_bin is not static (build a static-<arch> preset)" >&2; exit 1; }
  root=$work/picketd
  install -d -m 0755 "$root/DEBIAN" "$root/usr/sbin" "$root/lib/systemd/system" "$root/etc/picketd" \
    "$root/usr/share/man/man8" "$root/usr/share/doc/picketd/embedded"
  install -m 0755 "$picketd_bin" "$root/usr/sbin/picketd"
  "$(strip_for "$arch")" --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/sbin/picketd"
  install -m 0644 "$src/packaging/picketd.service" "$root/lib/systemd/system/picketd.service"
  install -m 0644 "$src/packaging/deb/picketd/picketd.json.example" "$root/etc/picketd/picketd.json.example"
  gz "$src/packaging/man/picketd.8" "$root/usr/share/man/man8/picketd.8.gz"
  install_common "$root" picketd
  gz "$src/config/README.md" "$root/usr/share/doc/picketd/README.config.md.gz"
  install -d -m 0755 "$root/usr/share/lintian/overrides"
  install -m 0644 "$src/packaging/deb/picketd/lintian-overrides" "$root/usr/share/lintian/overrides/picketd"
  # The full Debian copyright of every library inside the static binary.
  for p in libpcap0.8 libcurl4 libc-ares2 libmbedtls14 libssl3 libuv1 libsqlite3-0 libzookeeper-mt2 zlib1g \
           libzstd1 libseccomp2 nlohmann-json3-dev libboost1.74-dev libc6 libstdc++6 libgcc-s1; do
    [ -f "/usr/share/doc/$p/copyright" ] || { echo "build-debs.sh: /usr/share/doc/$p/copyright missing" >&2; exit 1; }
    gz "/usr/share/doc/$p/copyright" "$root/usr/share/doc/picketd/embedded/$p.copyright.gz"
  done
  size=$(du -k -s --exclude=DEBIAN "$root" | cut -f1)
  cat > "$root/DEBIAN/control" <<CTRL
Package: picketd
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $size
Depends: passwd, init-system-helpers (>= 1.52)
Recommends: ca-certificates
Section: net
Priority: optional
Homepage: https://example.invalid/picket
Description: picket edge sensor daemon (static)
 picketd captures traffic with libpcap into crash-safe pcap chunks, scans
 ports, keeps everything in a local SQLite buffer under a disk budget and
 uploads it to a picket collector. It can take its config from ZooKeeper and
 share scan jobs with other devices.
 .
 The binary is statically linked; the copyright file lists every library
 inside it. The service starts once /etc/picketd/picketd.json exists.
CTRL
  echo /etc/picketd/picketd.json.example > "$root/DEBIAN/conffiles"
  finish "$root" picketd "$arch"
fi

if [ -n "$picket_bin" ]; then
  arch=$(deb_arch_of "$picket_bin")
  root=$work/picket
  # /etc/picket becomes root:picket 0750 in postinst, once the group exists.
  install -d -m 0755 "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" \
    "$root/usr/share/man/man1" "$root/usr/share/picket" "$root/etc/picket"
  install -m 0755 "$picket_bin" "$root/usr/bin/picket"
  strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/bin/picket"
  for u in picket-collector picket-sync; do
    install -m 0644 "$src/packaging/$u.service" "$root/lib/systemd/system/$u.service"
  done
  # Flags and the database password: root:picket 0640 once postinst has made the group.
  # (shipped 0644: they hold no secret until edited; an edited file keeps its own mode)
  install -m 0644 "$src/packaging/deb/picket/collector.env" "$root/etc/picket/collector.env"
  install -m 0644 "$src/packaging/deb/picket/sync.env" "$root/etc/picket/sync.env"
  install -m 0644 "$src/config/schema.sql" "$root/usr/share/picket/schema.sql"
  gz "$src/packaging/man/picket.1" "$root/usr/share/man/man1/picket.1.gz"
  install_common "$root" picket
  for d in OPERATOR.md API.md; do gz "$src/config/$d" "$root/usr/share/doc/picket/$d.gz"; done
  # Depends from the shared libraries the binary links (dpkg-shlibdeps wants a debian/control).
  mkdir -p "$work/shlib/debian"
  printf 'Source: picket\n\nPackage: picket\nArchitecture: any\n' > "$work/shlib/debian/control"
  depends=$(cd "$work/shlib" && dpkg-shlibdeps -O "$root/usr/bin/picket" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
  size=$(du -k -s --exclude=DEBIAN "$root" | cut -f1)
  cat > "$root/DEBIAN/control" <<CTRL
Package: picket
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $size
Depends: $depends, passwd, init-system-helpers (>= 1.52)
Suggests: mariadb-server, zookeeperd
Section: net
Priority: optional
Homepage: https://example.invalid/picket
Description: central tool of picket: collector, sync and operator CLI
 The central half of picket: the collector receives pcap chunks, scan results,
 logs and heartbeats from picketd devices and serves the fleet API and web
 console; sync mirrors device, group and scan-job rows from MariaDB into
 ZooKeeper; the CLI lists devices, edits configs, runs shared scans and
 downloads captures.
 .
 The collector and sync units are installed but not enabled: edit
 /etc/picket/collector.env and /etc/picket/sync.env first.
CTRL
  printf '/etc/picket/collector.env\n/etc/picket/sync.env\n' > "$root/DEBIAN/conffiles"
  finish "$root" picket "$arch"
fi
