// Both binaries are a table of subcommands (ninja's tool table): one row per
// command with its one-line summary and usage; `help`, `--help` and
// `<command> --help` come for free. FlagParser reads "--name VALUE",
// "--name=VALUE" and boolean "--name", and names the offending flag on error.
#pragma once

#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "picket/common/status.h"
#include "picket/common/version.h"

namespace picket {

struct Command {
  std::string_view name;
  std::string_view summary;  // one line, shown in the table
  std::string_view usage;    // full help text for `<command> --help`
  int (*run)(std::span<char* const> args);  // args after the command name; returns exit code
};

// Dispatches argv[1] to its command. Exit codes: the command's own; 0 for help;
// 2 for an unknown command or no command.
int RunCommandTable(std::string_view program, std::string_view about,
                    std::span<const Command> commands, int argc, char** argv);

// The one report of a bad command line: "<program> <command>: <message>" on
// stderr; returns exit code 2.
int ReportFlagError(std::string_view program, std::string_view command, const Status& st);

// The `version [--json]` command of both binaries: prints FormatVersionReport.
int RunVersionCommand(std::string_view program, const std::vector<LibraryVersion>& libs,
                      std::span<char* const> args);

class FlagParser {
 public:
  // value_flags take an argument, bool_flags do not (names without "--").
  FlagParser(std::vector<std::string_view> value_flags, std::vector<std::string_view> bool_flags);

  // Fails on unknown flags, missing values, repeated flags and positional arguments.
  Status Parse(std::span<char* const> args);

  std::optional<std::string> Value(std::string_view name) const;
  bool Has(std::string_view name) const;

 private:
  std::vector<std::string_view> value_flags_;
  std::vector<std::string_view> bool_flags_;
  std::map<std::string, std::string, std::less<>> values_;
};

}  // namespace picket
