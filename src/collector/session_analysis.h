// Session analysis at the collector, off the request path: each device's
// chunks go through one analysis::Analyzer in seq order, and after every
// chunk its closed sessions, packet refs and the analyser's open flows are
// committed to the SessionStore in one transaction (see session_store.h).
//
// Order and gaps. Uploads run in parallel, so seq n+1 may be stored before n,
// and chunks the device evicted never arrive. A device waits for its next seq;
// when that seq is missing but a later one is stored and has waited
// gap_wait (by its received_at_ms), the missing seqs are skipped (counted)
// and the open sessions end with "gap" before the later chunk. A chunk whose
// row records gap_before_ms > 0 (the device's capture was down) also ends
// them with "gap" first. A damaged chunk (file missing or a capture error) is
// analysed up to the damage, logged with its device, seq and offset, counted,
// and analysis goes on with the next seq.
//
// Many collectors (one shared store): a device is analysed where its lease is
// (SessionStore::ClaimDevice, renewed with every chunk). A device whose lease
// another collector holds waits here and is retried; its resident analyser,
// if any, is dropped, since the other collector moves its state on. A commit
// the store refuses as Conflict (the lease was lost meanwhile) drops it too.
//
// Threads: Start runs Pass on its own thread whenever Notify is called (a
// chunk was stored) and at least every second; without Start, a test calls
// Pass itself. Notify is safe from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "collector/collector_db.h"
#include "collector/session_store.h"
#include "picket/analysis/analyzer.h"
#include "picket/common/clock.h"
#include "picket/common/status.h"

namespace picket::collector {

struct SessionAnalysisOptions {
  std::string owner = "local";  // this collector in the store's leases
  std::chrono::milliseconds lease_ttl{10'000};  // a dead owner's devices move after this
  std::chrono::milliseconds gap_wait{30'000};
  std::chrono::milliseconds retention{30LL * 24 * 3600 * 1000};  // 0: keep forever
  analysis::AnalyzerOptions analyzer;  // refs_in_session is forced off
  std::size_t max_resident_devices = 64;  // analysers kept in memory
  std::chrono::milliseconds idle_evict{300'000};  // an idle device's analyser is dropped
  std::uint64_t chunks_per_turn = 64;  // per device and pass, so devices take turns
};

// What a device's analysis has done (also stored in analysis_state).
struct DeviceAnalysisCounters {
  std::uint64_t next_seq = 0, chunks_analysed = 0, damaged_chunks = 0, skipped_seqs = 0,
                sessions = 0;
};

class SessionAnalysis {
 public:
  // `chunks`: where the stored chunks are listed (read only here).
  static Result<std::unique_ptr<SessionAnalysis>> Create(SessionAnalysisOptions options,
                                                         CollectorDb* chunks, SessionStore* store,
                                                         const Clock* clock);
  ~SessionAnalysis();  // stops the thread

  void Start();
  void Stop();
  void Notify(const std::string& device);

  // One round: every device with work (all devices on the first call)
  // analyses up to chunks_per_turn chunks; retention runs when due. Returns
  // the first storage error (the device is retried on the next pass).
  Status Pass();

  // A device's counters as of its last committed chunk (nullopt: never analysed).
  Result<std::optional<DeviceAnalysisCounters>> Counters(const std::string& device);
  std::size_t resident_devices() const;
  std::size_t resident_devices_peak() const;  // the most at any moment, never above the cap

 private:
  struct Device;
  SessionAnalysis(SessionAnalysisOptions options, CollectorDb* chunks, SessionStore* store,
                  const Clock* clock);
  using ChunkRow = AnalysisChunk;
  Result<Device*> Resident(const std::string& device);
  // Takes or renews the device's lease; false: another collector has it
  // (its resident analyser, now stale, is dropped).
  Result<bool> Claim(const std::string& device);
  void Drop(const std::string& device);
  // Analyses chunks of one device (committed by FlushGroup, or on the way when many); true
  // when it stopped with work left.
  Result<bool> Advance(const std::string& device);
  // Commits what the devices of unflushed_ analysed, together (one transaction on MariaDB);
  // a device whose commit fails rests (Rest), one whose state moved on elsewhere is dropped.
  void FlushGroup(Status& first_error, std::int64_t now_ms);
  // A failing device: back to its committed state, retried after kRetryFailedDeviceMs.
  void Rest(const std::string& device, const Status& why, Status& first_error, std::int64_t now_ms);
  Result<bool> AdvanceCaught(const std::string& device);  // an exception as an error
  Status PassCaught();  // Pass for the thread: an exception resets every device
  Result<bool> AdvanceTurn(const std::string& device);  // the analysis, without the last flush
  Status Flush(Device& d);  // commits the chunks analysed since the last commit
  void PrepareCommit(Device& d);                     // what was analysed from, the state after it
  void Committed(Device& d, const Status& st);       // the commit's answer: pending goes
  void MovedOnElsewhere(const std::string& device);  // dropped, resumed from the store
  Status AnalyseChunk(Device& dev, const ChunkRow& row, bool gap);
  Status RunRetention();
  void EvictIdle();
  void EvictOldest(std::size_t keep);  // the least recently active first
  void Loop();

  const SessionAnalysisOptions options_;
  SessionStore* store_;
  const Clock* clock_;
  CollectorDb* chunks_;
  std::map<std::string, std::unique_ptr<Device>> resident_;
  std::set<std::string> waiting_;  // a missing seq is being waited for
  std::map<std::string, std::int64_t> failed_until_ms_;  // a failing device rests until then
  std::vector<std::string> unflushed_;  // devices of this pass with analysed chunks to commit
  bool first_pass_ = true;
  std::int64_t next_retention_ms_ = 0;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::set<std::string> notified_;  // guarded by mu_
  std::size_t resident_count_ = 0;  // guarded by mu_, for resident_devices()
  std::size_t resident_peak_ = 0;   // guarded by mu_
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace picket::collector
