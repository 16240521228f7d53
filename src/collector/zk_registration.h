// Announces this collector in ZooKeeper (DESIGN.md §3): the ephemeral node
// <root>/collectors/<id> holds {"url","id","started_at"}, so devices find
// collectors with zk::ListCollectorUrls instead of a configured URL.
//
// Registering runs on a thread of its own and retries with jittered backoff,
// so the collector serves while ZooKeeper is unreachable. After a session
// expiry ZkSession re-creates the node by itself.
//
// A node with the same path left by an earlier run (killed before it could
// delete it) vanishes when that run's session expires; registration waits
// that long, then gives up through the failure callback: the id belongs to
// another live process.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "picket/common/status.h"
#include "picket/zk/zk_session.h"

#include "picket/zk/connect_string.h"

namespace picket::collector {

struct ZkRegistrationOptions {
  std::string hosts;  // ZooKeeper connect string
  std::string root;   // "/picket"
  std::string id;     // a valid collector id (IsValidCollectorId)
  std::string url;    // the advertised base URL
  zk::ZkCredentials auth;  // digest credentials; empty user: open ACLs
  int session_timeout_ms = 10'000;
  std::chrono::milliseconds retry_base{100};
  std::chrono::milliseconds retry_cap{2'000};
};

class ZkRegistration {
 public:
  // Runs at most once, on the registration thread, when registering cannot
  // succeed. It must not call Stop().
  using FailureCallback = std::function<void(const Status&)>;

  // Starts the registration thread and returns at once.
  static std::unique_ptr<ZkRegistration> Start(ZkRegistrationOptions options,
                                               FailureCallback on_failure);
  ~ZkRegistration();  // Stop()
  ZkRegistration(const ZkRegistration&) = delete;
  ZkRegistration& operator=(const ZkRegistration&) = delete;

  // Stops retrying, deletes the node if this process created it and closes
  // the session. Idempotent; any thread but the registration thread.
  void Stop();

  const std::string& path() const { return path_; }
  const std::string& data() const { return data_; }

 private:
  ZkRegistration(ZkRegistrationOptions options, FailureCallback on_failure);
  void Run();
  Status TryRegister();
  void Wake();

  const ZkRegistrationOptions options_;
  const FailureCallback on_failure_;
  const std::string path_;
  const std::string data_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool woken_ = false;  // the session connected: retry now

  // Used by the registration thread, then by Stop() after joining it.
  std::unique_ptr<zk::ZkSession> session_;
  bool registered_ = false;
  std::thread thread_;
};

}  // namespace picket::collector
