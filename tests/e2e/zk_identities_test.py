#!/usr/bin/env python3
"""Per-device ZooKeeper identities, and a tree that was open before credentials were turned on.
  1. An open fleet (`picket sync --zk-open-acl`) pushes gw-a (group lab) and gw-b (group dmz);
     its nodes are world:anyone, and a stranger leaves a fake collectors/<id> node meanwhile.
     Without credentials and that flag, sync, the collector and picketd's config are refused.
  2. Credentials on: `picket zk secure` re-applies the ACLs (counts printed), `picket zk fleet
     init` and `picket zk device add gw-a|gw-b` hand out passwords (0600 files, digests only in
     ZooKeeper). sync and the collector run with the admin identity, gw-a as itself + picket-fleet.
  3. gw-a works end to end: applies its row, finds the collector through its registration,
     uploads its log lines, runs a shared scan job (claims and done markers as picket-fleet),
     applies a row changed after the attacks.
  4. An anonymous client, gw-b, and gw-b + picket-fleet get NoAuth on every node of gw-a they must
     not read or write (config, status, its node, lab's group config, its identity), on nodes
     created before credentials and after, and cannot create collectors/<id>; gw-b still reads
     its own config and dmz's (the checks can fail).
  5. The stranger's fake collector node survives (re-secured, admin-only now) but gw-a ignores it:
     its URL is outside upload.discover, and no connection reaches it.

usage: zk_identities_test.py PICKETD PICKET
Skips without ZooKeeper or MariaDB unless CI=true."""
import json, os, socket, subprocess, sys, tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from e2e_support import report, http_get, remove_unless_kept  # noqa: E402
from servers import (MariaDB, Processes, ZooKeeper, free_port, mariadb_missing, read_json, skip_code,
                     wait_for, zookeeper_missing)  # noqa: E402

SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "config", "schema.sql")
ROOT = "/picket-ids"
PORTS = "24610-24619"


def password_of(path):
    with open(path) as f:
        return f.read().strip()


def main():
    picketd, picket = sys.argv[1], sys.argv[2]
    if reason := zookeeper_missing() or mariadb_missing():
        return skip_code(reason)
    from kazoo.exceptions import NoAuthError
    from kazoo.security import make_digest_acl
    work = tempfile.mkdtemp(prefix="picket-ids-")
    os.chmod(work, 0o711)  # the worker, as security.user, reaches its buffer below it
    procs = Processes(os.path.join(work, "processes.log"))
    device = Processes(os.path.join(work, "gw-a.log"))
    zkserver = ZooKeeper(work)
    db = MariaDB(work)
    clients = []
    failures = []
    trap = None

    def client(auth="admin", *more):
        c = zkserver.client(auth)
        for a in more:
            c.add_auth("digest", a)
        clients.append(c)
        return c

    try:
        zkserver.start()
        db.start(SCHEMA)
        admin = client()
        for d, group in (("gw-a", "lab"), ("gw-b", "dmz")):
            db.run(f"INSERT INTO device_groups (name, config) VALUES ('{group}', '{{}}')")
            db.run(f"INSERT INTO devices (id, group_name, config) VALUES ('{d}', '{group}', "
                   "'{\"log\":{\"level\":\"debug\"}}')")

        # 1. The open era: sync without credentials (asked for by name), and a stranger's node.
        open_sync = procs.start([picket, "sync", "--db", db.url, "--zk", zkserver.hosts, "--root", ROOT,
                                 "--zk-open-acl"])
        wait_for("the open sync's nodes", lambda: read_json(admin, f"{ROOT}/devices/gw-a/config")
                 and read_json(admin, f"{ROOT}/groups/lab/config"), 30)
        wait_for("the unsafe-mode warning", lambda: "UNSAFE" in procs.log_text(), 10)
        acl, _ = admin.get_acls(f"{ROOT}/devices/gw-a/config")
        print(f"open era: devices/gw-a/config ACL {[(a.id.scheme, a.id.id, a.perms) for a in acl]}")
        if not any(a.id.scheme == "world" for a in acl):
            failures.append(f"the open fleet's nodes are not world:anyone: {acl}")
        trap = socket.socket()
        trap.bind(("127.0.0.2", 0))
        trap.listen(16)
        trap.setblocking(False)
        fake_url = f"http://127.0.0.2:{trap.getsockname()[1]}"
        stranger = client(None)
        stranger.create(f"{ROOT}/collectors/fake", json.dumps({"url": fake_url, "id": "fake"}).encode(),
                        makepath=True)
        procs.stop(open_sync)

        # Refused without credentials, by every part.
        r = subprocess.run([picket, "sync", "--db", db.url, "--zk", zkserver.hosts, "--root", ROOT],
                           capture_output=True, text=True, timeout=30)
        print(f"sync without credentials: exit {r.returncode}")
        if r.returncode != 2 or "--zk-open-acl" not in r.stderr:
            failures.append(f"sync without credentials: exit {r.returncode}: {r.stderr.strip()}")

        open_cfg = os.path.join(work, "open.json")
        with open(open_cfg, "w") as f:
            json.dump({"device": {"id": "gw-a"}, "zookeeper": {"hosts": zkserver.hosts, "root": ROOT}}, f)
        for args, needle in (([picketd, "check-config", "--config", open_cfg], "allow_open_acl"),
                             ([picket, "collector", "--listen", "127.0.0.1:0", "--data", os.path.join(work, "c0"),
                               "--insecure-no-auth", "--zk", zkserver.hosts, "--advertise", "http://127.0.0.1:1"],
                              "--zk-open-acl")):
            r = subprocess.run(args, capture_output=True, text=True, timeout=30)
            print(f"{os.path.basename(args[0])} {args[1]} without credentials: exit {r.returncode}")
            if r.returncode == 0 or needle not in r.stdout + r.stderr:
                failures.append(f"{args[1]} without credentials: exit {r.returncode}, no {needle}: "
                                f"{(r.stdout + r.stderr).strip()[-300:]}")

        # 2. Credentials on.
        cli_cfg = os.path.join(work, "cli.json")
        with open(cli_cfg, "w") as f:
            json.dump(zkserver.cli_config(ROOT, db=db.url), f)
        env = dict(os.environ, PICKET_CLI_CONFIG=cli_cfg)

        def cli(*args):
            r = subprocess.run([picket, *args], env=env, capture_output=True, text=True, timeout=60)
            if r.returncode != 0:
                raise AssertionError(f"picket {' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
            return r.stdout

        secured = json.loads(cli("zk", "secure", "--json"))
        print(f"picket zk secure: {secured}")
        if secured["changed"] < 5:
            failures.append(f"zk secure changed only {secured['changed']} ACLs of the open tree")
        again = json.loads(cli("zk", "secure", "--json"))
        if again["changed"] != 0:
            failures.append(f"a second zk secure changed {again['changed']} ACLs (not idempotent)")
        pw = {name: os.path.join(work, f"{name}.password") for name in ("fleet", "gw-a", "gw-b")}
        print(cli("zk", "fleet", "init", "--out", pw["fleet"]).strip().splitlines()[0])
        for d in ("gw-a", "gw-b"):
            print(cli("zk", "device", "add", d, "--out", pw[d]).strip().splitlines()[0])
        for name, path in pw.items():
            mode = os.stat(path).st_mode & 0o777
            if mode != 0o600:
                failures.append(f"{path}: mode {mode:o}, expected 600")
        stored = admin.get(f"{ROOT}/identities/devices/gw-a")[0].decode()
        if password_of(pw["gw-a"]) in stored or not json.loads(stored)["digest"].startswith("gw-a:"):
            failures.append(f"identities/devices/gw-a holds {stored!r}, expected only a digest")

        procs.start([picket, "sync", "--db", db.url, "--zk", zkserver.hosts, "--root", ROOT,
                     *zkserver.admin_flags()])
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        procs.start([picket, "collector", "--listen", f"127.0.0.1:{port}", "--data", os.path.join(work, "collector"),
                     "--insecure-no-auth", "--zk", zkserver.hosts, "--zk-root", ROOT, "--advertise", base,
                     "--collector-id", "central-1", *zkserver.admin_flags()])
        wait_for("the collector registered", lambda: read_json(admin, f"{ROOT}/collectors/central-1"), 30)
        cfg = os.path.join(work, "gw-a.json")
        with open(cfg, "w") as f:
            json.dump({"device": {"id": "gw-a", "group": "lab"}, "capture": {"enabled": False},
                       "buffer": {"dir": os.path.join(work, "buffer")},
                       "upload": {"collectors": ["http://127.0.0.1:9"], "retry_base": "100ms", "retry_max": "1s",
                                  "discover": ["http://127.0.0.1:*"]},
                       "zookeeper": {"hosts": zkserver.hosts, "root": ROOT, "session_timeout_ms": 4000,
                                     "auth_user": "gw-a", "auth_password_file": pw["gw-a"],
                                     "fleet_password_file": pw["fleet"]}}, f)
        device.start([picketd, "run", "--config", cfg])

        # 3. gw-a end to end, as itself.
        version = int(db.run("SELECT version FROM devices WHERE id = 'gw-a'").strip())
        status = wait_for(f"gw-a applying its row (version {version})",
                          lambda: (lambda s: s and s.get("config", {}).get("applied_version") == version and s)(
                              read_json(admin, f"{ROOT}/devices/gw-a/status")), 30)
        print(f"gw-a applied version {version} as itself; worker {status['worker']['state']}")
        identity = read_json(admin, f"{ROOT}/identities/devices/gw-a")
        print(f"identities/devices/gw-a after sync: {identity}")
        if identity.get("group") != "lab" or set(identity) != {"digest", "group"}:
            failures.append(f"sync did not record gw-a's group from its row: {identity}")
        logs = wait_for("gw-a's log lines at the collector (found through ZooKeeper)",
                        lambda: json.loads(http_get(f"{base}/v1/logs?device=gw-a&limit=5")), 30)
        print(f"collector has gw-a's log lines: {len(logs)}+")
        cli("scan", "submit", "--id", "job-a", "--targets", "127.0.0.1", "--ports", PORTS, "--rate", "200",
            "--shards", "2", "--mode", "connect", "--devices", "gw-a", "--max-parallel", "1")
        done = wait_for("job-a's two shards done by gw-a (as picket-fleet)",
                        lambda: (lambda names: len(names) == 2 and names)(
                            admin.get_children(f"{ROOT}/jobs/job-a/done")
                            if admin.exists(f"{ROOT}/jobs/job-a/done") else []), 90)
        print(f"job-a: done markers {sorted(done)}")

        # 4. Nobody else gets in, on nodes from before credentials (config, group config, the
        # device node) and after (status, identity).
        a_nodes = {"config": f"{ROOT}/devices/gw-a/config", "status": f"{ROOT}/devices/gw-a/status",
                   "lab group config": f"{ROOT}/groups/lab/config",
                   "identity": f"{ROOT}/identities/devices/gw-a"}
        fleet_auth = f"picket-fleet:{password_of(pw['fleet'])}"
        b_auth = f"gw-b:{password_of(pw['gw-b'])}"
        outsiders = (("anonymous", client(None)), ("gw-b", client(b_auth)),
                     ("gw-b + picket-fleet", client(b_auth, fleet_auth)))
        config_before = read_json(admin, a_nodes["config"])
        for name, outsider in outsiders:
            attempts = {f"read gw-a's {what}": (lambda p=path: outsider.get(p)) for what, path in a_nodes.items()}
            attempts.update({
                "overwrite gw-a's config": lambda: outsider.set(a_nodes["config"], b'{"scans":[]}'),
                "overwrite gw-a's status": lambda: outsider.set(a_nodes["status"], b'{}'),
                "delete gw-a's status": lambda: outsider.delete(a_nodes["status"]),
                "add a node under gw-a": lambda: outsider.create(f"{ROOT}/devices/gw-a/evil", b"x"),
                "change lab's group config": lambda: outsider.set(a_nodes["lab group config"], b'{}'),
                "register a fake collector": lambda: outsider.create(
                    f"{ROOT}/collectors/evil", json.dumps({"url": "http://127.0.0.1:1"}).encode(), ephemeral=True),
                "change a collector registration": lambda: outsider.set(f"{ROOT}/collectors/central-1", b"{}"),
                "list the device identities": lambda: outsider.get_children(f"{ROOT}/identities/devices"),
                "re-open gw-a's config ACL": lambda: outsider.set_acls(
                    a_nodes["config"], [make_digest_acl("gw-b", "x", all=True)]),
            })
            attempts["submit a job"] = lambda: outsider.create(f"{ROOT}/jobs/evil", b'{}')
            if name == "anonymous":
                attempts["read the collector list"] = lambda: outsider.get_children(f"{ROOT}/collectors")
            allowed = []
            for what, attempt in attempts.items():
                try:
                    attempt()
                    allowed.append(what)
                except NoAuthError:
                    pass
            if allowed:
                failures.append(f"{name} client could: {', '.join(allowed)}")
            print(f"{name}: NoAuth for all {len(attempts)} attempts ({', '.join(attempts)})")
        if read_json(admin, a_nodes["config"]) != config_before:
            failures.append(f"gw-a's config changed: {read_json(admin, a_nodes['config'])}")
        # Positive control: gw-b reads what is its own.
        b = outsiders[2][1]
        try:
            b.get(f"{ROOT}/devices/gw-b/config")
            b.get(f"{ROOT}/groups/dmz/config")
            b.get_children(f"{ROOT}/collectors")
            print("gw-b + picket-fleet reads its own config, dmz's config and the collector list")
        except NoAuthError as e:
            failures.append(f"gw-b cannot read its own nodes: {e!r}")

        # 5. The stranger's node from the open era: admin-only now, and ignored by gw-a.
        acl, _ = admin.get_acls(f"{ROOT}/collectors/fake")
        print(f"collectors/fake (left in the open era) ACL now {[(a.id.scheme, a.id.id, a.perms) for a in acl]}")
        if any(a.id.scheme == "world" for a in acl):
            failures.append(f"collectors/fake still world-accessible: {acl}")
        wait_for("gw-a logging that it ignores the fake collector",
                 lambda: fake_url in device.log_text() and "discovered collector ignored" in device.log_text(), 30)
        before = len(json.loads(http_get(f"{base}/v1/logs?device=gw-a&limit=10000")))
        wait_for("more of gw-a's lines at the real collector",
                 lambda: len(json.loads(http_get(f"{base}/v1/logs?device=gw-a&limit=10000"))) > before, 30)
        try:
            conn, _ = trap.accept()
            conn.close()
            failures.append(f"gw-a connected to the fake collector {fake_url}")
        except BlockingIOError:
            print(f"fake collector {fake_url}: outside upload.discover, ignored by gw-a, no connection")

        # gw-a still takes changes after all that.
        db.run("UPDATE devices SET config = '{\"log\":{\"level\":\"info\"}}' WHERE id = 'gw-a'")
        version = int(db.run("SELECT version FROM devices WHERE id = 'gw-a'").strip())
        wait_for(f"gw-a applying version {version}",
                 lambda: (read_json(admin, f"{ROOT}/devices/gw-a/status") or {}).get("config", {})
                 .get("applied_version") == version, 30)
        print(f"gw-a applied version {version} after the attempts")
    except AssertionError as e:
        failures.append(str(e))
    finally:
        if trap:
            trap.close()
        if failures:
            print("--- gw-a"); print(device.log_text()[-4000:])
            print("--- processes"); print(procs.log_text()[-4000:])
        for c in clients:
            c.stop()
        device.stop_all()
        procs.stop_all()
        db.stop()
        zkserver.stop()
        remove_unless_kept(work)
    return report(failures)


if __name__ == "__main__":
    sys.exit(main())
