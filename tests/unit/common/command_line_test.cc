#include "picket/common/command_line.h"

#include <doctest/doctest.h>

#include <vector>

namespace picket {

namespace {

Status ParseArgs(FlagParser& p, std::vector<const char*> args) {
  std::vector<char*> argv;
  for (const char* a : args) argv.push_back(const_cast<char*>(a));
  return p.Parse(argv);
}

int g_ran = 0;
int RunCounting(std::span<char* const> args) {
  g_ran = static_cast<int>(args.size()) + 100;
  return 5;
}

constexpr Command kTable[] = {{"count", "counts its args", "count [ARGS]", RunCounting}};

int Dispatch(std::vector<const char*> args) {
  std::vector<char*> argv;
  for (const char* a : args) argv.push_back(const_cast<char*>(a));
  std::FILE* devnull = std::fopen("/dev/null", "w");
  std::FILE* saved_out = stdout;
  std::FILE* saved_err = stderr;
  stdout = devnull;  // keep the table out of the test log
  stderr = devnull;
  int rc = RunCommandTable("prog", "test program", kTable, static_cast<int>(argv.size()),
                           argv.data());
  stdout = saved_out;
  stderr = saved_err;
  std::fclose(devnull);
  return rc;
}

}  // namespace

TEST_SUITE("common.cli") {
  TEST_CASE("flags: values, inline values, booleans") {
    FlagParser p({"config", "rate"}, {"json"});
    REQUIRE(ParseArgs(p, {"--config", "/etc/x.json", "--rate=500", "--json"}).ok());
    CHECK(*p.Value("config") == "/etc/x.json");
    CHECK(*p.Value("rate") == "500");
    CHECK(p.Has("json"));
    CHECK_FALSE(p.Value("missing").has_value());
  }

  TEST_CASE("flag errors name the flag") {
    struct {
      std::vector<const char*> args;
      const char* needle;
    } cases[] = {
        {{"--fast"}, "--fast"},
        {{"--config"}, "--config needs a value"},
        {{"--json=1"}, "--json takes no value"},
        {{"--rate", "1", "--rate", "2"}, "--rate given twice"},
        {{"stray"}, "'stray'"},
    };
    for (auto& c : cases) {
      FlagParser p({"config", "rate"}, {"json"});
      Status st = ParseArgs(p, c.args);
      REQUIRE_FALSE(st.ok());
      CHECK(st.message().find(c.needle) != std::string::npos);
    }
  }

  TEST_CASE("the command table dispatches and answers help") {
    g_ran = 0;
    CHECK(Dispatch({"prog", "count", "a", "b"}) == 5);
    CHECK(g_ran == 102);
    g_ran = 0;
    CHECK(Dispatch({"prog", "count", "--help"}) == 0);
    CHECK(g_ran == 0);
    CHECK(Dispatch({"prog", "help"}) == 0);
    CHECK(Dispatch({"prog", "help", "count"}) == 0);
    CHECK(Dispatch({"prog"}) == 2);
    CHECK(Dispatch({"prog", "nope"}) == 2);
    CHECK(g_ran == 0);
  }
}

}  // namespace picket
