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
// retry or stop is the caller's job. When no chunk comes to report a loss (the
// link went quiet, or SealNow), a loss record does: a chunk of no packets (the
// file header alone) carrying lost_packets, sealed after `idle` without packets
// (Tick; retried with backoff up to 5 s while it fails) and by SealNow.
//
// Two modes, chosen by ChunkWriterOptions::queue_bytes:
//
// Inline (queue_bytes == 0): everything above runs on the calling thread inside
// Write/Tick/SealNow, and an error comes back from the call that hit it.
//
// Queued (queue_bytes > 0; FromConfig's default, so the daemon's): the calling
// thread (the capture loop) only decides rotations and copies packet records
// into blocks of a fixed in-memory pool (about queue_bytes in all, allocated at
// Open). A writer thread owned by the ChunkWriter drains the blocks in order to
// the temp file, hashes them, and seals (fsync, rename, fsync(dir)). The seq
// allocator and the sealed callback run on that writer thread, one chunk after
// the other, in seq order; the stats provider runs on the calling thread, at the
// rotation. Write never waits for the disk: when the pool is exhausted (disk
// slower than capture for longer than the pool holds) the packet is dropped,
// counted in stats().queue_drops and lost_packets, and reported as lost_packets
// of the chunk that was open (or of the next one). A write/seal error on the
// writer thread is returned by the next Write/Tick/SealNow (at most one error
// per failure; the packet in hand of a Write that returns it is counted lost);
// the failed chunk is abandoned as in inline mode, and the packets still queued
// for it are counted lost. SealNow and the destructor wait until every queued
// block and seal is done, so SealNow's return means every chunk is sealed and
// every callback has returned (a happens-before edge for the caller).
//
// Threading: one calling thread (the capture loop) for every member function;
// the Clock must be thread-safe in queued mode. Not copyable.
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

// kLoss: a loss record, a chunk of no packets whose lost_packets no other chunk could carry.
enum class SealReason { kSize, kAge, kIdle, kStop, kLoss };
std::string_view SealReasonName(SealReason reason);

// One sealed chunk, as the buffer indexes it and the uploader ships it.
struct SealedChunk {
  std::int64_t seq = 0;
  std::string path;  // final path
  std::string interface;
  std::uint64_t bytes = 0;  // file size, header included
  std::uint64_t packets = 0;
  std::int64_t first_packet_us = 0;  // packet timestamps (µs since the epoch); 0 without packets
  std::int64_t last_packet_us = 0;
  // Packets stamped earlier than the packet before them (this chunk's or the
  // previous one's last): the wall clock was stepped back. 0: in order.
  std::uint64_t ts_backwards = 0;
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
  // The switch from a previous capture (make-before-break), first chunk only; 0: none.
  std::int64_t switched_at_us = 0;
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
  std::int64_t switched_at_us = 0;  // see SealedChunk
  std::size_t buffer_bytes = 256 << 10;  // user-space write buffer (inline mode)
  // In-memory pool between the capture thread and the writer thread (queued mode,
  // see above); 0: inline mode. Blocks are min(256 KiB, queue_bytes / 8), at least
  // 4 KiB and one whole record (16 + snaplen); at least two of them.
  std::size_t queue_bytes = 0;
  static constexpr std::size_t kMaxQueueBlockBytes = 256 << 10;
  // ~45 ms of 3 Gbps, on top of the kernel ring; counts against the gateway's RAM budget.
  static constexpr std::size_t kDefaultQueueBytes = 16 << 20;

  // Rotation limits and the pool (capture.queue_mib, kDefaultQueueBytes by
  // default) from the config; link type and snaplen from the source.
  static ChunkWriterOptions FromConfig(const CaptureSection& capture, std::string dir,
                                       const PacketSource& source);
};

struct ChunkWriterStats {
  std::uint64_t chunks_sealed = 0;
  std::uint64_t packets_sealed = 0;
  std::uint64_t bytes_sealed = 0;
  std::uint64_t chunks_abandoned = 0;   // after a write/seal error or a refused commit
  std::uint64_t commit_failures = 0;    // of chunks_abandoned: the CommitCallback refused it
  std::uint64_t lost_packets = 0;       // total, including ones already reported in a chunk
  std::uint64_t queue_drops = 0;        // of lost_packets: the queue's pool was exhausted
  std::uint64_t truncated_packets = 0;  // caplen > snaplen, cut to snaplen
};

class ChunkWriter {
 public:
  // Called after the chunk is durable under its final name. Must not throw.
  // Inline mode: on the calling thread inside Write/Tick/SealNow. Queued mode:
  // on the writer thread, as is the SeqAllocator (never concurrently with it).
  using SealedCallback = std::function<void(const SealedChunk&)>;
  // As SealedCallback, but may refuse the chunk (e.g. the buffer could not
  // record it: disk full, database locked). A refused chunk is removed under its
  // final name, its seq stays consumed (never handed out again), its packets
  // are counted as lost and its drop counts and restart gap move to the next
  // chunk; the writer goes on with the next chunk (no error is returned).
  using CommitCallback = std::function<Status(const SealedChunk&)>;
  // The next chunk's sequence number, for a chunk of at most `max_bytes`
  // (options.max_bytes; a loss record: the file header), so that the caller
  // can make room for it first. A seq is consumed by a successful seal (also
  // when the CommitCallback then refuses the chunk): after a failed write or
  // seal the same number is used again.
  using SeqAllocator = std::function<Result<std::int64_t>(std::uint64_t max_bytes)>;
  // The source's cumulative counters (PacketSource::Stats); may be empty (no drops).
  using StatsProvider = std::function<Result<CaptureStats>()>;

  // Checks the options and opens the directory.
  static Result<std::unique_ptr<ChunkWriter>> Open(ChunkWriterOptions options, const Clock& clock,
                                                   SeqAllocator next_seq, StatsProvider stats,
                                                   SealedCallback on_sealed);
  static Result<std::unique_ptr<ChunkWriter>> OpenCommitting(ChunkWriterOptions options,
                                                             const Clock& clock,
                                                             SeqAllocator next_seq,
                                                             StatsProvider stats,
                                                             CommitCallback on_commit);
  // A SeqAllocator counting up from `first`.
  static SeqAllocator CountingSeq(std::int64_t first);

  // An open, unsealed chunk is abandoned (temp file removed) with a warning:
  // call SealNow first to keep it. Queued mode: chunks already rotated are still
  // sealed (their callbacks run) before the writer thread is joined.
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

  // As the calling thread sees it (queued mode: records may still be queued).
  bool chunk_open() const;
  std::uint64_t open_chunk_packets() const;
  // A snapshot; writer-thread counters are taken under a lock.
  ChunkWriterStats stats() const;
  const ChunkWriterOptions& options() const;

 private:
  struct State;
  explicit ChunkWriter(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace picket::capture
