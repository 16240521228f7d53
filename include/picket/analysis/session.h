// The session record (picket.session.v1): one bidirectional flow, keyed by
// Community ID v1, timed on packet time, labelled by nDPI. The JSON field
// names below are the contract: the analyser writes them, the collector stores
// and serves them, the CLI prints them and the tests compare them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "picket/common/status.h"

namespace picket::analysis {

// Why a session ended (JSON `end_reason`).
enum class EndReason {
  kFin,          // "fin": FIN seen both ways
  kRst,          // "rst": a RST
  kIdle,         // "idle": no packet for the protocol's idle timeout (packet time)
  kEndOfData,    // "end_of_data": the input ended (offline read) with the flow open
  kGap,          // "gap": the device's capture had a gap (restart, eviction) before a chunk
  kReused,       // "reused": a new SYN on the 5-tuple of a session that had ended its handshake
  kResources,    // "resources": the open-flow table was full; the oldest flow was closed
};
std::string_view EndReasonName(EndReason reason);
std::optional<EndReason> ParseEndReason(std::string_view name);

// Where one packet of a session is stored: the chunk (its seq; 0 for an
// offline file) and the byte offset of the packet's record header in it.
struct PacketRef {
  std::uint64_t chunk_seq = 0;
  std::uint64_t offset = 0;
  friend bool operator==(const PacketRef&, const PacketRef&) = default;
};

// The first N packets of a session, for the user's own models (--features N).
struct PacketFeature {
  bool from_originator = true;  // JSON direction: 1 originator → responder, -1 back
  std::uint32_t wire_len = 0;
  std::uint32_t payload_len = 0;
  std::int64_t iat_us = 0;      // since the session's previous packet; 0 for the first
  std::uint8_t tcp_flags = 0;   // 0 for non-TCP
};

struct Session {
  std::uint64_t uid = 0;     // unique within one analysed stream (a device, a file); from 1
  std::string community_id;  // "1:<base64>", seed 0
  std::uint8_t proto = 0;    // IANA protocol number
  std::string src_ip, dst_ip;  // originator first (textual, as inet_ntop writes them)
  std::uint16_t src_port = 0, dst_port = 0;  // ICMP/ICMPv6: type and code; other protocols 0
  std::uint64_t orig_pkts = 0, orig_bytes = 0, resp_pkts = 0, resp_bytes = 0;  // bytes: wire length
  std::uint64_t orig_payload_bytes = 0, resp_payload_bytes = 0;
  std::int64_t first_ts_us = 0, last_ts_us = 0;  // JSON first_ts/last_ts: RFC 3339, µs
  std::string state;    // Zeek conn_state: S0 S1 SF REJ S2 S3 RSTO RSTR RSTOS0 RSTRH SH SHR OTH
  std::string history;  // Zeek history letters
  EndReason end_reason = EndReason::kIdle;
  std::string app;       // nDPI protocol name ("Unknown" when nDPI found none)
  std::string category;  // nDPI category name
  std::vector<std::string> risks;  // nDPI flow risk names
  std::uint32_t risk_score = 0;
  std::string server_name;  // TLS SNI / HTTP Host / DNS query; "" when none
  std::string device;       // set by the collector; "" offline
  std::vector<PacketRef> packets;  // every packet, in arrival order (AnalyzerOptions::refs_in_session)
  std::vector<PacketFeature> features;  // first N packets when asked for
};

// The JSON object of a session (field names as above; duration in seconds;
// `packets` as [{"chunk":seq,"offsets":[...]}, ...] grouped by chunk, only
// when with_packets; `features` as parallel arrays, only when non-empty).
nlohmann::json ToJson(const Session& session, bool with_packets);
// The inverse, for the CLI reading the collector's answers. Errors name the field.
Result<Session> FromJson(const nlohmann::json& json);

// A fixed-width table for `picket sessions`: a header line and one line each.
std::string TableHeader();
std::string TableRow(const Session& session);

}  // namespace picket::analysis
