#include "picket/capture/chunk_writer.h"

#include <fcntl.h>
#include <pcap/pcap.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "picket/common/c_handle.h"
#include "picket/common/digest.h"
#include "picket/common/log.h"

namespace picket::capture {

namespace {

constexpr std::size_t kFileHeaderBytes = 24;
constexpr std::size_t kRecordHeaderBytes = 16;

using PcapHandle = CHandle<pcap_t, pcap_close>;

// The classic (µs) pcap file header, written by libpcap itself into memory, so
// the DLT → LINKTYPE mapping (DLT_RAW is 12 on Linux but 101 in files) is
// libpcap's and not a copy of it. Runs once per writer; packets never go
// through stdio.
Result<std::vector<std::uint8_t>> MakeFileHeader(int link_type, int snaplen) {
  PcapHandle dead(
      pcap_open_dead_with_tstamp_precision(link_type, snaplen, PCAP_TSTAMP_PRECISION_MICRO));
  if (!dead)
    return Status::Internal("pcap_open_dead failed for linktype " + std::to_string(link_type));
  std::uint8_t bytes[64] = {};
  FILE* memory = fmemopen(bytes, sizeof bytes, "w");
  if (memory == nullptr) return FromErrno("fmemopen", errno);
  pcap_dumper_t* dumper = pcap_dump_fopen(dead.get(), memory);
  if (dumper == nullptr) {
    std::fclose(memory);
    return Status::Internal(std::string("pcap file header: ") + pcap_geterr(dead.get()));
  }
  pcap_dump_flush(dumper);
  const std::int64_t size = pcap_dump_ftell64(dumper);
  pcap_dump_close(dumper);  // closes `memory`
  if (size != static_cast<std::int64_t>(kFileHeaderBytes)) {
    return Status::Internal("pcap file header has " + std::to_string(size) + " bytes");
  }
  return std::vector<std::uint8_t>(bytes, bytes + kFileHeaderBytes);
}

// rename that refuses to replace a sealed chunk (a seq handed out twice must not
// destroy data). Filesystems without RENAME_NOREPLACE get check-then-rename;
// only this process writes the directory.
int RenameNoReplace(int dir_fd, const char* from, const char* to) {
#ifdef SYS_renameat2
  constexpr unsigned kRenameNoReplace = 1;  // RENAME_NOREPLACE
  if (syscall(SYS_renameat2, dir_fd, from, dir_fd, to, kRenameNoReplace) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return -1;
#endif
  struct stat st;
  if (fstatat(dir_fd, to, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    errno = EEXIST;
    return -1;
  }
  return renameat(dir_fd, from, dir_fd, to);
}

std::string FinalName(std::int64_t seq) {
  char name[32];
  std::snprintf(name, sizeof name, "%012" PRId64 ".pcap", seq);
  return name;
}

std::uint64_t Delta(std::uint64_t now, std::uint64_t before) {
  return now > before ? now - before : 0;
}

std::int64_t Micros(const timeval& ts) {
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000 + ts.tv_usec;
}

}  // namespace

std::string_view SealReasonName(SealReason reason) {
  switch (reason) {
    case SealReason::kSize:
      return "size";
    case SealReason::kAge:
      return "age";
    case SealReason::kIdle:
      return "idle";
    case SealReason::kStop:
      return "stop";
    case SealReason::kLoss:
      return "loss";
  }
  return "unknown";
}

ChunkWriterOptions ChunkWriterOptions::FromConfig(const CaptureSection& capture, std::string dir,
                                                  const PacketSource& source) {
  ChunkWriterOptions o;
  o.dir = std::move(dir);
  o.interface = source.Name();
  o.link_type = source.LinkType();
  o.snaplen = source.Snaplen();
  o.max_bytes = capture.chunk_max_bytes;
  o.max_age = capture.chunk_max_age;
  o.idle = capture.chunk_idle;
  o.queue_bytes = static_cast<std::size_t>(capture.queue_mib) << 20;
  return o;
}

namespace {

// Queued mode: a pool block of packet records (16-byte header + data, as in
// the file). The capture thread fills it front to back and hands it over in
// ranges; consecutive chunks may share a block.
struct Block {
  std::unique_ptr<std::uint8_t[]> data;
};

// Queued mode: what the capture thread hands to the writer thread, in order.
// A data item (block set) carries records [begin, end) of the current chunk and,
// with `release`, gives the block back to the pool once written; an end item
// (block null) ends the chunk. The chunk numbered n lies between end items n-1
// and n. The capture thread only writes a block past every range it pushed, so
// the two threads never touch the same bytes.
struct Item {
  Block* block = nullptr;
  std::size_t begin = 0, end = 0;
  std::uint64_t packets = 0;  // records in [begin, end)
  bool release = false;
  bool seal = true;  // end item: false abandons the chunk instead
  SealReason reason = SealReason::kStop;
  std::int64_t first_us = 0, last_us = 0;
  std::uint64_t backwards = 0;  // packets stamped before the one ahead of them
  std::uint64_t lost = 0;  // lost on the capture side since the previous end item
  std::optional<Result<CaptureStats>> drops;  // the source's counters at the rotation
};

// A loss record waits this long without packets when idle rotation is off.
constexpr Millis kLossRecordDelay{10'000};
// Retries of a loss record that failed (the disk still full) back off up to this.
constexpr Millis kMaxLossRecordBackoff{5'000};

}  // namespace

struct ChunkWriter::State {
  // Set by Open, then read-only.
  ChunkWriterOptions options;
  const Clock* clock = nullptr;
  SeqAllocator next_seq;
  StatsProvider stats_provider;
  CommitCallback on_commit;
  UniqueFd dir_fd;
  std::vector<std::uint8_t> file_header;
  bool queued = false;
  std::size_t block_bytes = 0;

  // The file side: the calling thread's in inline mode, the writer thread's in
  // queued mode (which touches none of it before the thread starts or after the
  // join, and the calling thread none of it while the thread runs).
  std::vector<std::uint8_t> buffer;
  std::size_t used = 0;
  Sha256 hash;
  // The open chunk. Inline mode: file.valid() ⇒ packets ≥ 1 between calls.
  UniqueFd file;
  std::optional<std::int64_t> seq;  // allocated and not yet consumed by a seal
  std::string temp_name;            // relative to dir_fd
  std::string temp_path;            // for messages
  std::uint64_t bytes = 0;          // header + records, buffered or written
  std::uint64_t packets = 0;
  std::int64_t first_us = 0, last_us = 0;
  std::uint64_t backwards = 0;
  CaptureStats baseline;
  std::uint64_t lost_pending = 0;
  bool gap_reported = false;
  bool discarding = false;        // queued: the current chunk failed; drop its blocks
  std::uint64_t ends_done = 0;    // queued: end items processed = index of the current chunk

  // The calling thread's own.
  MonoTime first_mono{}, last_mono{};
  MonoTime last_seen{};  // the last packet offered, written or lost
  std::uint64_t truncated = 0;
  std::uint64_t caller_lost = 0;  // queued: counted here, reported through end items
  std::uint64_t queue_drops = 0;
  // Queued mode: the chunk as the calling thread sees it.
  bool q_open = false;
  std::uint64_t q_bytes = 0, q_packets = 0;
  std::int64_t q_first_us = 0, q_last_us = 0;
  std::uint64_t q_lost = 0;       // for the next end item
  std::uint64_t q_backwards = 0;
  // The last packet's stamp, across chunks: a wall clock stepped back shows here.
  std::optional<std::int64_t> last_stamp_us;
  bool WentBackwards(std::int64_t us) {
    const bool back = last_stamp_us && us < *last_stamp_us;
    last_stamp_us = us;
    return back;
  }
  std::uint64_t ends_pushed = 0;  // = index of the open chunk
  Block* current = nullptr;       // being filled; the part past cur_pushed is this thread's
  std::size_t cur_used = 0, cur_pushed = 0;
  std::uint64_t cur_packets = 0;  // records in [cur_pushed, cur_used)
  bool dropping = false;           // the pool is exhausted
  bool drop_logged = false;        // this episode was logged
  std::uint64_t drops_logged = 0;  // queue_drops at the last log line
  MonoTime drop_log_at{};
  MonoTime loss_retry_at{};  // no loss record before this
  Millis loss_backoff{0};    // after the last loss record tried; 0: none tried

  // Shared in queued mode, guarded by mu.
  mutable std::mutex mu;
  ChunkWriterStats stats;  // chunk counters and file-side losses (the calling thread adds its own)
  std::deque<Item> queue;
  std::vector<Block*> free_blocks;
  bool busy = false;  // the writer thread is processing an item it took off the queue
  std::uint64_t writer_lost = 0;  // the writer thread's lost_pending, as of its last change
  bool quit = false;
  Status pending_error;                 // first unreported writer-thread error
  std::uint64_t failed_chunk = ~0ull;   // index of the chunk that failed last
  std::condition_variable work_cv;      // writer waits: queue non-empty or quit
  std::condition_variable idle_cv;      // caller waits: queue empty and not busy
  std::atomic<bool> error_pending{false};
  std::atomic<std::size_t> free_count{0};
  std::vector<Block> blocks;
  std::thread writer;

  std::string PathOf(const std::string& name) const { return options.dir + "/" + name; }

  // File-side losses (abandoned chunks); inline mode: every loss.
  void CountLost(std::uint64_t n) {
    lost_pending += n;
    std::lock_guard<std::mutex> lock(mu);
    stats.lost_packets += n;
    writer_lost = lost_pending;
  }

  Status WriteAll(const std::uint8_t* data, std::size_t size) {
    hash.Update(data, size);
    while (size > 0) {
      const ssize_t n = ::write(file.get(), data, size);
      if (n < 0) {
        if (errno == EINTR) continue;
        return FromErrno("write " + temp_path, errno);
      }
      data += n;
      size -= static_cast<std::size_t>(n);
    }
    return Status::Ok();
  }

  Status Flush() {
    if (used == 0) return Status::Ok();
    const std::size_t n = used;
    used = 0;
    return WriteAll(buffer.data(), n);
  }

  void Buffer(const void* data, std::size_t size) {
    std::memcpy(buffer.data() + used, data, size);
    used += size;
  }

  Status OpenChunk(std::uint64_t max_bytes) {
    if (!seq) {
      Result<std::int64_t> next = next_seq(max_bytes);
      if (!next.ok()) return next.status().WithContext("capture: allocating chunk seq");
      if (*next < 0)
        return Status::Internal("capture: negative chunk seq " + std::to_string(*next));
      seq = *next;
    }
    temp_name = "." + std::to_string(*seq) + ".pcap.tmp";
    temp_path = PathOf(temp_name);
    file = UniqueFd(
        openat(dir_fd.get(), temp_name.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
    if (!file.valid()) return FromErrno("create " + temp_path, errno);
    Buffer(file_header.data(), file_header.size());
    bytes = file_header.size();
    packets = 0;
    return Status::Ok();
  }

  Status Append(const Packet& packet, std::uint32_t caplen) {
    std::uint32_t header[4] = {static_cast<std::uint32_t>(packet.ts.tv_sec),
                               static_cast<std::uint32_t>(packet.ts.tv_usec), caplen, packet.len};
    const std::size_t record = kRecordHeaderBytes + caplen;
    if (used + record > buffer.size()) PICKET_RETURN_IF_ERROR(Flush());
    Buffer(header, sizeof header);
    if (kRecordHeaderBytes + caplen <= buffer.size()) {
      Buffer(packet.data, caplen);
    } else {  // bigger than the whole buffer: write it straight through
      PICKET_RETURN_IF_ERROR(Flush());
      PICKET_RETURN_IF_ERROR(WriteAll(packet.data, caplen));
    }
    bytes += record;
    return Status::Ok();
  }

  // Drops the open chunk's file (`name`: temp or, after a rename, final).
  void Abandon(const std::string& name, bool consume_seq) {
    file.Reset();
    if (unlinkat(dir_fd.get(), name.c_str(), 0) != 0 && errno != ENOENT) {
      PICKET_LOG(kWarn, "capture", "cannot remove abandoned chunk", {"path", PathOf(name)},
                 {"error", std::strerror(errno)});
    }
    CountLost(packets);
    {
      std::lock_guard<std::mutex> lock(mu);
      ++stats.chunks_abandoned;
    }
    hash.Finish();  // reset
    used = 0;
    bytes = 0;
    packets = 0;
    if (consume_seq) seq.reset();
  }

  // `drops`: the source's counters taken at the rotation (queued mode); inline
  // mode takes them here.
  Status Seal(SealReason reason, std::optional<Result<CaptureStats>> drops = std::nullopt) {
    const std::string final_name = FinalName(*seq);
    Status st = Flush();
    if (st.ok() && ::fsync(file.get()) != 0) st = FromErrno("fsync " + temp_path, errno);
    if (st.ok() && ::close(file.Release()) != 0) st = FromErrno("close " + temp_path, errno);
    if (!st.ok()) {
      Abandon(temp_name, false);
      return st;
    }
    if (RenameNoReplace(dir_fd.get(), temp_name.c_str(), final_name.c_str()) != 0) {
      const int e = errno;
      st = e == EEXIST ? Status::Conflict("rename " + temp_path + ": " + PathOf(final_name) +
                                          " already exists")
                       : FromErrno("rename " + temp_path + " to " + PathOf(final_name), e);
      Abandon(temp_name, e == EEXIST);
      return st;
    }
    if (::fsync(dir_fd.get()) != 0) {
      st = FromErrno("fsync directory " + options.dir, errno);
      Abandon(final_name, true);
      return st;
    }

    SealedChunk chunk;
    chunk.seq = *seq;
    chunk.path = PathOf(final_name);
    chunk.interface = options.interface;
    chunk.bytes = bytes;
    chunk.packets = packets;
    chunk.first_packet_us = first_us;
    chunk.last_packet_us = last_us;
    chunk.ts_backwards = backwards;
    chunk.sha256 = hash.Finish();
    chunk.sha256_hex = HexEncode(chunk.sha256.data(), chunk.sha256.size());
    if (!queued && stats_provider) drops = stats_provider();
    const CaptureStats old_baseline = baseline;
    const bool old_gap_reported = gap_reported;
    if (drops) {
      // Used only once the chunk is durable: a failed chunk's drops go to the next one.
      Result<CaptureStats>& now = *drops;
      if (now.ok()) {
        chunk.kernel_drops = Delta(now->kernel_drops, baseline.kernel_drops);
        chunk.interface_drops = Delta(now->interface_drops, baseline.interface_drops);
        baseline = *now;
      } else {
        PICKET_LOG(kWarn, "capture", "no capture statistics for chunk; drops move to the next",
                   {"seq", chunk.seq}, {"error", now.status()});
      }
    }
    chunk.lost_packets = lost_pending;
    lost_pending = 0;
    if (!gap_reported) {
      chunk.gap_before_ms = options.gap_before_ms;
      chunk.switched_at_us = options.switched_at_us;
      gap_reported = true;
    }
    chunk.sealed_at_ms = clock->WallMillis();
    chunk.reason = reason;

    seq.reset();
    bytes = 0;
    packets = 0;

    PICKET_LOG(kInfo, "capture", "chunk sealed", {"seq", chunk.seq}, {"packets", chunk.packets},
               {"bytes", chunk.bytes}, {"reason", SealReasonName(reason)},
               {"kernel_drops", chunk.kernel_drops}, {"if_drops", chunk.interface_drops},
               {"lost", chunk.lost_packets}, {"iface", chunk.interface});
    Status committed = on_commit ? on_commit(chunk) : Status::Ok();
    if (!committed.ok()) {
      // No file may keep a final name without a committed row; what it counted moves on.
      baseline = old_baseline;
      gap_reported = old_gap_reported;
      lost_pending += chunk.lost_packets;
      RemoveRefused(chunk, final_name, committed);
      return Status::Ok();
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      ++stats.chunks_sealed;
      stats.packets_sealed += chunk.packets;
      stats.bytes_sealed += chunk.bytes;
    }
    return Status::Ok();
  }

  // A sealed chunk the CommitCallback refused: its file goes, its packets are lost.
  void RemoveRefused(const SealedChunk& chunk, const std::string& final_name, const Status& why) {
    if (unlinkat(dir_fd.get(), final_name.c_str(), 0) != 0 && errno != ENOENT) {
      PICKET_LOG(kError, "capture", "cannot remove a refused chunk", {"path", chunk.path},
                 {"error", std::strerror(errno)});
    }
    (void)::fsync(dir_fd.get());
    CountLost(chunk.packets);
    {
      std::lock_guard<std::mutex> lock(mu);
      ++stats.chunks_abandoned;
      ++stats.commit_failures;
    }
    PICKET_LOG(kWarn, "capture", "sealed chunk not committed; removed, its packets counted lost",
               {"seq", chunk.seq}, {"packets", chunk.packets}, {"error", why},
               {"iface", chunk.interface});
  }

  // A loss record: a chunk without packets that reports losses no chunk carries (the chunk
  // they were in failed and no packet came after it, or the capture stops), so that the
  // buffer's rows account for every packet while the link is quiet.
  Status SealLossRecord(std::optional<Result<CaptureStats>> drops = std::nullopt) {
    PICKET_RETURN_IF_ERROR(OpenChunk(file_header.size()));
    first_us = last_us = 0;
    backwards = 0;
    return Seal(SealReason::kLoss, std::move(drops));
  }

  // Calling thread, no chunk open: whether to try a loss record for `pending` losses now.
  // It waits for the link to go idle (a chunk opened meanwhile carries them); a try that
  // failed (the disk still full) is repeated with backoff.
  bool LossRecordDue(bool pending, MonoTime now) {
    if (!pending) {
      loss_backoff = Millis(0);
      return false;
    }
    const Millis wait = options.idle.count() > 0 ? options.idle : kLossRecordDelay;
    if (now - last_seen < wait || now < loss_retry_at) return false;
    loss_backoff =
        loss_backoff.count() == 0 ? wait : std::min(loss_backoff * 2, kMaxLossRecordBackoff);
    loss_retry_at = now + loss_backoff;
    return true;
  }

  // ---- Queued mode: the writer thread ----

  // Records a writer-thread error for the calling thread; `chunk`: the index of the failed chunk.
  void Report(Status st, std::uint64_t chunk) {
    std::lock_guard<std::mutex> lock(mu);
    failed_chunk = chunk;
    if (pending_error.ok()) {
      pending_error = std::move(st);
      error_pending.store(true, std::memory_order_release);
    } else {  // the caller has not picked up the previous one yet
      PICKET_LOG(kError, "capture", "chunk write failed", {"error", st},
                 {"iface", options.interface});
    }
  }

  void ProcessData(const Item& item) {
    if (item.begin == item.end) return;  // only a release
    if (discarding) {
      CountLost(item.packets);
      return;
    }
    Status st;
    if (!file.valid()) {
      st = OpenChunk(options.max_bytes);
      if (!st.ok()) {
        CountLost(item.packets);
        discarding = true;
        Report(std::move(st), ends_done);
        return;
      }
    }
    st = Flush();  // the file header of a new chunk
    if (st.ok()) st = WriteAll(item.block->data.get() + item.begin, item.end - item.begin);
    packets += item.packets;
    if (!st.ok()) {
      Abandon(temp_name, false);
      discarding = true;
      Report(std::move(st), ends_done);
      return;
    }
    bytes += item.end - item.begin;
  }

  void ProcessEnd(Item& item) {
    const std::uint64_t index = ends_done++;
    lost_pending += item.lost;  // counted in the stats by the calling thread already
    if (item.reason == SealReason::kLoss) {  // no data items: the chunk is a loss record
      if (lost_pending == 0) return;         // a chunk or an earlier record carried them
      if (Status st = SealLossRecord(std::move(item.drops)); !st.ok()) Report(std::move(st), index);
      return;
    }
    if (discarding || !file.valid()) {  // a failed chunk: already abandoned and reported
      discarding = false;
      return;
    }
    if (!item.seal) {
      PICKET_LOG(kWarn, "capture", "chunk writer closed with an unsealed chunk; discarding it",
                 {"path", temp_path}, {"packets", packets});
      Abandon(temp_name, false);
      return;
    }
    first_us = item.first_us;
    last_us = item.last_us;
    backwards = item.backwards;
    if (Status st = Seal(item.reason, std::move(item.drops)); !st.ok()) Report(std::move(st), index);
  }

  void WriterLoop() {
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      work_cv.wait(lock, [this] { return !queue.empty() || quit; });
      if (queue.empty()) break;  // quit, and everything done
      Item item = std::move(queue.front());
      queue.pop_front();
      busy = true;
      lock.unlock();
      if (item.block) {
        ProcessData(item);
      } else {
        ProcessEnd(item);
      }
      lock.lock();
      if (item.release) {
        free_blocks.push_back(item.block);
        free_count.store(free_blocks.size(), std::memory_order_release);
      }
      busy = false;
      writer_lost = lost_pending;
      if (queue.empty()) idle_cv.notify_all();
    }
  }

  // ---- Queued mode: the calling thread ----

  void Push(Item item) {
    {
      std::lock_guard<std::mutex> lock(mu);
      queue.push_back(std::move(item));
    }
    work_cv.notify_one();
  }

  // Hands the current block's new records to the writer; with `release`, the
  // block itself too (it goes back to the pool once written).
  void PushCurrent(bool release) {
    if (current == nullptr || (cur_used == cur_pushed && !release)) return;
    Item item;
    item.block = current;
    item.begin = cur_pushed;
    item.end = cur_used;
    item.packets = cur_packets;
    item.release = release;
    cur_pushed = cur_used;
    cur_packets = 0;
    if (release) current = nullptr;
    Push(std::move(item));
  }

  // Room for `record` bytes in `current`; false when the pool is exhausted.
  bool Reserve(std::size_t record) {
    if (current != nullptr && cur_used + record <= block_bytes) return true;
    PushCurrent(true);
    if (free_count.load(std::memory_order_acquire) == 0) return false;
    std::lock_guard<std::mutex> lock(mu);
    if (free_blocks.empty()) return false;
    current = free_blocks.back();
    free_blocks.pop_back();
    free_count.store(free_blocks.size(), std::memory_order_relaxed);
    cur_used = cur_pushed = 0;
    cur_packets = 0;
    return true;  // an empty block holds any record (block_bytes ≥ 16 + snaplen)
  }

  void LoseQueued(std::uint64_t n) {
    q_lost += n;
    caller_lost += n;
  }

  // Ends the open chunk: sealed by the writer thread, or abandoned.
  void EndChunk(SealReason reason, bool seal) {
    PushCurrent(false);
    Item item;
    item.seal = seal;
    item.reason = reason;
    item.first_us = q_first_us;
    item.last_us = q_last_us;
    item.backwards = q_backwards;
    item.lost = q_lost;
    q_lost = 0;
    if (seal && stats_provider) item.drops = stats_provider();
    Push(std::move(item));
    ++ends_pushed;
    q_open = false;
    q_bytes = 0;
    q_packets = 0;
  }

  // A writer-thread error not yet returned, if any. When it was the open chunk
  // that failed, that chunk ends here so that the next packet starts a new one.
  Status TakeError() {
    if (!error_pending.load(std::memory_order_acquire)) return Status::Ok();
    Status st;
    std::uint64_t failed = 0;
    {
      std::lock_guard<std::mutex> lock(mu);
      st = std::move(pending_error);
      pending_error = Status::Ok();
      failed = failed_chunk;
      error_pending.store(false, std::memory_order_relaxed);
    }
    if (q_open && failed == ends_pushed) EndChunk(SealReason::kStop, false);
    return st;
  }

  void WaitIdle() {
    std::unique_lock<std::mutex> lock(mu);
    idle_cv.wait(lock, [this] { return queue.empty() && !busy; });
  }

  Status WriteQueued(const Packet& packet, std::uint32_t caplen, MonoTime now) {
    if (Status st = TakeError(); !st.ok()) {
      LoseQueued(1);
      return st;
    }
    const std::uint64_t record = kRecordHeaderBytes + caplen;
    if (q_open) {
      if (q_bytes + record > options.max_bytes) {
        EndChunk(SealReason::kSize, true);
      } else if (options.max_age.count() > 0 && now - first_mono >= options.max_age) {
        EndChunk(SealReason::kAge, true);
      }
    }
    if (!Reserve(record)) {
      LoseQueued(1);
      ++queue_drops;
      // One line per episode, at most one per 10 s (the chunks carry every drop).
      if (!dropping && (drops_logged == 0 || now - drop_log_at >= Millis(10'000))) {
        PICKET_LOG(kWarn, "capture", "chunk queue full (disk slower than capture); dropping packets",
                   {"queue_bytes", options.queue_bytes}, {"dropped_before", queue_drops - 1},
                   {"iface", options.interface});
        drop_logged = true;
        drop_log_at = now;
        drops_logged = queue_drops - 1;
      }
      dropping = true;
      return Status::Ok();  // counted, and the chunk says so; not a write error
    }
    if (dropping) {
      dropping = false;
      if (drop_logged) {
        drop_logged = false;
        PICKET_LOG(kInfo, "capture", "chunk queue has room again",
                   {"dropped", queue_drops - drops_logged}, {"iface", options.interface});
      }
    }
    if (!q_open) {
      q_open = true;
      q_bytes = file_header.size();
      q_packets = 0;
      first_mono = now;
    }
    const std::uint32_t header[4] = {static_cast<std::uint32_t>(packet.ts.tv_sec),
                                     static_cast<std::uint32_t>(packet.ts.tv_usec), caplen,
                                     packet.len};
    std::uint8_t* at = current->data.get() + cur_used;
    std::memcpy(at, header, sizeof header);
    std::memcpy(at + sizeof header, packet.data, caplen);
    cur_used += record;
    ++cur_packets;
    const std::int64_t us = Micros(packet.ts);
    if (q_packets == 0) {
      q_first_us = us;
      q_backwards = 0;
    }
    if (WentBackwards(us)) ++q_backwards;
    q_last_us = us;
    ++q_packets;
    q_bytes += record;
    last_mono = now;
    return Status::Ok();
  }

  // Losses neither the open chunk nor a queued end item will report.
  bool LossUnreportedQueued() {
    if (q_lost > 0) return true;
    std::lock_guard<std::mutex> lock(mu);
    return writer_lost > 0;
  }

  Status TickQueued() {
    if (Status st = TakeError(); !st.ok()) return st;
    const MonoTime now = clock->MonotonicNow();
    if (!q_open) {
      if (LossRecordDue(LossUnreportedQueued(), now)) EndChunk(SealReason::kLoss, true);
      return Status::Ok();
    }
    if (options.max_age.count() > 0 && now - first_mono >= options.max_age) {
      EndChunk(SealReason::kAge, true);
    } else if (options.idle.count() > 0 && now - last_mono >= options.idle) {
      EndChunk(SealReason::kIdle, true);
    }
    return Status::Ok();
  }

  Status SealNowQueued() {
    Status earlier = TakeError();
    if (q_open) EndChunk(SealReason::kStop, true);
    WaitIdle();
    Status now = TakeError();
    if (LossUnreportedQueued()) {
      EndChunk(SealReason::kLoss, true);
      WaitIdle();
      if (Status st = TakeError(); now.ok()) now = std::move(st);
    }
    std::uint64_t unreported = q_lost;
    {
      std::lock_guard<std::mutex> lock(mu);  // the writer is idle: its fields are settled
      unreported += lost_pending;
    }
    if (unreported > 0) {
      PICKET_LOG(kWarn, "capture", "stopping with lost packets that no chunk reports",
                 {"lost", unreported}, {"iface", options.interface});
    }
    return earlier.ok() ? now : earlier;
  }
};

ChunkWriter::ChunkWriter(std::unique_ptr<State> state) : state_(std::move(state)) {}

ChunkWriter::~ChunkWriter() {
  if (state_ && state_->queued) {
    State& s = *state_;
    if (s.q_open) {
      PICKET_LOG(kWarn, "capture", "chunk writer closed with an unsealed chunk; discarding it",
                 {"packets", s.q_packets}, {"iface", s.options.interface});
      s.EndChunk(SealReason::kStop, false);
    }
    {
      std::lock_guard<std::mutex> lock(s.mu);
      s.quit = true;
    }
    s.work_cv.notify_all();
    s.writer.join();  // after every queued item
    if (!s.pending_error.ok()) {
      PICKET_LOG(kError, "capture", "chunk write failed", {"error", s.pending_error},
                 {"iface", s.options.interface});
    }
    return;
  }
  if (state_ && state_->file.valid()) {
    PICKET_LOG(kWarn, "capture", "chunk writer closed with an unsealed chunk; discarding it",
               {"path", state_->temp_path}, {"packets", state_->packets});
    state_->Abandon(state_->temp_name, false);
  }
}

Result<std::unique_ptr<ChunkWriter>> ChunkWriter::Open(ChunkWriterOptions options,
                                                       const Clock& clock, SeqAllocator next_seq,
                                                       StatsProvider stats,
                                                       SealedCallback on_sealed) {
  CommitCallback commit;
  if (on_sealed) {
    commit = [cb = std::move(on_sealed)](const SealedChunk& chunk) {
      cb(chunk);
      return Status::Ok();
    };
  }
  return OpenCommitting(std::move(options), clock, std::move(next_seq), std::move(stats),
                        std::move(commit));
}

Result<std::unique_ptr<ChunkWriter>> ChunkWriter::OpenCommitting(ChunkWriterOptions options,
                                                                 const Clock& clock,
                                                                 SeqAllocator next_seq,
                                                                 StatsProvider stats,
                                                                 CommitCallback on_commit) {
  if (options.dir.empty()) return Status::InvalidArgument("chunk writer: no directory");
  if (options.max_bytes <= kFileHeaderBytes) {
    return Status::InvalidArgument("chunk writer: max_bytes " + std::to_string(options.max_bytes) +
                                   " leaves no room for packets");
  }
  if (options.snaplen <= 0)
    return Status::InvalidArgument("chunk writer: snaplen must be positive");
  if (!next_seq) return Status::InvalidArgument("chunk writer: no seq allocator");

  auto state = std::make_unique<State>();
  state->dir_fd = UniqueFd(::open(options.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!state->dir_fd.valid()) return FromErrno("chunk directory " + options.dir, errno);
  Result<std::vector<std::uint8_t>> header = MakeFileHeader(options.link_type, options.snaplen);
  if (!header.ok()) return header.status();
  state->file_header = std::move(*header);
  state->buffer.resize(std::max<std::size_t>(options.buffer_bytes, 4096));
  if (options.queue_bytes > 0) {
    state->queued = true;
    // Blocks are taken last-freed first, so memory touched is the blocks in flight: small
    // blocks keep that near what the disk lags (worker VmHWM at 1 Gbps: 41.0 MiB with 1 MiB
    // blocks, 39.9 with 256 KiB; capture_bench).
    std::size_t block = std::clamp<std::size_t>(options.queue_bytes / 8, 4096,
                                                ChunkWriterOptions::kMaxQueueBlockBytes);
    block = std::max<std::size_t>(block, kRecordHeaderBytes + static_cast<std::size_t>(options.snaplen));
    const std::size_t count = std::max<std::size_t>(2, options.queue_bytes / block);
    state->block_bytes = block;
    state->blocks.resize(count);
    for (Block& b : state->blocks) {
      b.data = std::make_unique_for_overwrite<std::uint8_t[]>(block);
      state->free_blocks.push_back(&b);
    }
    state->free_count.store(count);
  }
  state->options = std::move(options);
  state->clock = &clock;
  state->next_seq = std::move(next_seq);
  state->stats_provider = std::move(stats);
  state->on_commit = std::move(on_commit);
  if (state->stats_provider) {
    Result<CaptureStats> now = state->stats_provider();
    if (now.ok()) state->baseline = *now;
  }
  if (state->queued) {
    State* raw = state.get();  // heap-allocated: stays put when the unique_ptr moves
    state->writer = std::thread([raw] { raw->WriterLoop(); });
  }
  return std::unique_ptr<ChunkWriter>(new ChunkWriter(std::move(state)));
}

ChunkWriter::SeqAllocator ChunkWriter::CountingSeq(std::int64_t first) {
  return [next = first](std::uint64_t) mutable -> Result<std::int64_t> { return next++; };
}

Status ChunkWriter::Write(const Packet& packet) {
  State& s = *state_;
  const MonoTime now = s.clock->MonotonicNow();
  s.last_seen = now;
  std::uint32_t caplen = packet.caplen;
  if (caplen > static_cast<std::uint32_t>(s.options.snaplen)) {
    caplen = static_cast<std::uint32_t>(s.options.snaplen);
    ++s.truncated;
  }
  if (s.queued) return s.WriteQueued(packet, caplen, now);
  const std::uint64_t record = kRecordHeaderBytes + caplen;

  if (s.file.valid()) {
    std::optional<SealReason> reason;
    if (s.bytes + record > s.options.max_bytes) {
      reason = SealReason::kSize;
    } else if (s.options.max_age.count() > 0 && now - s.first_mono >= s.options.max_age) {
      reason = SealReason::kAge;
    }
    if (reason) {
      if (Status st = s.Seal(*reason); !st.ok()) {
        s.CountLost(1);
        return st;
      }
    }
  }
  if (!s.file.valid()) {
    if (Status st = s.OpenChunk(s.options.max_bytes); !st.ok()) {
      s.CountLost(1);
      return st;
    }
    s.first_mono = now;
  }
  if (Status st = s.Append(packet, caplen); !st.ok()) {
    ++s.packets;  // the packet in hand goes down with its chunk
    s.Abandon(s.temp_name, false);
    return st;
  }
  const std::int64_t us = Micros(packet.ts);
  if (s.packets == 0) {
    s.first_us = us;
    s.backwards = 0;
  }
  if (s.WentBackwards(us)) ++s.backwards;
  s.last_us = us;
  ++s.packets;
  s.last_mono = now;
  return Status::Ok();
}

Status ChunkWriter::Tick() {
  State& s = *state_;
  if (s.queued) return s.TickQueued();
  const MonoTime now = s.clock->MonotonicNow();
  if (!s.file.valid()) {
    return s.LossRecordDue(s.lost_pending > 0, now) ? s.SealLossRecord() : Status::Ok();
  }
  if (s.options.max_age.count() > 0 && now - s.first_mono >= s.options.max_age) {
    return s.Seal(SealReason::kAge);
  }
  if (s.options.idle.count() > 0 && now - s.last_mono >= s.options.idle) {
    return s.Seal(SealReason::kIdle);
  }
  return Status::Ok();
}

Status ChunkWriter::SealNow() {
  State& s = *state_;
  if (s.queued) return s.SealNowQueued();
  Status st = s.file.valid() ? s.Seal(SealReason::kStop) : Status::Ok();
  if (s.lost_pending > 0) {  // the last chunk failed or was refused, or none came after one
    Status record = s.SealLossRecord();
    if (st.ok()) st = std::move(record);
  }
  if (s.lost_pending > 0) {
    PICKET_LOG(kWarn, "capture", "stopping with lost packets that no chunk reports",
               {"lost", s.lost_pending}, {"iface", s.options.interface});
  }
  return st;
}

void ChunkWriter::NoteLostPackets(std::uint64_t count) {
  state_->last_seen = state_->clock->MonotonicNow();
  if (state_->queued) {
    state_->LoseQueued(count);
  } else {
    state_->CountLost(count);
  }
}

bool ChunkWriter::chunk_open() const { return state_->queued ? state_->q_open : state_->file.valid(); }
std::uint64_t ChunkWriter::open_chunk_packets() const {
  return state_->queued ? state_->q_packets : state_->packets;
}
ChunkWriterStats ChunkWriter::stats() const {
  const State& s = *state_;
  ChunkWriterStats out;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    out = s.stats;
  }
  out.lost_packets += s.caller_lost;
  out.truncated_packets = s.truncated;
  out.queue_drops = s.queue_drops;
  return out;
}
const ChunkWriterOptions& ChunkWriter::options() const { return state_->options; }

}  // namespace picket::capture
