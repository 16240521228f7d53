// The collector's session store: <data>/sessions.db (WAL), apart from
// collector.db so that analysis never holds the lock chunk PUTs need.
//   sessions          one row per closed session (analysis::Session), id = API id
//   session_packets   (device, uid, chunk_seq) → the packets' record offsets in
//                     that chunk, zigzag-delta varints (a few bytes a packet)
//   analysis_state    per device: the next chunk seq to analyse, the analyser's
//                     open flows, counters
// A chunk's closed sessions, its packet refs and the state after it are one
// transaction (CommitChunk): a collector killed at any point finds either
// all of them or none, and analyses the chunk again from the state before it.
//
// Threads: one writer (the analysis thread) and any number of readers (API
// threads); each side has its own connection behind its own mutex.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "picket/analysis/analyzer.h"
#include "picket/analysis/session.h"
#include "picket/common/status.h"
#include "picket/sqlite/database.h"

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
};

// Packet offsets of one chunk ⇄ the stored blob (zigzag deltas as LEB128 varints).
std::string EncodeOffsets(const std::vector<std::uint64_t>& offsets);
Result<std::vector<std::uint64_t>> DecodeOffsets(std::string_view blob);

class SessionStore {
 public:
  // Opens or creates the database (file mode 0600). Errors name the path.
  static Result<std::unique_ptr<SessionStore>> Open(const std::string& path);
  ~SessionStore();
  SessionStore(const SessionStore&) = delete;
  SessionStore& operator=(const SessionStore&) = delete;

  // ---- writer ----
  // The saved state of one device; nullopt before its first chunk.
  Result<std::optional<AnalysisState>> LoadState(const std::string& device);
  Status CommitChunk(const std::string& device, const AnalysedChunk& chunk);
  // Deletes up to `batch` sessions whose last packet is before `before_us`,
  // with their packet rows, in one transaction; returns how many.
  Result<std::uint64_t> DeleteOlderThan(std::int64_t before_us, std::uint64_t batch);

  // ---- readers ----
  // Up to `max_rows` sessions matching the filter, ascending id, without packets.
  Result<std::vector<StoredSession>> List(const SessionFilter& filter, std::uint64_t max_rows);
  Result<std::optional<StoredSession>> Get(std::uint64_t id, bool with_packets);
  // Packet refs of a session grouped by chunk, in chunk order.
  Result<std::vector<analysis::PacketRef>> Packets(const std::string& device, std::uint64_t uid);

  // Every device's analysis counters (no state blobs), by device.
  Result<std::vector<AnalysisState>> AllCounters();

  const std::string& path() const { return path_; }

 private:
  SessionStore(std::string path, sqlite::Database writer, sqlite::Database reader);
  Result<std::vector<analysis::PacketRef>> PacketsLocked(const std::string& device,
                                                         std::uint64_t uid);

  std::string path_;
  std::mutex writer_mu_;
  sqlite::Database writer_;
  std::mutex reader_mu_;
  sqlite::Database reader_;
};

}  // namespace picket::collector
