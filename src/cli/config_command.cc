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
#include "picket/sync/sync_documents.h"
#include "picket/sync/mariadb_connection.h"

namespace picket::cli {

namespace {

using nlohmann::json;

constexpr std::string_view kName = "config";

struct Target {
  bool group = false;
  std::string key;
  std::string Table() const { return group ? "device_groups" : "devices"; }
  std::string KeyColumn() const { return group ? "name" : "id"; }
  std::string Describe() const { return (group ? "group " : "device ") + key; }
};

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

struct Row {
  std::string config;
  std::int64_t version = 0;
};

Result<std::optional<Row>> ReadRow(sync::MariaDbConnection& db, const Target& t) {
  auto rows = db.Query("SELECT config, version FROM " + t.Table() + " WHERE " + t.KeyColumn() +
                       " = " + db.Quote(t.key));
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<Row>();
  const auto& r = (*rows)[0];
  Row row;
  row.config = r.size() > 0 && r[0] ? *r[0] : std::string("{}");
  row.version = r.size() > 1 && r[1] ? std::stoll(*r[1]) : 0;
  return std::optional<Row>(row);
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
  auto row = ReadRow(db, t);
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
  ConfigCheck check = CheckDaemonConfigText(text);
  if (!check.ok()) {
    std::fputs(("picket config set: " + FormatConfigErrors(origin, check)).c_str(), stderr);
    std::fprintf(stderr, "picket config set: nothing written for %s\n", t.Describe().c_str());
    return 1;
  }
  const json doc = json::parse(text, nullptr, false);
  if (!doc.is_object()) return Fail(kName, origin + ": not a JSON object", 1);
  if (doc.contains("version")) {
    // picket sync sets "version" from the row; a hand-written one would be overwritten.
    std::fprintf(stderr,
                 "picket config set: %s is invalid, 1 error(s):\n  /version: set by the database "
                 "(row version), leave it out, got %s\n",
                 origin.c_str(), doc["version"].dump().c_str());
    return 1;
  }
  auto db = ConnectDb(url);
  if (!db.ok()) return Fail(kName, db.status().ToString(), 1);
  sync::MariaDbConnection& sql = **db;
  const std::string compact = doc.dump();
  auto before = ReadRow(sql, t);
  if (!before.ok()) return Fail(kName, before.status().ToString(), 1);
  Status st;
  if (*before) {
    st = sql.Execute("UPDATE " + t.Table() + " SET config = " + sql.Quote(compact) + " WHERE " +
                     t.KeyColumn() + " = " + sql.Quote(t.key));
  } else {
    st = sql.Execute("INSERT INTO " + t.Table() + " (" + t.KeyColumn() + ", config) VALUES (" +
                     sql.Quote(t.key) + ", " + sql.Quote(compact) + ")");
  }
  if (!st.ok()) return Fail(kName, st.ToString(), 1);
  auto after = ReadRow(sql, t);
  if (!after.ok()) return Fail(kName, after.status().ToString(), 1);
  if (!*after) return Fail(kName, t.Describe() + ": row vanished after the write", 1);
  if (!*before) {
    std::printf("%s: created, version %lld\n", t.Describe().c_str(),
                static_cast<long long>((*after)->version));
  } else if ((*after)->version == (*before)->version) {
    std::printf("%s: unchanged, version %lld\n", t.Describe().c_str(),
                static_cast<long long>((*after)->version));
  } else {
    std::printf("%s: version %lld (was %lld)\n", t.Describe().c_str(),
                static_cast<long long>((*after)->version),
                static_cast<long long>((*before)->version));
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
