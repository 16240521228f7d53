#include "collector/zk_registration.h"

#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "picket/common/backoff.h"
#include "picket/common/clock.h"
#include "picket/common/log.h"
#include "picket/zk/collector_directory.h"
#include "picket/zk/fleet_acl.h"
#include "picket/zk/znode_layout.h"

namespace picket::collector {

ZkRegistration::ZkRegistration(ZkRegistrationOptions options, FailureCallback on_failure)
    : options_(std::move(options)),
      on_failure_(std::move(on_failure)),
      path_(zk::ZnodeLayout(options_.root).Collector(options_.id)),
      // started_at also tells our own node from an earlier run's (see TryRegister).
      data_(nlohmann::ordered_json{{"url", options_.url},
                                   {"id", options_.id},
                                   {"started_at", FormatRfc3339Millis(SystemClock::Instance().WallMillis())}}
                .dump()) {}

std::unique_ptr<ZkRegistration> ZkRegistration::Start(ZkRegistrationOptions options,
                                                      FailureCallback on_failure) {
  std::unique_ptr<ZkRegistration> r(new ZkRegistration(std::move(options), std::move(on_failure)));
  r->thread_ = std::thread([raw = r.get()] { raw->Run(); });
  return r;
}

ZkRegistration::~ZkRegistration() { Stop(); }

void ZkRegistration::Wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

void ZkRegistration::Run() {
  JitteredBackoff backoff(options_.retry_base, options_.retry_cap);
  // An earlier run's node goes when its session expires: within the session
  // timeout, plus up to a server tick (2 s by default) for the expiry check.
  const auto taken_limit =
      std::chrono::milliseconds(options_.session_timeout_ms) + std::chrono::seconds(2);
  MonoTime give_up_at = MonoTime::max();  // set when the node is first found taken
  std::string last_error;
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      woken_ = false;
    }
    Status st = TryRegister();
    if (st.ok()) {
      PICKET_LOG(kInfo, "collector", "registered in ZooKeeper", {"path", path_},
                 {"url", options_.url}, {"hosts", options_.hosts});
      return;
    }
    if (st.code() == StatusCode::kAlreadyExists) {
      const MonoTime now = SystemClock::Instance().MonotonicNow();
      if (give_up_at == MonoTime::max()) give_up_at = now + taken_limit;
      if (now >= give_up_at) {
        Status failure = Status::AlreadyExists(
            "ZooKeeper node " + path_ + " is held by another live session (another collector " +
            "with --collector-id " + options_.id + "?); it did not go away within " +
            std::to_string(taken_limit.count()) + " ms");
        PICKET_LOG(kError, "collector", "cannot register in ZooKeeper", {"error", failure});
        if (on_failure_) on_failure_(failure);
        return;
      }
    } else {
      give_up_at = MonoTime::max();
    }
    if (st.message() != last_error) {  // log on change, not on every retry
      PICKET_LOG(kWarn, "collector", "ZooKeeper registration pending, retrying", {"error", st},
                 {"path", path_});
      last_error = st.message();
    }
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, backoff.Next(), [this] { return stopping_ || woken_; });
  }
}

Status ZkRegistration::TryRegister() {
  if (!session_) {
    auto opened = zk::ZkSession::Open(
        {options_.hosts, options_.session_timeout_ms, options_.auth.user, options_.auth.password});
    if (!opened.ok()) return opened.status().WithContext("--zk " + options_.hosts);
    session_ = std::move(*opened);
    session_->SetStateListener([this](zk::SessionState state) {
      if (state == zk::SessionState::kConnected) Wake();
    });
  }
  if (zk::SessionState state = session_->state(); state != zk::SessionState::kConnected) {
    return Status::Unavailable("not connected to ZooKeeper " + options_.hosts + " (session " +
                               std::string(zk::SessionStateName(state)) + ")");
  }
  if (!options_.auth.user.empty()) {
    // Our node gets the fleet's ACL: devices read it, only the admin writes.
    auto ids = zk::PrepareAdminAcls(*session_, zk::ZnodeLayout(options_.root), options_.auth.user,
                                    options_.auth.password);
    if (!ids.ok()) return ids.status();
  }
  PICKET_RETURN_IF_ERROR(session_->EnsurePath(zk::ZnodeLayout(options_.root).Collectors()));
  Status st = session_->CreateEphemeral(path_, data_);
  if (st.code() == StatusCode::kAlreadyExists) {
    // Our own node when an earlier create succeeded but its reply was lost
    // with the connection: same data, started_at included. Make it again so
    // the session re-creates it after an expiry.
    auto existing = session_->Get(path_);
    if (existing.ok() && existing->data == data_) {
      PICKET_RETURN_IF_ERROR(session_->Delete(path_));
      st = session_->CreateEphemeral(path_, data_);
    }
  }
  if (st.code() == StatusCode::kAlreadyExists) {
    return Status::AlreadyExists(path_ + " exists already (an earlier run whose session has " +
                                 "not expired yet, or another collector with this id)");
  }
  if (st.ok()) registered_ = true;
  return st;
}

void ZkRegistration::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (!session_) return;
  // Closing the session would drop the node as well; deleting first says so
  // explicitly and keeps it out of the session's re-create list.
  if (registered_ && session_->state() == zk::SessionState::kConnected) {
    if (Status st = session_->Delete(path_); st.ok() || st.code() == StatusCode::kNotFound) {
      PICKET_LOG(kInfo, "collector", "unregistered from ZooKeeper", {"path", path_});
    } else {
      PICKET_LOG(kWarn, "collector", "cannot delete the ZooKeeper node; it goes with the session",
                 {"error", st});
    }
  }
  registered_ = false;
  session_.reset();
}

}  // namespace picket::collector
