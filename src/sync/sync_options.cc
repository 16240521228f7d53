#include <cstdlib>

#include "picket/common/command_line.h"
#include "picket/common/log.h"
#include "picket/common/units.h"
#include "picket/sync/sync_command.h"
#include "picket/zk/connect_string.h"

namespace picket::sync {

namespace {

Status CheckRoot(const std::string& root) {
  auto bad = [&](std::string_view why) {
    return Status::InvalidArgument("--root " + root + ": " + std::string(why));
  };
  if (root.size() < 2 || root.front() != '/') return bad("must be an absolute path below /");
  if (root.back() == '/') return bad("must not end with '/'");
  if (root.find("//") != std::string::npos) return bad("empty path component");
  return Status::Ok();
}

Result<std::chrono::milliseconds> DurationFlag(std::string_view flag, const std::string& text,
                                               std::chrono::milliseconds min,
                                               std::chrono::milliseconds max) {
  auto d = ParseDuration(text);
  if (!d.ok()) {
    return Status::InvalidArgument("--" + std::string(flag) + " " + text + ": " +
                                   d.status().message());
  }
  if (*d < min || *d > max) {
    return Status::InvalidArgument("--" + std::string(flag) + " " + text + ": must be between " +
                                   FormatDuration(min) + " and " + FormatDuration(max));
  }
  return *d;
}

}  // namespace

Result<SyncOptions> ParseSyncOptions(std::span<char* const> args) {
  using std::chrono::milliseconds;
  FlagParser flags({"db", "zk", "root", "poll-interval", "reconcile-interval", "session-timeout",
                    "zk-user", "zk-password-file", "log-level"},
                   {"zk-open-acl"});
  PICKET_RETURN_IF_ERROR(flags.Parse(args));
  SyncOptions o;
  auto db = flags.Value("db");
  if (!db) return Status::InvalidArgument("--db is required (mysql://USER:PASS@HOST:PORT/DB)");
  auto url = ParseDbUrl(*db);
  if (!url.ok()) return url.status();
  o.db = std::move(url).value();
  if (const char* password = std::getenv("PICKET_DB_PASSWORD"); password != nullptr) {
    o.db.password = password;
  }
  auto zk = flags.Value("zk");
  if (!zk) return Status::InvalidArgument("--zk is required (HOST:PORT[,HOST:PORT...])");
  PICKET_RETURN_IF_ERROR(zk::CheckZkHosts(*zk));
  o.zk_hosts = *zk;
  auto auth = zk::LoadZkCredentials(flags.Value("zk-user"), "--zk-user",
                                    flags.Value("zk-password-file"), "--zk-password-file");
  if (!auth.ok()) return auth.status();
  o.zk_auth = std::move(auth).value();
  if (auto root = flags.Value("root")) {
    PICKET_RETURN_IF_ERROR(CheckRoot(*root));
    o.root = *root;
  }
  if (auto v = flags.Value("poll-interval")) {
    auto d = DurationFlag("poll-interval", *v, milliseconds(10), milliseconds(1000));
    if (!d.ok()) return d.status();
    o.poll_interval = *d;
  }
  if (auto v = flags.Value("reconcile-interval")) {
    auto d = DurationFlag("reconcile-interval", *v, milliseconds(1000), milliseconds(86'400'000));
    if (!d.ok()) return d.status();
    o.reconcile_interval = *d;
  }
  if (auto v = flags.Value("session-timeout")) {
    auto d = DurationFlag("session-timeout", *v, milliseconds(2000), milliseconds(120'000));
    if (!d.ok()) return d.status();
    o.session_timeout = *d;
  }
  if (auto v = flags.Value("log-level")) {
    auto level = log::ParseLevel(*v);
    if (!level.ok()) {
      return Status::InvalidArgument("--log-level " + *v + ": expected error, warn, info, debug "
                                     "or trace");
    }
    o.log_level = *v;
  }
  PICKET_RETURN_IF_ERROR(zk::RequireZkCredentials(!o.zk_auth.user.empty(), flags.Has("zk-open-acl"),
                                                  "--zk-open-acl", "--zk-user/--zk-password-file"));
  return o;
}

}  // namespace picket::sync
