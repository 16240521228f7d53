// What people read: a stored log row as its line, a table row as one line.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "cli/logs_command.h"
#include "cli/operator_support.h"

namespace picket::cli {

TEST_SUITE("cli.output") {
  TEST_CASE("LogLineText prints the line the device shipped, not its JSON wrapper") {
    using nlohmann::json;
    CHECK(LogLineText(json{{"device", "gw-1"}, {"line", {{"line", "INFO config applied"}}}}) ==
          "INFO config applied");
    CHECK(LogLineText(json{{"line", "plain"}}) == "plain");
    CHECK(LogLineText(json{{"line", {{"dropped_lines", 7}}}}) ==
          "(7 log lines dropped on the device: its queue was full)");
    CHECK(LogLineText(json{{"line", {{"other", 1}}}}) == R"({"other":1})");
  }

  TEST_CASE("FormatTable keeps a multi-line cell on its row") {
    std::string t = FormatTable(
        {"ID", "LAST ERROR"},
        {{"gw-2", "sync refused version 5: 2 config error(s):\n  /capture/filter: bad\n  /x: y"},
         {"gw-3", "tab\there"}});
    CHECK(t ==
          "ID    LAST ERROR\n"
          "gw-2  sync refused version 5: 2 config error(s): /capture/filter: bad; /x: y\n"
          "gw-3  tab here\n");
  }
}

}  // namespace picket::cli
