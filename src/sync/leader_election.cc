#include "sync/leader_election.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "picket/common/log.h"

namespace picket::sync {

namespace {

std::optional<std::uint64_t> CandidateSeq(std::string_view name) {
  constexpr std::string_view kPrefix = zk::ZnodeLayout::kLeaderPrefix;
  if (!name.starts_with(kPrefix)) return std::nullopt;
  std::string_view digits = name.substr(kPrefix.size());
  if (digits.size() != 10) return std::nullopt;  // also skips leader-seq
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return value;
}

std::string Hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

}  // namespace

LeaderElection::LeaderElection(zk::ZkSession* session, zk::ZnodeLayout layout,
                               std::function<void()> wake)
    : session_(session), layout_(std::move(layout)), wake_(std::move(wake)) {}

LeaderElection::~LeaderElection() {
  if (watch_id_ != 0) session_->Unwatch(watch_id_);
}

Result<std::uint64_t> LeaderElection::NextSequence() {
  const std::string path = layout_.LeaderSequence();
  for (int attempt = 0; attempt < 16; ++attempt) {
    auto node = session_->Get(path);
    if (!node.ok()) {
      if (node.status().code() != StatusCode::kNotFound) return node.status();
      Status st = session_->Create(path, "0");
      if (!st.ok() && st.code() != StatusCode::kAlreadyExists) return st;
      continue;
    }
    std::uint64_t value = 0;
    std::from_chars(node->data.data(), node->data.data() + node->data.size(), value);
    const std::uint64_t next = (value + 1) % 10'000'000'000ull;
    Status st = session_->Set(path, std::to_string(next), node->version);
    if (st.code() == StatusCode::kConflict) continue;  // another candidate took it
    if (!st.ok()) return st;
    return next;
  }
  return Status::Conflict("allocate " + path + ": too many concurrent candidates");
}

Result<bool> LeaderElection::Check() {
  const std::int64_t session_id = session_->session_id();
  if (!node_.empty() && node_session_ != session_id) {
    // The session that held our node expired: the node went with it.
    node_.clear();
  }
  if (!node_.empty()) {
    auto exists = session_->Exists(layout_.LeaderCandidate(node_));
    if (!exists.ok()) return exists.status();
    if (!*exists) {
      PICKET_LOG(kWarn, "sync", "election node vanished, standing again", {"node", node_});
      node_.clear();
    }
  }
  if (node_.empty()) {
    PICKET_RETURN_IF_ERROR(session_->EnsurePath(layout_.Sync()));
    auto seq = NextSequence();
    if (!seq.ok()) return seq.status();
    const std::string name = zk::ZnodeLayout::LeaderCandidateName(*seq);
    node_session_ = session_id;
    Status st = session_->CreateEphemeral(layout_.LeaderCandidate(name), NodeData(std::nullopt),
                                          zk::ZkSession::Lifetime::kThisSession);
    // The sequence is ours alone, so AlreadyExists means an earlier attempt of
    // ours landed before its reply was lost.
    if (!st.ok() && st.code() != StatusCode::kAlreadyExists) return st;
    node_ = name;
    PICKET_LOG(kInfo, "sync", "standing for leader", {"node", layout_.LeaderCandidate(node_)});
  }

  auto children = session_->GetChildren(layout_.Sync());
  if (!children.ok()) return children.status();
  const auto mine = CandidateSeq(node_);
  std::string predecessor;
  std::uint64_t predecessor_seq = 0;
  lowest_.clear();
  std::uint64_t lowest_seq = 0;
  for (const auto& child : *children) {
    auto seq = CandidateSeq(child);
    if (!seq) continue;
    if (lowest_.empty() || *seq < lowest_seq) {
      lowest_ = child;
      lowest_seq = *seq;
    }
    if (*seq >= *mine) continue;
    if (predecessor.empty() || *seq > predecessor_seq) {
      predecessor = child;
      predecessor_seq = *seq;
    }
  }
  if (predecessor.empty()) {
    if (watch_id_ != 0) {
      session_->Unwatch(watch_id_);
      watch_id_ = 0;
      watched_.clear();
    }
    return true;
  }
  WatchPredecessor(layout_.LeaderCandidate(predecessor));
  return false;
}

void LeaderElection::WatchPredecessor(const std::string& path) {
  if (watched_ == path && watch_id_ != 0) return;
  if (watch_id_ != 0) session_->Unwatch(watch_id_);
  watched_ = path;
  watch_id_ = session_->Watch(path, [wake = wake_](const zk::WatchEvent& event) {
    if (!event.exists) wake();
  });
}

void LeaderElection::Resign() {
  if (watch_id_ != 0) {
    session_->Unwatch(watch_id_);
    watch_id_ = 0;
    watched_.clear();
  }
  if (node_.empty() || node_session_ != session_->session_id()) return;
  Status st = session_->Delete(layout_.LeaderCandidate(node_));
  if (!st.ok() && st.code() != StatusCode::kNotFound) {
    PICKET_LOG(kWarn, "sync", "could not delete election node", {"node", node_}, {"error", st});
  }
  node_.clear();
}

std::string LeaderElection::NodeData(std::optional<std::int64_t> db_connection) const {
  nlohmann::json data = {{"host", Hostname()},
                         {"pid", static_cast<long long>(getpid())},
                         {"session", node_session_}};
  if (db_connection) data["db_connection"] = *db_connection;
  return data.dump();
}

Status LeaderElection::Advertise(std::int64_t db_connection) {
  if (node_.empty()) return Status::FailedPrecondition("not standing for leader");
  return session_->Set(layout_.LeaderCandidate(node_), NodeData(db_connection));
}

Result<std::optional<LeaderElection::Leader>> LeaderElection::OtherLeader() {
  // The line as the last Check() listed it: a standby calls this right after.
  if (lowest_.empty() || lowest_ == node_) return std::optional<Leader>();
  Leader leader{layout_.LeaderCandidate(lowest_), -1, std::nullopt};
  auto node = session_->Get(leader.path);
  if (!node.ok()) {
    if (node.status().code() == StatusCode::kNotFound) return std::optional<Leader>();
    return node.status();
  }
  leader.version = node->version;
  auto data = nlohmann::json::parse(node->data, nullptr, false);
  if (data.is_object() && data.contains("db_connection") &&
      data["db_connection"].is_number_integer()) {
    leader.db_connection = data["db_connection"].get<std::int64_t>();
  }
  return std::optional<Leader>(std::move(leader));
}

Status LeaderElection::Depose(const Leader& leader) {
  Status st = session_->Delete(leader.path, leader.version);
  // Gone already (another standby, or the session expired), or it changed: nothing to do.
  if (st.code() == StatusCode::kNotFound || st.code() == StatusCode::kConflict) return Status::Ok();
  return st;
}

}  // namespace picket::sync
