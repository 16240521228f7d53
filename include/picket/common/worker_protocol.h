// The control channel between the supervisor and its worker process: the
// worker's stdin carries commands, its stdout events, one JSON object a line.
// This header is the whole contract; nothing else spells a key of it.
//
//   supervisor → worker (Command)
//     {"op":"filter","filter":F,"version":V}             apply a new capture filter live
//     {"op":"assign","job":J,"shard":S,"spec":T,"start_index":I}   scan a claimed shard
//     {"op":"release","job":J,"shard":S}                 stop it (a "stopped" event follows)
//     {"op":"release_all"}                               stop every shard (session expired)
//   worker → supervisor (Event)
//     {"event":"ready","version":V,"capture":B}          running the config of version V
//     {"event":"filter","version":V,"ok":B[,"error":E]}  the answer to a filter command
//     {"event":"shard","kind":K,"job":J,"shard":S,"checkpoint":C,"done":D,"total":N,
//      "results":R[,"error":E]}                          K: progress|finished|stopped|failed
//     {"event":"stats","packets":P,"lost_packets":L,"filter_changes":F,
//      "kernel_drops":K,"if_drops":I,"bytes_captured":B}  every ~2 s; cumulative
//                                                        since the worker started;
//                                                        a missing field reads as 0
//     {"event":"failed","what":W,"error":E}              why it is about to exit 1
//                                                        (W: "capture", "buffer", ...)
//
// Both binaries are the same build, but a line is still untrusted input: the
// parsers bound its length and nesting, check every field's type and range,
// and return an error naming the field and the value; they never throw.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "picket/common/status.h"

namespace picket::worker_protocol {

// A longer line is refused whole (the readers drop it and keep the channel).
inline constexpr std::size_t kMaxLineBytes = std::size_t{1} << 20;
// Set in a successor's environment: the pid of the worker it replaces. The
// successor takes the buffer lock only after that one exited (flock keeps no
// queue, and a restart during a hand-over has two workers waiting).
inline constexpr const char* kPredecessorEnv = "PICKET_WORKER_PREDECESSOR";

// --- supervisor → worker ----------------------------------------------------

struct FilterCommand {
  std::string filter;        // BPF expression, already checked by the supervisor
  std::int64_t version = 0;  // config version it belongs to, echoed in the FilterAck
  bool operator==(const FilterCommand&) const = default;
};

struct AssignShard {
  std::string job;
  std::uint32_t shard = 0;
  std::string spec;              // the job node's text (common/shared_job.h)
  std::uint64_t start_index = 0;  // resume point
  bool operator==(const AssignShard&) const = default;
};

struct ReleaseShard {
  std::string job;
  std::uint32_t shard = 0;
  bool operator==(const ReleaseShard&) const = default;
};

struct ReleaseAll {
  bool operator==(const ReleaseAll&) const = default;
};

// Stop as on SIGTERM, and leave the successor (already armed, its capture
// open) where this capture ended: only that worker skips what this one took.
struct HandOver {
  std::int64_t successor_pid = 0;
  // The successor's Armed::capturing_since_us: this capture may stop as soon
  // as it has taken a packet stamped after it (0: drain as on SIGTERM).
  std::int64_t successor_since_us = 0;
  bool operator==(const HandOver&) const = default;
};

using Command = std::variant<FilterCommand, AssignShard, ReleaseShard, ReleaseAll, HandOver>;

// --- worker → supervisor ----------------------------------------------------

struct Ready {
  std::int64_t version = 0;  // of the config file the worker read
  bool capture = false;      // capture open (false: scans only)
  bool operator==(const Ready&) const = default;
};

// Make-before-break: the worker's capture is open (its ring fills) and it is
// about to wait for the buffer, which its predecessor still holds. The
// supervisor now stops the predecessor; the two cut over at one packet
// (capture::CaptureCut). Sent before Ready, by every worker.
struct Armed {
  std::int64_t version = 0;
  // Wall clock (µs, the clock of packet timestamps) just after the capture
  // opened: every packet stamped later is in its ring. 0: no capture.
  std::int64_t capturing_since_us = 0;
  bool operator==(const Armed&) const = default;
};

struct FilterAck {
  std::int64_t version = 0;
  bool ok = false;
  std::string error;  // when !ok
  bool operator==(const FilterAck&) const = default;
};

// Also the worker's ShardRunner's own event type.
struct ShardEvent {
  enum Kind { kProgress, kFinished, kStopped, kFailed } kind = kProgress;
  std::string job;
  std::uint32_t shard = 0;
  // checkpoint: resuming from it loses nothing (every result below it is in the buffer).
  // done/total: the scanner's ScanProgress; results: lines buffered by this assignment.
  std::uint64_t checkpoint = 0, done = 0, total = 0, results = 0;
  std::string error;  // kFailed only
  bool operator==(const ShardEvent&) const = default;
};

struct Stats {
  std::uint64_t packets = 0, lost_packets = 0, filter_changes = 0;
  std::uint64_t kernel_drops = 0;    // libpcap ps_drop: the ring was full
  std::uint64_t if_drops = 0;        // libpcap ps_ifdrop: dropped by the NIC/driver
  std::uint64_t bytes_captured = 0;  // sum of caplen of the packets received
  // Why sealed chunks cannot be kept right now ("degraded: disk full",
  // "degraded: database locked", ...); "" when they can. Not summed across runs.
  std::string degraded;
  bool operator==(const Stats&) const = default;
};

// Sent once, just before the worker exits for a reason it knows: the
// supervisor shows it as the worker's error (status node, config refusals).
struct Failed {
  std::string what;   // the part that could not start or run ("capture", "buffer", ...)
  std::string error;  // its message, cut to kMaxFailureBytes
  bool operator==(const Failed&) const = default;
};
inline constexpr std::size_t kMaxFailureBytes = 2048;

using Event = std::variant<Ready, Armed, FilterAck, ShardEvent, Stats, Failed>;

// "progress", "finished", "stopped", "failed".
std::string_view ShardKindName(ShardEvent::Kind kind);

// One JSON object without the trailing newline. Invalid UTF-8 in a string is
// replaced, never thrown.
std::string EncodeCommand(const Command& command);
std::string EncodeEvent(const Event& event);

// One line, with or without its trailing newline.
Result<Command> ParseCommand(std::string_view line);
Result<Event> ParseEvent(std::string_view line);

}  // namespace picket::worker_protocol
