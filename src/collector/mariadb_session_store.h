// SessionStore on MariaDB: the collector_session* tables of one database that
// several collectors share (sessions, their packet refs, each device's
// analysis state and the analysis leases). A small pool of connections, each
// used by one thread at a time. CommitChunk locks the device's state row (or
// creates it) before anything else, so two collectors committing for one
// device queue behind that lock and the second finds the state moved on.
// InnoDB only, a primary key on every table, no table locks: Galera-compatible.
#pragma once

#include <atomic>
#include <memory>

#include "collector/mariadb_pool.h"
#include "collector/session_store.h"

namespace picket::collector {

class MariaDbSessionStore final : public SessionStore {
 public:
  // Connects, creates the tables when missing (harmless when several
  // collectors open at once) and refuses a newer schema version.
  static Result<std::unique_ptr<MariaDbSessionStore>> Open(const sync::DbUrl& url,
                                                           std::size_t connections);
  ~MariaDbSessionStore() override;

  Result<std::optional<AnalysisState>> LoadState(const std::string& device) override;
  // ResourceExhausted (naming the device and the size) when one of its
  // statements would not fit the server's max_allowed_packet.
  Status CommitChunks(const std::string& device, std::span<const AnalysedChunk> chunks) override;
  using SessionStore::CommitChunk;
  // One transaction for all: a locking read of their state rows, then one statement each for
  // the sessions, the packet refs and the states. A device whose state moved on is Conflict
  // and left out; one whose state would not fit max_allowed_packet is ResourceExhausted and
  // left out. A statement the server refuses otherwise: the devices go one by one.
  std::vector<Status> CommitDevices(std::span<const DeviceChunks> devices) override;
  Result<std::uint64_t> DeleteOlderThan(std::int64_t before_us, std::uint64_t batch) override;
  Result<bool> ClaimDevice(const std::string& device, const std::string& owner, std::int64_t now_ms,
                           std::int64_t ttl_ms) override;
  Status ReleaseDevices(const std::string& owner) override;
  Result<std::vector<StoredSession>> List(const SessionFilter& filter,
                                          std::uint64_t max_rows) override;
  Result<std::optional<StoredSession>> Get(std::uint64_t id, bool with_packets) override;
  Result<std::vector<analysis::PacketRef>> Packets(const std::string& device,
                                                   std::uint64_t uid) override;
  Result<std::vector<AnalysisState>> AllCounters() override;

 private:
  using Lease = MariaDbConnectionPool::Lease;
  MariaDbSessionStore(const sync::DbUrl& url, std::size_t connections) : pool_(url, connections) {}
  Status CreateSchema();
  // `sql` on `conn`, or ResourceExhausted when the server would refuse its size.
  Status ExecuteWithin(Lease& conn, const std::string& sql, const std::string& device,
                       std::size_t state_bytes);
  // The VALUES rows of a chunk's closed sessions and of its packet refs.
  static void SessionRows(Lease& conn, const std::string& device, const AnalysedChunk& chunk,
                          std::vector<std::string>& rows);
  static void PacketRefRows(Lease& conn, const std::string& device, const AnalysedChunk& chunk,
                            std::vector<std::string>& rows);
  // `prefix` + rows + `suffix` in statements of about kMaxInsertBytes, each within the
  // server's max_allowed_packet (`device`, `state_bytes`: for the error).
  Status InsertRows(Lease& conn, std::string_view prefix, const std::vector<std::string>& rows,
                    std::string_view suffix, const std::string& device, std::size_t state_bytes);
  // CommitDevices' transaction; false answers are filled in as it goes.
  Status CommitTogether(Lease& conn, std::span<const DeviceChunks> devices,
                        std::vector<Status>& answers);

  MariaDbConnectionPool pool_;
  // The server's max_allowed_packet, read at Open.
  std::atomic<std::uint64_t> max_packet_{16u << 20};
};

}  // namespace picket::collector
