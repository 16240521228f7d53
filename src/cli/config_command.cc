#include "cli/config_command.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <utility>

#include "cli/devices_command.h"
#include "cli/operator_support.h"
#include "picket/common/json_limits.h"
#include "picket/zk/config_watcher.h"
#include "picket/zk/zk_session.h"
#include "picket/zk/znode_layout.h"
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

// What picket sync makes of the row, by the same builder: the reason it
// refuses the row, "" when it pushes it. A device row counts as enabled (a
// disabled device's stored config is not pushed, so it is not checked either).
std::string SyncRefusal(const Target& t, const sync::ConfigRow& row) {
  Result<std::string> doc = t.group
                                ? sync::BuildGroupDocument({t.key, row.config, row.version})
                                : sync::BuildDeviceDocument({t.key, "", true, row.config, row.version});
  return doc.ok() ? std::string() : doc.status().message();
}

int RunGet(const Target& t, sync::MariaDbConnection& db) {
  auto row = sync::ReadConfigRow(db, t);
  if (!row.ok()) return Fail(kName, row.status().ToString(), 1);
  if (!*row) return Fail(kName, t.Describe() + ": no row in table " + t.Table(), 1);
  json j = ParseJsonBounded((*row)->config);
  std::string text =
      j.is_discarded() ? (*row)->config : j.dump(2, ' ', false, json::error_handler_t::replace);
  const std::string version = FormatVersion((*row)->version);
  if (const std::string why = SyncRefusal(t, **row); !why.empty()) {
    // The document below is not what the devices run: say so before it, on
    // stderr (stdout stays the row, for `config set --file`) and in a marker line.
    std::fprintf(stderr,
                 "picket config get: %s version %s is REFUSED by picket sync; the devices keep "
                 "the last version it accepted:\n%s\n",
                 t.Describe().c_str(), version.c_str(), why.c_str());
    std::printf("// refused: %s\n", OneLineText(why).c_str());
  }
  std::printf("%s\n", text.c_str());
  return 0;
}

// ---- config effective ------------------------------------------------------------

// The document a device builds from ZooKeeper (group + device node, merged by
// the device's own code) and whether the device reports that it runs it.
struct Effective {
  std::string device, group;
  std::string merged;
  std::int64_t version = -1, group_version = -1;  // -1: no such node
  std::optional<std::int64_t> applied_version, applied_group_version;
  bool alive = false;
  bool runs = false;
};

Result<std::optional<zk::WatchEvent>> ReadNode(zk::ZkSession& zk, const std::string& path) {
  auto node = zk.Get(path);
  if (!node.ok()) {
    if (node.status().code() == StatusCode::kNotFound) return std::optional<zk::WatchEvent>();
    return node.status().WithContext(path);
  }
  return std::optional<zk::WatchEvent>(zk::WatchEvent{path, true, node->data, node->version});
}

Result<Effective> ReadEffective(zk::ZkSession& zk, const zk::ZnodeLayout& layout,
                                const std::string& device, std::optional<std::string> group_flag) {
  Effective e;
  e.device = device;
  auto status = GetIfExists(zk, layout.DeviceStatus(device));
  if (!status.ok()) return status.status();
  e.alive = status->has_value();
  const DeviceView view = zk::BuildDeviceView(device, std::nullopt, *status, std::nullopt);
  e.applied_version = view.applied_version;
  e.applied_group_version = view.applied_group_version;
  e.group = group_flag ? *group_flag : view.group;
  if (e.group.empty()) {
    return Status::NotFound("device " + device +
                            (e.alive ? "'s status names no group"
                                     : " is not running (no status node)") +
                            ": give --group GROUP (the group in its local config file)");
  }
  if (!sync::IsValidNodeName(e.group)) {
    return Status::InvalidArgument("group '" + e.group + "': expected [A-Za-z0-9._-]{1,64}");
  }
  auto group_node = ReadNode(zk, layout.GroupConfig(e.group));
  if (!group_node.ok()) return group_node.status();
  auto device_node = ReadNode(zk, layout.DeviceConfig(device));
  if (!device_node.ok()) return device_node.status();
  auto [merged, version] = zk::ConfigWatcher::Merge(*group_node, *device_node);
  e.merged = std::move(merged);
  e.version = version;
  e.group_version = zk::ConfigWatcher::GroupVersion(*group_node);
  // The device reports the versions it applied (the group's as null when it
  // has no group node); without a device node it applies version 0.
  const std::int64_t want = std::max<std::int64_t>(e.version, 0);
  const bool group_matches = e.group_version >= 0 ? e.applied_group_version == e.group_version
                                                  : !e.applied_group_version.has_value();
  e.runs = e.alive && e.applied_version == want && group_matches;
  return e;
}

int RunEffective(const std::vector<std::string>& positionals, const FlagParser& flags) {
  if (positionals.size() != 2) {
    return Fail(kName, positionals.size() < 2 ? "config effective needs DEVICE"
                                              : "one DEVICE only (got '" + positionals[2] + "' too)",
                2);
  }
  const std::string& device = positionals[1];
  if (!sync::IsValidNodeName(device)) {
    return Fail(kName, "DEVICE '" + device + "': expected [A-Za-z0-9._-]{1,64}", 2);
  }
  int exit_code = 0;
  auto connection = OpenZkOrFail(kName, flags, &exit_code);
  if (!connection) return exit_code;
  const zk::ZnodeLayout layout(connection->address.root);
  auto e = ReadEffective(*connection->session, layout, device, flags.Value("group"));
  if (!e.ok()) return Fail(kName, e.status().message(), e.status().code() == StatusCode::kInvalidArgument ? 2 : 1);
  json doc = ParseJsonBounded(e->merged);
  auto opt = [](std::int64_t v) { return v >= 0 ? json(v) : json(); };
  auto opt2 = [](std::optional<std::int64_t> v) { return v ? json(*v) : json(); };
  if (flags.Has("json")) {
    json out = {{"device", e->device},
                {"group", e->group},
                {"config", doc.is_discarded() ? json(e->merged) : doc},
                {"version", opt(e->version)},
                {"group_version", opt(e->group_version)},
                {"version_text", FormatVersion(e->version >= 0 ? std::optional(e->version) : std::nullopt)},
                {"group_version_text",
                 FormatVersion(e->group_version >= 0 ? std::optional(e->group_version) : std::nullopt)},
                {"alive", e->alive},
                {"applied_version", opt2(e->applied_version)},
                {"applied_group_version", opt2(e->applied_group_version)},
                {"runs_effective", e->runs}};
    std::printf("%s\n", out.dump(-1, ' ', false, json::error_handler_t::replace).c_str());
    return 0;
  }
  auto v = [](std::int64_t x) { return FormatVersion(x >= 0 ? std::optional(x) : std::nullopt); };
  std::printf("// device %s (row version %s) over group %s (row version %s)\n", e->device.c_str(),
              v(e->version).c_str(), e->group.c_str(), v(e->group_version).c_str());
  if (e->runs) {
    std::printf("// %s runs this config\n", e->device.c_str());
  } else if (!e->alive) {
    std::printf("// %s is not running (no status node): it applies this config when it starts\n",
                e->device.c_str());
  } else {
    std::printf("// %s does NOT run this config yet: it runs device version %s, group version %s\n",
                e->device.c_str(), FormatVersion(e->applied_version).c_str(),
                FormatVersion(e->applied_group_version).c_str());
  }
  // The raw "version" (a microsecond stamp) is named readably above; --json keeps it.
  if (doc.is_object()) doc.erase("version");
  std::printf("%s\n", doc.is_discarded()
                          ? e->merged.c_str()
                          : doc.dump(2, ' ', false, json::error_handler_t::replace).c_str());
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
    std::printf("%s: created, version %s (raw %lld)\n", t.Describe().c_str(),
                FormatVersion(write->after).c_str(), static_cast<long long>(write->after));
  } else if (write->after == *write->before) {
    std::printf("%s: unchanged, version %s (raw %lld)\n", t.Describe().c_str(),
                FormatVersion(write->after).c_str(), static_cast<long long>(write->after));
  } else {
    std::printf("%s: version %s (was %s; raw %lld)\n", t.Describe().c_str(),
                FormatVersion(write->after).c_str(), FormatVersion(*write->before).c_str(),
                static_cast<long long>(write->after));
  }
  return 0;
}

}  // namespace

int RunConfigCommand(std::span<char* const> args) {
  // `effective` has its own flags: ZooKeeper's, and --json as a switch (set's
  // --json takes a document).
  const std::vector<std::string_view> zk_values = {"group", "zk", "zk-root", "zk-user",
                                                   "zk-password-file"};
  if (SplitArgs split = SplitPositionals(args, zk_values);
      !split.positionals.empty() && split.positionals[0] == "effective") {
    FlagParser flags(zk_values, {"json", "zk-open-acl"});
    if (auto st = flags.Parse(split.flags); !st.ok()) return Fail(kName, st.message(), 2);
    return RunEffective(split.positionals, flags);
  }
  SplitArgs split = SplitPositionals(args, {"group", "file", "json", "db"});
  FlagParser flags({"group", "file", "json", "db"}, {});
  if (auto st = flags.Parse(split.flags); !st.ok()) return Fail(kName, st.message(), 2);
  if (split.positionals.empty() ||
      (split.positionals[0] != "get" && split.positionals[0] != "set")) {
    return Fail(kName,
                split.positionals.empty()
                    ? "expected get, set or effective (see picket config --help)"
                    : "unknown action '" + split.positionals[0] +
                          "' (expected get, set or effective)",
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
