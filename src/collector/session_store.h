// The collector's session store. Two engines behind this interface: SQLite
// in <data>/sessions.db (WAL, apart from collector.db so that analysis never
// holds the lock chunk PUTs need; sqlite_session_store.h) and MariaDB shared
// by many collectors (collector_sessions, collector_session_packets,
// collector_analysis_state; mariadb_session_store.h).
//   sessions          one row per closed session (analysis::Session), id = API id
//   session_packets   (device, uid, chunk_seq) → the packets' record offsets in
//                     that chunk, zigzag-delta varints (a few bytes a packet)
//   analysis_state    per device: the next chunk seq to analyse, the analyser's
//                     open flows, counters
// A chunk's closed sessions, its packet refs and the state after it are one
// transaction (CommitChunk): a collector killed at any point finds either
// all of them or none, and analyses the chunk again from the state before it.
//
// Many collectors: each device is analysed by one collector at a time, the
// one holding its lease (ClaimDevice: a row in the database with an owner and
// an expiry, renewed with every turn; a dead collector's leases run out and
// another takes the device over from its committed state). CommitChunk also
// checks that the stored state is the one the analysis started from, so a
// collector that lost its lease never commits over another's work.
//
// Threads: one writer (the analysis thread) and any number of readers (API
// threads); every method is safe from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "picket/analysis/analyzer.h"
#include "picket/analysis/session.h"
#include "picket/common/status.h"

namespace picket::sync {
struct DbUrl;
}

namespace picket::collector {

// GET /v1/sessions filters (absent: no filter). Times are µs since the epoch;
// a session matches the range when it overlaps [since_us, until_us).
struct SessionFilter {
  std::optional<std::string> device;
  std::optional<std::int64_t> since_us, until_us;
  std::optional<std::string> ip;  // either end, as inet_ntop writes it
  std::optional<int> port;        // either end
  std::optional<int> proto;
  std::optional<std::string> app, risk, state;
  std::uint64_t after = 0;  // ids above this
};

struct StoredSession {
  std::uint64_t id = 0;
  analysis::Session session;  // device set; packets only when asked for
};

struct AnalysisState {
  std::string device;
  std::uint64_t next_seq = 0;
  std::string blob;  // Analyzer::SaveState; "" before the first chunk
  std::uint64_t chunks_analysed = 0, damaged_chunks = 0, skipped_seqs = 0;
  std::uint64_t sessions = 0;
};

// What analysing one chunk produced, committed as one transaction.
struct AnalysedChunk {
  std::uint64_t seq = 0;
  std::vector<analysis::Session> closed;
  std::vector<analysis::SessionPackets> refs;
  AnalysisState state;  // after the chunk: next_seq already advanced
  // The next_seq of the stored state this chunk was analysed from; nullopt:
  // the device had none. Anything else on record is Conflict (another
  // collector took the device over): nothing is written.
  std::optional<std::uint64_t> previous_next_seq;
};

// Packet offsets of one chunk ⇄ the stored blob (zigzag deltas as LEB128 varints).
std::string EncodeOffsets(const std::vector<std::uint64_t>& offsets);
Result<std::vector<std::uint64_t>> DecodeOffsets(std::string_view blob);

class SessionStore {
 public:
  // The one-machine default: SQLite at `path` (file mode 0600). Errors name the path.
  static Result<std::unique_ptr<SessionStore>> Open(const std::string& path);
  // Many collectors: the collector_session* tables of a MariaDB database
  // (created if missing), on `connections` pooled connections.
  static Result<std::unique_ptr<SessionStore>> OpenMariaDb(const sync::DbUrl& url,
                                                           std::size_t connections);
  virtual ~SessionStore() = default;
  SessionStore(const SessionStore&) = delete;
  SessionStore& operator=(const SessionStore&) = delete;

  // ---- writer ----
  // The saved state of one device; nullopt before its first chunk.
  virtual Result<std::optional<AnalysisState>> LoadState(const std::string& device) = 0;
  // Consecutive chunks of one device in one transaction (analysis commits a
  // few at a time: one state write and one log flush for them all): their
  // sessions and packet refs, the last one's state, checked against the
  // first one's previous_next_seq. Not empty.
  virtual Status CommitChunks(const std::string& device, std::span<const AnalysedChunk> chunks) = 0;
  Status CommitChunk(const std::string& device, const AnalysedChunk& chunk) {
    return CommitChunks(device, {&chunk, 1});
  }
  // CommitChunks of several devices; the answer per device, in their order: Ok, Conflict
  // (its state moved on elsewhere: nothing of it written) or an error. MariaDB commits them
  // in one transaction of a few statements (not ~6 per device); SQLite one by one.
  struct DeviceChunks {
    std::string device;
    std::span<const AnalysedChunk> chunks;  // not empty
  };
  virtual std::vector<Status> CommitDevices(std::span<const DeviceChunks> devices) {
    std::vector<Status> answers;
    for (const DeviceChunks& d : devices) answers.push_back(CommitChunks(d.device, d.chunks));
    return answers;
  }
  // Deletes up to `batch` sessions whose last packet is before `before_us`,
  // with their packet rows, in one transaction; returns how many.
  virtual Result<std::uint64_t> DeleteOlderThan(std::int64_t before_us, std::uint64_t batch) = 0;
  // Takes or renews the lease on analysing `device` for `owner` until
  // now_ms + ttl_ms; false while another owner's lease runs. SQLite (one
  // collector): always true.
  virtual Result<bool> ClaimDevice(const std::string& device, const std::string& owner,
                                   std::int64_t now_ms, std::int64_t ttl_ms) = 0;
  // Ends every lease of `owner` (a clean stop: the others take over at once).
  virtual Status ReleaseDevices(const std::string& owner) = 0;

  // ---- readers ----
  // Up to `max_rows` sessions matching the filter, ascending id, without packets.
  virtual Result<std::vector<StoredSession>> List(const SessionFilter& filter,
                                                  std::uint64_t max_rows) = 0;
  virtual Result<std::optional<StoredSession>> Get(std::uint64_t id, bool with_packets) = 0;
  // Packet refs of a session grouped by chunk, in chunk order.
  virtual Result<std::vector<analysis::PacketRef>> Packets(const std::string& device,
                                                           std::uint64_t uid) = 0;

  // Every device's analysis counters (no state blobs), by device.
  virtual Result<std::vector<AnalysisState>> AllCounters() = 0;

 protected:
  SessionStore() = default;
};

}  // namespace picket::collector
