#include "picket/collector/collector_command.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <random>

#include "collector/api_handler.h"
#include "collector/chunk_store.h"
#include "collector/collector_db.h"
#include "collector/collector_options.h"
#include "collector/fleet_api.h"
#include "collector/fleet_state.h"
#include "collector/fleet_store.h"
#include "collector/fleet_zk_view.h"
#include "collector/probes.h"
#include "collector/retention.h"
#include "collector/http_server.h"
#include "collector/operator_actions.h"
#include "collector/session_analysis.h"
#include "collector/session_store.h"
#include "collector/token_table.h"
#include "collector/zk_registration.h"
#include "picket/common/clock.h"
#include "picket/common/file_io.h"
#include "picket/common/log.h"
#include "picket/common/units.h"

namespace picket::collector {

namespace {

int StartupError(const Status& st, int exit_code = 1) {
  std::fprintf(stderr, "picket collector: %s\n", st.message().c_str());
  return exit_code;
}

// Creates the data directory if needed (0700: it holds captured traffic and
// the database), tightens one that group or others can enter, and checks it
// is a writable directory.
Status PrepareDataDir(const std::string& dir) {
  const std::string where = "--data " + dir;
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return FromErrno(where + ": cannot create", errno);
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return FromErrno(where, errno);
  if (!S_ISDIR(st.st_mode)) return Status::FailedPrecondition(where + ": not a directory");
  if ((st.st_mode & 077) != 0) {
    if (::chmod(dir.c_str(), st.st_mode & 0700) != 0) {
      return FromErrno(where + ": cannot restrict to mode 0700 (it holds captured traffic)", errno);
    }
    char was[8];
    std::snprintf(was, sizeof was, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    PICKET_LOG(kWarn, "collector", "data directory restricted to 0700: it holds captured traffic",
               {"path", dir}, {"was_mode", std::string(was)});
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) return FromErrno(where + ": not writable", errno);
  return Status::Ok();
}

// This process in the shared store's analysis leases: host, pid and a random
// tag (a restart is a new owner; its predecessor's leases run out).
std::string AnalysisOwnerId() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "collector");
  return std::string(host) + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(std::random_device{}() & 0xffffff);
}

// The port actually bound (--listen may have asked for port 0).
std::uint16_t BoundPort(const HttpServer& server, std::uint16_t fallback) {
  std::string host;
  std::uint16_t port = fallback;
  if (!ParseListenAddress(server.BoundAddress(), &host, &port).ok()) return fallback;
  return port;
}

}  // namespace

int RunCollectorCommand(std::span<char* const> args) {
  auto options = ParseCollectorOptions(args);
  if (!options.ok()) return StartupError(options.status(), 2);
  const CollectorOptions& o = *options;

  std::optional<TokenTable> tokens;
  if (o.tokens_file) {
    auto loaded = TokenTable::LoadFile(*o.tokens_file);
    if (!loaded.ok()) return StartupError(loaded.status().WithContext("--tokens"));
    tokens = std::move(*loaded);
  } else {
    PICKET_LOG(kWarn, "collector", "--insecure-no-auth: every request is accepted without a token");
  }

  // Every file the collector creates (chunks, databases, WAL) is its owner's only.
  ::umask(077);
  if (Status st = PrepareDataDir(o.data_dir); !st.ok()) return StartupError(st);
  const char* chunks_flag = o.chunks_dir.empty() ? "--data" : "--chunks";
  auto store = o.chunks_dir.empty()
                   ? ChunkStore::Open(o.data_dir)
                   : ChunkStore::OpenRoot(o.chunks_dir, o.store ? ChunkStore::Sharing::kShared
                                                                : ChunkStore::Sharing::kOwn);
  if (!store.ok()) return StartupError(store.status().WithContext(chunks_flag));
  // Metadata: <data>/collector.db, or the MariaDB many collectors share (--store),
  // whose chunk rows may only name files under the chunk root.
  auto opened = o.store ? CollectorDb::OpenMariaDb(*o.store, o.store_connections, store->root())
                        : CollectorDb::Open(o.data_dir + "/collector.db");
  if (!opened.ok()) return StartupError(opened.status().WithContext(o.store ? "--store" : "--data"));
  std::unique_ptr<CollectorDb> db = std::move(*opened);
  auto swept =
      store->SweepOrphans([&db](const std::string& device) { return db->ChunkSeqs(device); });
  if (!swept.ok()) return StartupError(swept.status().WithContext(chunks_flag));
  if (swept->files > 0) {
    PICKET_LOG(kWarn, "collector", "chunk files without a row removed at startup",
               {"files", swept->files}, {"bytes", swept->bytes});
  }

  ApiHandler handler(tokens ? &*tokens : nullptr, db.get(), &*store, o.max_body,
                     &SystemClock::Instance(), o.max_followers);

  std::unique_ptr<OperatorActions> actions;
  if (o.db) actions = std::make_unique<OperatorActions>(*o.db, &SystemClock::Instance());
  handler.EnableWeb(o.tls_cert.has_value(), actions.get());

  auto sessions = o.store ? SessionStore::OpenMariaDb(*o.store, o.store_connections)
                         : SessionStore::Open(o.data_dir + "/sessions.db");
  if (!sessions.ok()) return StartupError(sessions.status().WithContext(o.store ? "--store" : "--data"));
  std::unique_ptr<SessionAnalysis> analysis;
  if (o.sessions) {
    SessionAnalysisOptions ao;
    ao.owner = AnalysisOwnerId();
    ao.gap_wait = o.session_gap_wait;
    ao.retention = o.session_retention;
    ao.analyzer.tcp_idle_us = o.session_tcp_idle.count() * 1000;
    ao.analyzer.udp_idle_us = o.session_udp_idle.count() * 1000;
    ao.analyzer.icmp_idle_us = o.session_icmp_idle.count() * 1000;
    auto created = SessionAnalysis::Create(ao, db.get(), sessions->get(), &SystemClock::Instance());
    if (!created.ok()) return StartupError(created.status().WithContext("session analysis"));
    analysis = std::move(*created);
  }
  SessionAnalysis* raw_analysis = analysis.get();
  DeviceQuota quota({o.device_bytes_per_minute, o.device_rows_per_minute},
                    &SystemClock::Instance());
  handler.EnableQuota(&quota);
  handler.EnableDiskQuota(o.device_disk_quota);
  handler.EnableSessions(sessions->get());
  // Fleet state: heartbeats in memory and <data>/fleet.db, the ZooKeeper view.
  auto fleet_store = FleetStore::Open(o.data_dir + "/fleet.db", o.heartbeat_retention);
  if (!fleet_store.ok()) return StartupError(fleet_store.status().WithContext("--data"));
  FleetState fleet_state(fleet_store->get(), &SystemClock::Instance());
  if (Status st = fleet_state.Restore(); !st.ok()) return StartupError(st.WithContext("fleet.db"));
  FleetFlusher fleet_flusher(fleet_store->get(), &SystemClock::Instance());
  std::unique_ptr<ZkFleetView> zk_view;
  if (o.zk_hosts) {
    zk_view = std::make_unique<ZkFleetView>(
        ZkViewOptions{*o.zk_hosts, o.zk_root, o.zk_auth, std::chrono::milliseconds(2000)},
        &SystemClock::Instance());
  }
  FleetServices fleet;
  fleet.state = &fleet_state;
  fleet.store = fleet_store->get();
  fleet.zk = zk_view.get();
  fleet.data_dir = o.data_dir;
  fleet.min_free_disk = *ParseDiskThreshold(o.min_free_disk);  // checked by the parser
  if (o.sessions) {
    fleet.analysis_backlog = MakeAnalysisBacklog(db.get(), sessions->get(), &SystemClock::Instance());
  }

  // Retention: --retain-bytes as a share of the file system is resolved once, here.
  RetentionPolicy retain;
  retain.max_age_ms = o.retain_age.count();
  retain.device_bytes = o.retain_device_bytes;
  retain.total_bytes = o.retain_bytes;
  if (o.retain_bytes_percent) {
    auto disk = DiskSpaceOf(store->root());
    if (!disk.ok()) return StartupError(disk.status().WithContext("--retain-bytes"));
    const double share = *o.retain_bytes_percent / 100.0;
    retain.total_bytes = static_cast<std::uint64_t>(static_cast<double>(disk->total_bytes) * share);
  }
  Retention::AnalysisCursors cursors;
  if (o.sessions) {
    SessionStore* raw_sessions = sessions->get();
    cursors = [raw_sessions]() -> Result<std::map<std::string, std::uint64_t>> {
      auto all = raw_sessions->AllCounters();
      if (!all.ok()) return all.status();
      std::map<std::string, std::uint64_t> out;
      for (const AnalysisState& s : *all) out[s.device] = s.next_seq;
      return out;
    };
  }
  ChunkPins pins;  // session pcaps being streamed keep their chunks
  handler.EnableChunkPins(&pins);
  Retention retention(retain, db.get(), std::move(cursors), &SystemClock::Instance(),
                      o.retain_interval, 256, &pins);
  fleet.retention = &retention.counters();
  handler.OnChunkStored([raw_analysis, &retention](const std::string& device, std::uint64_t bytes) {
    if (raw_analysis != nullptr) raw_analysis->Notify(device);
    retention.OnStored(bytes);
  });
  handler.EnableFleet(&fleet);

  HttpServerOptions server_options;
  server_options.host = o.listen_host;
  server_options.port = o.listen_port;
  server_options.threads = o.threads;
  server_options.max_inflight = o.max_inflight;
  // The total cap stays below the file limit, so accept() never meets EMFILE
  // and SQLite, chunk files and ZooKeeper keep their descriptors.
  struct rlimit files {};
  const std::uint64_t file_limit =
      ::getrlimit(RLIMIT_NOFILE, &files) == 0 ? static_cast<std::uint64_t>(files.rlim_cur) : 1024;
  const std::size_t affordable = AffordableConnections(4096, file_limit);
  if (o.max_connections && *o.max_connections > affordable) {
    return StartupError(Status::InvalidArgument(
        "--max-connections " + std::to_string(*o.max_connections) + ": the file limit (ulimit -n) is " +
        std::to_string(file_limit) + ", which leaves room for " + std::to_string(affordable) +
        " connections; raise the limit or lower the flag"));
  }
  server_options.caps.max_connections = o.max_connections.value_or(affordable);
  server_options.caps.max_per_address = o.max_connections_per_address;
  server_options.caps.max_inflight_per_device = o.max_inflight_per_device;
  server_options.tls_cert = o.tls_cert;
  server_options.tls_key = o.tls_key;
  server_options.client_ca = o.client_ca;
  // SIGHUP reloads the tokens file: a bad file keeps the table in use.
  server_options.on_reload = [&tokens, &o] {
    if (!tokens) {
      PICKET_LOG(kInfo, "collector", "SIGHUP: nothing to reload (--insecure-no-auth)");
      return;
    }
    auto fresh = TokenTable::LoadFile(*o.tokens_file);
    if (!fresh.ok()) {
      PICKET_LOG(kError, "collector",
                 "SIGHUP: tokens file not reloaded, the old tokens stay in use",
                 {"file", *o.tokens_file}, {"error", fresh.status().message()});
      return;
    }
    const std::size_t count = fresh->size();
    tokens->Replace(std::move(*fresh));
    PICKET_LOG(kInfo, "collector", "SIGHUP: tokens file reloaded", {"file", *o.tokens_file},
               {"tokens", static_cast<std::uint64_t>(count)});
  };
  auto server = HttpServer::Create(server_options, &handler);
  if (!server.ok()) return StartupError(server.status());

  const std::string url = (*server)->BaseUrl();
  if (o.ready_file) {
    if (Status st = WriteFileAtomically(*o.ready_file, url + "\n"); !st.ok()) {
      return StartupError(st.WithContext("--ready-file"));
    }
  }
  PICKET_LOG(kInfo, "collector", "listening", {"address", (*server)->BoundAddress()}, {"url", url},
             {"data", o.data_dir}, {"auth", tokens ? "tokens" : "none"},
             {"tokens", tokens ? tokens->size() : 0}, {"max_body", FormatSize(o.max_body)},
             {"max_inflight", o.max_inflight},
             {"device_disk_quota", o.device_disk_quota ? FormatSize(o.device_disk_quota) : "off"},
             {"client_ca", o.client_ca.value_or("none")}, {"max_followers", o.max_followers},
             {"max_connections", static_cast<std::uint64_t>(server_options.caps.max_connections)},
             {"threads", o.threads}, {"sessions", o.sessions ? "on" : "off"},
             {"session_retention", FormatDuration(o.session_retention)},
             {"session_gap_wait", FormatDuration(o.session_gap_wait)},
             {"heartbeat_retention", FormatDuration(o.heartbeat_retention)},
             {"retain_age", o.retain_age.count() > 0 ? FormatDuration(o.retain_age) : "off"},
             {"retain_bytes", retain.total_bytes > 0 ? FormatSize(retain.total_bytes) : "off"},
             {"retain_device_bytes",
              retain.device_bytes > 0 ? FormatSize(retain.device_bytes) : "off"},
             {"min_free_disk", o.min_free_disk},
             {"operator_db", o.db ? o.db->Redacted() : std::string("none")},
             {"store", o.store ? o.store->Redacted() : std::string("sqlite")},
             {"chunks", store->root()});
  // After "listening": a startup error stays the one line a failed start prints.
  if (ChunkStore::OnExt4WithoutJournal(o.data_dir)) {
    PICKET_LOG(kWarn, "collector",
               "--data is on an ext4 without a journal: after deletions (retention) new chunk "
               "files cost more for 60 s; a journaled ext4 or XFS is better (config/OPERATOR.md)",
               {"path", o.data_dir});
  }

  // Registration fails for good only when the id stays taken: stop serving
  // and exit 1, like any other startup error.
  std::mutex failure_mu;
  std::optional<Status> registration_failure;
  std::unique_ptr<ZkRegistration> registration;
  if (o.zk_hosts) {
    ZkRegistrationOptions zk;
    zk.hosts = *o.zk_hosts;
    zk.root = o.zk_root;
    zk.auth = o.zk_auth;
    zk.url = o.advertise_url;
    zk.id = o.collector_id.empty() ? DefaultCollectorId(BoundPort(**server, o.listen_port))
                                   : o.collector_id;
    HttpServer* raw_server = server->get();
    registration = ZkRegistration::Start(
        zk, [&failure_mu, &registration_failure, raw_server](const Status& st) {
          {
            std::lock_guard lock(failure_mu);
            registration_failure = st;
          }
          raw_server->Stop();
        });
    PICKET_LOG(kInfo, "collector", "registering in ZooKeeper", {"hosts", zk.hosts},
               {"path", registration->path()}, {"url", zk.url});
  }

  if (analysis) analysis->Start();
  fleet_flusher.Start();
  retention.Start();
  if (zk_view) zk_view->Start();
  (*server)->Run();
  if (zk_view) zk_view->Stop();
  retention.Stop();  // ends after the batch in hand
  fleet_flusher.Stop();  // the last second of heartbeats reaches fleet.db
  if (analysis) analysis->Stop();  // finishes the chunk in hand; the rest resumes next start
  if (registration) registration->Stop();  // deletes the node, closes the session
  PICKET_LOG(kInfo, "collector", "stopped");
  std::lock_guard lock(failure_mu);
  if (registration_failure) return StartupError(*registration_failure);
  return 0;
}

}  // namespace picket::collector
