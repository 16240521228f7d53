// The analyser's state, shared by analyzer.cc (packets) and
// analyzer_state.cc (SaveState / RestoreState).
#pragma once

#include <memory>
#include <vector>

#include "analysis/flow_table.h"
#include "analysis/fragment_table.h"
#include "analysis/ndpi_labeller.h"
#include "analysis/packet_decoder.h"
#include "picket/analysis/analyzer.h"

namespace picket::analysis {

// Zeek's tcp_close_delay / tcp_reset_delay and Arkime's tcpClosingTimeout:
// trailing ACKs and retransmitted FINs stay in the session.
inline constexpr std::int64_t kTcpLingerUs = 5'000'000;

struct Analyzer::Impl {
  Impl(AnalyzerOptions opts, SessionSink session_sink)
      : options(opts), sink(std::move(session_sink)), table(opts.max_open_flows) {
    if (options.label) labeller = std::make_unique<NdpiLabeller>();
    timeouts[kTimerTcp] = options.tcp_idle_us;
    timeouts[kTimerUdp] = options.udp_idle_us;
    timeouts[kTimerIcmp] = options.icmp_idle_us;
    timeouts[kTimerOther] = options.other_idle_us;
    timeouts[kTimerClosing] = kTcpLingerUs;
    if (options.max_open_flows == 0) options.max_open_flows = 1;
  }

  void Feed(const RawPacket& packet);
  // Emits the flow's session and removes the flow.
  void End(std::uint32_t index, EndReason reason);
  // The flow's session (labels given up, refs moved out); the flow stays.
  Session Finish(std::uint32_t index, EndReason reason);
  void ExpireIdle();
  void EvictOldest();
  void CloseAll(EndReason reason);
  std::uint32_t StartFlow(const FlowKey& key, bool from_a, const DecodedPacket& d, std::int64_t ts_us);

  AnalyzerOptions options;
  SessionSink sink;
  std::unique_ptr<NdpiLabeller> labeller;
  FlowTable table;
  FragmentTable fragments;
  std::int64_t timeouts[kTimerClasses] = {};
  std::uint64_t next_uid = 1;
  bool clock_started = false;
  std::int64_t now_us = 0;
  AnalyzerStats stats;
  std::vector<SessionPackets> ended_refs;  // refs_in_session false: not yet taken
};


}  // namespace picket::analysis
