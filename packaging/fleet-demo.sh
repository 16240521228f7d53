#!/usr/bin/env bash
# A whole picket fleet on loopback, set up the way config/OPERATOR.md tells an operator to:
# ZooKeeper and MariaDB (private instances in a temp dir, on free 127.0.0.1 ports), MariaDB
# users with the documented grants, `picket sync`, `picket collector` with hashed tokens, and
# two devices (gw-1, gw-2, group lab) with their own ZooKeeper identities, each capturing on lo.
# It sends some UDP traffic, submits a two-shard connect scan of 127.0.0.1, prints what an
# operator looks at (devices, scan status and results, chunks, logs, the web page's URL), and
# stops every process it started, by PID, on exit or Ctrl-C.
#   usage: packaging/fleet-demo.sh [--bin DIR] [--keep] [--hold]   (run as root, from the checkout)
#     --bin DIR   where picket and picketd are (default build/dev/bin)
#     --keep      keep the temp dir (logs, databases, buffers) instead of deleting it
#     --hold      after printing, keep the fleet running until Enter or Ctrl-C (to use the page)
# Needs what third_party/setup-debian.sh installs (zookeeper, mariadb-server, a JRE).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
bin=$src/build/dev/bin keep=0 hold=0
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin=$(cd "$2" && pwd); shift 2 ;;
    --keep) keep=1; shift ;;
    --hold) hold=1; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "fleet-demo: unknown option '$1'" >&2; exit 2 ;;
  esac
done
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { echo "fleet-demo: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "fleet-demo: run as root (picketd captures on lo)" >&2; exit 2; }
for tool in "$bin/picket" "$bin/picketd" /usr/share/java/zookeeper.jar /usr/sbin/mariadbd \
            /usr/bin/mariadb-install-db /usr/bin/mariadb java python3; do
  [ -e "$tool" ] || command -v "$tool" >/dev/null || die "$tool not found: run ./third_party/setup-debian.sh and build first (README, Quick start)"
done
getent passwd picketd >/dev/null || die "user picketd missing: run ./third_party/setup-debian.sh"

t0=$SECONDS
work=$(mktemp -d /tmp/picket-fleet-demo-XXXXXX)
chmod 0711 "$work"  # the devices' workers run as picketd and must reach their buffers
echo "fleet-demo: working in $work"
pids=() names=()
# The messages of cleanup go to the demo's own stdout/stderr, kept as fds 3 and 4: an
# interrupt can arrive inside a command whose output is redirected (wait_for's >/dev/null).
exec 3>&1 4>&2
cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  exec 1>&3 2>&4
  # Newest first, one at a time: devices, sync, collector, then the databases they talk to
  # (so each still reaches ZooKeeper while it shuts down).
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || continue
    local deadline=$((SECONDS + 30))
    while kill -0 "${pids[i]}" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
    if kill -0 "${pids[i]}" 2>/dev/null; then
      echo "fleet-demo: ${names[i]} (pid ${pids[i]}) ignored SIGTERM for 30 s: SIGKILL" >&2
      kill -KILL "${pids[i]}" 2>/dev/null || true
    fi
    wait "${pids[i]}" 2>/dev/null || true
  done
  echo "fleet-demo: stopped ${#pids[@]} processes (${names[*]:-none}) after $((SECONDS - t0)) s"
  if [ "$keep" -eq 1 ] || [ "$rc" -ne 0 ]; then
    echo "fleet-demo: logs and data kept in $work"
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
start() {  # start NAME LOG COMMAND...: in the background, remembered for cleanup
  local name=$1 log=$2; shift 2
  "$@" >"$log" 2>&1 3>&- 4>&- &
  pids+=($!) names+=("$name")
}
wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: poll a condition with a deadline
  local limit=$1 what=$2 deadline=$((SECONDS + $1)); shift 2
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || die "timed out after $limit s waiting for $what (logs: $work)"
    sleep 0.2
  done
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
four_letter() {  # four_letter PORT WORD: a ZooKeeper four-letter command's answer
  python3 -c 'import socket,sys
s=socket.create_connection(("127.0.0.1",int(sys.argv[1])),timeout=1); s.sendall(sys.argv[2].encode())
print(b"".join(iter(lambda: s.recv(512), b"")).decode())' "$1" "$2" 2>/dev/null
}
secret() { umask 077; head -c 18 /dev/urandom | base64 | tr '+/' '-_' > "$1"; }

say "ZooKeeper"
zk_port=$(free_port)
mkdir -p "$work/zookeeper/data"
cat > "$work/zookeeper/zoo.cfg" <<EOF
tickTime=1000
initLimit=10
syncLimit=5
dataDir=$work/zookeeper/data
clientPort=$zk_port
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr
EOF
cp=/usr/share/java/zookeeper.jar
for j in /usr/share/java/slf4j-log4j12.jar /usr/share/java/log4j-1.2.jar; do [ -e "$j" ] && cp=$cp:$j; done
# -XX:-UsePerfData: no /tmp/hsperfdata_<user>/<pid> left behind.
start zookeeper "$work/zookeeper/zookeeper.log" java -Xmx256m -XX:-UsePerfData -cp "$work/zookeeper:$cp" \
  -Dzookeeper.log.dir="$work/zookeeper" -Dzookeeper.root.logger=WARN,CONSOLE \
  org.apache.zookeeper.server.quorum.QuorumPeerMain "$work/zookeeper/zoo.cfg"
zk_serving() { four_letter "$zk_port" srvr | grep -q Mode:; }
wait_for 60 "ZooKeeper on 127.0.0.1:$zk_port" zk_serving
echo "ZooKeeper 127.0.0.1:$zk_port"

say "MariaDB: database, schema, users picket_sync and picket_op (config/OPERATOR.md, 3)"
db_port=$(free_port)
mkdir -p "$work/mariadb"
mariadb-install-db --no-defaults --user=root --datadir="$work/mariadb/data" \
  --auth-root-authentication-method=normal --skip-test-db > "$work/mariadb/install.log" 2>&1 \
  || die "mariadb-install-db failed, see $work/mariadb/install.log"
start mariadb "$work/mariadb/mariadbd.log" /usr/sbin/mariadbd --no-defaults --user=root \
  --datadir="$work/mariadb/data" --socket="$work/mariadb/mysql.sock" --port="$db_port" \
  --bind-address=127.0.0.1 --pid-file="$work/mariadb/mariadbd.pid" \
  --log-error="$work/mariadb/error.log" --skip-name-resolve --innodb-buffer-pool-size=32M
sql() { mariadb --no-defaults -h127.0.0.1 -P"$db_port" -uroot --batch --skip-column-names "$@"; }
wait_for 60 "MariaDB on 127.0.0.1:$db_port" sql -e "SELECT 1"
secret "$work/sync.dbpass"; secret "$work/op.dbpass"
sql -e "CREATE DATABASE picket"
sql picket < "$src/config/schema.sql"
sql -e "CREATE USER 'picket_sync'@'127.0.0.1' IDENTIFIED BY '$(cat "$work/sync.dbpass")';
        GRANT SELECT, DELETE ON picket.* TO 'picket_sync'@'127.0.0.1';
        CREATE USER 'picket_op'@'127.0.0.1' IDENTIFIED BY '$(cat "$work/op.dbpass")';
        GRANT SELECT, INSERT, UPDATE ON picket.* TO 'picket_op'@'127.0.0.1';"
# The CLI and the collector's web actions are operators: picket_op, password from the environment.
export PICKET_DB_PASSWORD
PICKET_DB_PASSWORD=$(cat "$work/op.dbpass")
echo "MariaDB 127.0.0.1:$db_port, database picket"

say "the CLI config and the fleet's ZooKeeper identities (config/OPERATOR.md, 2 and 5)"
secret "$work/zk-admin.password"
"$bin/picket" token add @admin --tokens "$work/tokens" > "$work/admin.token"
cat > "$work/cli.json" <<EOF
{"zookeeper": "127.0.0.1:$zk_port", "zk_root": "/picket", "zk_user": "picket",
 "zk_password_file": "$work/zk-admin.password",
 "db": "mysql://picket_op@127.0.0.1:$db_port/picket",
 "collector": "COLLECTOR", "token_file": "$work/admin.token"}
EOF
export PICKET_CLI_CONFIG=$work/cli.json
picket() { "$bin/picket" "$@"; }
picket zk fleet init --out "$work/zk-fleet.password"
for d in gw-1 gw-2; do
  picket zk device add "$d" --group lab --out "$work/$d.zk.password"
  "$bin/picket" token add "$d" --tokens "$work/tokens" > "$work/$d.token"
  chmod 0600 "$work/$d.token"
done

say "picket collector (tokens hashed in $work/tokens)"
collector_port=$(free_port)
start collector "$work/collector.log" "$bin/picket" collector --listen "127.0.0.1:$collector_port" \
  --data "$work/collector" --tokens "$work/tokens" --ready-file "$work/collector.url" \
  --db "mysql://picket_op@127.0.0.1:$db_port/picket" --db-password-file "$work/op.dbpass" \
  --zk "127.0.0.1:$zk_port" --advertise "http://127.0.0.1:$collector_port" --zk-root /picket \
  --zk-user picket --zk-password-file "$work/zk-admin.password"
wait_for 30 "the collector" test -s "$work/collector.url"
collector=$(cat "$work/collector.url")
sed -i "s|\"COLLECTOR\"|\"$collector\"|" "$work/cli.json"
echo "collector $collector"

# The devices boot before sync has written their rows (boxes come up in any order): they run
# on their local file and must pick up their group's and their own row once sync writes them.
say "two devices, gw-1 and gw-2, capturing on lo with their own identities"
for d in gw-1 gw-2; do
  cat > "$work/$d.json" <<EOF
{"device": {"id": "$d", "group": "lab"},
 "capture": {"enabled": true, "interface": "lo", "filter": "udp port 47900", "buffer_mib": 4,
             "chunk_idle": "2s"},
 "buffer": {"dir": "$work/buffer-$d", "max_bytes": "64MiB"},
 "upload": {"collectors": ["$collector"], "token_file": "$work/$d.token", "retry_base": "200ms",
            "retry_max": "2s"},
 "zookeeper": {"hosts": "127.0.0.1:$zk_port", "root": "/picket", "auth_user": "$d",
               "auth_password_file": "$work/$d.zk.password",
               "fleet_password_file": "$work/zk-fleet.password"}}
EOF
  start "$d" "$work/$d.log" "$bin/picketd" run --config "$work/$d.json"
done
say "picket sync (MariaDB rows -> ZooKeeper)"
# The two devices' rows, in group lab (the group row holds what both share).
sql picket -e "INSERT INTO device_groups (name, config) VALUES ('lab', '{\"capture\": {\"filter\": \"udp port 47900\"}}');
               INSERT INTO devices (id, group_name, config) VALUES ('gw-1', 'lab', '{}'), ('gw-2', 'lab', '{}');"
PICKET_DB_PASSWORD=$(cat "$work/sync.dbpass") start sync "$work/sync.log" "$bin/picket" sync \
  --db "mysql://picket_sync@127.0.0.1:$db_port/picket" --zk "127.0.0.1:$zk_port" --root /picket \
  --zk-user picket --zk-password-file "$work/zk-admin.password"
wait_for 30 "sync to lead" grep -q "leader now" "$work/sync.log"
wait_for 30 "sync's first full reconcile" grep -q "reconciled groups=" "$work/sync.log"
echo "sync leads; rows mirrored"

both_alive() {
  picket devices --json | python3 -c 'import json,sys
docs=[json.loads(l) for l in sys.stdin if l.strip()]
docs=docs[0] if len(docs)==1 and isinstance(docs[0], list) else docs
ok=[d for d in docs if d.get("alive") and d.get("applied_version") not in (None, 0)]
sys.exit(0 if len(ok)>=2 else 1)'
}
wait_for 60 "both devices alive with their rows applied (picket devices)" both_alive

say "traffic: 500 UDP packets to 127.0.0.1:47900 (the group's capture filter)"
python3 -c 'import socket
s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(500): s.sendto(b"fleet demo %d" % i, ("127.0.0.1", 47900))'
has_chunks() { picket chunks list gw-1 --json | grep -q seq; }
wait_for 60 "gw-1's first chunk at the collector" has_chunks
# Its log lines come in their own batches: wait for the one that says so too.
has_sealed_line() { picket logs --device gw-1 | grep -q 'chunk sealed'; }
wait_for 60 "gw-1's 'chunk sealed' log line at the collector (picket logs)" has_sealed_line

say "a shared scan: 127.0.0.1, the fleet's own ports and 1-1024, connect mode, 2 shards"
ports="$zk_port,$db_port,${collector##*:},1-1024"
job=demo-$(date -u +%H%M%S)
picket scan submit --id "$job" --targets 127.0.0.1 --ports "$ports" --rate 2000 --shards 2 \
  --mode connect --group lab
job_done() {
  picket scan status "$job" --json | python3 -c 'import json,sys
st=json.load(sys.stdin); sys.exit(0 if st["shards"] and st["done"] == st["shards"] else 1)'
}
wait_for 120 "job $job to finish (picket scan status)" job_done

say "what an operator looks at"
show() { echo; echo "\$ picket $*"; picket "$@" || echo "(exit $?)"; }
show devices
show scan status "$job"
show scan results "$job"
show chunks list gw-1
show logs --device gw-1 -n 10
echo; echo "\$ picket logs --device gw-1 | grep -m1 'chunk sealed'"
picket logs --device gw-1 | grep -m1 'chunk sealed' || echo "(none)"
echo
echo "web console: $collector/  (log in with the @admin token in $work/admin.token)"
echo "CLI config:  export PICKET_CLI_CONFIG=$work/cli.json"
echo "fleet-demo: everything up and shown after $((SECONDS - t0)) s"
if [ "$hold" -eq 1 ]; then
  echo "fleet-demo: --hold: the fleet keeps running; press Enter (or Ctrl-C) to stop it"
  read -r _ || true
fi
