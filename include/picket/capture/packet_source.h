// PacketSource: where packets come from (a live interface, a pcap file, a test
// script). The Sniffer loop and the ChunkWriter only see this interface, so the
// loop is tested without root and without libpcap in the way.
//
// Threading: a source belongs to one thread (the loop's). The only exception is
// Interrupt(), which any thread or a signal handler may call.
#pragma once

#include <sys/time.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "picket/common/status.h"

namespace picket::capture {

// One captured packet. `data` is only valid during the handler call.
struct Packet {
  timeval ts{};              // the kernel's (or the file's) timestamp, wall clock
  std::uint32_t caplen = 0;  // bytes in data (≤ snaplen)
  std::uint32_t len = 0;     // bytes on the wire
  const std::uint8_t* data = nullptr;
};

// Cumulative since the source opened; never reset, widened to 64 bits (libpcap's
// counters are 32-bit and wrap on a busy link).
struct CaptureStats {
  std::uint64_t received = 0;         // ps_recv
  std::uint64_t kernel_drops = 0;     // ps_drop: the ring was full
  std::uint64_t interface_drops = 0;  // ps_ifdrop: dropped by the NIC/driver
};

struct DispatchResult {
  int packets = 0;            // handed to the handler by this call
  bool end_of_input = false;  // a file source is exhausted; a live one never is
};

using PacketHandler = std::function<void(const Packet&)>;

class PacketSource {
 public:
  virtual ~PacketSource() = default;

  // Hands at most `max_packets` packets to `handler`. A live source waits at
  // most its timeout for the first one, so an idle link returns {0, false}
  // every timeout_ms and the caller gets to check its stop flag and timers.
  // An exception thrown by the handler stops the batch and propagates (it never
  // unwinds through libpcap). Errors are fatal for the source.
  virtual Result<DispatchResult> Dispatch(int max_packets, const PacketHandler& handler) = 0;

  virtual Result<CaptureStats> Stats() = 0;

  // Replaces the BPF filter; the error carries pcap's own text. Live sources
  // always keep their exclusion clause (see LiveCaptureOptions).
  virtual Status SetFilter(std::string_view expr) = 0;
  // true when SetFilter cuts over exactly: every packet delivered later was
  // judged by the one filter in place when it arrived, also those still queued
  // in the source. The caller need not drain before a change then.
  virtual bool FilterSwitchIsExact() const { return false; }

  // Makes a blocked Dispatch return early. Async-signal-safe; any thread.
  virtual void Interrupt() noexcept {}

  virtual int LinkType() const = 0;  // DLT_* of the packets
  virtual int Snaplen() const = 0;
  virtual const std::string& Name() const = 0;  // interface or file, for logs and chunk records

  // A descriptor that becomes readable when packets are ready, for an external
  // poll loop; -1 when there is none (files, fakes).
  virtual int SelectableFd() const { return -1; }
};

}  // namespace picket::capture
