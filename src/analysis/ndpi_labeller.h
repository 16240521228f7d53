// nDPI 4.2 labels, fed the way ndpiReader (example/reader_util.c) feeds them so
// that `app` equals ndpiReader's for the same flow: the IP header onwards up
// to the captured length, time in ms clamped to never go back, at most 80 TCP
// / 24 UDP packets (ndpiReader's defaults) before giving up, extra dissection
// while nDPI wants it, ndpi_detection_giveup (with guessing) at flow end.
// The per-flow nDPI struct is freed as soon as detection is complete.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "analysis/packet_decoder.h"
#include "picket/analysis/session.h"

struct ndpi_detection_module_struct;
struct ndpi_flow_struct;

namespace picket::analysis {

// What is kept of a flow's detection: ids, not names (names at emission).
struct NdpiLabel {
  std::uint16_t master = 0, app = 0;
  std::uint32_t category = 0;
  std::uint64_t risk = 0;
  std::string server_name;
};

// A packet nDPI has seen for a flow whose detection is not complete: enough
// to feed it again after RestoreState.
struct NdpiSeen {
  PacketRef ref;
  std::uint64_t time_ms = 0;
};

struct NdpiFlowFree {
  void operator()(ndpi_flow_struct* flow) const;
};
using NdpiFlowPtr = std::unique_ptr<ndpi_flow_struct, NdpiFlowFree>;

struct NdpiFlowState {
  NdpiFlowPtr flow;             // null before the first packet and after completion
  std::uint16_t packets = 0;    // packets ndpiReader would have counted
  bool done = false;
  NdpiLabel label;
  std::vector<NdpiSeen> seen;   // while !done
};

// Not thread-safe; use it on the thread that made it (it shares that
// thread's nDPI module with the thread's other labellers).
class NdpiLabeller {
 public:
  NdpiLabeller();
  ~NdpiLabeller();
  NdpiLabeller(const NdpiLabeller&) = delete;
  NdpiLabeller& operator=(const NdpiLabeller&) = delete;

  // The ms clock ndpiReader hands nDPI: advanced by every packet (IP or not),
  // never backwards.
  std::uint64_t Tick(std::int64_t ts_us);
  std::uint64_t clock_ms() const { return last_time_ms_; }
  void set_clock_ms(std::uint64_t ms) { last_time_ms_ = ms; }

  // One decoded packet of a flow (after Tick).
  void Feed(NdpiFlowState& state, const DecodedPacket& packet, const PacketRef& ref,
            std::uint64_t time_ms);
  // Re-dissects a packet seen before a restore (no completion check: it was
  // not complete when saved).
  void Replay(NdpiFlowState& state, const DecodedPacket& packet, std::uint64_t time_ms);
  // Flow end: gives up (guessing) when detection is not complete.
  void Finish(NdpiFlowState& state);

  void Names(const NdpiLabel& label, Session& session) const;

  static std::size_t FlowStructSize();

 private:
  bool AllocateFlow(NdpiFlowState& state);
  void Complete(NdpiFlowState& state, bool give_up);

  // Shared with the other labellers made on this thread (see ThreadModule):
  // a labeller is used on the thread that made it.
  std::shared_ptr<ndpi_detection_module_struct> module_owner_;
  ndpi_detection_module_struct* module_ = nullptr;
  std::uint64_t last_time_ms_ = 0;
};

}  // namespace picket::analysis
