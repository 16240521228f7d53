#include <doctest/doctest.h>

#include "picket/zk/connect_string.h"
#include "support/temp_dir.h"

namespace picket::zk {

TEST_SUITE("zk.credentials") {
  TEST_CASE("both halves or neither, messages name the flag, never the password") {
    testing::TempDir dir;
    const std::string file = dir.Write("zk.password", "pa55word\n");
    auto none = LoadZkCredentials(std::nullopt, "--zk-user", std::nullopt, "--zk-password-file");
    REQUIRE(none.ok());
    CHECK(none->user.empty());
    auto both = LoadZkCredentials("picket", "--zk-user", file, "--zk-password-file");
    REQUIRE(both.ok());
    CHECK(both->user == "picket");
    CHECK(both->password == "pa55word");
    auto no_file = LoadZkCredentials("picket", "\"zk_user\" in cli.json", std::nullopt,
                                     "\"zk_password_file\" in cli.json");
    CHECK(no_file.status().message() ==
          "\"zk_user\" in cli.json 'picket' needs \"zk_password_file\" in cli.json (the file "
          "holding its password)");
    auto no_user = LoadZkCredentials(std::nullopt, "--zk-user", file, "--zk-password-file");
    CHECK(no_user.status().message() == "--zk-password-file needs --zk-user (the digest user)");
    auto colon = LoadZkCredentials("a:b", "--zk-user", file, "--zk-password-file");
    CHECK(colon.status().message() == "--zk-user 'a:b': expected a name without ':' or blanks");
    auto unreadable = LoadZkCredentials("picket", "--zk-user", dir.Join("none"), "--zk-password-file");
    CHECK(unreadable.status().message().find("--zk-password-file " + dir.Join("none")) == 0);
  }
}

}  // namespace picket::zk
