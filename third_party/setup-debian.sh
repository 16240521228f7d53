#!/usr/bin/env bash
# Installs everything picket needs on a fresh Debian 12 machine (run as root).
#   setup-debian.sh            dev build: compilers, -dev packages, test tools
#   setup-debian.sh --static   also deb-src, flex/bison, cross compilers and qemu for the static builds
#   setup-debian.sh --packaging  also debootstrap and lintian (packaging/, tests/packaging/chroot_test.sh)
# Idempotent: a second run only checks.
set -euo pipefail

want_static=0
want_packaging=0
for arg in "$@"; do
  case "$arg" in
    --static) want_static=1 ;;
    --packaging) want_packaging=1 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "setup-debian.sh: unknown option '$arg'" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-debian.sh: run as root (apt-get install needs it)" >&2
  exit 2
fi

dev_packages=(
  build-essential cmake pkg-config git ca-certificates file
  libpcap-dev libuv1-dev libcurl4-openssl-dev libsqlite3-dev libzookeeper-mt-dev libseccomp-dev
  nlohmann-json3-dev libboost-dev doctest-dev libssl-dev zlib1g-dev libzstd-dev
  tcpdump tshark iproute2 python3 openssl
  zookeeper default-jre-headless python3-kazoo
  masscan nmap ethtool nftables
  mariadb-server mariadb-client libmariadb-dev
  libndpi-dev libndpi-bin
  libjs-chart.js
  clang-14 libfuzzer-14-dev
  prometheus
  chromium chromium-driver python3-selenium
  man-db bsdextrautils
  ccache
)
# The .debs: dpkg-deb and dpkg-shlibdeps (dpkg-dev), a clean chroot and the package checker.
packaging_packages=(dpkg-dev binutils debootstrap lintian)
static_packages=(
  dpkg-dev flex bison libc-ares-dev libmbedtls-dev
  crossbuild-essential-arm64 crossbuild-essential-armhf qemu-user-static
)

packages=("${dev_packages[@]}")
[ "$want_static" -eq 1 ] && packages+=("${static_packages[@]}")
[ "$want_packaging" -eq 1 ] && packages+=("${packaging_packages[@]}")

export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer once, non-interactively.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "$want_static" -eq 1 ] && [ ! -f /etc/apt/sources.list.d/picket-deb-src.sources ]; then
  # curl and libpcap are rebuilt from Debian's own patched sources for the static builds.
  cat > /etc/apt/sources.list.d/picket-deb-src.sources <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  need_update=1
fi

if [ "${#missing[@]}" -gt 0 ] || [ "${need_update:-0}" -eq 1 ]; then
  apt-get update -qq
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup-debian.sh: installing ${missing[*]}"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ "$want_static" -eq 1 ]; then
  # Static binaries embed these libraries: build them with Debian's latest security fixes.
  embedded=(libssl-dev libc-ares-dev zlib1g-dev libzstd-dev libsqlite3-dev libuv1-dev libzookeeper-mt-dev libseccomp-dev)
  [ "${#missing[@]}" -gt 0 ] || [ "${need_update:-0}" -eq 1 ] || apt-get update -qq
  apt-get install -y -qq --only-upgrade "${embedded[@]}" >/dev/null
fi
# The unprivileged account picketd's worker switches to (security.user); tests running as root
# then exercise the real switch. No home, no shell, no password.
if ! getent passwd picketd >/dev/null; then
  echo "setup-debian.sh: adding system user picketd"
  useradd --system --user-group --no-create-home --home-dir /nonexistent \
          --shell /usr/sbin/nologin --comment "picket edge daemon" picketd
fi
echo "setup-debian.sh: all ${#packages[@]} packages present, user picketd exists"
