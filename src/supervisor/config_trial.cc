#include "config_trial.h"

namespace picket::supervisor {

void ConfigTrial::Begin(std::int64_t version) {
  version_ = version;
  ready_at_.reset();
  failures_.clear();
}

void ConfigTrial::End() {
  version_.reset();
  ready_at_.reset();
  failures_.clear();
}

void ConfigTrial::OnReady(std::int64_t version, MonoTime now) {
  if (version_ && *version_ == version) ready_at_ = now;
}

bool ConfigTrial::OnFailure(MonoTime now) {
  ready_at_.reset();
  if (!version_) return false;
  failures_.push_back(now);
  while (!failures_.empty() && now - failures_.front() > policy_.failure_window) {
    failures_.pop_front();
  }
  return static_cast<int>(failures_.size()) >= policy_.max_failures;
}

bool ConfigTrial::ProvenAt(MonoTime now) const {
  return version_ && ready_at_ && now - *ready_at_ >= policy_.proven_after;
}

std::optional<std::chrono::milliseconds> ConfigTrial::UntilProven(MonoTime now) const {
  if (!version_ || !ready_at_) return std::nullopt;
  const auto ran = std::chrono::duration_cast<std::chrono::milliseconds>(now - *ready_at_);
  return ran >= policy_.proven_after ? std::chrono::milliseconds(0) : policy_.proven_after - ran;
}

}  // namespace picket::supervisor
