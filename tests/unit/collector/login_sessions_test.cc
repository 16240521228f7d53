// Login sessions (expiry, bound, CSRF, Origin, hostile Cookie headers) and how
// Admit authenticates with them, against a real ApiHandler without a socket.
#include "collector/login_sessions.h"

#include <doctest/doctest.h>

#include <atomic>
#include <cctype>
#include <nlohmann/json.hpp>
#include <set>

#include "collector/api_handler.h"
#include "collector/web_assets.h"
#include "support/temp_dir.h"
#include "unit/collector/api_call.h"
#include "unit/collector/token_text.h"

namespace picket::collector {

namespace {

class StepClock final : public Clock {
 public:
  MonoTime MonotonicNow() const override { return MonoTime(); }
  std::int64_t WallMillis() const override { return now_ms.load(); }
  std::atomic<std::int64_t> now_ms{1'700'000'000'000};
};

bool IsBase64Url(std::string_view s) {
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  }
  return true;
}

struct Fixture {
  testing::TempDir dir;
  TokenTable tokens =
      TokenTable::Parse(
          picket::testing::HashedTokens("gw-1 tok-1\n@operator tok-read\n@admin tok-admin\n"), "t")
          .value();
  std::unique_ptr<CollectorDb> db = CollectorDb::Open(dir.path() + "/collector.db").value();
  ChunkStore store = *ChunkStore::Open(dir.path());
  StepClock clock;
  ApiHandler api{&tokens, db.get(), &store, 4096, &clock};

  Reply Call(std::string method, std::string target,
             std::vector<std::pair<std::string, std::string>> headers, std::string body = {}) {
    return testing::CallApi(api, std::move(method), std::move(target), headers, std::move(body));
  }

  // Logs in; returns the cookie value and the CSRF token.
  std::pair<std::string, std::string> Login(const std::string& token) {
    Reply r = Call("POST", "/v1/login", {{"Host", "127.0.0.1:8750"}},
                   nlohmann::json{{"token", token}}.dump());
    REQUIRE(r.status == 200);
    std::string cookie;
    for (auto& [name, value] : r.headers) {
      if (name == "Set-Cookie") cookie = value;
    }
    const std::string first = cookie.substr(0, cookie.find(';'));
    auto id = CookieValue(first, kSessionCookie);
    REQUIRE(id);
    return {std::string(*id), nlohmann::json::parse(r.body)["csrf"].get<std::string>()};
  }
};

std::string Header(const Reply& r, std::string_view name) {
  for (auto& [n, v] : r.headers) {
    if (n == name) return v;
  }
  return "";
}

std::string Error(const Reply& r) { return nlohmann::json::parse(r.body).value("error", ""); }

}  // namespace

TEST_SUITE("collector.login") {
  TEST_CASE("sessions: random ids, found until they expire") {
    StepClock clock;
    LoginSessions sessions(&clock, 100, std::chrono::hours(12));
    auto a = sessions.Create(Role::kRead);
    auto b = sessions.Create(Role::kAdmin);
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    CHECK(a->id.size() == 43);  // 32 bytes, base64url, no padding
    CHECK(IsBase64Url(a->id));
    CHECK(a->session.csrf.size() == 43);
    CHECK(a->id != b->id);
    CHECK(a->session.csrf != b->session.csrf);
    CHECK(a->id != a->session.csrf);
    CHECK(sessions.Find(a->id)->role == Role::kRead);
    CHECK(sessions.Find(b->id)->role == Role::kAdmin);
    CHECK_FALSE(sessions.Find(a->id.substr(1)));
    CHECK_FALSE(sessions.Find(""));

    clock.now_ms += 12 * 3600 * 1000 - 1;
    CHECK(sessions.Find(a->id));
    clock.now_ms += 1;
    CHECK_FALSE(sessions.Find(a->id));
    CHECK_FALSE(sessions.Find(b->id));
    CHECK(sessions.size() == 0);  // expired ones are dropped, not kept

    auto c = sessions.Create(Role::kRead);
    REQUIRE(c.ok());
    sessions.Remove(c->id);
    CHECK_FALSE(sessions.Find(c->id));
  }

  TEST_CASE("sessions: bounded, the oldest is evicted") {
    StepClock clock;
    LoginSessions sessions(&clock, 3, std::chrono::hours(1));
    std::vector<std::string> ids;
    for (int i = 0; i < 5; ++i) {
      ids.push_back(sessions.Create(Role::kRead)->id);
      clock.now_ms += 1000;
    }
    CHECK(sessions.size() == 3);
    CHECK_FALSE(sessions.Find(ids[0]));
    CHECK_FALSE(sessions.Find(ids[1]));
    CHECK(sessions.Find(ids[2]));
    CHECK(sessions.Find(ids[4]));
    std::set<std::string> unique(ids.begin(), ids.end());
    CHECK(unique.size() == ids.size());
  }

  TEST_CASE("cookie parsing tolerates hostile Cookie headers") {
    CHECK(CookieValue("picket_session=abc", "picket_session") == "abc");
    CHECK(CookieValue("a=1; picket_session=abc; b=2", "picket_session") == "abc");
    CHECK(CookieValue("  picket_session = \"abc\" ;", "picket_session") == "abc");
    CHECK(CookieValue("picket_session=first; picket_session=second", "picket_session") ==
          "first");
    CHECK_FALSE(CookieValue("", "picket_session"));
    CHECK_FALSE(CookieValue(";;;;", "picket_session"));
    CHECK_FALSE(CookieValue("picket_session", "picket_session"));
    CHECK_FALSE(CookieValue("picket_session=", "picket_session"));
    CHECK_FALSE(CookieValue("xpicket_session=abc", "picket_session"));
    CHECK_FALSE(CookieValue("picket_sessionx=abc", "picket_session"));
    CHECK_FALSE(CookieValue("=abc; ==; =", "picket_session"));
    CHECK(CookieValue("x=\"; picket_session=v", "picket_session") == "v");
    CHECK(CookieValue("picket_session=\"", "picket_session") == "\"");
    std::string huge(16 * 1024, ';');
    huge += "picket_session=z";
    CHECK(CookieValue(huge, "picket_session") == "z");
    const std::string binary = std::string("a=\0\xff\x01; ", 7) + "picket_session=q\x7f";
    CHECK(CookieValue(binary, "picket_session") == "q\x7f");
  }

  TEST_CASE("the Set-Cookie line and the CSRF and Origin checks") {
    CHECK(SessionCookie("id1", std::chrono::seconds(43200), false) ==
          "picket_session=id1; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200");
    CHECK(SessionCookie("id1", std::chrono::seconds(43200), true).ends_with("; Secure"));
    LoginSession s;
    s.csrf = "abcdef";
    CHECK(CsrfMatches(s, "abcdef"));
    CHECK_FALSE(CsrfMatches(s, "abcdeF"));
    CHECK_FALSE(CsrfMatches(s, "abcde"));
    CHECK_FALSE(CsrfMatches(s, ""));
    LoginSession empty;
    CHECK_FALSE(CsrfMatches(empty, ""));
    CHECK_FALSE(OriginMismatch("http://127.0.0.1:8750", "127.0.0.1:8750", false));
    CHECK_FALSE(OriginMismatch("HTTP://Collector.Example:8750", "collector.example:8750", false));
    CHECK_FALSE(OriginMismatch("https://c.example", "c.example", true));
    CHECK(OriginMismatch("http://c.example", "c.example", true));
    CHECK(OriginMismatch("https://evil.example", "c.example", true));
    CHECK(OriginMismatch("null", "c.example", false));
    CHECK(OriginMismatch("http://c.example:8750", "", false));
    auto why = OriginMismatch("http://evil.example", "c.example:1", false);
    REQUIRE(why);
    CHECK(why->find("evil.example") != std::string::npos);
  }

  TEST_CASE("login: operator and admin tokens get a cookie, device and unknown tokens 401") {
    Fixture f;
    Reply r = f.Call("POST", "/v1/login", {}, R"({"token":"tok-read"})");
    REQUIRE(r.status == 200);
    auto body = nlohmann::json::parse(r.body);
    CHECK(body["role"] == "read");
    CHECK(body["actions"] == false);  // no --db
    CHECK(body["csrf"].get<std::string>().size() == 43);
    const std::string cookie = Header(r, "Set-Cookie");
    CHECK(cookie.starts_with("picket_session="));
    CHECK(cookie.find("; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200") != std::string::npos);
    CHECK(cookie.find("Secure") == std::string::npos);

    auto admin = f.Call("POST", "/v1/login", {}, R"({"token":"tok-admin"})");
    CHECK(nlohmann::json::parse(admin.body)["role"] == "admin");
    CHECK(f.Call("POST", "/v1/login", {}, R"({"token":"tok-1"})").status == 401);
    CHECK(f.Call("POST", "/v1/login", {}, R"({"token":"nope"})").status == 401);
    CHECK(f.Call("POST", "/v1/login", {}, R"({"token":""})").status == 401);
    CHECK(f.Call("POST", "/v1/login", {}, R"({"tok":"x"})").status == 400);
    CHECK(f.Call("POST", "/v1/login", {}, R"([[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]])").status == 400);
    CHECK(f.Call("POST", "/v1/login", {}, "not json").status == 400);
    CHECK(f.Call("POST", "/v1/login", {}, std::string(5000, ' ')).status == 413);
    // A wrong method is a 405 only for a known credential (strangers learn no routes).
    CHECK(f.Call("GET", "/v1/login", {}).status == 401);
  }

  TEST_CASE("a cookie authenticates reads, non-GETs need the CSRF token and our Origin") {
    Fixture f;
    auto [id, csrf] = f.Login("tok-read");
    const std::pair<std::string, std::string> cookie{"Cookie", "picket_session=" + id};
    const std::pair<std::string, std::string> host{"Host", "127.0.0.1:8750"};

    auto who = f.Call("GET", "/v1/whoami", {cookie});
    REQUIRE(who.status == 200);
    CHECK(nlohmann::json::parse(who.body)["role"] == "read");
    CHECK(nlohmann::json::parse(who.body)["csrf"] == csrf);
    CHECK(f.Call("GET", "/v1/devices", {cookie}).status == 200);

    // No cookie, a wrong cookie, a foreign cookie name: 401.
    CHECK(f.Call("GET", "/v1/devices", {}).status == 401);
    CHECK(f.Call("GET", "/v1/whoami", {{"Cookie", "picket_session=" + id + "x"}}).status == 401);
    CHECK(f.Call("GET", "/v1/whoami", {{"Cookie", "other=" + id}}).status == 401);

    // The read role may not act (403 naming the role), even with the CSRF token.
    auto submit = f.Call("POST", "/v1/scans", {cookie, host, {"X-CSRF-Token", csrf}}, "{}");
    CHECK(submit.status == 403);
    CHECK(Error(submit).find("admin role") != std::string::npos);

    // Logout without the CSRF token: 403; with it: the session ends.
    auto no_csrf = f.Call("POST", "/v1/logout", {cookie, host});
    CHECK(no_csrf.status == 403);
    CHECK(Error(no_csrf).find("X-CSRF-Token") != std::string::npos);
    CHECK(f.Call("POST", "/v1/logout", {cookie, host, {"X-CSRF-Token", csrf + "x"}}).status ==
          403);
    auto foreign = f.Call("POST", "/v1/logout",
                          {cookie, host, {"X-CSRF-Token", csrf}, {"Origin", "http://evil.example"}});
    CHECK(foreign.status == 403);
    CHECK(Error(foreign).find("Origin") != std::string::npos);
    auto out = f.Call("POST", "/v1/logout",
                      {cookie, host, {"X-CSRF-Token", csrf}, {"Origin", "http://127.0.0.1:8750"}});
    CHECK(out.status == 200);
    CHECK(Header(out, "Set-Cookie").find("Max-Age=0") != std::string::npos);
    CHECK(f.Call("GET", "/v1/whoami", {cookie}).status == 401);
  }

  TEST_CASE("a reload that removes the token ends the sessions it made, and only those") {
    Fixture f;
    auto [read_id, read_csrf] = f.Login("tok-read");
    auto [admin_id, admin_csrf] = f.Login("tok-admin");
    const std::pair<std::string, std::string> read_cookie{"Cookie", "picket_session=" + read_id};
    const std::pair<std::string, std::string> admin_cookie{"Cookie", "picket_session=" + admin_id};
    REQUIRE(f.Call("GET", "/v1/devices", {read_cookie}).status == 200);
    f.tokens.Replace(
        TokenTable::Parse(picket::testing::HashedTokens("gw-1 tok-1\n@admin tok-admin\n"), "t")
            .value());
    CHECK(f.Call("GET", "/v1/devices", {read_cookie}).status == 401);
    CHECK(f.Call("GET", "/v1/whoami", {read_cookie}).status == 401);
    CHECK(f.Call("GET", "/v1/devices", {admin_cookie}).status == 200);
    // Adding the token back does not revive the session: it was dropped.
    f.tokens.Replace(TokenTable::Parse(picket::testing::HashedTokens(
                                           "@operator tok-read\n@admin tok-admin\n"),
                                       "t")
                         .value());
    CHECK(f.Call("GET", "/v1/devices", {read_cookie}).status == 401);
  }

  TEST_CASE("the admin role acts through the cookie, without --db the answer is 501") {
    Fixture f;
    auto [id, csrf] = f.Login("tok-admin");
    const std::vector<std::pair<std::string, std::string>> ok_headers = {
        {"Cookie", "picket_session=" + id}, {"Host", "127.0.0.1:8750"}, {"X-CSRF-Token", csrf}};
    auto submit = f.Call("POST", "/v1/scans", ok_headers, R"({"targets":"127.0.0.1"})");
    CHECK(submit.status == 501);
    CHECK(Error(submit) == "this collector has no operator database (--db)");
    CHECK(f.Call("PUT", "/v1/devices/gw-1/config", ok_headers, "{}").status == 501);
    CHECK(f.Call("POST", "/v1/scans/j1/cancel", ok_headers).status == 501);
    // Bearer tokens need no CSRF token (no ambient credential).
    CHECK(f.Call("POST", "/v1/scans", {{"Authorization", "Bearer tok-admin"}}, "{}").status == 501);
    CHECK(f.Call("POST", "/v1/scans", {{"Authorization", "Bearer tok-read"}}, "{}").status == 403);
    CHECK(f.Call("POST", "/v1/scans", {{"Authorization", "Bearer tok-1"}}, "{}").status == 403);
    CHECK(f.Call("POST", "/v1/scans", {{"Authorization", "Bearer zzz"}}, "{}").status == 401);
    CHECK(f.Call("POST", "/v1/scans", {}, "{}").status == 401);
    CHECK(f.Call("POST", "/v1/scans", ok_headers, std::string(70 * 1024, ' ')).status == 413);
  }

  TEST_CASE("the page and its assets are public, with the page headers") {
    Fixture f;
    auto index = f.Call("GET", "/", {});
    REQUIRE(index.status == 200);
    CHECK(index.content_type == "text/html; charset=utf-8");
    CHECK(index.body.find("<html") != std::string::npos);
    CHECK(Header(index, "Content-Security-Policy") == std::string(kPageCsp));
    CHECK(Header(index, "X-Content-Type-Options") == "nosniff");
    CHECK(Header(index, "Referrer-Policy") == "no-referrer");
    CHECK(Header(index, "Cache-Control") == "no-cache");
    CHECK(f.Call("GET", "/index.html", {}).body == index.body);
    auto chart = f.Call("GET", "/ui/chart.js", {});
    REQUIRE(chart.status == 200);
    CHECK(chart.content_type == "text/javascript; charset=utf-8");
    CHECK(chart.body.find("Chart.js v") != std::string::npos);
    CHECK(f.Call("GET", "/ui/nope.js", {}).status == 404);
    CHECK(f.Call("GET", "/ui/..", {}).status == 401);  // not an asset name: no route, no credential
    // A stale cookie or a wrong token does not hide the page (it shows the login form).
    CHECK(f.Call("GET", "/", {{"Cookie", "picket_session=stale"}}).status == 200);
    CHECK(f.Call("GET", "/", {{"Authorization", "Bearer wrong"}}).status == 200);
    CHECK(f.Call("GET", "/v1/whoami", {}).status == 401);
  }

  TEST_CASE("under TLS the cookie is Secure and the origin is https") {
    Fixture f;
    f.api.EnableWeb(/*tls=*/true, nullptr);
    Reply r = f.Call("POST", "/v1/login", {}, R"({"token":"tok-admin"})");
    REQUIRE(r.status == 200);
    CHECK(Header(r, "Set-Cookie").ends_with("; Secure"));
    const std::string first = Header(r, "Set-Cookie").substr(0, Header(r, "Set-Cookie").find(';'));
    const std::string id(*CookieValue(first, kSessionCookie));
    const std::string csrf = nlohmann::json::parse(r.body)["csrf"];
    const std::vector<std::pair<std::string, std::string>> base = {
        {"Cookie", "picket_session=" + id}, {"Host", "c.example:8750"}, {"X-CSRF-Token", csrf}};
    auto plain = base;
    plain.emplace_back("Origin", "http://c.example:8750");
    CHECK(f.Call("POST", "/v1/logout", plain).status == 403);
    auto https = base;
    https.emplace_back("Origin", "https://c.example:8750");
    CHECK(f.Call("POST", "/v1/logout", https).status == 200);
  }

  TEST_CASE("a bearer token wins over a cookie, and needs no CSRF token") {
    Fixture f;
    auto [id, csrf] = f.Login("tok-admin");
    // The admin's cookie with a read bearer token: the bearer's role counts.
    auto r = f.Call("POST", "/v1/scans",
                    {{"Cookie", "picket_session=" + id}, {"Authorization", "Bearer tok-read"}}, "{}");
    CHECK(r.status == 403);
    CHECK(Error(r).find("read role") != std::string::npos);
    auto who = f.Call("GET", "/v1/whoami", {{"Authorization", "Bearer tok-admin"}});
    REQUIRE(who.status == 200);
    CHECK(nlohmann::json::parse(who.body)["role"] == "admin");
    CHECK(nlohmann::json::parse(who.body)["csrf"] == "");
  }

  TEST_CASE("--insecure-no-auth: everything is allowed as admin") {
    testing::TempDir dir;
    auto db = CollectorDb::Open(dir.path() + "/collector.db").value();
    ChunkStore store = *ChunkStore::Open(dir.path());
    StepClock clock;
    ApiHandler api{nullptr, db.get(), &store, 4096, &clock};
    RequestHead head;
    head.method = "GET";
    head.target = "/v1/whoami";
    Reply r = api.Handle(api.Admit(head), "");
    REQUIRE(r.status == 200);
    CHECK(nlohmann::json::parse(r.body)["role"] == "admin");
  }
}

}  // namespace picket::collector
