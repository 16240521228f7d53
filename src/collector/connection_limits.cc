#include "collector/connection_limits.h"

#include <algorithm>

namespace picket::collector {

std::size_t AffordableConnections(std::size_t wanted, std::uint64_t file_limit,
                                  std::uint64_t reserve) {
  const std::uint64_t room = file_limit > reserve + 16 ? file_limit - reserve : 16;
  return static_cast<std::size_t>(std::min<std::uint64_t>(wanted, room));
}

ConnectionLimits::Verdict ConnectionLimits::Open(const std::string& address,
                                                 std::unique_ptr<Ticket>* ticket) {
  std::lock_guard lock(mu_);
  std::size_t& mine = per_address_[address];
  if (mine >= caps_.max_per_address) return Verdict::kRefuseAddress;
  ++mine;
  ++open_;
  *ticket = std::make_unique<Ticket>(this, address);
  return open_ > caps_.max_connections ? Verdict::kAdmitAfterEvicting : Verdict::kAdmit;
}

void ConnectionLimits::Close(const std::string& address) {
  std::lock_guard lock(mu_);
  --open_;
  auto it = per_address_.find(address);
  if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
}

bool ConnectionLimits::TryAcquireDevice(const std::string& device) {
  std::lock_guard lock(mu_);
  int& n = per_device_[device];
  if (n >= caps_.max_inflight_per_device) return false;
  ++n;
  return true;
}

void ConnectionLimits::ReleaseDevice(const std::string& device) {
  std::lock_guard lock(mu_);
  auto it = per_device_.find(device);
  if (it != per_device_.end() && --it->second <= 0) per_device_.erase(it);
}

std::size_t ConnectionLimits::open() const {
  std::lock_guard lock(mu_);
  return open_;
}

}  // namespace picket::collector
