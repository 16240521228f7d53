#include "picket/analysis/analyzer.h"

#include <arpa/inet.h>

#include <algorithm>
#include <limits>

#include "analysis/community_id.h"
#include "analysis/flow_table.h"
#include "analysis/fragment_table.h"
#include "analysis/ndpi_labeller.h"
#include "analysis/packet_decoder.h"
#include "analysis/analyzer_impl.h"

namespace picket::analysis {
namespace {

TimerClass TimerFor(std::uint8_t proto) {
  switch (proto) {
    case kProtoTcp: return kTimerTcp;
    case kProtoUdp: return kTimerUdp;
    case kProtoIcmp:
    case kProtoIcmpV6: return kTimerIcmp;
    default: return kTimerOther;
  }
}

std::string AddressText(const std::uint8_t* address, bool is_v6) {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(is_v6 ? AF_INET6 : AF_INET, address, text, sizeof(text));
  return text;
}

}  // namespace

void Analyzer::Impl::Feed(const RawPacket& packet) {
  ++stats.packets;
  const std::uint64_t time_ms = labeller ? labeller->Tick(packet.ts_us) : 0;
  if (!clock_started || packet.ts_us > now_us) {
    now_us = packet.ts_us;
    clock_started = true;
  }
  ExpireIdle();

  DecodedPacket d;
  switch (DecodePacket(packet, d)) {
    case DecodeResult::kNotIp: ++stats.not_ip; return;
    case DecodeResult::kUndecodable: ++stats.undecodable; return;
    case DecodeResult::kOk: break;
  }
  if (d.fragment) {
    ++stats.fragments;
    if (d.later_fragment) {
      fragments.Attribute(d);
    } else {
      fragments.Remember(d);
    }
  }

  FlowTuple tuple{d.is_v6, d.src, d.dst, d.proto, d.src_port, d.dst_port, d.has_ports, d.icmp_one_way};
  const bool from_a = CommunityIdKeepsOrder(tuple);
  FlowKey key{};
  const std::size_t address_size = d.is_v6 ? 16 : 4;
  std::memcpy(key.a, from_a ? d.src : d.dst, address_size);
  std::memcpy(key.b, from_a ? d.dst : d.src, address_size);
  key.port_a = from_a ? d.src_port : d.dst_port;
  key.port_b = from_a ? d.dst_port : d.src_port;
  key.proto = d.proto;
  key.is_v6 = d.is_v6;
  key.has_ports = d.has_ports;
  key.one_way = d.icmp_one_way;

  std::uint32_t index = table.Find(key);
  const bool tcp = d.proto == kProtoTcp && !d.later_fragment;
  const bool bare_syn = tcp && (d.tcp_flags & (kTcpSyn | kTcpAck)) == kTcpSyn;
  if (index != kNoFlow && bare_syn) {
    Flow& flow = table.at(index);
    const bool from_orig = from_a == flow.orig_is_a;
    const bool same_syn = from_orig && flow.tcp.SynSeen(0) && d.tcp_seq == flow.tcp.Isn(0);
    if (!same_syn) {
      // Port reuse: a new connection attempt on the 5-tuple.
      if (flow.closing) {
        End(index, flow.close_reason);
        index = kNoFlow;
      } else if (flow.tcp.HandshakeDone()) {
        End(index, EndReason::kReused);
        index = kNoFlow;
      }
    }
  }
  if (index == kNoFlow) index = StartFlow(key, from_a, d, packet.ts_us);

  Flow& flow = table.at(index);
  const int side = from_a == flow.orig_is_a ? 0 : 1;
  ++flow.pkts[side];
  const std::uint32_t wire_len =
      std::max<std::uint32_t>(packet.wire_len, static_cast<std::uint32_t>(packet.data.size()));
  flow.bytes[side] += wire_len;
  flow.payload[side] += d.payload_len;
  if (flow.features.size() < options.features_packets) {
    PacketFeature feature;
    feature.from_originator = side == 0;
    feature.wire_len = wire_len;
    feature.payload_len = d.payload_len;
    feature.iat_us = flow.pkts[0] + flow.pkts[1] == 1 ? 0 : packet.ts_us - flow.prev_packet_us;
    feature.tcp_flags = tcp ? d.tcp_flags : 0;
    flow.features.push_back(feature);
  }
  flow.prev_packet_us = packet.ts_us;
  if (packet.ts_us > flow.last_ts_us) flow.last_ts_us = packet.ts_us;
  if (options.keep_packet_refs) flow.refs.push_back(packet.ref);

  if (tcp) {
    flow.tcp.Update(side, d.tcp_flags, d.tcp_seq, d.tcp_window, d.payload_len);
    if (!flow.closing && (flow.tcp.ResetSeen() || flow.tcp.FinBothWays())) {
      flow.closing = true;
      flow.close_reason = flow.tcp.ResetSeen() ? EndReason::kRst : EndReason::kFin;
    }
  } else if (d.payload_len > 0 && d.proto == kProtoUdp) {
    flow.tcp.NoteData(side);
  }
  if (labeller) labeller->Feed(flow.ndpi, d, packet.ref, time_ms);

  flow.activity_us = now_us;
  table.Touch(index, flow.closing ? kTimerClosing : TimerFor(d.proto));
}

std::uint32_t Analyzer::Impl::StartFlow(const FlowKey& key, bool from_a, const DecodedPacket& d,
                                        std::int64_t ts_us) {
  if (table.size() >= options.max_open_flows) EvictOldest();
  const std::uint32_t index = table.Insert(key);
  Flow& flow = table.at(index);
  flow.uid = next_uid++;
  // A first packet that is a SYN-ACK comes from the responder (Zeek's '^').
  const bool syn_ack = d.proto == kProtoTcp && !d.later_fragment &&
                       (d.tcp_flags & (kTcpSyn | kTcpAck)) == (kTcpSyn | kTcpAck);
  flow.orig_is_a = syn_ack ? !from_a : from_a;
  if (syn_ack) flow.tcp.MarkFlipped();
  flow.first_ts_us = ts_us;
  flow.last_ts_us = ts_us;
  stats.open_flows = table.size();
  stats.peak_open_flows = std::max<std::uint64_t>(stats.peak_open_flows, table.size());
  return index;
}

void Analyzer::Impl::End(std::uint32_t index, EndReason reason) {
  Session s = Finish(index, reason);
  table.Erase(index);
  ++stats.sessions;
  stats.open_flows = table.size();
  if (sink) sink(std::move(s));
}

Session Analyzer::Impl::Finish(std::uint32_t index, EndReason reason) {
  Flow& flow = table.at(index);
  Session s;
  s.uid = flow.uid;
  const std::uint8_t* orig = flow.orig_is_a ? flow.key.a : flow.key.b;
  const std::uint8_t* resp = flow.orig_is_a ? flow.key.b : flow.key.a;
  s.src_port = flow.orig_is_a ? flow.key.port_a : flow.key.port_b;
  s.dst_port = flow.orig_is_a ? flow.key.port_b : flow.key.port_a;
  FlowTuple tuple{flow.key.is_v6 != 0, orig, resp, flow.key.proto, s.src_port, s.dst_port,
                  flow.key.has_ports != 0, flow.key.one_way != 0};
  s.community_id = CommunityId(tuple);
  s.proto = flow.key.proto;
  s.src_ip = AddressText(orig, flow.key.is_v6);
  s.dst_ip = AddressText(resp, flow.key.is_v6);
  s.orig_pkts = flow.pkts[0];
  s.resp_pkts = flow.pkts[1];
  s.orig_bytes = flow.bytes[0];
  s.resp_bytes = flow.bytes[1];
  s.orig_payload_bytes = flow.payload[0];
  s.resp_payload_bytes = flow.payload[1];
  s.first_ts_us = flow.first_ts_us;
  s.last_ts_us = flow.last_ts_us;
  if (flow.key.proto == kProtoTcp) {
    s.state = flow.tcp.ConnState(flow.payload[0], flow.payload[1]);
  } else if (flow.key.proto == kProtoUdp) {
    s.state = flow.pkts[0] > 0 ? (flow.pkts[1] > 0 ? "SF" : "S0") : (flow.pkts[1] > 0 ? "SHR" : "OTH");
  } else {
    s.state = "OTH";
  }
  s.history = flow.tcp.History();
  s.end_reason = reason;
  if (labeller) {
    labeller->Finish(flow.ndpi);
    labeller->Names(flow.ndpi.label, s);
  }
  s.features = std::move(flow.features);
  if (options.refs_in_session) {
    s.packets = std::move(flow.refs);
  } else if (!flow.refs.empty()) {
    ended_refs.push_back({flow.uid, std::move(flow.refs)});
  }
  return s;
}

void Analyzer::Impl::ExpireIdle() {
  for (int c = 0; c < kTimerClasses; ++c) {
    const auto timer = static_cast<TimerClass>(c);
    for (std::uint32_t index = table.Front(timer); index != kNoFlow; index = table.Front(timer)) {
      const Flow& flow = table.at(index);
      if (now_us - flow.activity_us <= timeouts[c]) break;
      End(index, timer == kTimerClosing ? flow.close_reason : EndReason::kIdle);
    }
  }
}

void Analyzer::Impl::EvictOldest() {
  std::uint32_t oldest = kNoFlow;
  for (int c = 0; c < kTimerClasses; ++c) {
    const std::uint32_t front = table.Front(static_cast<TimerClass>(c));
    if (front == kNoFlow) continue;
    if (oldest == kNoFlow || table.at(front).activity_us < table.at(oldest).activity_us) oldest = front;
  }
  if (oldest != kNoFlow) End(oldest, EndReason::kResources);
}

void Analyzer::Impl::CloseAll(EndReason reason) {
  std::vector<std::pair<std::uint64_t, std::uint32_t>> open;
  open.reserve(table.size());
  table.ForEach([&](std::uint32_t index) { open.emplace_back(table.at(index).uid, index); });
  std::sort(open.begin(), open.end());
  // Every flow ends: emit in uid order, then drop the whole table at once
  // (cheaper than erasing a million index entries one by one).
  for (const auto& [uid, index] : open) {
    const Flow& flow = table.at(index);
    Session s = Finish(index, flow.closing ? flow.close_reason : reason);
    ++stats.sessions;
    if (sink) sink(std::move(s));
  }
  table.Clear();
  stats.open_flows = 0;
}

Analyzer::Analyzer(AnalyzerOptions options, SessionSink sink)
    : impl_(std::make_unique<Impl>(options, std::move(sink))) {}
Analyzer::~Analyzer() = default;

void Analyzer::Feed(const RawPacket& packet) { impl_->Feed(packet); }
void Analyzer::CloseAll(EndReason reason) { impl_->CloseAll(reason); }

AnalyzerStats Analyzer::stats() const {
  AnalyzerStats s = impl_->stats;
  s.open_flows = impl_->table.size();
  return s;
}

std::vector<SessionPackets> Analyzer::TakePacketRefs() {
  std::vector<SessionPackets> out = std::move(impl_->ended_refs);
  impl_->ended_refs.clear();
  impl_->table.ForEach([&](std::uint32_t index) {
    Flow& flow = impl_->table.at(index);
    if (impl_->options.refs_in_session || flow.refs.empty()) return;
    out.push_back({flow.uid, std::move(flow.refs)});
    flow.refs.clear();
  });
  std::sort(out.begin(), out.end(),
            [](const SessionPackets& x, const SessionPackets& y) { return x.uid < y.uid; });
  return out;
}

}  // namespace picket::analysis
