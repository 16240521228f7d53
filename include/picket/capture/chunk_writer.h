// ChunkWriter: cuts a packet stream into crash-safe classic pcap files.
//
// A chunk is written as <dir>/.<seq>.pcap.tmp through our own buffered write()
// path (no stdio, no pcap_dump: their errors are easy to lose) and hashed
// (SHA-256) as it is written. Sealing is flush → fsync(file) → rename to
// <dir>/<seq, 12 digits>.pcap → fsync(dir); only then is the sealed callback
// called. A reader therefore only ever sees complete files under final names.
//
// Rotation: before a packet that would push the file past max_bytes (unless
// the chunk is still empty), when the chunk's first packet is max_age old, and
// after `idle` without packets (Tick). Ages use the injected Clock's monotonic
// time, never packet timestamps, so a wall-clock step rotates nothing.
//
// Errors (ENOSPC, EFBIG, EIO, a vanished directory) come back as a Status that
// names the file. The open chunk is then abandoned (its temp file removed), its
// packets are counted as lost and reported with the next sealed chunk, and the
// writer stays usable: the next Write starts a new chunk. Deciding whether to
// retry or stop is the caller's job.
//
// Threading: one thread (the capture loop). Not copyable.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "picket/capture/packet_source.h"
#include "picket/common/clock.h"
#include "picket/common/daemon_config.h"
#include "picket/common/status.h"

namespace picket::capture {

enum class SealReason { kSize, kAge, kIdle, kStop };
std::string_view SealReasonName(SealReason reason);

// One sealed chunk, as the buffer indexes it and the uploader ships it.
struct SealedChunk {
  std::int64_t seq = 0;
  std::string path;  // final path
  std::string interface;
  std::uint64_t bytes = 0;  // file size, header included
  std::uint64_t packets = 0;
  std::int64_t first_packet_us = 0;  // packet timestamps (µs since the epoch)
  std::int64_t last_packet_us = 0;
  std::array<std::uint8_t, 32> sha256{};
  std::string sha256_hex;
  // Drops since the previous chunk was sealed (or the writer opened): deltas of
  // the source's cumulative counters, so every drop lands in exactly one chunk.
  std::uint64_t kernel_drops = 0;
  std::uint64_t interface_drops = 0;
  // Packets picket itself lost since the previous chunk: abandoned chunks after
  // write errors and packets the caller reported with NoteLostPackets.
  std::uint64_t lost_packets = 0;
  std::int64_t gap_before_ms = 0;  // restart gap; only on the first chunk after the writer opened
  std::int64_t sealed_at_ms = 0;   // wall clock
  SealReason reason = SealReason::kStop;
};

struct ChunkWriterOptions {
  std::string dir;        // must exist; opened once, so a later chdir/privilege drop is harmless
  std::string interface;  // recorded in every SealedChunk
  int link_type = 1;      // DLT_* (PacketSource::LinkType())
  int snaplen = 262144;   // written in the file header; longer packets are truncated to it
  std::uint64_t max_bytes = 8ull << 20;
  Millis max_age{60'000};  // ≤ 0: no age rotation
  Millis idle{10'000};     // ≤ 0: no idle rotation
  std::int64_t gap_before_ms = 0;
  std::size_t buffer_bytes = 256 << 10;  // user-space write buffer

  // Rotation limits from the config; link type and snaplen from the source.
  static ChunkWriterOptions FromConfig(const CaptureSection& capture, std::string dir,
                                       const PacketSource& source);
};

struct ChunkWriterStats {
  std::uint64_t chunks_sealed = 0;
  std::uint64_t packets_sealed = 0;
  std::uint64_t bytes_sealed = 0;
  std::uint64_t chunks_abandoned = 0;   // after a write/seal error
  std::uint64_t lost_packets = 0;       // total, including ones already reported in a chunk
  std::uint64_t truncated_packets = 0;  // caplen > snaplen, cut to snaplen
};

class ChunkWriter {
 public:
  // Called after the chunk is durable under its final name. Must not throw;
  // runs on the writer's thread inside Write/Tick/SealNow.
  using SealedCallback = std::function<void(const SealedChunk&)>;
  // The next chunk's sequence number. A seq is consumed only by a successful
  // seal: after a failed chunk the same number is used again.
  using SeqAllocator = std::function<Result<std::int64_t>()>;
  // The source's cumulative counters (PacketSource::Stats); may be empty (no drops).
  using StatsProvider = std::function<Result<CaptureStats>()>;

  // Checks the options and opens the directory.
  static Result<std::unique_ptr<ChunkWriter>> Open(ChunkWriterOptions options, const Clock& clock,
                                                   SeqAllocator next_seq, StatsProvider stats,
                                                   SealedCallback on_sealed);
  // A SeqAllocator counting up from `first`.
  static SeqAllocator CountingSeq(std::int64_t first);

  // An open, unsealed chunk is abandoned (temp file removed) with a warning:
  // call SealNow first to keep it.
  ~ChunkWriter();
  ChunkWriter(const ChunkWriter&) = delete;
  ChunkWriter& operator=(const ChunkWriter&) = delete;

  // Appends one packet, sealing the current chunk first when size or age says so.
  Status Write(const Packet& packet);
  // Seals on age or idle. Call after every dispatch, packets or not.
  Status Tick();
  // Seals the open chunk now (stop, SIGTERM). Without packets nothing is sealed.
  Status SealNow();
  // Packets the caller dropped (e.g. while writes were failing); reported with the next chunk.
  void NoteLostPackets(std::uint64_t count);

  bool chunk_open() const;
  std::uint64_t open_chunk_packets() const;
  const ChunkWriterStats& stats() const;
  const ChunkWriterOptions& options() const;

 private:
  struct State;
  explicit ChunkWriter(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace picket::capture
