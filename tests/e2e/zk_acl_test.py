#!/usr/bin/env python3
"""A fleet whose ZooKeeper tree only its own parts can read or change: one
digest identity shared by `picket sync`, `picket collector --zk`, picketd
(zookeeper.auth_user / auth_password_file) and the operator CLI (zk_user /
zk_password_file in cli.json). Every node they create gets CREATOR_ALL_ACL.
  1. the whole path works through the ACLs: a MariaDB row reaches gw-1, which
     finds the collector through its registration and uploads to it, and
     `picket devices` lists gw-1;
  2. a client without the credentials, or with a wrong password, can neither
     read a device's config nor change it, nor submit a job, and the CLI
     without them exits 1 saying it was refused;
  3. credentials given by halves are a startup error naming the flag; none at all is refused
     unless --zk-open-acl / "zk_open_acl" asks for it (then ZooKeeper says no).

usage: zk_acl_test.py PICKETD PICKET
Skips without ZooKeeper or MariaDB unless CI=true."""
import json, os, socket, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from e2e_support import report, http_get, remove_unless_kept  # noqa: E402
from servers import (MariaDB, Processes, ZooKeeper, free_port, mariadb_missing, read_json, skip_code,
                     wait_for, zookeeper_missing)  # noqa: E402

SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "config", "schema.sql")
ROOT = "/picket-acl"
USER, PASSWORD = "picket", "s3cret-fleet-password"


def main():
    picketd, picket = sys.argv[1], sys.argv[2]
    if reason := zookeeper_missing() or mariadb_missing():
        return skip_code(reason)
    from kazoo.exceptions import NoAuthError
    work = tempfile.mkdtemp(prefix="picket-acl-")
    os.chmod(work, 0o711)  # picketd's worker runs as user picketd: it must reach its buffer
    procs = Processes(os.path.join(work, "processes.log"))
    device = Processes(os.path.join(work, "gw-1.log"))
    zkserver = ZooKeeper(work)
    db = MariaDB(work)
    clients = []
    failures = []

    def client(auth=None):
        c = zkserver.client(None)  # anonymous unless `auth`
        if auth:
            c.add_auth("digest", auth)
        clients.append(c)
        return c

    try:
        zkserver.start()
        db.start(SCHEMA)
        password_file = os.path.join(work, "zk.password")
        with open(password_file, "w") as f:
            f.write(PASSWORD + "\n")
        os.chmod(password_file, 0o600)
        auth_flags = ["--zk-user", USER, "--zk-password-file", password_file]

        # 3. Half the credentials: refused before anything connects.
        for args, flag in (([picket, "sync", "--db", db.url, "--zk", zkserver.hosts, "--zk-user", USER],
                            "--zk-password-file"),
                           ([picket, "collector", "--listen", "127.0.0.1:0", "--data", work,
                             "--insecure-no-auth", "--zk", zkserver.hosts, "--advertise", "http://127.0.0.1:1",
                             "--zk-password-file", password_file], "--zk-user")):
            r = subprocess.run(args, capture_output=True, text=True, timeout=30)
            print(f"{args[1]} with half the credentials: exit {r.returncode}: {r.stderr.strip()}")
            if r.returncode != 2 or flag not in r.stderr:
                failures.append(f"{args[1]} with half the credentials: exit {r.returncode}, "
                                f"stderr does not name {flag}: {r.stderr.strip()}")

        # 1. The fleet, every part with the credentials.
        db.run("INSERT INTO devices (id, group_name, config) VALUES "
               "('gw-1', 'lab', '{\"log\":{\"level\":\"debug\"}}')")
        version = int(db.run("SELECT version FROM devices WHERE id = 'gw-1'").strip())
        procs.start([picket, "sync", "--db", db.url, "--zk", zkserver.hosts, "--root", ROOT, *auth_flags])
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        procs.start([picket, "collector", "--listen", f"127.0.0.1:{port}", "--data", os.path.join(work, "collector"),
                     "--insecure-no-auth", "--zk", zkserver.hosts, "--zk-root", ROOT, "--advertise", base,
                     "--collector-id", "central-1", *auth_flags])
        fleet = client(f"{USER}:{PASSWORD}")
        wait_for("the collector registered", lambda: read_json(fleet, f"{ROOT}/collectors/central-1"), 30)
        cfg = os.path.join(work, "gw-1.json")
        with open(cfg, "w") as f:
            json.dump({"device": {"id": "gw-1", "group": "lab"}, "capture": {"enabled": False},
                       "buffer": {"dir": os.path.join(work, "buffer")},
                       "upload": {"collectors": ["http://127.0.0.1:9"], "retry_base": "100ms", "retry_max": "1s",
                                  "discover": ["http://127.0.0.1:*"]},
                       "zookeeper": {"hosts": zkserver.hosts, "root": ROOT, "session_timeout_ms": 4000,
                                     "auth_user": USER, "auth_password_file": password_file}}, f)
        device.start([picketd, "run", "--config", cfg])
        status = wait_for(f"gw-1 applying its row (version {version})",
                          lambda: (lambda s: s and s.get("config", {}).get("applied_version") == version and s)(
                              read_json(fleet, f"{ROOT}/devices/gw-1/status")), 30)
        print(f"gw-1 applied version {version} through the ACL'd tree; worker {status['worker']['state']}")
        # The device found the collector only through its registration (its configured URL is dead).
        logs = wait_for("gw-1's log lines at the collector (found through ZooKeeper)",
                        lambda: json.loads(http_get(f"{base}/v1/logs?device=gw-1&limit=5")), 30)
        print(f"collector has gw-1's log lines: {len(logs)}+")

        # A collector node outside gw-1's upload.discover patterns (here written with the fleet's
        # own credentials, as a compromised or mistaken part could) is ignored: it is logged once
        # and never receives a connection, let alone chunks and the token.
        trap = socket.socket()
        trap.bind(("127.0.0.2", 0))
        trap.listen(16)
        trap.setblocking(False)
        fake_url = f"http://127.0.0.2:{trap.getsockname()[1]}"
        fleet.create(f"{ROOT}/collectors/fake", json.dumps({"url": fake_url, "id": "fake"}).encode(),
                     ephemeral=True)
        wait_for("gw-1 logging that it ignores the fake collector",
                 lambda: fake_url in device.log_text() and "discovered collector ignored" in device.log_text(), 30)
        # More log batches go to the real collector meanwhile; none may reach the trap.
        before = len(json.loads(http_get(f"{base}/v1/logs?device=gw-1&limit=10000")))
        wait_for("more of gw-1's lines at the real collector",
                 lambda: len(json.loads(http_get(f"{base}/v1/logs?device=gw-1&limit=10000"))) > before, 30)
        try:
            conn, _ = trap.accept()
            conn.close()
            failures.append(f"gw-1 connected to the fake collector {fake_url}")
        except BlockingIOError:
            print(f"fake collector {fake_url}: ignored by gw-1, no connection")
        trap.close()

        cli_cfg = os.path.join(work, "cli.json")
        with open(cli_cfg, "w") as f:
            json.dump({"zookeeper": zkserver.hosts, "zk_root": ROOT, "zk_user": USER,
                       "zk_password_file": password_file}, f)
        env = dict(os.environ, PICKET_CLI_CONFIG=cli_cfg)
        r = subprocess.run([picket, "devices", "--json"], env=env, capture_output=True, text=True, timeout=30)
        rows = json.loads(r.stdout) if r.returncode == 0 else []
        row = next((x for x in rows if x["id"] == "gw-1"), None)
        print(f"picket devices with the credentials: exit {r.returncode}, gw-1: {row}")
        if not row or not row.get("alive") or row.get("applied_version") != version or \
                row.get("bytes_pending") is None:
            failures.append(f"picket devices with the credentials: exit {r.returncode} {r.stderr.strip()} {rows}")

        # 2. Without the credentials, or with a wrong password: nothing to read, nothing to change.
        config_path = f"{ROOT}/devices/gw-1/config"
        config_before = read_json(fleet, config_path)
        for name, outsider in (("anonymous", client()), ("wrong password", client(f"{USER}:not-the-password"))):
            attempts = {
                "read gw-1's config": lambda: outsider.get(config_path),
                "overwrite gw-1's config": lambda: outsider.set(config_path, b'{"scans":[]}'),
                "list the devices": lambda: outsider.get_children(f"{ROOT}/devices"),
                "submit a job": lambda: outsider.create(f"{ROOT}/jobs/evil", b'{"targets":"127.0.0.1"}',
                                                        makepath=True),
            }
            for what, attempt in attempts.items():
                try:
                    attempt()
                    failures.append(f"{name} client could {what}")
                except NoAuthError:
                    pass
            print(f"{name} client: NoAuth for every one of {', '.join(attempts)}")
        if read_json(fleet, config_path) != config_before:
            failures.append(f"gw-1's config changed: {read_json(fleet, config_path)}")

        no_creds = os.path.join(work, "cli-anonymous.json")
        with open(no_creds, "w") as f:
            json.dump({"zookeeper": zkserver.hosts, "zk_root": ROOT}, f)
        r = subprocess.run([picket, "devices"], env=dict(os.environ, PICKET_CLI_CONFIG=no_creds),
                           capture_output=True, text=True, timeout=30)
        print(f"picket devices without credentials: exit {r.returncode}: {r.stderr.strip()}")
        if r.returncode != 2 or "without credentials" not in r.stderr or "zk_open_acl" not in r.stderr:
            failures.append(f"picket devices without credentials: exit {r.returncode}, stderr {r.stderr.strip()!r} "
                            "does not refuse it naming zk_open_acl")
        # Asked for by name, it connects, and ZooKeeper itself says no.
        r = subprocess.run([picket, "devices", "--zk-open-acl"], env=dict(os.environ, PICKET_CLI_CONFIG=no_creds),
                           capture_output=True, text=True, timeout=30)
        print(f"picket devices --zk-open-acl without credentials: exit {r.returncode}: {r.stderr.strip()}")
        if r.returncode != 1 or "auth" not in r.stderr.lower():
            failures.append(f"picket devices --zk-open-acl without credentials: exit {r.returncode}, "
                            f"stderr {r.stderr.strip()!r} does not say ZooKeeper refused it")
    except AssertionError as e:
        failures.append(str(e))
    finally:
        if failures:
            print("--- gw-1"); print(device.log_text()[-3000:])
            print("--- processes"); print(procs.log_text()[-3000:])
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
