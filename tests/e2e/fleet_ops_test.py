#!/usr/bin/env python3
"""Group rows as an operator sees them (issue #16, acceptance 1), on a real fleet on loopback:
MariaDB, ZooKeeper, `picket sync`, a collector and two `picketd run` (gw-1, gw-2, group lab),
read only through the operator CLI:
  1. a group change (UPDATE device_groups, one that restarts the worker) shows as applied on each
     device in `picket devices`
     (--json: applied_group_version = the row's version, group_applied; the table's GROUP_CONFIG
     cell without " -> "), commit -> applied on both measured;
  2. `picket config effective DEVICE` equals what the device runs: its config is the group row
     with the device row laid over it, its versions are the rows' and runs_effective is true;
  3. a refused group row (log.level "loud") shows on every device of the group in `picket
     devices` (table and --json group_refusal naming /log/level), the devices keep the last
     accepted group version, `picket config get --group` marks the document "// refused:";
     a good row afterwards clears it on both;
  4. a device that cannot reach ZooKeeper but uploads shows STATUS degraded (the collector's
     liveness rule, heartbeats), naming ZooKeeper, not dead;
  5. versions print readable (no 16-digit stamp in any table), `--version`/`-V` of both
     binaries, exit code 2 and one "picket <command>:" prefix for bad flags, and check-config's
     "cannot read" for a missing file.
usage: fleet_ops_test.py PICKETD PICKET
Root (live capture); skips without root, ZooKeeper or MariaDB unless CI=true."""
import json, os, re, socket, subprocess, sys, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from e2e_support import Fleet, report, root_or_skip  # noqa: E402
from servers import mariadb_missing, skip_code, wait_for, zookeeper_missing  # noqa: E402

ROOT = "/picket-ops"
DEVICES = ("gw-1", "gw-2")
STAMP = re.compile(r"\b\d{16}\b")  # a raw microsecond version


def merged(base, overlay):
    """The device's merge rule: objects key by key, anything else replaced."""
    if not isinstance(base, dict) or not isinstance(overlay, dict):
        return overlay
    out = dict(base)
    for k, v in overlay.items():
        out[k] = merged(out.get(k), v) if k in out else v
    return out


def check_small_inconsistencies(picketd, picket, work, failures):
    """Item 7 of the issue, without servers."""
    for binary in (picket, picketd):
        for flag in ("--version", "-V"):
            r = subprocess.run([binary, flag], capture_output=True, text=True, timeout=30)
            if r.returncode != 0 or not re.match(rf"{os.path.basename(binary)} \d+\.\d+", r.stdout):
                failures.append(f"{os.path.basename(binary)} {flag}: exit {r.returncode}, {r.stdout[:80]!r}")
    cli_cfg = os.path.join(work, "empty-cli.json")
    with open(cli_cfg, "w") as f:
        f.write("{}")
    env = dict(os.environ, PICKET_CLI_CONFIG=cli_cfg)
    bad_flags = [[picket, "devices", "--bogus"], [picket, "config", "get", "gw-1", "--bogus"],
                 [picket, "config", "effective", "gw-1", "--bogus"], [picket, "logs", "--bogus"],
                 [picket, "chunks", "list", "gw-1", "--bogus"], [picket, "sessions", "--bogus"],
                 [picket, "scan", "status", "--bogus"], [picket, "check-config", "--bogus"],
                 [picket, "version", "--bogus"], [picketd, "check-config", "--bogus"],
                 [picketd, "run", "--bogus"], [picketd, "scan", "--bogus"],
                 [picket, "config", "get", "gw-1", "--db", "postgres://x"]]
    for argv in bad_flags:
        r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
        what = " ".join([os.path.basename(argv[0]), *argv[1:]])
        prefix = re.match(r"(picketd? [a-z-]+: )", r.stderr)
        if r.returncode != 2:
            failures.append(f"{what}: exit {r.returncode} (expected 2): {r.stderr.strip()[:200]}")
        elif not prefix or r.stderr.count(prefix.group(1).split(":")[0] + ":") != 1 \
                or r.stderr.count("--db:") > 1:
            failures.append(f"{what}: doubled or missing prefix: {r.stderr.strip()[:200]}")
    missing = os.path.join(work, "no-such.json")
    for binary in (picket, picketd):
        r = subprocess.run([binary, "check-config", "--file" if binary == picket else "--config", missing],
                           capture_output=True, text=True, timeout=30)
        if r.returncode == 0 or f"cannot read {missing}" not in r.stderr or "invalid" in r.stderr:
            failures.append(f"{os.path.basename(binary)} check-config of a missing file: exit "
                            f"{r.returncode}: {r.stderr.strip()[:200]}")


def main():
    picketd, picket = sys.argv[1], sys.argv[2]
    if (code := root_or_skip()) is not None:
        return code
    if reason := zookeeper_missing() or mariadb_missing():
        return skip_code(reason)
    t_start = time.monotonic()
    fleet = Fleet(picketd, picket, ROOT, "picket-ops-")
    work = fleet.work
    failures, figures = [], []

    def figure(text):
        figures.append(text)
        print("FIGURE:", text)

    def devices_json():
        return {r["id"]: r for r in json.loads(fleet.cli("devices", "--json").stdout)}

    def table_rows():
        table = fleet.cli("devices").stdout
        if STAMP.search(table):
            failures.append(f"`picket devices` prints a raw microsecond version:\n{table}")
        return table, {l.split()[0]: l for l in table.splitlines()[1:] if l.strip()}

    def wait_group_applied(version, what, timeout=20):
        def applied():
            rows = devices_json()
            return all(rows.get(d, {}).get("applied_group_version") == version and
                       rows[d].get("group_applied") is True for d in DEVICES) and rows
        try:
            return wait_for(what, applied, timeout, 0.05)
        except AssertionError:
            raise AssertionError(f"{what}: {json.dumps(devices_json())}")

    def update_group(doc):
        t0 = time.monotonic()
        fleet.session.execute(f"UPDATE device_groups SET config = '{json.dumps(doc)}' WHERE name = 'lab'")
        return fleet.row_version("device_groups", "lab"), t0

    try:
        check_small_inconsistencies(picketd, picket, work, failures)
        fleet.start_servers()
        group_doc = {"log": {"level": "info"}}
        device_docs = {d: {"capture": {"filter": f"udp port {47501 + i}"}} for i, d in enumerate(DEVICES)}
        fleet.session.execute(f"INSERT INTO device_groups (name, config) VALUES ('lab', '{json.dumps(group_doc)}')")
        for d in DEVICES:
            fleet.session.execute(f"INSERT INTO devices (id, group_name, config) VALUES "
                              f"('{d}', 'lab', '{json.dumps(device_docs[d])}')")
        fleet.start_sync()
        for d in DEVICES:
            fleet.add_device(d, "lab")
        # A filter value the collector refuses (400) is a bad flag like any other: exit 2.
        r = fleet.cli("sessions", "--port", "99999", check=False)
        if r.returncode != 2 or r.stderr.count("picket sessions:") != 1:
            failures.append(f"picket sessions --port 99999: exit {r.returncode}: {r.stderr.strip()[:200]}")
        g1 = fleet.row_version("device_groups", "lab")
        wait_group_applied(g1, "both devices running group version 1", 40)
        # A device on ZooKeeper is "online" well within a heartbeat interval (5 s): its first
        # heartbeat goes before the session is up, and the next one at once when it connects.
        def online():
            rows = devices_json()
            return all(rows.get(d, {}).get("status") == "online" for d in DEVICES) and rows
        t_on = time.monotonic()
        try:
            wait_for("both devices online", online, 2.5, 0.05)
            figure(f"devices applied group version 1 -> both online: {(time.monotonic() - t_on) * 1000:.0f} ms")
        except AssertionError:
            failures.append(f"devices not online 2.5 s after applying their config: "
                            f"{ {d: (r['status'], r['status_reasons']) for d, r in devices_json().items()} }")

        # 1. A group change shows as applied per device; this one restarts the workers (a capture
        # setting), so "applied" waits for the new worker, as for a device row.
        group_doc = {"log": {"level": "debug"}, "capture": {"chunk_max_age": "90s"}}
        g2, t0 = update_group(group_doc)
        rows = wait_group_applied(g2, "the group change applied on both devices")
        took = time.monotonic() - t0
        figure(f"group row UPDATE commit -> `picket devices` shows it applied on both devices: "
               f"{took * 1000:.0f} ms")
        table, lines = table_rows()
        print(table.rstrip())
        for d in DEVICES:
            if rows[d]["status"] not in ("online", "degraded"):
                failures.append(f"{d}: STATUS from the collector is {rows[d]['status']!r} "
                                f"({rows[d]['status_reasons']})")
            if d not in lines or " -> " in lines[d] or rows[d]["applied_group_version_text"] not in lines[d]:
                failures.append(f"devices table row of {d} does not show group version "
                                f"{rows[d]['applied_group_version_text']} applied: {lines.get(d)!r}")

        # 2. `picket config effective` equals what each device runs.
        for d in DEVICES:
            eff = json.loads(fleet.cli("config", "effective", d, "--json").stdout)
            v = fleet.row_version("devices", d)
            want = merged(dict(group_doc, version=g2), dict(device_docs[d], version=v))
            if eff["config"] != want:
                failures.append(f"config effective {d}: {eff['config']} != {want}")
            if (eff["version"], eff["group_version"], eff["runs_effective"]) != (v, g2, True):
                failures.append(f"config effective {d}: versions {eff['version']}/{eff['group_version']}, "
                                f"runs_effective {eff['runs_effective']} (rows {v}/{g2})")
            st = fleet.status(d).get("config", {})
            if (st.get("applied_version"), st.get("applied_group_version")) != (v, g2):
                failures.append(f"{d}'s status node says it runs {st}, not {v}/{g2}")
            text = fleet.cli("config", "effective", d).stdout
            if f"// {d} runs this config" not in text or STAMP.search(text):
                failures.append(f"config effective {d} (text): {text[:300]!r}")
        figure("`picket config effective` = the device's running versions and merged document on both devices")

        # 3. A refused group row shows on every device of the group.
        g3, t0 = update_group({"log": {"level": "loud"}})

        def refusal_on_all():
            rows = devices_json()
            return all((rows.get(d, {}).get("group_refusal") or {}).get("version") == g3 for d in DEVICES) and rows
        rows = wait_for("the group refusal on both devices", refusal_on_all, 20, 0.05)
        figure(f"refused group row commit -> shown on both devices by `picket devices`: "
               f"{(time.monotonic() - t0) * 1000:.0f} ms")
        table, lines = table_rows()
        print(table.rstrip())
        for d in DEVICES:
            r = rows[d]
            if "/log/level" not in (r["group_refusal"]["error"] or ""):
                failures.append(f"{d}: group_refusal does not name /log/level: {r['group_refusal']}")
            if r["applied_group_version"] != g2 or r["desired_group_version"] != g2:
                failures.append(f"{d}: after the refusal runs group {r['applied_group_version']} "
                                f"(ZooKeeper {r['desired_group_version']}), expected {g2}")
            if "sync refused group lab row" not in lines.get(d, "") or "/log/level" not in lines.get(d, ""):
                failures.append(f"devices table row of {d} does not show the group refusal: {lines.get(d)!r}")
        got = fleet.cli("config", "get", "--group", "lab")
        if not got.stdout.startswith("// refused: ") or "/log/level" not in got.stdout.splitlines()[0] \
                or "REFUSED" not in got.stderr:
            failures.append(f"config get --group lab of a refused row: {got.stdout[:200]!r} {got.stderr[:200]!r}")
        eff = json.loads(fleet.cli("config", "effective", "gw-1", "--json").stdout)
        if eff["group_version"] != g2 or not eff["runs_effective"]:
            failures.append(f"config effective after the refusal: {eff['group_version']} {eff['runs_effective']}")

        # ... and a good row clears it on both.
        g4, t0 = update_group({"log": {"level": "info"}})
        rows = wait_group_applied(g4, "the fixed group row applied on both devices")
        figure(f"fixed group row commit -> applied on both, refusal gone: {(time.monotonic() - t0) * 1000:.0f} ms")
        for d in DEVICES:
            if rows[d]["group_refusal"] is not None:
                failures.append(f"{d}: group refusal still shown after a good row: {rows[d]['group_refusal']}")
        got = fleet.cli("config", "get", "--group", "lab")
        if "refused" in got.stdout or json.loads(got.stdout) != {"log": {"level": "info"}}:
            failures.append(f"config get --group lab of a good row: {got.stdout[:200]!r}")

        # 4. A device that cannot reach ZooKeeper but uploads is not called dead: no status node
        # (ALIVE no), but the collector's STATUS (heartbeats) says degraded, naming ZooKeeper.
        fleet.session.execute("INSERT INTO devices (id, group_name, config) VALUES ('gw-3', 'lab', '{}')")
        with socket.socket() as s:  # a loopback port nobody listens on
            s.bind(("127.0.0.1", 0))
            dead_zk = f"127.0.0.1:{s.getsockname()[1]}"
        fleet.add_device("gw-3", "lab", zk_hosts=dead_zk)

        def gw3_heard():
            row = devices_json().get("gw-3")
            return row and row["status"] not in (None, "never_seen") and row
        row = wait_for("gw-3's heartbeat in `picket devices`", gw3_heard, 20, 0.1)
        _, lines = table_rows()
        figure(f"device without ZooKeeper: alive {row['alive']}, STATUS {row['status']} "
               f"({'; '.join(row['status_reasons'])})")
        if row["alive"] or row["status"] != "degraded" or \
                not any("ZooKeeper" in r for r in row["status_reasons"]) or "degraded (" not in lines.get("gw-3", ""):
            failures.append(f"gw-3 (uploading, no ZooKeeper): {row}; table {lines.get('gw-3')!r}")
    except AssertionError as e:
        failures.append(str(e))
    finally:
        fleet.stop(show_logs=bool(failures))
    return report(failures, figures, t_start)


if __name__ == "__main__":
    sys.exit(main())
