#include "cli/config_command.h"

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <utility>

#include "cli/operator_support.h"
#include "picket/common/config_check.h"
#include "picket/sync/operator_rows.h"
#include "picket/sync/sync_documents.h"
#include "picket/sync/mariadb_connection.h"

namespace picket::cli {

namespace {

using nlohmann::json;

constexpr std::string_view kName = "config";

using Target = sync::ConfigRowTarget;

Result<Target> ParseTarget(const std::vector<std::string>& positionals, const FlagParser& flags) {
  Target t;
  auto group = flags.Value("group");
  if (group && positionals.size() > 1) {
    return Status::InvalidArgument("give either DEVICE or --group GROUP, not both");
  }
  if (!group && positionals.size() != 2) {
    return Status::InvalidArgument(positionals.size() < 2
                                       ? "DEVICE or --group GROUP is required"
                                       : "one DEVICE only (got '" + positionals[2] + "' too)");
  }
  t.group = group.has_value();
  t.key = group ? *group : positionals[1];
  if (!sync::IsValidNodeName(t.key)) {
    return Status::InvalidArgument((t.group ? "--group '" : "DEVICE '") + t.key +
                                   "': expected [A-Za-z0-9._-]{1,64}");
  }
  return t;
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return FromErrno("--file " + path, errno);
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > kMaxConfigBytes) {
    return Status::InvalidArgument("--file " + path + ": larger than " +
                                   std::to_string(kMaxConfigBytes) + " bytes");
  }
  return text.str();
}

int RunGet(const Target& t, sync::MariaDbConnection& db) {
  auto row = sync::ReadConfigRow(db, t);
  if (!row.ok()) return Fail(kName, row.status().ToString(), 1);
  if (!*row) return Fail(kName, t.Describe() + ": no row in table " + t.Table(), 1);
  json j = json::parse((*row)->config, nullptr, false);
  std::string text =
      j.is_discarded() ? (*row)->config : j.dump(2, ' ', false, json::error_handler_t::replace);
  std::printf("%s\n", text.c_str());
  return 0;
}

// Validates before connecting: an invalid config never needs the database.
int RunSet(const Target& t, const FlagParser& flags, const sync::DbUrl& url) {
  auto file = flags.Value("file");
  auto inline_json = flags.Value("json");
  if (file.has_value() == inline_json.has_value()) {
    return Fail(kName, "config set needs exactly one of --file FILE or --json TEXT", 2);
  }
  std::string text;
  std::string origin;
  if (file) {
    auto read = ReadFile(*file);
    if (!read.ok()) return Fail(kName, read.status().message(), 2);
    text = std::move(read).value();
    origin = *file;
  } else {
    text = *inline_json;
    origin = "--json";
  }
  auto document = sync::CheckConfigDocument(text, origin);
  if (!document.ok()) {
    std::fputs(("picket config set: " + document.status().message()).c_str(), stderr);
    std::fprintf(stderr, "picket config set: nothing written for %s\n", t.Describe().c_str());
    return 1;
  }
  auto db = ConnectDb(url);
  if (!db.ok()) return Fail(kName, db.status().ToString(), 1);
  auto write = sync::WriteConfigRow(**db, t, *document);
  if (!write.ok()) return Fail(kName, write.status().ToString(), 1);
  if (!write->before) {
    std::printf("%s: created, version %lld\n", t.Describe().c_str(),
                static_cast<long long>(write->after));
  } else if (write->after == *write->before) {
    std::printf("%s: unchanged, version %lld\n", t.Describe().c_str(),
                static_cast<long long>(write->after));
  } else {
    std::printf("%s: version %lld (was %lld)\n", t.Describe().c_str(),
                static_cast<long long>(write->after), static_cast<long long>(*write->before));
  }
  return 0;
}

}  // namespace

int RunConfigCommand(std::span<char* const> args) {
  SplitArgs split = SplitPositionals(args, {"group", "file", "json", "db"});
  FlagParser flags({"group", "file", "json", "db"}, {});
  if (auto st = flags.Parse(split.flags); !st.ok()) return Fail(kName, st.message(), 2);
  if (split.positionals.empty() ||
      (split.positionals[0] != "get" && split.positionals[0] != "set")) {
    return Fail(kName,
                split.positionals.empty()
                    ? "expected get or set (see picket config --help)"
                    : "unknown action '" + split.positionals[0] + "' (expected get or set)",
                2);
  }
  const bool set = split.positionals[0] == "set";
  if (!set && (flags.Value("file") || flags.Value("json"))) {
    return Fail(kName, "--file and --json belong to config set", 2);
  }
  auto target = ParseTarget(split.positionals, flags);
  if (!target.ok()) return Fail(kName, target.status().message(), 2);
  auto config = LoadCliConfig();
  if (!config.ok()) return Fail(kName, config.status().message(), 2);
  auto url = ResolveDb(flags, *config);
  if (!url.ok()) return Fail(kName, url.status().message(), 2);
  if (set) return RunSet(*target, flags, *url);
  auto db = ConnectDb(*url);
  if (!db.ok()) return Fail(kName, db.status().ToString(), 1);
  return RunGet(*target, **db);
}

}  // namespace picket::cli
