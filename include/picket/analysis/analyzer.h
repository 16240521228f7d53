// The analyser: packets in, sessions out. Pure: it reads only the bytes it
// is handed (a FILE* or a memory buffer) and does no other I/O; the collector
// and `picket sessions --read` own files, databases and threads.
//
// One Analyzer per packet stream (a device at the collector, a file offline),
// used on the thread that made it: analysers made on one thread share one
// nDPI detection module (~5.6 MiB) and must not run at once. Timers run on packet time, so the same
// packets always give the same sessions, however they are cut into chunks.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "picket/analysis/session.h"
#include "picket/common/status.h"

namespace picket::analysis {

struct AnalyzerOptions {
  std::int64_t tcp_idle_us = 300'000'000;
  std::int64_t udp_idle_us = 60'000'000;
  std::int64_t icmp_idle_us = 30'000'000;   // ICMP and ICMPv6
  std::int64_t other_idle_us = 60'000'000;  // SCTP and every other IP protocol
  std::size_t features_packets = 0;         // --features N: the first N packets of each session
  bool label = true;                        // run nDPI (off: app/category/risks stay empty)
  std::size_t max_open_flows = 1'000'000;   // beyond it the oldest flow ends with "resources"
  // true: each Session carries all its packet refs (offline reads). false: the
  // refs are handed out per chunk by TakePacketRefs (the collector stores them
  // with the chunk), so saved state stays O(open flows), not O(packets).
  bool refs_in_session = true;
  // false: no packet refs are kept at all (an offline read that prints none
  // saves a push per packet and an allocation per session).
  bool keep_packet_refs = true;
};

// The packets one session received since the last TakePacketRefs.
struct SessionPackets {
  std::uint64_t uid = 0;
  std::vector<PacketRef> refs;
};

// One captured packet as handed to the analyser. `data` holds the captured
// bytes (caplen), `wire_len` the length on the wire (≥ caplen).
struct RawPacket {
  std::int64_t ts_us = 0;
  std::uint32_t wire_len = 0;
  int link_type = 0;  // DLT_* of the capture
  std::span<const std::uint8_t> data;
  PacketRef ref;
};

struct AnalyzerStats {
  std::uint64_t packets = 0;        // fed
  std::uint64_t not_ip = 0;         // no IPv4/IPv6 inside (ARP, LLDP, ...): in no session
  std::uint64_t undecodable = 0;    // cut short or malformed headers: in no session
  std::uint64_t fragments = 0;      // IP fragments (attributed to their flow when possible)
  std::uint64_t sessions = 0;       // emitted
  std::uint64_t open_flows = 0;     // now
  std::uint64_t peak_open_flows = 0;
};

using SessionSink = std::function<void(Session&&)>;
// Fills `packet` with the packet stored at `ref` (the collector reads its
// chunk file); `packet.data` may point into `storage`, which the caller keeps.
using PacketFetcher =
    std::function<Status(const PacketRef& ref, std::string& storage, RawPacket& packet)>;

class Analyzer {
 public:
  Analyzer(AnalyzerOptions options, SessionSink sink);
  ~Analyzer();
  Analyzer(const Analyzer&) = delete;
  Analyzer& operator=(const Analyzer&) = delete;

  // Adds one packet; sessions it ends (idle timers of other flows included)
  // reach the sink before Feed returns.
  void Feed(const RawPacket& packet);
  // Ends every open session with `reason` (kEndOfData after a file, kGap
  // before a chunk that follows a capture gap).
  void CloseAll(EndReason reason);

  AnalyzerStats stats() const;

  // With refs_in_session false: the refs of every packet fed since the last
  // call, grouped by session uid (sessions still open included).
  std::vector<SessionPackets> TakePacketRefs();

  // The open flows as a self-contained blob (no pointers), to be stored in
  // the same transaction as the sessions of the chunk it follows.
  std::string SaveState() const;
  // Replaces the open flows with a saved blob. nDPI's state is rebuilt by
  // re-dissecting, through `fetch`, the packets nDPI had seen; the labels then
  // come out as in an uninterrupted run. Errors (bad blob) leave it empty.
  Status RestoreState(std::string_view blob, const PacketFetcher& fetch);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Reads a capture (classic pcap in either byte order, µs or ns, or pcapng)
// from `file`, feeding every packet with refs {chunk_seq, record offset}.
// A damaged capture stops at the damage: the packets before it are fed and
// the Status names the offset and what is wrong.
Status ReadCapture(std::FILE* file, std::uint64_t chunk_seq,
                   const std::function<void(const RawPacket&)>& on_packet);
Status ReadCaptureBytes(std::string_view capture, std::uint64_t chunk_seq,
                        const std::function<void(const RawPacket&)>& on_packet);

// The packet whose record starts at `offset` in a capture held in memory
// (classic pcap or pcapng). `packet.data` points into `capture`.
Status PacketAt(std::string_view capture, std::uint64_t offset, RawPacket& packet);

}  // namespace picket::analysis
