#!/usr/bin/env bash
# fetch-sources.sh DIR: put Debian's patched curl and libpcap source trees into DIR.
#
# The static builds rebuild these two libraries (see third_party/README.md); everything else
# comes from Debian's .a files. `apt-get source` unpacks the trees with every Debian patch
# applied (the security backports included), which the bare *.orig.tar.gz would lack.
#
# Idempotent: when DIR already holds an unpacked curl-*/ and libpcap-*/ tree, nothing is fetched.
# Needs deb-src entries in apt's sources (third_party/setup-debian.sh --static adds them) and
# dpkg-dev (dpkg-source unpacks the trees).
set -euo pipefail

usage() { echo "usage: fetch-sources.sh DIR" >&2; exit 2; }
[ $# -eq 1 ] || usage
mkdir -p "$1"
dir=$(cd "$1" && pwd)
packages=(curl libpcap)

# An unpacked Debian source tree has debian/changelog; a half-finished download does not.
have_tree() {
  local d
  for d in "$dir/$1"-*/; do
    [ -f "$d/debian/changelog" ] && return 0
  done
  return 1
}

missing=()
for p in "${packages[@]}"; do
  have_tree "$p" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "fetch-sources.sh: curl and libpcap sources already in $dir"
  exit 0
fi

if ! command -v dpkg-source >/dev/null; then
  echo "fetch-sources.sh: dpkg-source not found; install dpkg-dev (third_party/setup-debian.sh --static)" >&2
  exit 1
fi

# apt-get source only knows about packages whose Sources index was downloaded.
# (No `| grep -q` here: under pipefail, apt-cache dying of SIGPIPE would read as "unknown".)
sources_known() {
  local p out
  for p in "${missing[@]}"; do
    out=$(apt-cache showsrc "$p" 2>/dev/null) || return 1
    [[ $out == *"Package: $p"* ]] || return 1
  done
}
if ! sources_known; then
  if grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    if [ "$(id -u)" -eq 0 ]; then
      echo "fetch-sources.sh: deb-src configured but no Sources index yet; running apt-get update"
      apt-get update -qq || true  # a failing suite is judged by the check below
    fi
  fi
fi
if ! sources_known; then
  cat >&2 <<EOF
fetch-sources.sh: apt knows no source package for ${missing[*]}.
  The static builds need Debian's deb-src entries. Run, as root:
    third_party/setup-debian.sh --static      (adds /etc/apt/sources.list.d/picket-deb-src.sources)
    apt-get update
  then configure again.
EOF
  exit 1
fi

cd "$dir"
# As root, apt warns that the download is unsandboxed; that is harmless here.
# dpkg-source lists every patch it applies; keep only the other lines.
fetch() {
  echo "fetch-sources.sh: apt-get source ${missing[*]} into $dir"
  apt-get source -qq "${missing[@]}" 2>&1 | grep -vE 'unsandboxed|dpkg-source: info: applying' || true
  local p
  for p in "${missing[@]}"; do have_tree "$p" || return 1; done
}
if ! fetch && [ "$(id -u)" -eq 0 ]; then
  # A stale Sources index names a version the mirror has dropped (404): refresh once, retry.
  echo "fetch-sources.sh: retrying after apt-get update"
  apt-get update -qq || true
  fetch || true
fi

for p in "${missing[@]}"; do
  if ! have_tree "$p"; then
    echo "fetch-sources.sh: 'apt-get source $p' left no unpacked $p-* tree in $dir" >&2
    exit 1
  fi
done
echo "fetch-sources.sh: done"
