// The device → collector HTTP contract (DESIGN.md §5), shared by the uploader
// and the collector so both sides spell every path and header the same way.
//
//   PUT  /v1/devices/{id}/chunks/{seq}   body: classic pcap (Content-Encoding: gzip allowed)
//        Digest: sha-256=<base64 of SHA-256 of the uncompressed pcap>
//        X-Picket-* chunk metadata headers below
//        201 stored · 200 same seq and hash already stored · 409 same seq, other hash
//        400 digest mismatch / not a pcap / bad header · 401 bad token · 413 too large
//        429/503 with Retry-After when over the in-flight limit
//   POST /v1/devices/{id}/results        body: NDJSON scan results, Idempotency-Key header
//   POST /v1/devices/{id}/logs           body: NDJSON log lines, Idempotency-Key header
//        200 {"accepted":N,"duplicate":false} · 200 {"accepted":0,"duplicate":true} on replay
//   GET  /v1/devices                     devices seen, last upload, counters
//   GET  /v1/devices/{id}/chunks         [{seq, sha256, bytes, packets, first_ts_us, ...}]
//   GET  /v1/devices/{id}/chunks/{seq}   the pcap bytes
// Every request carries "Authorization: Bearer <token>"; a device token only
// writes its own device id; the operator token reads everything.
#pragma once

#include <string_view>

namespace picket::wire {

inline constexpr std::string_view kDigestHeader = "Digest";            // "sha-256=<base64>"
inline constexpr std::string_view kIdempotencyKeyHeader = "Idempotency-Key";
inline constexpr std::string_view kRetryAfterHeader = "Retry-After";   // seconds

// Chunk metadata, decimal integers.
inline constexpr std::string_view kPacketsHeader = "X-Picket-Packets";
inline constexpr std::string_view kFirstTsHeader = "X-Picket-First-Ts-Us";   // first packet, µs since epoch
inline constexpr std::string_view kLastTsHeader = "X-Picket-Last-Ts-Us";
inline constexpr std::string_view kKernelDropsHeader = "X-Picket-Kernel-Drops";     // during this chunk
inline constexpr std::string_view kInterfaceDropsHeader = "X-Picket-Interface-Drops";
// Received by the worker but in no chunk (disk slower than capture, write errors).
inline constexpr std::string_view kLostPacketsHeader = "X-Picket-Lost-Packets";
inline constexpr std::string_view kGapBeforeHeader = "X-Picket-Gap-Before-Ms";  // capture down before it
inline constexpr std::string_view kInterfaceHeader = "X-Picket-Interface";       // text
// Device counters, sent on every upload so the collector always has the latest.
inline constexpr std::string_view kEvictedChunksHeader = "X-Picket-Evicted-Chunks";
inline constexpr std::string_view kEvictedBytesHeader = "X-Picket-Evicted-Bytes";

inline constexpr std::string_view kNdjsonContentType = "application/x-ndjson";
inline constexpr std::string_view kPcapContentType = "application/vnd.tcpdump.pcap";

}  // namespace picket::wire
