#include "collector/token_table.h"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <cctype>
#include <fstream>

#include "picket/common/digest.h"
#include "support/temp_dir.h"

namespace picket::collector {

TEST_SUITE("collector.tokens") {
  TEST_CASE("devices, the operator, comments and blank lines") {
    const std::string one = TokenFileLine("gw-01", "s3cret-one");
    CHECK(one == "gw-01 sha256:" + Sha256Hex("s3cret-one"));
    auto t = TokenTable::Parse(
        "# picket tokens\n"
        "\n" +
            one + "   # trailing comment\n" + TokenFileLine("gw.02", "s3cret-two") + "\r\n" +
            TokenFileLine("gw-01", "rotated-one") + "\n" +
            TokenFileLine("@operator", "read-token") + "\n",
        "tokens.txt");
    REQUIRE(t.ok());
    CHECK(t->size() == 4);
    auto found = t->Lookup("s3cret-one");
    REQUIRE(found);
    CHECK(found->role == Role::kDevice);
    CHECK(found->device_id == "gw-01");
    CHECK(t->Lookup("rotated-one")->device_id == "gw-01");
    CHECK(t->Lookup("s3cret-two")->device_id == "gw.02");
    CHECK(t->Lookup("read-token")->role == Role::kRead);
    CHECK(t->Lookup("read-token")->device_id.empty());
    CHECK_FALSE(t->Lookup("s3cret-on"));
    CHECK_FALSE(t->Lookup("s3cret-one "));
    CHECK_FALSE(t->Lookup(""));
    // The hash itself is not a token.
    CHECK_FALSE(t->Lookup("sha256:" + Sha256Hex("s3cret-one")));
  }

  TEST_CASE("upper-case hex is accepted") {
    std::string hex = Sha256Hex("tok");
    for (char& c : hex) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    auto t = TokenTable::Parse("gw sha256:" + hex + "\n", "t");
    REQUIRE(t.ok());
    CHECK(t->Lookup("tok"));
  }

  TEST_CASE("a plaintext token is refused, naming file, line and fix, never the token") {
    auto t = TokenTable::Parse(TokenFileLine("gw-01", "a") + "\ngw-02 live-secret\n", "tokens.txt");
    REQUIRE_FALSE(t.ok());
    const std::string& m = t.status().message();
    CHECK(m.find("tokens.txt:2:") == 0);
    CHECK(m.find("picket token hash gw-02") != std::string::npos);
    CHECK(m.find("picket token add gw-02 --tokens tokens.txt") != std::string::npos);
    CHECK(m.find("live-secret") == std::string::npos);
    // Near misses of the hash form are refused too.
    CHECK_FALSE(TokenTable::Parse("gw sha256:" + Sha256Hex("x").substr(1) + "\n", "t").ok());
    CHECK_FALSE(TokenTable::Parse("gw sha256:" + Sha256Hex("x") + "0\n", "t").ok());
    CHECK_FALSE(TokenTable::Parse("gw sha256:" + std::string(64, 'g') + "\n", "t").ok());
    CHECK_FALSE(TokenTable::Parse("gw SHA256:" + Sha256Hex("x") + "\n", "t").ok());
  }

  TEST_CASE("errors name the file and line") {
    auto missing_token =
        TokenTable::Parse(TokenFileLine("gw-01", "ok") + "\ngw-02\n", "tokens.txt");
    REQUIRE_FALSE(missing_token.ok());
    CHECK(missing_token.status().message().find("tokens.txt:2:") == 0);

    auto three_fields = TokenTable::Parse(TokenFileLine("gw-01", "a") + " b\n", "t");
    CHECK_FALSE(three_fields.ok());

    auto bad_id = TokenTable::Parse(TokenFileLine("gw/01", "tok") + "\n", "t");
    REQUIRE_FALSE(bad_id.ok());
    CHECK(bad_id.status().message().find("gw/01") != std::string::npos);

    auto reused =
        TokenTable::Parse(TokenFileLine("a", "tok") + "\n" + TokenFileLine("b", "tok"), "t");
    REQUIRE_FALSE(reused.ok());
    CHECK(reused.status().message().find("t:2:") == 0);
    CHECK(reused.status().message().find("already used on line 1") != std::string::npos);

    CHECK_FALSE(TokenTable::Parse("# nothing\n\n", "t").ok());
    CHECK(TokenTable::Parse("# nothing\n\n", "t", /*allow_empty=*/true).ok());
    CHECK_FALSE(TokenTable::Parse(TokenFileLine("@root", "tok"), "t").ok());
    CHECK_FALSE(TokenTable::Parse(TokenFileLine("@Admin", "tok"), "t").ok());
  }

  TEST_CASE("a fleet-sized table: every token finds its device, near misses find nothing") {
    std::string text;
    for (int i = 0; i < 2000; ++i) {
      text += TokenFileLine("gw-" + std::to_string(i), "tok-" + std::to_string(i)) + "\n";
    }
    auto t = TokenTable::Parse(text, "t");
    REQUIRE(t.ok());
    CHECK(t->size() == 2000);
    for (int i = 0; i < 2000; ++i) {
      auto found = t->Lookup("tok-" + std::to_string(i));
      REQUIRE(found);
      CHECK(found->device_id == "gw-" + std::to_string(i));
      CHECK_FALSE(t->Lookup("tok-" + std::to_string(i) + "x"));
    }
    CHECK(t->HasTokenHash(Sha256Of("tok-1999")));
    CHECK_FALSE(t->HasTokenHash(Sha256Of("tok-2000")));
  }

  TEST_CASE("Replace swaps in a reloaded table: new tokens work, removed ones do not") {
    auto t = TokenTable::Parse(TokenFileLine("gw-1", "old") + "\n", "t");
    REQUIRE(t.ok());
    auto fresh =
        TokenTable::Parse(TokenFileLine("gw-1", "new") + "\n" + TokenFileLine("gw-2", "two"), "t");
    REQUIRE(fresh.ok());
    t->Replace(std::move(*fresh));
    CHECK(t->size() == 2);
    CHECK_FALSE(t->Lookup("old"));
    CHECK(t->Lookup("new")->device_id == "gw-1");
    CHECK(t->Lookup("two")->device_id == "gw-2");
    CHECK(fresh->size() == 0);
  }

  TEST_CASE("NewToken: 43 base64url characters, different every time") {
    auto a = NewToken(), b = NewToken();
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    CHECK(a->size() == 43);
    CHECK(*a != *b);
    for (char c : *a) CHECK((std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'));
  }

  TEST_CASE("AppendTokenFileLine creates a 0600 file, appends, and refuses a broken one") {
    testing::TempDir dir;
    const std::string path = dir.path() + "/tokens";
    REQUIRE(AppendTokenFileLine(path, TokenFileLine("gw-1", "one")).ok());
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    REQUIRE(AppendTokenFileLine(path, TokenFileLine("@admin", "two")).ok());
    auto t = TokenTable::LoadFile(path);
    REQUIRE(t.ok());
    CHECK(t->size() == 2);
    CHECK(t->Lookup("two")->role == Role::kAdmin);
    // The same token twice would make the file unloadable: refused, file unchanged.
    CHECK_FALSE(AppendTokenFileLine(path, TokenFileLine("gw-2", "one")).ok());
    CHECK(TokenTable::LoadFile(path)->size() == 2);

    const std::string old = dir.path() + "/old";
    {
      std::ofstream out(old);
      out << "gw-1 plaintext\n";
    }
    REQUIRE(::chmod(old.c_str(), 0600) == 0);
    auto refused = AppendTokenFileLine(old, TokenFileLine("gw-2", "x"));
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.message().find(old + ":1:") == 0);

    REQUIRE(::chmod(path.c_str(), 0644) == 0);
    auto shared = AppendTokenFileLine(path, TokenFileLine("gw-3", "y"));
    REQUIRE_FALSE(shared.ok());
    CHECK(shared.message().find("chmod") != std::string::npos);
  }

  TEST_CASE("a missing file is named") {
    auto t = TokenTable::LoadFile("/nonexistent/tokens.txt");
    REQUIRE_FALSE(t.ok());
    CHECK(t.status().message().find("/nonexistent/tokens.txt") != std::string::npos);
  }

  TEST_CASE("device id grammar") {
    CHECK(IsValidDeviceId("gw-01"));
    CHECK(IsValidDeviceId("A.b_c-9"));
    CHECK(IsValidDeviceId(std::string(64, 'x')));
    CHECK_FALSE(IsValidDeviceId(std::string(65, 'x')));
    CHECK_FALSE(IsValidDeviceId(""));
    CHECK_FALSE(IsValidDeviceId("."));
    CHECK_FALSE(IsValidDeviceId(".."));
    CHECK_FALSE(IsValidDeviceId("a/b"));
    CHECK_FALSE(IsValidDeviceId("a b"));
    CHECK_FALSE(IsValidDeviceId("@operator"));
    CHECK_FALSE(IsValidDeviceId("gw%2F01"));
  }

  TEST_CASE("@admin gets the admin role, @operator the read role") {
    auto t = TokenTable::Parse(TokenFileLine("@operator", "op-tok") + "\n" +
                                   TokenFileLine("@admin", "admin-tok") + "\n" +
                                   TokenFileLine("@admin", "admin-two"),
                               "t");
    REQUIRE(t.ok());
    CHECK(t->Lookup("op-tok")->role == Role::kRead);
    CHECK(t->Lookup("admin-tok")->role == Role::kAdmin);
    CHECK(t->Lookup("admin-two")->role == Role::kAdmin);
    CHECK(RoleName(Role::kAdmin) == "admin");
    CHECK(RoleName(Role::kRead) == "read");
    CHECK(RoleName(Role::kDevice) == "device");
  }

  TEST_CASE("AccessDenied follows wire::EndpointAccess for every role") {
    auto route = [](std::string method, std::string target) {
      auto m = wire::MatchRoute(method, target);
      REQUIRE(m.matched());
      return m.route;
    };
    const Principal device{Role::kDevice, "gw-1"};
    const Principal read{Role::kRead, ""};
    const Principal admin{Role::kAdmin, ""};
    const auto own_chunk = route("PUT", "/v1/devices/gw-1/chunks/1");
    const auto other_chunk = route("PUT", "/v1/devices/gw-2/chunks/1");
    const auto heartbeat = route("POST", "/v1/devices/gw-1/status");
    const auto fleet = route("GET", "/v1/fleet");
    const auto metrics = route("GET", "/metrics");
    const auto submit = route("POST", "/v1/scans");
    const auto cancel = route("POST", "/v1/scans/job-1/cancel");
    const auto config = route("PUT", "/v1/devices/gw-1/config");
    const auto page = route("GET", "/");
    const auto healthz = route("GET", "/healthz");

    CHECK_FALSE(AccessDenied(device, own_chunk));
    CHECK_FALSE(AccessDenied(device, heartbeat));
    auto other = AccessDenied(device, other_chunk);
    REQUIRE(other);
    CHECK(other->find("gw-2") != std::string::npos);
    CHECK(AccessDenied(device, fleet));
    CHECK(AccessDenied(device, submit));
    CHECK_FALSE(AccessDenied(device, page));
    CHECK_FALSE(AccessDenied(device, healthz));

    CHECK(AccessDenied(read, own_chunk));
    CHECK(AccessDenied(admin, heartbeat));
    CHECK_FALSE(AccessDenied(read, fleet));
    CHECK_FALSE(AccessDenied(read, metrics));
    for (const auto* action : {&submit, &cancel, &config}) {
      auto denied = AccessDenied(read, *action);
      REQUIRE(denied);
      CHECK(denied->find("admin role") != std::string::npos);
      CHECK_FALSE(AccessDenied(admin, *action));
    }
    CHECK_FALSE(AccessDenied(admin, fleet));
  }
}

}  // namespace picket::collector
