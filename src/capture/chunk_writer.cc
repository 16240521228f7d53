#include "picket/capture/chunk_writer.h"

#include <fcntl.h>
#include <pcap/pcap.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <optional>
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
  return o;
}

struct ChunkWriter::State {
  ChunkWriterOptions options;
  const Clock* clock = nullptr;
  SeqAllocator next_seq;
  StatsProvider stats_provider;
  SealedCallback on_sealed;

  UniqueFd dir_fd;
  std::vector<std::uint8_t> file_header;
  std::vector<std::uint8_t> buffer;
  std::size_t used = 0;
  Sha256 hash;

  // The open chunk. file.valid() ⇒ packets ≥ 1 between calls.
  UniqueFd file;
  std::optional<std::int64_t> seq;  // allocated and not yet consumed by a seal
  std::string temp_name;            // relative to dir_fd
  std::string temp_path;            // for messages
  std::uint64_t bytes = 0;          // header + records, buffered or written
  std::uint64_t packets = 0;
  std::int64_t first_us = 0, last_us = 0;
  MonoTime first_mono{}, last_mono{};

  CaptureStats baseline;
  std::uint64_t lost_pending = 0;
  bool gap_reported = false;
  ChunkWriterStats stats;

  std::string PathOf(const std::string& name) const { return options.dir + "/" + name; }

  void CountLost(std::uint64_t n) {
    lost_pending += n;
    stats.lost_packets += n;
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

  Status OpenChunk(MonoTime now) {
    if (!seq) {
      Result<std::int64_t> next = next_seq();
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
    first_mono = now;
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
    ++stats.chunks_abandoned;
    hash.Finish();  // reset
    used = 0;
    bytes = 0;
    packets = 0;
    if (consume_seq) seq.reset();
  }

  Status Seal(SealReason reason) {
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
    chunk.sha256 = hash.Finish();
    chunk.sha256_hex = HexEncode(chunk.sha256.data(), chunk.sha256.size());
    if (stats_provider) {
      // Taken only once the chunk is durable: a failed chunk's drops go to the next one.
      Result<CaptureStats> now = stats_provider();
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
      gap_reported = true;
    }
    chunk.sealed_at_ms = clock->WallMillis();
    chunk.reason = reason;

    seq.reset();
    bytes = 0;
    packets = 0;
    ++stats.chunks_sealed;
    stats.packets_sealed += chunk.packets;
    stats.bytes_sealed += chunk.bytes;

    PICKET_LOG(kInfo, "capture", "chunk sealed", {"seq", chunk.seq}, {"packets", chunk.packets},
               {"bytes", chunk.bytes}, {"reason", SealReasonName(reason)},
               {"kernel_drops", chunk.kernel_drops}, {"if_drops", chunk.interface_drops},
               {"lost", chunk.lost_packets}, {"iface", chunk.interface});
    if (on_sealed) on_sealed(chunk);
    return Status::Ok();
  }
};

ChunkWriter::ChunkWriter(std::unique_ptr<State> state) : state_(std::move(state)) {}

ChunkWriter::~ChunkWriter() {
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
  state->options = std::move(options);
  state->clock = &clock;
  state->next_seq = std::move(next_seq);
  state->stats_provider = std::move(stats);
  state->on_sealed = std::move(on_sealed);
  if (state->stats_provider) {
    Result<CaptureStats> now = state->stats_provider();
    if (now.ok()) state->baseline = *now;
  }
  return std::unique_ptr<ChunkWriter>(new ChunkWriter(std::move(state)));
}

ChunkWriter::SeqAllocator ChunkWriter::CountingSeq(std::int64_t first) {
  return [next = first]() mutable -> Result<std::int64_t> { return next++; };
}

Status ChunkWriter::Write(const Packet& packet) {
  State& s = *state_;
  const MonoTime now = s.clock->MonotonicNow();
  std::uint32_t caplen = packet.caplen;
  if (caplen > static_cast<std::uint32_t>(s.options.snaplen)) {
    caplen = static_cast<std::uint32_t>(s.options.snaplen);
    ++s.stats.truncated_packets;
  }
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
    if (Status st = s.OpenChunk(now); !st.ok()) {
      s.CountLost(1);
      return st;
    }
  }
  if (Status st = s.Append(packet, caplen); !st.ok()) {
    ++s.packets;  // the packet in hand goes down with its chunk
    s.Abandon(s.temp_name, false);
    return st;
  }
  const std::int64_t us = Micros(packet.ts);
  if (s.packets == 0) s.first_us = us;
  s.last_us = us;
  ++s.packets;
  s.last_mono = now;
  return Status::Ok();
}

Status ChunkWriter::Tick() {
  State& s = *state_;
  if (!s.file.valid()) return Status::Ok();
  const MonoTime now = s.clock->MonotonicNow();
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
  if (s.file.valid()) return s.Seal(SealReason::kStop);
  if (s.lost_pending > 0) {
    PICKET_LOG(kWarn, "capture", "stopping with lost packets that no chunk reports",
               {"lost", s.lost_pending}, {"iface", s.options.interface});
  }
  return Status::Ok();
}

void ChunkWriter::NoteLostPackets(std::uint64_t count) { state_->CountLost(count); }

bool ChunkWriter::chunk_open() const { return state_->file.valid(); }
std::uint64_t ChunkWriter::open_chunk_packets() const { return state_->packets; }
const ChunkWriterStats& ChunkWriter::stats() const { return state_->stats; }
const ChunkWriterOptions& ChunkWriter::options() const { return state_->options; }

}  // namespace picket::capture
