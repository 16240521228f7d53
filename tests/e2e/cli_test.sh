#!/usr/bin/env bash
# Drives the built binaries as an operator would: help, version, config checks.
set -u
picketd=$1
picket=${2:-}
src=${PICKET_SOURCE_DIR:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
check() {  # check NAME EXPECTED_EXIT CMD... ; output in $tmp/out
  local name=$1 want=$2; shift 2
  "$@" >"$tmp/out" 2>&1
  local got=$?
  if [ "$got" -eq "$want" ]; then passed=$((passed+1)); else
    failed=$((failed+1)); echo "FAIL $name: exit $got, want $want"; sed 's/^/  | /' "$tmp/out"; fi
}
contains() {  # contains NAME TEXT : last output contains TEXT
  if grep -qF -- "$2" "$tmp/out"; then passed=$((passed+1)); else
    failed=$((failed+1)); echo "FAIL $1: output lacks '$2'"; sed 's/^/  | /' "$tmp/out"; fi
}

check "no command" 2 "$picketd"
check "help" 0 "$picketd" help;                     contains "help lists check-config" "check-config"
check "version" 0 "$picketd" version
for lib in libpcap libuv libcurl tls sqlite3 zookeeper_mt boost.asio nlohmann_json glibc; do
  contains "version names $lib" "$lib"
done
check "version --json" 0 "$picketd" version --json;  contains "json version" '"libraries":{'
check "version --help" 0 "$picketd" version --help;  contains "usage" "usage: picketd version"
check "unknown command" 2 "$picketd" frobnicate;     contains "names the command" "'frobnicate'"
check "unknown flag" 2 "$picketd" version --fast;    contains "names the flag" "--fast"
check "embedded defaults" 0 "$picketd" check-config; contains "default iface" '"interface": "lo"'
check "example config" 0 "$picketd" check-config --config "$src/config/picketd.example.json"
printf '{"capture":{"snaplen":"big","filter":"tcp port 99999"},"bogus":1}' > "$tmp/bad.json"
check "bad config exits 1" 1 "$picketd" check-config --config "$tmp/bad.json"
contains "names snaplen path" "/capture/snaplen"
contains "names unknown key" "/bogus: unknown key"
check "missing file" 1 "$picketd" check-config --config "$tmp/nope.json"
contains "names the file" "$tmp/nope.json"
printf '{"capture":{"filter":"tcp port 99999"}}' > "$tmp/bpf.json"
check "bad BPF" 1 "$picketd" check-config --config "$tmp/bpf.json"
contains "names filter path" "/capture/filter"

if [ -n "$picket" ]; then
  check "picket version" 0 "$picket" version;          contains "beast" "boost.beast"
  check "picket help" 0 "$picket" --help
  check "picket check-config ok" 0 "$picket" check-config --file "$src/config/picketd.example.json"
  check "picket check-config bad" 1 "$picket" check-config --file "$tmp/bad.json"
  check "picket check-config no file" 2 "$picket" check-config
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
