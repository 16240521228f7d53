#include "picket/common/command_line.h"

#include <algorithm>
#include <cstdio>

#include "picket/common/version.h"

namespace picket {

namespace {

void PrintTable(std::FILE* out, std::string_view program, std::string_view about,
                std::span<const Command> commands) {
  std::fprintf(out, "%.*s: %.*s\n\nusage: %.*s <command> [flags]\n\ncommands:\n",
               static_cast<int>(program.size()), program.data(), static_cast<int>(about.size()),
               about.data(), static_cast<int>(program.size()), program.data());
  for (const Command& c : commands) {
    std::fprintf(out, "  %-14.*s %.*s\n", static_cast<int>(c.name.size()), c.name.data(),
                 static_cast<int>(c.summary.size()), c.summary.data());
  }
  std::fprintf(out, "\n'%.*s <command> --help' describes one command; '%.*s --version' (or -V)\n"
               "prints the version. Exit code 2: a bad command, flag or argument.\n",
               static_cast<int>(program.size()), program.data(), static_cast<int>(program.size()),
               program.data());
}

bool IsHelp(std::string_view a) { return a == "--help" || a == "-h" || a == "help"; }

}  // namespace

int RunVersionCommand(std::string_view program, const std::vector<LibraryVersion>& libs,
                      std::span<char* const> args) {
  FlagParser flags({}, {"json"});
  if (auto st = flags.Parse(args); !st.ok()) return ReportFlagError(program, "version", st);
  std::fputs(FormatVersionReport(program, libs, flags.Has("json")).c_str(), stdout);
  return 0;
}

int ReportFlagError(std::string_view program, std::string_view command, const Status& st) {
  std::fprintf(stderr, "%.*s %.*s: %s\n", static_cast<int>(program.size()), program.data(),
               static_cast<int>(command.size()), command.data(), st.message().c_str());
  return 2;
}

int RunCommandTable(std::string_view program, std::string_view about,
                    std::span<const Command> commands, int argc, char** argv) {
  if (argc < 2) {
    PrintTable(stderr, program, about, commands);
    return 2;
  }
  std::string_view name = argv[1];
  // Both binaries have a `version` command; the flags every tool has reach it.
  if (name == "--version" || name == "-V") name = "version";
  if (IsHelp(name)) {
    if (argc >= 3) name = argv[2];  // "help run" == "run --help"
    else {
      PrintTable(stdout, program, about, commands);
      return 0;
    }
  }
  auto it = std::find_if(commands.begin(), commands.end(),
                         [&](const Command& c) { return c.name == name; });
  if (it == commands.end()) {
    std::fprintf(stderr, "%.*s: unknown command '%.*s'; '%.*s help' lists the commands\n",
                 static_cast<int>(program.size()), program.data(), static_cast<int>(name.size()),
                 name.data(), static_cast<int>(program.size()), program.data());
    return 2;
  }
  std::span<char* const> args(argv + 2, static_cast<size_t>(argc - 2));
  if (IsHelp(argv[1]) ||
      std::any_of(args.begin(), args.end(),
                  [](const char* a) { return std::string_view(a) == "--help" || std::string_view(a) == "-h"; })) {
    std::printf("usage: %.*s %.*s\n", static_cast<int>(program.size()), program.data(),
                static_cast<int>(it->usage.size()), it->usage.data());
    return 0;
  }
  return it->run(args);
}

FlagParser::FlagParser(std::vector<std::string_view> value_flags,
                       std::vector<std::string_view> bool_flags)
    : value_flags_(std::move(value_flags)), bool_flags_(std::move(bool_flags)) {}

Status FlagParser::Parse(std::span<char* const> args) {
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg.size() < 3 || arg.substr(0, 2) != "--") {
      return Status::InvalidArgument("unexpected argument '" + std::string(arg) + "'");
    }
    std::string_view name = arg.substr(2);
    std::optional<std::string_view> inline_value;
    if (size_t eq = name.find('='); eq != std::string_view::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const std::string flag = "--" + std::string(name);
    if (values_.count(name)) return Status::InvalidArgument(flag + " given twice");
    bool takes_value =
        std::find(value_flags_.begin(), value_flags_.end(), name) != value_flags_.end();
    bool is_bool = std::find(bool_flags_.begin(), bool_flags_.end(), name) != bool_flags_.end();
    if (takes_value) {
      if (inline_value) {
        values_.emplace(std::string(name), std::string(*inline_value));
      } else if (i + 1 < args.size()) {
        values_.emplace(std::string(name), std::string(args[++i]));
      } else {
        return Status::InvalidArgument(flag + " needs a value");
      }
    } else if (is_bool) {
      if (inline_value) return Status::InvalidArgument(flag + " takes no value");
      values_.emplace(std::string(name), "");
    } else {
      return Status::InvalidArgument("unknown flag " + flag);
    }
  }
  return Status::Ok();
}

std::optional<std::string> FlagParser::Value(std::string_view name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

bool FlagParser::Has(std::string_view name) const { return values_.count(name) > 0; }

}  // namespace picket
