#!/usr/bin/env bash
# The .debs as a new machine gets them: a clean Debian 12 (debootstrap --variant=minbase, its
# tarball cached in /var/cache/picket-debootstrap so later runs need no network), the two
# packages installed with dpkg, then:
#   - lintian on both .debs: no errors, no warnings (the overrides are explained in
#     packaging/README.md);
#   - the unit files pass `systemd-analyze verify` inside the chroot;
#   - `picketd version`, `picket version`, `man picketd`, `man picket` work;
#   - users, modes and unit state are what packaging/README.md says (picketd enabled, the
#     central units not; /var/lib/picketd 0700 picketd; /etc/picket 0750 root:picket);
#   - the neutral picketd.json.example is refused by check-config, naming device.id;
#   - the maintainer scripts start the unit on install and stop it on removal: the chroot has
#     no systemd running, so /run/systemd/system is made and deb-systemd-invoke/systemctl are
#     recording stand-ins first in PATH (what dpkg would run against a live systemd);
#   - removing picketd stops the service, masks the unit and keeps the buffer; purging keeps
#     it too; purging with PICKETD_PURGE_DATA=yes deletes it and the user.
# usage: tests/packaging/chroot_test.sh PICKETD_DEB PICKET_DEB
#        tests/packaging/chroot_test.sh --bins STATIC_PICKETD PICKET   (builds the .debs first)
# KEEP_CHROOT=1 keeps the chroot for a look. Root. Exit 77 (skip) without root, debootstrap or a cached tarball and no mirror, unless CI=true.
set -euo pipefail
if [ "${1:-}" = --bins ]; then
  [ -x "$2" ] || { echo "SKIP: no static picketd at $2 (build the static-x86_64 preset)"; \
                   [ "${CI:-}" = true ] && exit 1; exit 77; }
  debs=$(mktemp -d /tmp/picket-test-debs-XXXXXX)
  trap 'rm -rf "$debs"' EXIT
  "$(dirname "$0")/../../packaging/build-debs.sh" --picketd "$2" --picket "$3" --out "$debs"
  set -- "$debs"/picketd_*.deb "$debs"/picket_*.deb
fi
picketd_deb=$(realpath "$1") picket_deb=$(realpath "$2")
cache=/var/cache/picket-debootstrap
tarball=$cache/bookworm-minbase.tgz
mirror=http://deb.debian.org/debian
include=systemd,man-db,init-system-helpers,passwd,libcurl4,libmariadb3,libndpi4.2,libpcap0.8,libsqlite3-0,libssl3,libzookeeper-mt2,zlib1g,ca-certificates
skip() { echo "SKIP: $*"; [ "${CI:-}" = true ] && { echo "FAIL: CI=true does not skip"; exit 1; }; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root (chroot, dpkg)"
command -v debootstrap >/dev/null || skip "debootstrap missing (third_party/setup-debian.sh installs it)"
command -v lintian >/dev/null || skip "lintian missing (third_party/setup-debian.sh installs it)"
t0=$SECONDS
fails=0
ok() { local what=$1; shift; if "$@" >/tmp/chroot_check.$$ 2>&1; then echo "ok   $what"; else
  echo "FAIL $what:"; sed 's/^/     /' /tmp/chroot_check.$$ | head -20; fails=$((fails + 1)); fi; rm -f /tmp/chroot_check.$$; }

echo "== lintian"
lintian_out=$(lintian --no-cfg "$picketd_deb" "$picket_deb" 2>&1 | grep -v 'running with root privileges' || true)
echo "${lintian_out:-(nothing)}"
ok "lintian: no errors or warnings" test -z "$lintian_out"

mkdir -p "$cache"
root=$(mktemp -d /tmp/picket-chroot-XXXXXX)
mounted=0
cleanup() {
  if [ "$mounted" -eq 1 ]; then umount "$root/proc" || true; fi
  if [ -n "${KEEP_CHROOT:-}" ]; then echo "chroot kept in $root"; else rm -rf --one-file-system "$root"; fi
  [ -z "${debs:-}" ] || rm -rf "$debs"
}
trap cleanup EXIT
# Two caches: debootstrap's tarball of .debs (so no download after the first run) and the
# installed root file system (so no second stage: unpacking a tar takes seconds, debootstrap's
# second stage minutes on a busy machine). Both are rebuilt when the package list changes.
stamp=$(echo "$include" | sha256sum | cut -c1-12)
rootfs=$cache/bookworm-minbase-root-$stamp.tar
if [ ! -s "$rootfs" ]; then
  if [ ! -s "$tarball" ] || [ "$(cat "$tarball.include" 2>/dev/null)" != "$include" ]; then
    echo "== debootstrap tarball (first run: from $mirror)"
    debootstrap --variant=minbase --include="$include" --make-tarball="$tarball.tmp" bookworm \
      "$root/.make-tarball" "$mirror" >/dev/null || skip "debootstrap could not reach $mirror"
    mv "$tarball.tmp" "$tarball"
    echo "$include" > "$tarball.include"
    rm -rf "${root:?}/.make-tarball"
  fi
  echo "== debootstrap bookworm minbase into $root (from the cached tarball; cached as $rootfs)"
  debootstrap --variant=minbase --include="$include" --unpack-tarball="$tarball" bookworm "$root" \
    "$mirror" > "$root.debootstrap.log" 2>&1 || { cat "$root.debootstrap.log"; exit 1; }
  rm -f "$root.debootstrap.log"
  tar -C "$root" -cf "$rootfs.tmp" . && mv "$rootfs.tmp" "$rootfs"
else
  echo "== clean bookworm minbase root from $rootfs"
  tar -C "$root" -xf "$rootfs"
fi
mount -t proc proc "$root/proc"; mounted=1
echo "   took $((SECONDS - t0)) s"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  LANG=C.UTF-8 "$@"; }

# Stand-ins for a running systemd: dpkg's maintainer scripts see /run/systemd/system and call
# these first in PATH; each records its arguments.
mkdir -p "$root/run/systemd/system" "$root/usr/local/sbin"
# systemctl --root=... (offline: deb-systemd-helper's "preset" that enables a unit) is passed on
# to the real one, as it works without a running systemd.
cat > "$root/usr/local/sbin/deb-systemd-invoke" <<'EOF'
#!/bin/sh
echo "deb-systemd-invoke $*" >> /var/log/picket-invoked
EOF
cat > "$root/usr/local/sbin/systemctl" <<'EOF'
#!/bin/sh
echo "systemctl $*" >> /var/log/picket-invoked
case "$*" in --root=*) exec /usr/bin/systemctl "$@" ;; esac
EOF
chmod 0755 "$root/usr/local/sbin/deb-systemd-invoke" "$root/usr/local/sbin/systemctl"
cp "$picketd_deb" "$picket_deb" "$root/tmp/"

echo "== install"
ok "dpkg -i picketd picket" in_root dpkg -i "/tmp/$(basename "$picketd_deb")" "/tmp/$(basename "$picket_deb")"
ok "picketd version" in_root picketd version
ok "picket version" in_root picket version
ok "man picketd shows NAME and every command" sh -c "chroot '$root' env MANWIDTH=100 man -P cat picketd 2>&1 | grep -q 'picketd - picket edge sensor daemon'"
ok "man picket" sh -c "chroot '$root' env MANWIDTH=100 man -P cat picket 2>&1 | grep -q 'picket - picket.s central tool'"
ok "systemd-analyze verify picketd.service picket-collector.service picket-sync.service" \
  in_root /usr/bin/systemd-analyze verify /lib/systemd/system/picketd.service \
  /lib/systemd/system/picket-collector.service /lib/systemd/system/picket-sync.service
ok "users picketd and picket exist" in_root sh -c 'getent passwd picketd && getent passwd picket'
# Owners by name inside the chroot (its users' ids are not the host's).
modes() { in_root stat -c '%a %U:%G' "$@" | tr '\n' ' '; }
ok "/var/lib/picketd is 0700 picketd:picketd" test "$(modes /var/lib/picketd)" = "700 picketd:picketd "
ok "/etc/picketd is 0750 root:picketd" test "$(modes /etc/picketd)" = "750 root:picketd "
ok "/etc/picket and its env files are root:picket 0750/0640" \
  test "$(modes /etc/picket /etc/picket/sync.env /etc/picket/collector.env)" = "750 root:picket 640 root:picket 640 root:picket "
ok "no /etc/picketd/picketd.json shipped (the unit waits for the operator's)" test ! -e "$root/etc/picketd/picketd.json"
ok "picketd.service enabled" test -L "$root/etc/systemd/system/multi-user.target.wants/picketd.service"
ok "picket-collector and picket-sync not enabled" sh -c \
  "! ls '$root/etc/systemd/system/multi-user.target.wants/' | grep -q picket-"
ok "postinst started picketd.service" grep -qx 'deb-systemd-invoke start picketd.service' "$root/var/log/picket-invoked"
ok "postinst started no central unit" sh -c "! grep -q 'picket-' '$root/var/log/picket-invoked'"
ok "the example config is refused naming device.id" sh -c \
  "chroot '$root' picketd check-config --config /etc/picketd/picketd.json.example 2>&1 | grep -q '/device/id'"
ok "the example config, filled in, passes check-config" sh -c \
  "sed -e 's/\"id\": \"\"/\"id\": \"gw-test\"/' -e 's/\"interface\": \"\"/\"interface\": \"lo\"/' \
       -e 's|\"collectors\": \[\]|\"collectors\": [\"https://collector.example:8750\"]|' \
       '$root/etc/picketd/picketd.json.example' > '$root/tmp/filled.json' &&
   chroot '$root' picketd check-config --quiet --config /tmp/filled.json"

echo "== remove picketd (the buffer holds a chunk not yet uploaded)"
echo "pending chunk" > "$root/var/lib/picketd/marker"
: > "$root/var/log/picket-invoked"
ok "dpkg -r picketd" in_root dpkg -r picketd
ok "prerm stopped picketd.service" grep -qx 'deb-systemd-invoke stop picketd.service' "$root/var/log/picket-invoked"
ok "the binary is gone" test ! -e "$root/usr/sbin/picketd"
ok "the unit is masked while removed" sh -c "[ \"\$(readlink '$root/etc/systemd/system/picketd.service')\" = /dev/null ]"
ok "the buffer stays after remove" test -f "$root/var/lib/picketd/marker"
ok "dpkg --purge picketd" in_root dpkg --purge picketd
ok "the buffer and user stay after purge" sh -c "test -f '$root/var/lib/picketd/marker' && chroot '$root' getent passwd picketd"
ok "the mask is gone after purge" test ! -e "$root/etc/systemd/system/picketd.service"
ok "reinstall picketd" in_root dpkg -i "/tmp/$(basename "$picketd_deb")"
ok "the kept buffer is still there after reinstall" test -f "$root/var/lib/picketd/marker"
ok "purge with PICKETD_PURGE_DATA=yes" in_root sh -c 'PICKETD_PURGE_DATA=yes dpkg --purge picketd'
ok "... deletes the buffer and the user" sh -c "test ! -e '$root/var/lib/picketd' && ! chroot '$root' getent passwd picketd"

echo "== remove picket"
: > "$root/var/log/picket-invoked"
ok "dpkg -r picket" in_root dpkg -r picket
ok "prerm stopped picket-collector and picket-sync" grep -qx \
  'deb-systemd-invoke stop picket-collector.service picket-sync.service' "$root/var/log/picket-invoked"
ok "/etc/picket's conffiles stay after remove" test -f "$root/etc/picket/sync.env"

echo "chroot test: $fails failure(s), $((SECONDS - t0)) s"
[ "$fails" -eq 0 ]
