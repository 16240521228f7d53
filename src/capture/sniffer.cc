#include "picket/capture/sniffer.h"

#include <algorithm>

#include "picket/common/log.h"

namespace picket::capture {

namespace {
constexpr auto kRelaxed = std::memory_order_relaxed;

Status Cancelled(std::string why) { return Status(StatusCode::kCancelled, std::move(why)); }
}  // namespace

Sniffer::Sniffer(PacketSource& source, ChunkWriter& writer, const Clock& clock,
                 SnifferOptions options)
    : source_(source), writer_(writer), clock_(clock), options_(options) {
  if (options_.dispatch_batch <= 0) options_.dispatch_batch = 1;
  skipping_ = options_.skip_through.has_value();
}

Status Sniffer::Run() {
  const PacketHandler handler = [this](const Packet& packet) { OnPacket(packet); };
  PICKET_LOG(kInfo, "capture", "capture loop started", {"iface", source_.Name()},
             {"max_packets", options_.max_packets});
  while (!stop_.load(std::memory_order_acquire) && fatal_.ok()) {
    if (filter_pending_.load(std::memory_order_acquire)) ApplyPendingFilter(handler);
    int batch = options_.dispatch_batch;
    if (options_.max_packets > 0) {
      const std::uint64_t done = counted_.packets;
      if (done >= options_.max_packets) break;
      batch = static_cast<int>(
          std::min<std::uint64_t>(static_cast<std::uint64_t>(batch), options_.max_packets - done));
    }
    Result<DispatchResult> result = source_.Dispatch(batch, handler);
    if (!result.ok()) {
      fatal_ = result.status();
      PICKET_LOG(kError, "capture", "capture failed", {"iface", source_.Name()}, {"error", fatal_});
      break;
    }
    if (Status st = writer_.Tick(); !st.ok()) OnWriteError(st);
    PublishStats();
    if (result->end_of_input) break;
  }

  if (stop_.load(std::memory_order_acquire) && fatal_.ok()) DrainRing(handler);
  // Always seal what we have, whatever stopped us.
  Status sealed = writer_.SealNow();
  if (!sealed.ok()) {
    ++counted_.write_errors;
    PICKET_LOG(kError, "capture", "cannot seal the last chunk", {"error", sealed});
  }
  PublishStats();
  CancelPendingFilter();
  const SnifferStats stats = Stats();
  PICKET_LOG(kInfo, "capture", "capture loop stopped", {"iface", source_.Name()},
             {"packets", stats.packets}, {"bytes", stats.captured_bytes},
             {"lost", stats.lost_packets}, {"write_errors", stats.write_errors},
             {"chunks", writer_.stats().chunks_sealed});
  if (!fatal_.ok()) return fatal_;
  return sealed;
}

void Sniffer::DrainRing(const PacketHandler& handler) {
  if (options_.ring_drain.count() <= 0) return;
  auto waiting = [&]() -> std::uint64_t {
    auto stats = source_.Stats();
    if (!stats.ok()) return 0;
    const std::uint64_t accounted =
        stats->kernel_drops + counted_.packets + counted_.overlap_skipped + undeliverable_;
    return stats->received > accounted ? stats->received - accounted : 0;
  };
  const auto until = clock_.MonotonicNow() + options_.ring_drain;
  // A successor has every packet stamped after this (plus a margin for
  // timestamps taken on other CPUs): past it, nothing is left to take.
  std::uint64_t left = waiting();
  const std::uint64_t first = left;
  while (left > 0 && !past_hand_over_ && clock_.MonotonicNow() < until) {
    Result<DispatchResult> result = source_.Dispatch(options_.dispatch_batch, handler);
    if (!result.ok() || result->end_of_input) return;
    left = waiting();
  }
  undeliverable_ += left;  // never coming: do not wait for them again
  PICKET_LOG(kDebug, "capture", "ring drained", {"waiting_before", first}, {"never_coming", left});
}

// True for a packet the previous capture already took (see SnifferOptions::skip_through).
bool Sniffer::TakenBefore(std::int64_t ts_us) {
  if (!skipping_) return false;
  CaptureCut& left = *options_.skip_through;
  if (ts_us < left.ts_us || (ts_us == left.ts_us && left.at_ts > 0)) {
    if (ts_us == left.ts_us) --left.at_ts;
    ++counted_.overlap_skipped;
    return true;
  }
  skipping_ = false;
  PICKET_LOG(kInfo, "capture", "took over from the previous capture", {"iface", source_.Name()},
             {"overlap_skipped", counted_.overlap_skipped}, {"cut_ts_us", left.ts_us});
  return false;
}

void Sniffer::OnPacket(const Packet& packet) {
  const std::int64_t ts_us = std::int64_t{packet.ts.tv_sec} * 1'000'000 + packet.ts.tv_usec;
  // One relaxed load per packet: the bound holds from the hand-over request
  // on, also for the rest of a dispatch that was running when it came.
  if (ts_us > take_until_us_.load(kRelaxed)) {  // the successor's, as is all after it in the ring
    take_until_us_.store(std::numeric_limits<std::int64_t>::min(), kRelaxed);
    past_hand_over_ = true;
    return;
  }
  if (TakenBefore(ts_us)) return;
  if (cut_ && cut_->ts_us == ts_us) {
    ++cut_->at_ts;
  } else if (!cut_ || ts_us > cut_->ts_us) {
    cut_ = CaptureCut{ts_us, 1};
  }
  ++counted_.packets;
  counted_.wire_bytes += packet.len;
  counted_.captured_bytes += packet.caplen;
  if (!fatal_.ok() || (write_blocked_ && clock_.MonotonicNow() < write_retry_at_)) {
    writer_.NoteLostPackets(1);
    return;
  }
  if (Status st = writer_.Write(packet); !st.ok()) {
    OnWriteError(st);
    return;
  }
  if (write_blocked_) {
    write_blocked_ = false;
    PICKET_LOG(kInfo, "capture", "chunk writes work again", {"iface", source_.Name()},
               {"lost", writer_.stats().lost_packets});
  }
}

void Sniffer::OnWriteError(const Status& status) {
  ++counted_.write_errors;
  if (!write_blocked_) {  // log the change of state, not every packet
    PICKET_LOG(kError, "capture", "chunk write failed; dropping packets until the retry",
               {"error", status}, {"retry_ms", options_.write_retry.count()},
               {"iface", source_.Name()});
  }
  write_blocked_ = true;
  write_retry_at_ = clock_.MonotonicNow() + options_.write_retry;
  if (options_.stop_on_write_error && fatal_.ok()) fatal_ = status;
}

void Sniffer::RequestStop() noexcept {
  stop_.store(true, std::memory_order_release);
  source_.Interrupt();
}

void Sniffer::RequestHandOver(std::int64_t successor_since_us) noexcept {
  take_until_us_.store(successor_since_us + kHandOverMarginUs, kRelaxed);
  RequestStop();
}

bool Sniffer::stop_requested() const noexcept { return stop_.load(std::memory_order_acquire); }

void Sniffer::RequestFilter(std::string expr, FilterDone done) {
  FilterDone cancelled;  // called outside the lock: it may call back into us
  const char* why = "replaced by a newer filter";
  {
    std::lock_guard<std::mutex> lock(filter_mu_);
    if (finished_) {
      cancelled = std::move(done);
      why = "capture loop has stopped";
    } else {
      if (pending_filter_) cancelled = std::move(pending_filter_->second);
      pending_filter_.emplace(std::move(expr), std::move(done));
      filter_pending_.store(true, std::memory_order_release);
    }
  }
  if (cancelled) cancelled(Cancelled(why));
  source_.Interrupt();
}

void Sniffer::ApplyPendingFilter(const PacketHandler& handler) {
  // What matched the old filter is delivered under it: a source that cuts
  // over exactly keeps it queued; any other is drained first (up to ring_drain).
  if (!source_.FilterSwitchIsExact()) DrainRing(handler);
  std::optional<std::pair<std::string, FilterDone>> request;
  {
    std::lock_guard<std::mutex> lock(filter_mu_);
    request.swap(pending_filter_);
    filter_pending_.store(false, std::memory_order_release);
  }
  if (!request) return;
  Status st = source_.SetFilter(request->first);
  if (st.ok()) {
    ++counted_.filter_changes;
    filter_changes_.store(counted_.filter_changes, kRelaxed);
    PICKET_LOG(kInfo, "capture", "capture filter changed", {"iface", source_.Name()},
               {"filter", request->first});
  } else {
    PICKET_LOG(kWarn, "capture", "capture filter refused; the old one stays",
               {"iface", source_.Name()}, {"error", st});
  }
  if (request->second) request->second(st);
}

void Sniffer::CancelPendingFilter() {
  std::optional<std::pair<std::string, FilterDone>> request;
  {
    std::lock_guard<std::mutex> lock(filter_mu_);
    finished_ = true;
    request.swap(pending_filter_);
    filter_pending_.store(false, std::memory_order_release);
  }
  if (request && request->second) request->second(Cancelled("capture loop has stopped"));
}

void Sniffer::PublishStats() {
  packets_.store(counted_.packets, kRelaxed);
  wire_bytes_.store(counted_.wire_bytes, kRelaxed);
  captured_bytes_.store(counted_.captured_bytes, kRelaxed);
  lost_packets_.store(writer_.stats().lost_packets, kRelaxed);
  write_errors_.store(counted_.write_errors, kRelaxed);
  filter_changes_.store(counted_.filter_changes, kRelaxed);
  overlap_skipped_.store(counted_.overlap_skipped, kRelaxed);
  if (const MonoTime now = clock_.MonotonicNow(); now >= next_source_stats_) {
    next_source_stats_ = now + options_.source_stats_every;
    if (auto source = source_.Stats(); source.ok()) {
      kernel_drops_.store(source->kernel_drops, kRelaxed);
      interface_drops_.store(source->interface_drops, kRelaxed);
    }
  }
}

SnifferStats Sniffer::Stats() const {
  SnifferStats s;
  s.packets = packets_.load(kRelaxed);
  s.wire_bytes = wire_bytes_.load(kRelaxed);
  s.captured_bytes = captured_bytes_.load(kRelaxed);
  s.lost_packets = lost_packets_.load(kRelaxed);
  s.write_errors = write_errors_.load(kRelaxed);
  s.filter_changes = filter_changes_.load(kRelaxed);
  s.kernel_drops = kernel_drops_.load(kRelaxed);
  s.interface_drops = interface_drops_.load(kRelaxed);
  s.overlap_skipped = overlap_skipped_.load(kRelaxed);
  return s;
}

std::optional<CaptureCut> Sniffer::Cut() const { return cut_; }

}  // namespace picket::capture
