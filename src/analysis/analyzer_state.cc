// SaveState / RestoreState: the open flows as a versioned little-endian blob.
// Flows are written list by list in timer order, so a restored analyser
// expires and evicts them in the same order as one that never stopped.
// nDPI's per-flow state is not serialised (it holds pointers): the packets it
// had seen are listed by ref and dissected again at restore.
#include <algorithm>

#include "analysis/analyzer_impl.h"
#include "analysis/state_codec.h"

namespace picket::analysis {
namespace {

constexpr std::uint32_t kMagic = 0x53414b50;  // "PKAS"
constexpr std::uint32_t kVersion = 1;
constexpr std::size_t kMaxServerName = 4096;
constexpr std::size_t kMinFlowBytes = 100;  // a lower bound on a written flow, to refuse silly counts

void WriteRef(StateWriter& w, const PacketRef& ref) {
  w.U64(ref.chunk_seq);
  w.U64(ref.offset);
}
PacketRef ReadRef(StateReader& r) {
  PacketRef ref;
  ref.chunk_seq = r.U64();
  ref.offset = r.U64();
  return ref;
}

void WriteTcp(StateWriter& w, const TcpTracker& t) {
  for (int side = 0; side < 2; ++side) {
    w.U8(static_cast<std::uint8_t>(t.state_[side]));
    w.U8(static_cast<std::uint8_t>(t.syn_seen_[side] | t.synack_seen_[side] << 1 |
                                   t.fin_seen_[side] << 2 | t.seq_known_[side] << 3));
    w.U32(t.isn_[side]);
    w.U32(t.max_seq_end_[side]);
    w.U32(t.last_syn_[side]);
    w.U32(t.last_fin_[side]);
    w.U32(t.last_rst_[side]);
    w.U16(t.once_[side]);
    w.U32(t.retransmits_[side]);
    w.U32(t.zero_windows_[side]);
  }
  w.U8(t.history_len_);
  w.Bytes(t.history_, t.history_len_);
}

void ReadTcp(StateReader& r, TcpTracker& t) {
  for (int side = 0; side < 2; ++side) {
    const std::uint8_t state = r.U8();
    if (state > static_cast<std::uint8_t>(TcpEndpoint::kReset)) r.Fail();
    t.state_[side] = static_cast<TcpEndpoint>(state);
    const std::uint8_t bits = r.U8();
    if (bits > 0x0f) r.Fail();
    t.syn_seen_[side] = bits & 1;
    t.synack_seen_[side] = bits & 2;
    t.fin_seen_[side] = bits & 4;
    t.seq_known_[side] = bits & 8;
    t.isn_[side] = r.U32();
    t.max_seq_end_[side] = r.U32();
    t.last_syn_[side] = r.U32();
    t.last_fin_[side] = r.U32();
    t.last_rst_[side] = r.U32();
    t.once_[side] = r.U16();
    t.retransmits_[side] = r.U32();
    t.zero_windows_[side] = r.U32();
  }
  t.history_len_ = r.U8();
  if (t.history_len_ > TcpTracker::kMaxHistory) {
    r.Fail();
    t.history_len_ = 0;
  }
  r.Bytes(t.history_, t.history_len_);
}

void WriteFlow(StateWriter& w, const Flow& f) {
  w.Bytes(&f.key, sizeof(f.key));
  w.U64(f.uid);
  w.U8(f.orig_is_a);
  w.U8(f.closing);
  w.U8(static_cast<std::uint8_t>(f.close_reason));
  w.U8(f.timer);
  w.I64(f.first_ts_us);
  w.I64(f.last_ts_us);
  w.I64(f.prev_packet_us);
  w.I64(f.activity_us);
  for (int side = 0; side < 2; ++side) {
    w.U64(f.pkts[side]);
    w.U64(f.bytes[side]);
    w.U64(f.payload[side]);
  }
  WriteTcp(w, f.tcp);
  w.U8(f.ndpi.done);
  w.U16(f.ndpi.packets);
  w.U16(f.ndpi.label.master);
  w.U16(f.ndpi.label.app);
  w.U32(f.ndpi.label.category);
  w.U64(f.ndpi.label.risk);
  w.Str(f.ndpi.label.server_name);
  w.U64(f.ndpi.seen.size());
  for (const NdpiSeen& seen : f.ndpi.seen) {
    WriteRef(w, seen.ref);
    w.U64(seen.time_ms);
  }
  w.U64(f.refs.size());
  for (const PacketRef& ref : f.refs) WriteRef(w, ref);
  w.U64(f.features.size());
  for (const PacketFeature& feature : f.features) {
    w.U8(feature.from_originator);
    w.U32(feature.wire_len);
    w.U32(feature.payload_len);
    w.I64(feature.iat_us);
    w.U8(feature.tcp_flags);
  }
}

void ReadFlow(StateReader& r, Flow& f) {
  r.Bytes(&f.key, sizeof(f.key));
  if (f.key.is_v6 > 1 || f.key.has_ports > 1 || f.key.one_way > 1) r.Fail();
  f.uid = r.U64();
  f.orig_is_a = r.Bool();
  f.closing = r.Bool();
  const std::uint8_t reason = r.U8();
  if (reason > static_cast<std::uint8_t>(EndReason::kResources)) r.Fail();
  f.close_reason = static_cast<EndReason>(reason);
  const std::uint8_t timer = r.U8();
  if (timer >= kTimerClasses) r.Fail();
  f.timer = static_cast<TimerClass>(timer < kTimerClasses ? timer : 0);
  f.first_ts_us = r.I64();
  f.last_ts_us = r.I64();
  f.prev_packet_us = r.I64();
  f.activity_us = r.I64();
  for (int side = 0; side < 2; ++side) {
    f.pkts[side] = r.U64();
    f.bytes[side] = r.U64();
    f.payload[side] = r.U64();
  }
  ReadTcp(r, f.tcp);
  f.ndpi.done = r.Bool();
  f.ndpi.packets = r.U16();
  f.ndpi.label.master = r.U16();
  f.ndpi.label.app = r.U16();
  f.ndpi.label.category = r.U32();
  f.ndpi.label.risk = r.U64();
  f.ndpi.label.server_name = r.Str(kMaxServerName);
  const std::size_t seen = r.Count(24);
  f.ndpi.seen.reserve(seen);
  for (std::size_t i = 0; i < seen && r.ok(); ++i) {
    NdpiSeen s;
    s.ref = ReadRef(r);
    s.time_ms = r.U64();
    f.ndpi.seen.push_back(s);
  }
  const std::size_t refs = r.Count(16);
  f.refs.reserve(refs);
  for (std::size_t i = 0; i < refs && r.ok(); ++i) f.refs.push_back(ReadRef(r));
  const std::size_t features = r.Count(18);
  f.features.reserve(features);
  for (std::size_t i = 0; i < features && r.ok(); ++i) {
    PacketFeature feature;
    feature.from_originator = r.Bool();
    feature.wire_len = r.U32();
    feature.payload_len = r.U32();
    feature.iat_us = r.I64();
    feature.tcp_flags = r.U8();
    f.features.push_back(feature);
  }
}

}  // namespace

std::string Analyzer::SaveState() const {
  const Impl& s = *impl_;
  std::string out;
  StateWriter w(out);
  w.U32(kMagic);
  w.U32(kVersion);
  w.U64(s.next_uid);
  w.U8(s.clock_started);
  w.I64(s.now_us);
  w.U64(s.labeller ? s.labeller->clock_ms() : 0);
  w.U64(s.stats.packets);
  w.U64(s.stats.not_ip);
  w.U64(s.stats.undecodable);
  w.U64(s.stats.fragments);
  w.U64(s.stats.sessions);
  w.U64(s.stats.peak_open_flows);

  const auto& entries = s.fragments.entries();
  w.U32(static_cast<std::uint32_t>(s.fragments.next()));
  for (const FragmentEntry& e : entries) {
    w.U8(static_cast<std::uint8_t>(e.used | e.is_v6 << 1 | e.has_ports << 2 | e.one_way << 3));
    if (!e.used) continue;
    w.U8(e.proto);
    w.Bytes(e.src, 16);
    w.Bytes(e.dst, 16);
    w.U32(e.id);
    w.U16(e.src_port);
    w.U16(e.dst_port);
  }

  w.U64(s.ended_refs.size());
  for (const SessionPackets& p : s.ended_refs) {
    w.U64(p.uid);
    w.U64(p.refs.size());
    for (const PacketRef& ref : p.refs) WriteRef(w, ref);
  }

  w.U64(s.table.size());
  for (int c = 0; c < kTimerClasses; ++c) {
    for (std::uint32_t i = s.table.Front(static_cast<TimerClass>(c)); i != kNoFlow; i = s.table.Next(i)) {
      WriteFlow(w, s.table.at(i));
    }
  }
  return out;
}

Status Analyzer::RestoreState(std::string_view blob, const PacketFetcher& fetch) {
  Impl& s = *impl_;
  auto reset = [&s] {
    s.table.Clear();
    s.fragments.Clear();
    s.ended_refs.clear();
    s.next_uid = 1;
    s.clock_started = false;
    s.now_us = 0;
    s.stats = AnalyzerStats{};
    if (s.labeller) s.labeller->set_clock_ms(0);
  };
  reset();
  StateReader r(blob);
  auto fail = [&](const std::string& what) {
    reset();
    return Status::Corruption("analyzer state: " + what + " (at byte " +
                              std::to_string(r.position()) + " of " + std::to_string(blob.size()) + ")");
  };
  if (r.U32() != kMagic) return fail("not an analyzer state blob");
  const std::uint32_t version = r.U32();
  if (!r.ok() || version != kVersion) return fail("unsupported version " + std::to_string(version));
  s.next_uid = r.U64();
  s.clock_started = r.Bool();
  s.now_us = r.I64();
  const std::uint64_t clock_ms = r.U64();
  if (s.labeller) s.labeller->set_clock_ms(clock_ms);
  s.stats.packets = r.U64();
  s.stats.not_ip = r.U64();
  s.stats.undecodable = r.U64();
  s.stats.fragments = r.U64();
  s.stats.sessions = r.U64();
  s.stats.peak_open_flows = r.U64();

  s.fragments.set_next(r.U32());
  for (FragmentEntry& e : s.fragments.entries()) {
    const std::uint8_t bits = r.U8();
    if (bits > 0x0f) r.Fail();
    e = FragmentEntry{};
    if (!(bits & 1)) continue;
    e.used = true;
    e.is_v6 = bits & 2;
    e.has_ports = bits & 4;
    e.one_way = bits & 8;
    e.proto = r.U8();
    r.Bytes(e.src, 16);
    r.Bytes(e.dst, 16);
    e.id = r.U32();
    e.src_port = r.U16();
    e.dst_port = r.U16();
  }
  if (!r.ok()) return fail("fragment table cut short");

  const std::size_t ended = r.Count(16);
  for (std::size_t i = 0; i < ended && r.ok(); ++i) {
    SessionPackets p;
    p.uid = r.U64();
    const std::size_t refs = r.Count(16);
    p.refs.reserve(refs);
    for (std::size_t j = 0; j < refs && r.ok(); ++j) p.refs.push_back(ReadRef(r));
    s.ended_refs.push_back(std::move(p));
  }
  if (!r.ok()) return fail("packet refs cut short");

  const std::size_t flows = r.Count(kMinFlowBytes);
  if (!r.ok()) return fail("flow count missing or larger than the blob");
  for (std::size_t i = 0; i < flows; ++i) {
    Flow flow;
    ReadFlow(r, flow);
    if (!r.ok()) return fail("flow " + std::to_string(i) + " malformed");
    if (s.table.Find(flow.key) != kNoFlow) return fail("flow " + std::to_string(i) + " repeated");
    if (flow.uid == 0 || flow.uid >= s.next_uid) return fail("flow " + std::to_string(i) + " has a bad uid");
    const TimerClass timer = flow.timer;
    const std::uint32_t index = s.table.Insert(flow.key);
    s.table.at(index) = std::move(flow);
    s.table.at(index).in_use = true;
    s.table.at(index).prev = s.table.at(index).next = kNoFlow;
    s.table.Touch(index, timer);
  }
  if (r.remaining() != 0) return fail("trailing bytes");
  s.stats.open_flows = s.table.size();

  // nDPI: dissect again what it had seen of flows still being detected.
  if (s.labeller) {
    std::string storage;
    Status status;
    s.table.ForEach([&](std::uint32_t index) {
      Flow& flow = s.table.at(index);
      if (!status.ok() || flow.ndpi.done) return;
      for (const NdpiSeen& seen : flow.ndpi.seen) {
        RawPacket packet;
        Status fetched = fetch ? fetch(seen.ref, storage, packet)
                               : Status::FailedPrecondition("no packet fetcher");
        if (!fetched.ok()) {
          status = fetched.WithContext("refetching packet (chunk " + std::to_string(seen.ref.chunk_seq) +
                                       ", offset " + std::to_string(seen.ref.offset) + ")");
          return;
        }
        DecodedPacket d;
        if (DecodePacket(packet, d) != DecodeResult::kOk) continue;
        s.labeller->Replay(flow.ndpi, d, seen.time_ms);
      }
    });
    if (!status.ok()) {
      reset();
      return status;
    }
  }
  return Status::Ok();
}

}  // namespace picket::analysis
