// What people read: a stored log row as its line, a table row as one line.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "cli/chunks_command.h"
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

  TEST_CASE("a chunk row: packet times, or '-' for a loss record that has no packets") {
    using nlohmann::json;
    const auto header = ChunkTableHeader();
    // As parsed from the collector's answer (numbers there are unsigned).
    const auto cells = ChunkTableCells(json::parse(
        R"({"seq":4,"packets":2,"first_ts_us":1000000,"last_ts_us":2000000,"lost_packets":0})"));
    REQUIRE(cells.size() == header.size());
    CHECK(cells[3] == "1970-01-01T00:00:01.000000Z");
    const auto record = ChunkTableCells(
        json::parse(R"({"seq":5,"packets":0,"first_ts_us":0,"last_ts_us":0,"lost_packets":1275})"));
    CHECK(record[1] == "0");
    CHECK(record[3] == "-");
    CHECK(record[4] == "-");
    CHECK(record[6] == "1275");
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
