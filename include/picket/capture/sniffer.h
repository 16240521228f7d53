// Sniffer: the capture worker's loop. Pulls packets from a PacketSource into a
// ChunkWriter, ticks the writer's age/idle timers on every dispatch, applies
// live filter changes on its own thread, and seals the open chunk on the way out.
//
// Threading: Run() on one thread (it owns the source and the writer while it
// runs). RequestStop() from anywhere, including a signal handler.
// RequestFilter() and Stats() from any thread.
//
// In the worker:  g_sniffer = &sniffer;  a SIGTERM handler calls
// g_sniffer->RequestStop();  Run() returns after sealing, and the worker exits.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <string>

#include "picket/capture/chunk_writer.h"
#include "picket/capture/packet_source.h"
#include "picket/common/clock.h"
#include "picket/common/status.h"

namespace picket::capture {

// Where one capture handed over to the next on a config change
// (make-before-break): the newest packet timestamp the old capture took from
// its ring, and how many of the packets it took carried exactly that
// timestamp. Both handles saw the same packets with the same kernel
// timestamps while they overlapped, so the new one skips what is at or before
// the cut and keeps the rest: every packet in exactly one chunk.
// Timestamps of one packet seen on two CPUs may differ by this much: a
// predecessor takes packets stamped up to its successor's start plus this
// margin, the successor keeps every later one.
inline constexpr std::int64_t kHandOverMarginUs = 1'000;

struct CaptureCut {
  std::int64_t ts_us = 0;
  std::uint64_t at_ts = 0;  // packets taken with ts_us itself (several share a microsecond)
  bool operator==(const CaptureCut&) const = default;
};

struct SnifferOptions {
  int dispatch_batch = 4096;      // packets per dispatch: bounds the time between stop-flag checks
  std::uint64_t max_packets = 0;  // stop after this many packets (one-shot capture); 0: never
  // On a write error the chunk is lost either way. false: keep capturing, drop
  // (and count) packets until write_retry has passed, then try a new chunk.
  // true: stop and return the error.
  bool stop_on_write_error = false;
  Millis write_retry{1'000};
  // Before a stop, and before a filter change on a source whose switch is not
  // exact (FilterSwitchIsExact), keep reading up to this long while the source
  // has received packets not yet delivered. A live TPACKET_V3 ring hands a
  // partly filled block over only when it retires (the capture timeout):
  // closing the ring would lose those packets, and pcap_setfilter makes
  // libpcap filter a ring's old blocks with the new filter, dropping what
  // matched only the old one. 0: no drain (file sources).
  Millis ring_drain{0};
  // How often Stats() refreshes the source's drop counters (one pcap_stats call).
  Millis source_stats_every{1'000};
  // The previous capture's cut when this one started before it stopped: the
  // packets up to it are in its chunks already and are skipped here (counted
  // in overlap_skipped). Skipping ends at the first packet after the cut, so a
  // wall clock stepped back later never makes packets vanish.
  std::optional<CaptureCut> skip_through;
};

struct SnifferStats {
  std::uint64_t packets = 0;         // received from the source
  std::uint64_t wire_bytes = 0;      // sum of len
  std::uint64_t captured_bytes = 0;  // sum of caplen
  std::uint64_t lost_packets = 0;    // received but not in any chunk (write errors)
  std::uint64_t write_errors = 0;
  std::uint64_t filter_changes = 0;  // applied successfully
  // The source's cumulative drop counters, read on the capture thread (a
  // pcap_t is not thread-safe) at most every source_stats_every.
  std::uint64_t kernel_drops = 0;
  std::uint64_t interface_drops = 0;
  std::uint64_t overlap_skipped = 0;  // at or before skip_through: the previous capture has them
};

class Sniffer {
 public:
  using FilterDone = std::function<void(const Status&)>;

  // `source`, `writer` and `clock` must outlive the Sniffer.
  Sniffer(PacketSource& source, ChunkWriter& writer, const Clock& clock,
          SnifferOptions options = {});
  Sniffer(const Sniffer&) = delete;
  Sniffer& operator=(const Sniffer&) = delete;

  // Runs until RequestStop, max_packets, the end of a file source, a fatal
  // source error or (stop_on_write_error) a write error; always seals the open
  // chunk before returning. OK on a requested stop or end of input.
  Status Run();

  // Async-signal-safe: sets a lock-free flag and interrupts the source.
  void RequestStop() noexcept;
  // A stop for a successor capturing since `successor_since_us` (make-before-
  // break): from now on only packets stamped up to it plus kHandOverMarginUs
  // are taken; the first one stamped later, and all after it in the ring, are
  // left to the successor (a TPACKET ring delivers in arrival order). The
  // switch is at that time, whatever the traffic. (A packet stamped later that
  // a dispatch delivered before this call is taken: the cut then lies past the
  // switch, and the successor skips up to the cut.)
  void RequestHandOver(std::int64_t successor_since_us) noexcept;

  bool stop_requested() const noexcept;

  // Queues a new operator filter; the loop applies it between dispatches (a
  // pcap_t is not thread-safe) and then calls `done` on the loop thread with
  // the result. A later request replaces an unapplied earlier one, whose `done`
  // gets Cancelled on the caller's thread. Requests still pending when Run
  // returns, or made after it, get Cancelled too.
  void RequestFilter(std::string expr, FilterDone done = {});

  // Updated after every dispatch (at least every timeout_ms while running).
  SnifferStats Stats() const;

  // Where this capture ends, for a successor started before it stopped: valid
  // once Run has returned (nullopt when no packet was taken). Packets lost to
  // write errors count: they were taken from the ring, the successor must not
  // keep them either.
  std::optional<CaptureCut> Cut() const;

 private:
  void OnPacket(const Packet& packet);
  bool TakenBefore(std::int64_t ts_us);
  // Packets the kernel counted that will never be delivered (filtered in
  // userland after a filter change, or still pending when a drain timed
  // out): the baseline for "nothing is waiting in the ring".
  std::uint64_t undeliverable_ = 0;
  void OnWriteError(const Status& status);
  void ApplyPendingFilter(const PacketHandler& handler);
  void DrainRing(const PacketHandler& handler);
  void CancelPendingFilter();
  void PublishStats();

  PacketSource& source_;
  ChunkWriter& writer_;
  const Clock& clock_;
  SnifferOptions options_;

  std::atomic<bool> stop_{false};
  // Packets stamped after this are a successor's (RequestHandOver); once one
  // came, every packet after it in the ring too (the bound drops to min).
  std::atomic<std::int64_t> take_until_us_{std::numeric_limits<std::int64_t>::max()};
  static_assert(std::atomic<bool>::is_always_lock_free, "RequestStop must be signal-safe");

  std::mutex filter_mu_;
  std::optional<std::pair<std::string, FilterDone>> pending_filter_;  // guarded by filter_mu_
  bool finished_ = false;                                             // guarded by filter_mu_
  std::atomic<bool> filter_pending_{false};

  // Loop-thread state.
  bool write_blocked_ = false;
  MonoTime write_retry_at_{};
  Status fatal_;
  SnifferStats counted_;  // counted per packet here, published per dispatch below
  std::optional<CaptureCut> cut_;  // the newest packet taken, loop thread until Run returns
  bool skipping_ = false;          // still before or at options_.skip_through
  bool past_hand_over_ = false;  // a packet past take_until_us_ came: the drain is done

  // Published copies for Stats() on other threads (no atomic RMW per packet).
  std::atomic<std::uint64_t> packets_{0};
  std::atomic<std::uint64_t> wire_bytes_{0};
  std::atomic<std::uint64_t> captured_bytes_{0};
  std::atomic<std::uint64_t> lost_packets_{0};
  std::atomic<std::uint64_t> write_errors_{0};
  std::atomic<std::uint64_t> filter_changes_{0};
  std::atomic<std::uint64_t> kernel_drops_{0};
  std::atomic<std::uint64_t> interface_drops_{0};
  std::atomic<std::uint64_t> overlap_skipped_{0};
  MonoTime next_source_stats_{};  // loop thread
};

}  // namespace picket::capture
