#!/usr/bin/env python3
"""Issue 16, acceptance 2: the operator commands against real servers (ZooKeeper, MariaDB,
`picket sync`, `picket collector`, one `picketd run` capturing lo), through the CLI alone
(the fleet is e2e_support.Fleet):
  1. `scan submit` with every job field (exclude, retries, wait, banners, seed, mode, rate,
     shards, max-parallel, devices): the row holds them; no warning; the default mode is connect;
  2. `scan status --watch` (one line rewritten with \\r) and `--watch --json` (one event a line)
     follow the connect scan of 127.0.0.1 to 100 %; percent never goes back; the ETA of
     consecutive events never jumps 2x once the job runs;
  3. picket sync writes state 'finished' and finished_at to the row; `scan list` (table,
     --json) shows it finished at 100 % with the open ports found; `scan results` lists
     exactly our listeners' ports; `scan cancel` of the finished job keeps its status;
  4. warnings: `--devices nobody`, an empty group, > 10^9 probes (exit 0, on stderr); > 10^10
     probes refused without --force; an invalid job without --id names no job id;
  5. a bad scan_jobs row: its refusal shows in `scan list` and `scan status`;
  6. `scan status --watch --json` of a running job ends with a "cancelled" event, exit 1,
     when `scan cancel` cancels it;
  7. `chunks list|get`: a chunk of UDP packets the device captured, downloaded, read by
     `tshark -r` (when installed); `logs --device gw-1 -n 3`, `--level`, an unknown device.
Connect scans of 127.0.0.1 and capture on lo only. usage: operator_commands_test.py PICKETD PICKET
Root (live capture); skips without root, ZooKeeper or MariaDB unless CI=true."""
import json, os, random, shutil, socket, subprocess, sys, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from e2e_support import Fleet, open_listeners, pcap_packets, report, root_or_skip  # noqa: E402
from servers import mariadb_missing, skip_code, wait_for, zookeeper_missing  # noqa: E402

ROOT = "/picket-opcmd"
PORTS = (23500, 23659)  # 160 ports no other e2e test uses (ctest -j2 runs tests side by side)
UDP_PORT = 47551


def main():
    picketd, picket = sys.argv[1], sys.argv[2]
    if (code := root_or_skip()) is not None:
        return code
    if reason := zookeeper_missing() or mariadb_missing():
        return skip_code(reason)
    t_start = time.monotonic()
    fleet = Fleet(picketd, picket, ROOT, "picket-opcmd-")
    failures, figures, sockets = [], [], []

    def figure(text):
        figures.append(text)
        print("FIGURE:", text)

    def expect(cond, message):
        if not cond:
            failures.append(message)
            print("FAIL:", message)

    try:
        fleet.start({"gw-1": f"udp port {UDP_PORT}"})
        cli, sql = fleet.cli, fleet.session
        sockets, truth = open_listeners(["127.0.0.1"], PORTS, 6, random.Random(16))
        ours = {p for _, p in (s.getsockname() for s in sockets)}
        print(f"listening on {sorted(ours)}; open in range: {sorted(p for _, p in truth)}")

        # 1. Every field from submit, into the row; the default mode is connect.
        job = "opcmd-sweep"
        r = cli("scan", "submit", "--id", job, "--targets", "127.0.0.1-127.0.0.2", "--exclude", "127.0.0.2",
                "--ports", f"{PORTS[0]}-{PORTS[1]}", "--rate", "10", "--shards", "2", "--max-parallel", "2",
                "--retries", "0", "--wait", "300ms", "--banners", "--seed", "1234567", "--devices", "gw-1")
        expect(r.stdout.strip() == job, f"submit printed {r.stdout!r}")
        expect(r.stderr == "", f"submit warned for a good job: {r.stderr!r}")
        t_submit = time.monotonic()
        row = sql.execute(f"SELECT exclude, retries, wait_ms, banners, seed, mode, rate_pps, shards, "
                          f"max_parallel_shards, state FROM scan_jobs WHERE id = '{job}'")[-1].split("\t")
        expect(row == ["127.0.0.2", "0", "300", "1", "1234567", "connect", "10", "2", "2", "active"],
               f"the row holds {row}")

        # 2. Two watchers from the start to 100 %: the \r line and the JSON events.
        wait_for("the job in ZooKeeper", lambda: fleet.zk.exists(f"{ROOT}/jobs/{job}"), 10)
        text_watch = fleet.popen("scan", "status", job, "--watch", "--interval", "300ms", text=False)
        json_watch = fleet.popen("scan", "status", job, "--watch", "--json")  # every 1 s, the default
        text_out, text_err = (b.decode() for b in text_watch.communicate(timeout=90))
        json_out, json_err = json_watch.communicate(timeout=30)
        t_done = time.monotonic()
        expect(text_watch.returncode == 0, f"--watch exit {text_watch.returncode}: {text_err!r}")
        expect(json_watch.returncode == 0, f"--watch --json exit {json_watch.returncode}: {json_err!r}")
        updates = [u.strip() for u in text_out.split("\r") if u.strip()]
        print(f"--watch: {len(updates)} updates, first {updates[:1]}, last {updates[-1:]}")
        expect(text_out.startswith("\r") and text_out.endswith("\n") and text_out.count("\n") == 1,
               f"--watch is not one line rewritten with \\r: {text_out[:300]!r}")
        expect(len(updates) >= 3, f"--watch printed {len(updates)} updates")
        expect(updates and "100.00% done" in updates[-1] and updates[-1].endswith("finished"),
               f"--watch ended with {updates[-1:]}")
        events = [json.loads(line) for line in json_out.splitlines()]
        pcts = [e["percent"] for e in events]
        expect(events and events[-1]["state"] == "finished" and pcts[-1] == 100,
               f"--json ended with {events[-1:]}")
        expect(all(b >= a for a, b in zip(pcts, pcts[1:])), f"percent went back: {pcts}")
        # The smoothed rate never halves or doubles from one event to the next, and the ETA never
        # doubles (it may fall fast: progress jumps when a shard's done node lands).
        running = [e for e in events if e["state"] == "running" and e["rate"]]
        rates = [e["rate"] for e in running]
        etas = [e["eta_s"] for e in running if e["eta_s"]]
        rate_swing = max((max(a, b) / min(a, b) for a, b in zip(rates, rates[1:])), default=1)
        eta_rise = max((b / a for a, b in zip(etas, etas[1:]) if a >= 1), default=1)
        figure(f"scan {job}: submit -> 100% in {t_done - t_submit:.1f} s; {len(events)} JSON events, "
               f"{len(updates)} \\r updates; percents {pcts}; rates {rates}; ETAs {etas}; "
               f"largest rate step x{rate_swing:.2f}, largest ETA rise x{eta_rise:.2f}")
        expect(len(rates) >= 3, f"only {len(rates)} events with a rate: {events}")
        expect(rate_swing < 2, f"the rate jumped x{rate_swing:.2f} between two events: {rates}")
        expect(eta_rise < 2, f"the ETA rose x{eta_rise:.2f} between two events: {etas}")

        # 3. Finished in the database; list, results; cancel keeps the status.
        def finished():
            out = sql.execute(f"SELECT state, finished_at IS NOT NULL FROM scan_jobs WHERE id = '{job}'")
            return out[-1] == "finished\t1"
        wait_for("state 'finished' in scan_jobs", finished, 10)
        last_done_ms = max(fleet.zk.get(f"{ROOT}/jobs/{job}/done/{n}")[1].created
                           for n in fleet.zk.get_children(f"{ROOT}/jobs/{job}/done")) * 1000
        finished_ms = float(sql.execute(f"SELECT UNIX_TIMESTAMP(finished_at) FROM scan_jobs WHERE id = '{job}'")[-1]) * 1000
        figure(f"last done node -> scan_jobs.finished_at: {finished_ms - last_done_ms:.0f} ms")
        expect(finished_ms - last_done_ms < 3000, f"finished {finished_ms - last_done_ms:.0f} ms after the last done node")
        table = cli("scan", "list").stdout
        print(table.rstrip())
        line = next((l for l in table.splitlines() if l.startswith(job + " ")), "")
        expect("finished" in line and "100.0%" in line and "2/2" in line and "gw-1" in line,
               f"scan list row: {line!r}")
        listed = next((j for j in json.loads(cli("scan", "list", "--json").stdout) if j["id"] == job), {})
        expect(listed.get("state") == "finished" and listed.get("percent") == 100 and
               listed.get("finished_ms") and listed.get("devices") == ["gw-1"],
               f"scan list --json: {listed}")
        results = json.loads(cli("scan", "results", job, "--json").stdout)
        found = {x["port"] for x in results}
        def accepts(port):
            with socket.socket() as c:
                c.settimeout(0.2)
                return c.connect_ex(("127.0.0.1", port)) == 0
        open_now = {p for p in range(PORTS[0], PORTS[1] + 1) if accepts(p)}
        expect(ours <= found <= (open_now | {p for _, p in truth}),
               f"results {sorted(found)}, ours {sorted(ours)}, open {sorted(open_now)}")
        expect(listed.get("found") == len(results), f"list found {listed.get('found')}, results {len(results)}")
        r = cli("scan", "cancel", job)
        expect("finished already" in r.stdout, f"cancel of a finished job: {r.stdout!r}")
        status = json.loads(cli("scan", "status", job, "--json").stdout)
        expect(status["done"] == 2 and status["results"] == len(results), f"status after cancel: {status}")
        expect(sql.execute(f"SELECT state FROM scan_jobs WHERE id = '{job}'")[-1] == "finished",
               "cancel changed a finished row")

        # 4. Warnings (exit 0, stderr) and refusals; an invalid job names no drawn id.
        small = ["--targets", "127.0.0.1", "--ports", "23999", "--rate", "1", "--shards", "1"]
        r = cli("scan", "submit", *small, "--devices", "nobody")
        expect("no eligible device" in r.stderr and "'nobody'" in r.stderr, f"--devices nobody: {r.stderr!r}")
        cli("scan", "cancel", r.stdout.strip())
        r = cli("scan", "submit", *small, "--group", "empty-group")
        expect("no eligible device" in r.stderr or "no enabled device" in r.stderr, f"empty group: {r.stderr!r}")
        cli("scan", "cancel", r.stdout.strip())
        r = cli("scan", "submit", "--targets", "127.0.0.0/8", "--ports", "1-100", "--rate", "1", "--shards", "1",
                "--devices", "nobody")
        expect("3355443200 probes" in r.stderr and r.stdout.strip(), f"10^9 warning: {r.stderr!r}")
        cli("scan", "cancel", r.stdout.strip())
        r = cli("scan", "submit", "--targets", "127.0.0.0/12", "--ports", "1-1000", "--retries", "10",
                "--rate", "1", "--shards", "1", "--devices", "nobody", check=False)
        expect(r.returncode == 1 and "--force" in r.stderr and not r.stdout, f"10^10 refusal: {r.returncode} {r.stderr!r}")
        r = cli("scan", "submit", "--targets", "127.0.0.1", "--ports", "70000", "--rate", "1", "--shards", "1",
                check=False)
        expect(r.returncode == 1 and "70000" in r.stderr and "scan-" not in r.stderr,
               f"an invalid job: {r.returncode} {r.stderr!r}")
        expect(r.stderr.count("picket scan:") == 1 and "scan submit:" not in r.stderr, f"prefixes: {r.stderr!r}")

        # 5. A bad row written by hand: its refusal in list and status.
        sql.execute("INSERT INTO scan_jobs (id, targets, ports) VALUES ('opcmd-bad', '10.0.0.0/33', '80')")

        def refused():
            j = next((x for x in json.loads(cli("scan", "list", "--json").stdout) if x["id"] == "opcmd-bad"), {})
            return j.get("refused")
        why = wait_for("the refusal in scan list", refused, 10)
        expect("/33" in why, f"scan list refusal: {why!r}")
        expect("active (refused)" in cli("scan", "list").stdout, "the list table hides the refusal")
        r = cli("scan", "status", "opcmd-bad", check=False)
        expect(r.returncode == 1 and "refused by picket sync" in r.stderr and "/33" in r.stderr,
               f"status of the bad row: {r.stderr!r}")

        # 6. A watcher of a running job ends when the job is cancelled.
        slow = "opcmd-slow"
        cli("scan", "submit", "--id", slow, "--targets", "127.0.0.1", "--ports", "24000-24999", "--rate", "2",
            "--shards", "1", "--devices", "gw-1")
        wait_for("the slow job claimed", lambda: fleet.zk.exists(f"{ROOT}/jobs/{slow}/claims/0"), 15)
        watch = fleet.popen("scan", "status", slow, "--watch", "--json", "--interval", "200ms")
        wait_for("a running event", lambda: watch.stdout.readline().find('"running"') >= 0, 10)
        t_cancel = time.monotonic()
        cli("scan", "cancel", slow)
        out, err = watch.communicate(timeout=20)
        last = json.loads(out.splitlines()[-1]) if out.strip() else {}
        figure(f"scan cancel -> the watcher's 'cancelled' event: {(time.monotonic() - t_cancel) * 1000:.0f} ms")
        expect(watch.returncode == 1 and last.get("state") == "cancelled", f"watch after cancel: {last} {err!r}")

        # 7. chunks list|get of what the device captured; logs.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            for i in range(50):
                u.sendto(b"opcmd %d" % i, ("127.0.0.1", UDP_PORT))

        def chunk():
            rows = [json.loads(l) for l in cli("chunks", "list", "gw-1", "--json").stdout.splitlines()]
            return next((x for x in rows if x.get("packets", 0) >= 50), None)
        c = wait_for("a chunk with our 50 packets at the collector", chunk, 30)
        path = os.path.join(fleet.work, "gw-1.pcap")
        cli("chunks", "get", "gw-1", str(c["seq"]), "-o", path)
        with open(path, "rb") as f:
            ours_in_pcap = [p for p in pcap_packets(f.read()) if b"opcmd " in p[2]]
        expect(len(ours_in_pcap) == 50, f"chunk {c['seq']} holds {len(ours_in_pcap)} of our packets")
        if shutil.which("tshark"):
            t = subprocess.run(["tshark", "-r", path, "-Y", f"udp.dstport == {UDP_PORT}"],
                               capture_output=True, text=True, timeout=60)
            expect(t.returncode == 0 and len(t.stdout.splitlines()) == 50,
                   f"tshark -r: exit {t.returncode}, {len(t.stdout.splitlines())} lines, {t.stderr[:300]!r}")
        else:
            print("tshark not installed: the pcap was checked by its own parser only")
        logs = cli("logs", "--device", "gw-1", "-n", "3").stdout.splitlines()
        expect(len(logs) == 3 and all(l.startswith("gw-1 ") for l in logs), f"logs -n 3: {logs}")
        errors = cli("logs", "--device", "gw-1", "--level", "error").stdout
        expect('"level":"info"' not in errors, f"--level error printed info lines: {errors[:300]!r}")
        r = cli("logs", "--device", "nobody", check=False)
        expect(r.returncode == 1 and "nobody" in r.stderr, f"logs of an unknown device: {r.returncode} {r.stderr!r}")
    except AssertionError as e:
        failures.append(str(e))
    finally:
        for s in sockets:
            s.close()
        fleet.stop(show_logs=bool(failures))
    return report(failures, figures, t_start)


if __name__ == "__main__":
    sys.exit(main())
