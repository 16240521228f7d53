// `picket sync`: mirrors MariaDB config rows into ZooKeeper (DESIGN.md §4).
// The CLI's command table calls RunSyncCommand; everything else stays inside
// the sync module.
#pragma once

#include <chrono>
#include <span>
#include <string>
#include <string_view>

#include "picket/common/status.h"
#include "picket/sync/db_url.h"
#include "picket/zk/connect_string.h"
#include "picket/zk/znode_layout.h"

namespace picket::sync {

inline constexpr std::string_view kSyncSummary =
    "mirror device, group and scan-job rows from MariaDB into ZooKeeper";

inline constexpr std::string_view kSyncUsage =
    "sync --db mysql://USER:PASS@HOST:PORT/DB --zk HOSTS [--root PATH]\n"
    "            [--poll-interval DURATION] [--reconcile-interval DURATION]\n"
    "            [--session-timeout DURATION]\n"
    "            (--zk-user USER --zk-password-file FILE | --zk-open-acl)\n"
    "            [--log-level LEVEL]\n\n"
    "  --db URL                 MariaDB holding config/schema.sql's tables (TCP; user and\n"
    "                           password may be %-encoded; PICKET_DB_PASSWORD overrides the\n"
    "                           password so it stays out of `ps`)\n"
    "  --zk HOSTS               HOST:PORT[,HOST:PORT...][/chroot]\n"
    "  --root PATH              ZooKeeper root of the picket tree (default /picket)\n"
    "  --poll-interval D        how often config_changes is polled (default 250ms, max 1s);\n"
    "                           with MariaDB's binary log on and REPLICATION SLAVE granted,\n"
    "                           a commit is also synced at once (config/OPERATOR.md §3)\n"
    "  --reconcile-interval D   full reconcile of every row (default 60s)\n"
    "  --session-timeout D      ZooKeeper session timeout: how fast a standby takes over\n"
    "                           from a leader whose host died or froze (default 10s)\n"
    "  --zk-user USER           the fleet's admin ZooKeeper identity (digest; the same for\n"
    "                           sync, collector and CLI). After every full reconcile sync\n"
    "                           re-applies each node's ACL (config/OPERATOR.md \"ZooKeeper\n"
    "                           identities\"): devices read only their own and their group's\n"
    "                           config, write only their own status, share jobs as\n"
    "                           picket-fleet; nodes made before credentials were turned on\n"
    "                           are re-secured too\n"
    "  --zk-password-file FILE  the file holding that user's password (one line, mode 0600)\n"
    "  --zk-open-acl            UNSAFE: run without credentials, every node world:anyone\n"
    "                           (refused unless given; logged as a warning)\n"
    "  --log-level LEVEL        error|warn|info|debug|trace (default info)\n\n"
    "Several instances may run: one is elected leader (<root>/sync/leader-*) and writes,\n"
    "the others stand by. Rows are reconciled at start, on leadership, on a new ZooKeeper\n"
    "session and every --reconcile-interval; between reconciles changed rows are pushed\n"
    "within about one poll interval. A row whose config fails the device validator is\n"
    "not pushed; <root>/devices/<id>/sync (groups/<name>/sync, sync/job-errors/<id>)\n"
    "says why. SIGTERM or SIGINT resigns leadership and exits 0.\n\n"
    "The leader also holds a MariaDB named lock (GET_LOCK) and names its connection in its\n"
    "election node. MariaDB frees the lock when that connection closes, so a standby that\n"
    "sees it free deposes a crashed leader within about two poll intervals instead of\n"
    "waiting for the session to expire. Connect directly to MariaDB, not through a pooling\n"
    "proxy that could keep or share the lock's connection.\n";

struct SyncOptions {
  DbUrl db;
  std::string zk_hosts;
  zk::ZkCredentials zk_auth;  // empty user: open ACLs
  std::string root = std::string(zk::kDefaultRoot);
  std::chrono::milliseconds poll_interval{250};
  std::chrono::milliseconds reconcile_interval{60'000};
  std::chrono::milliseconds session_timeout{10'000};
  std::chrono::milliseconds gap_grace{60'000};
  std::string log_level = "info";
};

// InvalidArgument naming the flag and its value (never the password).
Result<SyncOptions> ParseSyncOptions(std::span<char* const> args);

// Runs until SIGTERM/SIGINT. Exit codes: 0 after a clean shutdown, 2 for a bad flag.
int RunSyncCommand(std::span<char* const> args);

}  // namespace picket::sync
