#!/usr/bin/env bash
# picket's main job on one machine, on its embedded defaults: a collector on
# 127.0.0.1:8750 and picketd capturing lo into its SQLite buffer and uploading
# the chunks. Sends a little UDP traffic to 127.0.0.1, waits until the
# collector has it, prints what arrived, and stops both processes by PID.
#   usage: packaging/loopback-demo.sh [BUILD_BIN_DIR]   (default build/dev/bin; run as root)
set -euo pipefail
bin=${1:-build/dev/bin}
work=$(mktemp -d /tmp/picket-demo-XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "demo: logs and collector data kept in $work"
}
trap cleanup EXIT
wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: poll a condition with a deadline
  local deadline=$((SECONDS + $1)) what=$2; shift 2
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "demo: timed out waiting for $what" >&2; exit 1; }
    sleep 0.2
  done
}
[ "$(id -u)" -eq 0 ] || { echo "demo: run as root (picketd captures on lo)" >&2; exit 2; }

"$bin/picket" collector --listen 127.0.0.1:8750 --data "$work/collector" --insecure-no-auth \
  --ready-file "$work/collector.url" > "$work/collector.log" 2>&1 &
pids+=($!)
wait_for 20 "the collector" test -s "$work/collector.url"

# Embedded defaults: capture on lo, buffer in /var/lib/picketd, upload to 127.0.0.1:8750.
"$bin/picketd" run > "$work/picketd.log" 2>&1 &
pids+=($!)
wait_for 20 "picketd to capture" grep -q capturing "$work/picketd.log"

python3 - <<'PY'
import socket
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(1000):
    tx.sendto(b"picket demo packet %d" % i, ("127.0.0.1", 39999))
PY
echo "demo: sent 1000 UDP packets to 127.0.0.1:39999; nothing listens there, so each draws an ICMP port"
echo "      unreachable and lo carries 2000 packets; chunks seal after 10s of idle (chunk_idle)"

chunks() { python3 -c "import json,urllib.request;print(json.dumps(json.load(urllib.request.urlopen('http://127.0.0.1:8750/v1/devices/local/chunks')),indent=1))"; }
has_chunk() { chunks 2>/dev/null | grep -q '"seq"'; }
wait_for 60 "a chunk at the collector" has_chunk
echo "demo: devices known to the collector:"
python3 -c "import json,urllib.request;print(json.dumps(json.load(urllib.request.urlopen('http://127.0.0.1:8750/v1/devices')),indent=1))"
echo "demo: chunks stored for device 'local':"
chunks
