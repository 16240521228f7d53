#include "cli/cli_config.h"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace picket::cli {

namespace {

bool Contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_SUITE("cli.config") {
  TEST_CASE("every known key is read") {
    auto c = ParseCliConfig(R"({"collector":"http://127.0.0.1:8750",
      "token_file":"/etc/picket/operator.token","zookeeper":"127.0.0.1:2181",
      "zk_root":"/picket","db":"mysql://user:pass@127.0.0.1:3306/picket"})",
                            "/x/cli.json");
    REQUIRE(c.ok());
    CHECK(c->collector == "http://127.0.0.1:8750");
    CHECK(c->token_file == "/etc/picket/operator.token");
    CHECK(c->zookeeper == "127.0.0.1:2181");
    CHECK(c->zk_root == "/picket");
    CHECK(c->db == "mysql://user:pass@127.0.0.1:3306/picket");
    CHECK(c->source == "/x/cli.json");
  }

  TEST_CASE("zk_open_acl is the one boolean, false unless set") {
    auto open = ParseCliConfig(R"({"zk_open_acl": true})", "a.json");
    REQUIRE(open.ok());
    CHECK(open->zk_open_acl);
    CHECK_FALSE(ParseCliConfig("{}", "a.json")->zk_open_acl);
    auto text = ParseCliConfig(R"({"zk_open_acl": "yes"})", "a.json");
    REQUIRE_FALSE(text.ok());
    CHECK(Contains(text.status().message(), "zk_open_acl"));
    CHECK(Contains(text.status().message(), "\"yes\""));
  }

  TEST_CASE("keys are optional") {
    auto c = ParseCliConfig("{}", "f.json");
    REQUIRE(c.ok());
    CHECK_FALSE(c->collector.has_value());
    CHECK_FALSE(c->db.has_value());
  }

  TEST_CASE("an unknown key is refused by name, with the file") {
    auto c = ParseCliConfig(R"({"collecter":"http://x"})", "/home/op/.config/picket/cli.json");
    REQUIRE_FALSE(c.ok());
    CHECK(Contains(c.status().message(), "/home/op/.config/picket/cli.json"));
    CHECK(Contains(c.status().message(), "'collecter'"));
    CHECK(Contains(c.status().message(), "collector"));  // the known keys are listed
  }

  TEST_CASE("bad JSON names the file and where") {
    auto c = ParseCliConfig("{\"collector\": ", "/tmp/cli.json");
    REQUIRE_FALSE(c.ok());
    CHECK(Contains(c.status().message(), "/tmp/cli.json: not valid JSON"));
    CHECK(Contains(c.status().message(), "line 1"));
    CHECK_FALSE(ParseCliConfig("[1]", "a.json").ok());
    CHECK_FALSE(ParseCliConfig("", "a.json").ok());
    // The parser quotes the bytes near the error: they stay printable text.
    auto escape = ParseCliConfig("{\"collector\": \"\xff\x1b]0;owned\x07\"}", "/tmp/cli.json");
    REQUIRE_FALSE(escape.ok());
    CHECK(Contains(escape.status().message(), "\\xff"));
    for (const unsigned char c : escape.status().message()) CHECK((c >= 0x20 && c < 0x7f));
  }

  TEST_CASE("values must be non-empty strings") {
    auto number = ParseCliConfig(R"({"collector": 8750})", "a.json");
    REQUIRE_FALSE(number.ok());
    CHECK(Contains(number.status().message(), "'collector'"));
    CHECK(Contains(number.status().message(), "8750"));
    CHECK_FALSE(ParseCliConfig(R"({"db": ""})", "a.json").ok());
  }

  TEST_CASE("flags override the file, empty means unset") {
    CHECK(FlagOrConfig(std::string("a"), std::string("b")) == "a");
    CHECK(FlagOrConfig(std::nullopt, std::string("b")) == "b");
    CHECK(FlagOrConfig(std::string(""), std::string("b")) == "b");
    CHECK_FALSE(FlagOrConfig(std::nullopt, std::nullopt).has_value());
  }

  TEST_CASE("files: a missing default is empty, a missing named file is an error") {
    const auto dir = std::filesystem::temp_directory_path() / "picket-cli-config-test";
    std::filesystem::create_directories(dir);
    const std::string missing = (dir / "missing.json").string();
    auto absent = LoadCliConfigFile(missing, /*must_exist=*/false);
    REQUIRE(absent.ok());
    CHECK_FALSE(absent->collector.has_value());
    auto required = LoadCliConfigFile(missing, /*must_exist=*/true);
    REQUIRE_FALSE(required.ok());
    CHECK(Contains(required.status().message(), missing));

    const std::string present = (dir / "cli.json").string();
    std::ofstream(present) << R"({"collector":"http://127.0.0.1:1"})";
    ::setenv(std::string(kCliConfigEnv).c_str(), present.c_str(), 1);
    CHECK(CliConfigPath() == present);
    auto loaded = LoadCliConfig();
    REQUIRE(loaded.ok());
    CHECK(loaded->collector == "http://127.0.0.1:1");
    CHECK(loaded->source == present);
    ::setenv(std::string(kCliConfigEnv).c_str(), missing.c_str(), 1);
    auto named_missing = LoadCliConfig();
    CHECK_FALSE(named_missing.ok());
    CHECK(Contains(named_missing.status().message(), "PICKET_CLI_CONFIG"));
    ::unsetenv(std::string(kCliConfigEnv).c_str());
    std::filesystem::remove_all(dir);
  }
}

}  // namespace picket::cli
