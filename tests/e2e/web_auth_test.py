#!/usr/bin/env python3
"""The collector's roles, login sessions, CSRF/Origin checks, page assets and admin actions
against a real `picket collector --db` and a real MariaDB (config/schema.sql):
  1. without a credential every /v1 route and /metrics answers 401, while / and /ui/* serve the
     page (with its CSP and the other headers) and an unknown asset is 404;
  2. POST /v1/login with the read token sets the HttpOnly, SameSite=Strict cookie; the cookie
     reads (whoami, devices); device and unknown tokens get 401;
  3. the read role (cookie with CSRF token, or bearer) gets 403 on submit, cancel and config;
  4. a cookie POST without X-CSRF-Token, with a wrong one, or with a foreign Origin is 403;
  5. the admin role (cookie + CSRF token) submits a scan (the row appears in MariaDB), cancels
     it (state cancelled), sets a device's config (the row's config and version change); an
     invalid config is 400 naming the field, an invalid job 400 naming the field and value;
  6. the collector's MariaDB connection killed: the next action reconnects and succeeds;
     MariaDB stopped: 503 naming the database; a collector without --db answers 501.
The database password comes from --db-password-file (a MariaDB user with a password).
usage: web_auth_test.py PICKETD PICKET
Skips without MariaDB unless CI=true."""
import http.client, json, os, sys, tempfile, time, urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from e2e_support import report, remove_unless_kept  # noqa: E402
from servers import (MariaDB, Processes, mariadb_missing, skip_code, start_collector,  # noqa: E402
                     wait_for, write_private, write_tokens_file)

SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "config", "schema.sql")
TOKENS = {"device": "tok-device-gw-1-0123456789", "read": "tok-read-0123456789abcdef",
          "admin": "tok-admin-0123456789abcdef"}
READ_ROUTES = ["/v1/devices", "/v1/devices/gw-1/chunks", "/v1/results", "/v1/logs", "/v1/sessions",
               "/v1/sessions/1", "/v1/sessions/1/pcap", "/v1/fleet", "/v1/devices/gw-1/status",
               "/v1/devices/gw-1/series?window=1h", "/v1/issues", "/v1/scans", "/v1/whoami",
               "/metrics"]
WRITE_ROUTES = [("POST", "/v1/scans"), ("POST", "/v1/scans/job-x/cancel"),
                ("PUT", "/v1/devices/gw-1/config"), ("POST", "/v1/logout"),
                ("POST", "/v1/devices/gw-1/status"), ("POST", "/v1/devices/gw-1/logs")]
GOOD_CONFIG = {"capture": {"interface": "lo", "filter": "udp port 9"}}


class Client:
    def __init__(self, base):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port
        self.origin = f"http://{u.hostname}:{u.port}"

    def call(self, method, path, body=None, headers=None):
        """(status, headers dict with lower-case names, body bytes)."""
        c = http.client.HTTPConnection(self.host, self.port, timeout=20)
        try:
            data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
            h = dict(headers or {})
            if data is not None:
                h.setdefault("Content-Type", "application/json")
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()


def error_of(body):
    try:
        return json.loads(body).get("error", "")
    except ValueError:
        return body[:200].decode(errors="replace")


def login(client, token):
    status, headers, body = client.call("POST", "/v1/login", {"token": token})
    if status != 200:
        raise AssertionError(f"login: {status} {body[:200]!r}")
    cookie = headers.get("set-cookie", "")
    return cookie.split(";", 1)[0], json.loads(body), cookie


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    picket = os.path.abspath(sys.argv[2])
    missing = mariadb_missing()
    if missing:
        return skip_code(missing)
    failures = []

    def check(cond, what):
        if not cond:
            failures.append(what)
        return cond

    work = tempfile.mkdtemp(prefix="picket-web-auth-")
    procs = Processes(os.path.join(work, "processes.log"))
    db = MariaDB(work)
    try:
        db.start(SCHEMA)
        db.run("CREATE USER 'web'@'127.0.0.1' IDENTIFIED BY 'web-secret-pw'; "
               "GRANT ALL ON picket.* TO 'web'@'127.0.0.1'", db=None)
        password_file = write_private(os.path.join(work, "db-password"), "web-secret-pw\n")
        tokens_file = write_tokens_file(os.path.join(work, "tokens"),
                                    f"gw-1 {TOKENS['device']}\n@operator {TOKENS['read']}\n"
                                    f"@admin {TOKENS['admin']}\n")
        db_url = f"mysql://web@127.0.0.1:{db.port}/picket"
        base = start_collector(procs, picket, work, "--tokens", tokens_file, "--db", db_url,
                               "--db-password-file", password_file)
        c = Client(base)

        # 1. No credential: 401 everywhere but the page.
        for path in READ_ROUTES:
            status, headers, body = c.call("GET", path)
            check(status == 401, f"GET {path} without a token: {status}, expected 401")
        for method, path in WRITE_ROUTES:
            status, _, body = c.call(method, path, {})
            check(status == 401, f"{method} {path} without a token: {status}, expected 401")
        for path in ("/", "/index.html", "/ui/chart.js"):
            status, headers, body = c.call("GET", path)
            check(status == 200, f"GET {path}: {status}, expected 200")
            csp = headers.get("content-security-policy", "")
            check("default-src 'self'" in csp and "frame-ancestors 'none'" in csp,
                  f"GET {path}: CSP {csp!r}")
            check(headers.get("x-content-type-options") == "nosniff", f"GET {path}: no nosniff")
            check(headers.get("referrer-policy") == "no-referrer", f"GET {path}: no Referrer-Policy")
            check(headers.get("cache-control") == "no-cache", f"GET {path}: no Cache-Control")
        status, headers, body = c.call("GET", "/")
        check(headers.get("content-type", "").startswith("text/html"), f"GET /: {headers.get('content-type')}")
        status, headers, body = c.call("GET", "/ui/chart.js")
        check(headers.get("content-type", "").startswith("text/javascript") and b"Chart.js" in body[:200],
              "GET /ui/chart.js is not Debian's Chart.js")
        check(c.call("GET", "/ui/no-such.js")[0] == 404, "unknown asset is not 404")

        # 2. Login.
        for token in (TOKENS["device"], "not-a-token"):
            status, _, body = c.call("POST", "/v1/login", {"token": token})
            check(status == 401, f"login with {token[:8]}...: {status}, expected 401")
        # Guessing tokens costs the guesser a round trip each and the collector one hash per
        # token line: bounded loop, timed.
        t0 = time.monotonic()
        wrong = [c.call("POST", "/v1/login", {"token": f"guess-{i:04d}"})[0] for i in range(200)]
        per_ms = (time.monotonic() - t0) * 1000 / len(wrong)
        check(set(wrong) == {401}, f"wrong-token logins answered {sorted(set(wrong))}")
        print(f"figure: 200 wrong-token logins, {per_ms:.2f} ms each (new connection per request)")
        read_cookie, read_login, set_cookie = login(c, TOKENS["read"])
        for attr in ("HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"):
            check(attr in set_cookie, f"Set-Cookie lacks {attr}: {set_cookie!r}")
        check(read_login.get("role") == "read" and read_login.get("actions") is False,
              f"read login answered {read_login}")
        status, _, body = c.call("GET", "/v1/whoami", headers={"Cookie": read_cookie})
        check(status == 200 and json.loads(body).get("csrf") == read_login["csrf"],
              f"whoami with the read cookie: {status} {body[:200]!r}")
        status, _, body = c.call("GET", "/v1/devices", headers={"Cookie": read_cookie})
        check(status == 200, f"GET /v1/devices with the read cookie: {status}")
        status, _, body = c.call("GET", "/metrics", headers={"Cookie": read_cookie})
        check(status != 401 and status != 403, f"GET /metrics with the read cookie: {status}")

        # 3. The read role may not act.
        read_headers = {"Cookie": read_cookie, "X-CSRF-Token": read_login["csrf"], "Origin": c.origin}
        for method, path, body in (("POST", "/v1/scans", {"targets": "127.0.0.1"}),
                                   ("POST", "/v1/scans/job-x/cancel", None),
                                   ("PUT", "/v1/devices/gw-1/config", GOOD_CONFIG)):
            for who, headers in (("cookie", read_headers),
                                 ("bearer", {"Authorization": f"Bearer {TOKENS['read']}"})):
                status, _, answer = c.call(method, path, body, headers)
                check(status == 403 and "admin" in error_of(answer),
                      f"read role ({who}) {method} {path}: {status} {error_of(answer)!r}, expected 403")

        # 4. CSRF and Origin.
        admin_cookie, admin_login, _ = login(c, TOKENS["admin"])
        check(admin_login.get("role") == "admin" and admin_login.get("actions") is True,
              f"admin login answered {admin_login}")
        job = {"targets": "127.0.0.1", "ports": "9", "rate": 100, "shards": 1, "mode": "connect"}
        for what, headers in (
                ("no X-CSRF-Token", {"Cookie": admin_cookie}),
                ("a wrong X-CSRF-Token", {"Cookie": admin_cookie, "X-CSRF-Token": "x" * 43}),
                ("a foreign Origin", {"Cookie": admin_cookie, "X-CSRF-Token": admin_login["csrf"],
                                      "Origin": "http://evil.example"})):
            status, _, answer = c.call("POST", "/v1/scans", dict(job, id="csrf-job"), headers)
            check(status == 403, f"cookie POST with {what}: {status}, expected 403")
        check(db.run("SELECT COUNT(*) FROM scan_jobs WHERE id = 'csrf-job'").strip() == "0",
              "a refused cookie POST wrote a row")

        # 5. The admin's actions.
        admin_headers = {"Cookie": admin_cookie, "X-CSRF-Token": admin_login["csrf"], "Origin": c.origin}
        t0 = time.monotonic()
        status, _, answer = c.call("POST", "/v1/scans", dict(job, id="web-job-1"), admin_headers)
        took_ms = (time.monotonic() - t0) * 1000
        check(status == 201 and json.loads(answer).get("job") == "web-job-1",
              f"admin submit: {status} {answer[:200]!r}")
        row = db.run("SELECT targets, ports, rate_pps, shards, mode, state FROM scan_jobs "
                     "WHERE id = 'web-job-1'").strip().split("\t")
        check(row == ["127.0.0.1", "9", "100", "1", "connect", "active"], f"scan_jobs row {row}")
        print(f"figure: admin submit answered in {took_ms:.1f} ms")
        status, _, answer = c.call("POST", "/v1/scans", dict(job, id="web-job-1"), admin_headers)
        check(status == 409, f"second submit of web-job-1: {status}, expected 409")
        status, _, answer = c.call("POST", "/v1/scans", dict(job, rate=0), admin_headers)
        check(status == 400 and "rate" in error_of(answer) and "'0'" in error_of(answer),
              f"submit with rate 0: {status} {error_of(answer)!r}")
        status, _, answer = c.call("POST", "/v1/scans", dict(job, ports="70000"), admin_headers)
        check(status == 400 and "ports" in error_of(answer) and "70000" in error_of(answer),
              f"submit with port 70000: {status} {error_of(answer)!r}")
        # A bearer admin token needs no CSRF token; the job id is drawn.
        status, _, answer = c.call("POST", "/v1/scans", job,
                                   {"Authorization": f"Bearer {TOKENS['admin']}"})
        drawn = json.loads(answer).get("job", "") if status == 201 else ""
        check(drawn.startswith("scan-"), f"bearer admin submit: {status} {answer[:200]!r}")

        status, _, answer = c.call("POST", "/v1/scans/web-job-1/cancel", None, admin_headers)
        check(status == 200 and json.loads(answer).get("cancelled") is True,
              f"cancel web-job-1: {status} {answer[:200]!r}")
        state = db.run("SELECT state FROM scan_jobs WHERE id = 'web-job-1'").strip()
        check(state == "cancelled", f"web-job-1 state after cancel: {state!r}")
        status, _, answer = c.call("POST", "/v1/scans/no-such-job/cancel", None, admin_headers)
        check(status == 404, f"cancel of an unknown job: {status}, expected 404")

        before = db.run("SELECT version FROM devices WHERE id = 'gw-1'").strip()
        status, _, answer = c.call("PUT", "/v1/devices/gw-1/config", GOOD_CONFIG, admin_headers)
        check(status == 200 and json.loads(answer).get("device") == "gw-1",
              f"admin config set: {status} {answer[:200]!r}")
        cfg, version = db.run("SELECT config, version FROM devices WHERE id = 'gw-1'").strip().split("\t")
        check(json.loads(cfg) == GOOD_CONFIG, f"gw-1 config row {cfg!r}")
        check(status != 200 or json.loads(answer).get("version") == int(version),
              f"answered version {answer[:100]!r}, row has {version}")
        changed = dict(GOOD_CONFIG, capture={"interface": "lo", "filter": "udp port 10"})
        status, _, answer = c.call("PUT", "/v1/devices/gw-1/config", changed, admin_headers)
        version2 = db.run("SELECT version FROM devices WHERE id = 'gw-1'").strip()
        check(status == 200 and int(version2) > int(version),
              f"second config set: {status}, version {version} -> {version2} (before all: {before!r})")
        status, _, answer = c.call("PUT", "/v1/devices/gw-1/config",
                                   {"capture": {"interface": "lo", "filter": "udp port ("}}, admin_headers)
        check(status == 400 and "/capture/filter" in error_of(answer),
              f"invalid config: {status} {error_of(answer)!r}, expected 400 naming /capture/filter")
        check(db.run("SELECT version FROM devices WHERE id = 'gw-1'").strip() == version2,
              "an invalid config changed the row")

        # 6. Reconnect after the connection is killed; 503 with MariaDB down.
        ids = db.run("SELECT id FROM information_schema.processlist WHERE user = 'web'").split()
        check(ids, "no MariaDB connection of the collector's user")
        for i in ids:
            db.run(f"KILL {i}", db=None)
        status, _, answer = c.call("POST", "/v1/scans", dict(job, id="web-job-2"), admin_headers)
        check(status == 201, f"submit after the connection was killed: {status} {answer[:200]!r}")
        db.stop()
        status, headers, answer = c.call("POST", "/v1/scans", dict(job, id="web-job-3"), admin_headers)
        check(status == 503 and "operator database" in error_of(answer),
              f"submit with MariaDB down: {status} {error_of(answer)!r}")
        check("web-secret-pw" not in error_of(answer), "the 503 shows the password")

        # Logout ends the session.
        status, headers, _ = c.call("POST", "/v1/logout", None, admin_headers)
        check(status == 200 and "Max-Age=0" in headers.get("set-cookie", ""), f"logout: {status}")
        check(c.call("GET", "/v1/whoami", headers={"Cookie": admin_cookie})[0] == 401,
              "the session outlived logout")

        # Without --db: 501.
        work2 = os.path.join(work, "nodb")
        os.makedirs(work2)
        base2 = start_collector(procs, picket, work2, "--tokens", tokens_file)
        c2 = Client(base2)
        status, _, answer = c2.call("POST", "/v1/scans", job, {"Authorization": f"Bearer {TOKENS['admin']}"})
        check(status == 501 and error_of(answer) == "this collector has no operator database (--db)",
              f"submit without --db: {status} {error_of(answer)!r}")
        _, who, _ = login(c2, TOKENS["admin"])
        check(who.get("actions") is False, f"admin login without --db: {who}")
    except AssertionError as e:
        failures.append(str(e))
    finally:
        procs.stop_all()
        db.stop()
        if failures:
            print("processes log:", os.path.join(work, "processes.log"))
    code = report(failures)
    if not failures:
        remove_unless_kept(work)
    return code


if __name__ == "__main__":
    sys.exit(main())
