// What one client may hold of the collector, so that nobody who can connect
// (or holds one device's token) starves the rest (issue 13, attacks 3 and 4):
//   - open connections in total (below the process's file limit) and per
//     client address; at the total cap the oldest idle connection is closed
//     to make room, beyond the per-address cap the new one is refused;
//   - requests in flight per device, so one device's slow bodies never hold
//     every --max-inflight slot (429 + Retry-After to that device only).
// Thread-safe; every method is short and takes one mutex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace picket::collector {

struct ConnectionCaps {
  std::size_t max_connections = 4096;
  std::size_t max_per_address = 256;
  int max_inflight_per_device = 8;
};

// The total cap the process can afford: min(wanted, file limit - reserve),
// reserve being the descriptors SQLite, chunk files and ZooKeeper need.
std::size_t AffordableConnections(std::size_t wanted, std::uint64_t file_limit,
                                  std::uint64_t reserve = 128);

class ConnectionLimits {
 public:
  explicit ConnectionLimits(ConnectionCaps caps) : caps_(caps) {}

  // One open connection; released when the ticket is destroyed.
  class Ticket {
   public:
    Ticket(ConnectionLimits* owner, std::string address) : owner_(owner), address_(std::move(address)) {}
    ~Ticket() { owner_->Close(address_); }
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;

   private:
    ConnectionLimits* owner_;
    std::string address_;
  };

  enum class Verdict { kAdmit, kAdmitAfterEvicting, kRefuseAddress };
  // Counts the connection when admitted. kAdmitAfterEvicting: the total cap
  // is reached; the caller closes its oldest idle connection.
  Verdict Open(const std::string& address, std::unique_ptr<Ticket>* ticket);

  // Per-device in-flight requests.
  bool TryAcquireDevice(const std::string& device);
  void ReleaseDevice(const std::string& device);

  std::size_t open() const;
  const ConnectionCaps& caps() const { return caps_; }

 private:
  void Close(const std::string& address);

  const ConnectionCaps caps_;
  mutable std::mutex mu_;
  std::size_t open_ = 0;
  std::map<std::string, std::size_t, std::less<>> per_address_;
  std::map<std::string, int, std::less<>> per_device_;
};

}  // namespace picket::collector
