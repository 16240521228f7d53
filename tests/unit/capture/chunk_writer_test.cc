#include "picket/capture/chunk_writer.h"

#include <doctest/doctest.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "fakes/capture/capture_test_support.h"
#include "fakes/capture/fake_clock.h"
#include "picket/common/digest.h"
#include "picket/common/log.h"

namespace picket::capture {

namespace {

using testing::FakeClock;
using testing::MakePacket;
using testing::QuietLogs;
using testing::ReadPcapFile;
using testing::StoredPacket;
using testing::TempDir;

constexpr std::uint64_t kRecord100 = 16 + 100;  // one 100-byte packet in the file

bool Contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

// A writer over a scratch dir that keeps every sealed chunk.
struct Harness {
  explicit Harness(ChunkWriterOptions o = {}, ChunkWriter::SeqAllocator seq = {}) {
    o.dir = o.dir.empty() ? dir.path() : o.dir;
    if (o.interface.empty()) o.interface = "test0";
    if (!seq) seq = ChunkWriter::CountingSeq(1);
    auto w = ChunkWriter::Open(
        o, clock, std::move(seq),
        [this]() -> Result<CaptureStats> {
          if (!stats_ok) return Status::Unavailable("stats down");
          return stats;
        },
        [this](const SealedChunk& c) {
          // The file must be complete under its final name before we hear of it.
          auto read = ReadPcapFile(c.path);
          sealed_file_readable.push_back(read.ok() && read->packets.size() == c.packets);
          sealed.push_back(c);
        });
    REQUIRE(w.ok());
    writer = std::move(*w);
  }
  Status Write(const StoredPacket& p) { return writer->Write(p.View()); }

  std::vector<StoredPacket> ReadAllSealed() const { return testing::ReadSealedPackets(sealed); }

  QuietLogs quiet;  // first member: outlives the writer's last log line
  TempDir dir;
  FakeClock clock;
  CaptureStats stats;
  bool stats_ok = true;
  std::vector<SealedChunk> sealed;
  std::vector<bool> sealed_file_readable;
  std::unique_ptr<ChunkWriter> writer;
};

ChunkWriterOptions Limits(std::uint64_t max_bytes, Millis max_age, Millis idle) {
  ChunkWriterOptions o;
  o.max_bytes = max_bytes;
  o.max_age = max_age;
  o.idle = idle;
  o.snaplen = 65535;
  return o;
}

// Restores RLIMIT_FSIZE and SIGXFSZ on every path out of the test.
using testing::FileSizeLimit;

}  // namespace

TEST_SUITE("capture.chunk_writer") {
  TEST_CASE("packets round-trip byte for byte, in order, with the source's link type") {
    ChunkWriterOptions o = Limits(64 << 20, Millis(60'000), Millis(10'000));
    o.buffer_bytes = 4096;  // small, so big packets take the write-through path
    Harness h(o, ChunkWriter::CountingSeq(7));
    std::vector<StoredPacket> sent;
    for (int i = 0; i < 200; ++i) {
      const std::size_t size = i == 50 ? 9000 : i == 51 ? 4096 : 42 + (i * 37) % 1400;
      sent.push_back(
          MakePacket(1'763'721'363'000'000 + i * 1'001, size, static_cast<std::uint8_t>(i)));
    }
    sent[10].len = 1514;  // truncated on capture: caplen < len survives as is
    for (const StoredPacket& p : sent) REQUIRE(h.Write(p).ok());
    CHECK(h.writer->open_chunk_packets() == 200);
    REQUIRE(h.writer->SealNow().ok());

    REQUIRE(h.sealed.size() == 1);
    const SealedChunk& c = h.sealed[0];
    CHECK(c.seq == 7);
    CHECK(c.path == h.dir.Join("000000000007.pcap"));
    CHECK(c.packets == 200);
    CHECK(c.interface == "test0");
    CHECK(c.reason == SealReason::kStop);
    CHECK(c.first_packet_us == sent.front().ts_us);
    CHECK(c.last_packet_us == sent.back().ts_us);
    CHECK(c.sealed_at_ms == h.clock.WallMillis());
    auto read = ReadPcapFile(c.path);
    REQUIRE(read.ok());
    CHECK(read->link_type == DLT_EN10MB);
    CHECK(read->snaplen == 65535);
    REQUIRE(read->packets.size() == sent.size());
    for (std::size_t i = 0; i < sent.size(); ++i) {
      CAPTURE(i);
      CHECK(read->packets[i] == sent[i]);
    }
    CHECK(h.dir.List() == std::vector<std::string>{"000000000007.pcap"});
  }

  TEST_CASE("the digest is the SHA-256 of the sealed file and bytes its size") {
    Harness h(Limits(8 << 20, Millis(60'000), Millis(10'000)));
    for (int i = 0; i < 30; ++i) REQUIRE(h.Write(MakePacket(i, 60 + i)).ok());
    REQUIRE(h.writer->SealNow().ok());
    REQUIRE(h.sealed.size() == 1);
    const SealedChunk& c = h.sealed[0];
    auto digest = Sha256File(c.path);
    REQUIRE(digest.ok());
    CHECK(c.sha256 == *digest);
    CHECK(c.sha256_hex == HexEncode(digest->data(), digest->size()));
    CHECK(c.sha256_hex.size() == 64);
    CHECK(c.bytes == std::filesystem::file_size(c.path));
    CHECK(c.bytes == 24 + 30 * 16 + (60 + 89) * 30 / 2);
  }

  TEST_CASE("size rotation seals before a packet would exceed max_bytes") {
    // Room for exactly three 100-byte packets: the limit is reached, never exceeded.
    Harness h(Limits(24 + 3 * kRecord100, Millis(60'000), Millis(10'000)));
    std::vector<StoredPacket> sent;
    for (int i = 0; i < 10; ++i) {
      sent.push_back(MakePacket(i, 100, static_cast<std::uint8_t>(i)));
      REQUIRE(h.Write(sent.back()).ok());
    }
    REQUIRE(h.writer->SealNow().ok());
    REQUIRE(h.sealed.size() == 4);
    for (int i = 0; i < 3; ++i) {
      CAPTURE(i);
      CHECK(h.sealed[i].packets == 3);
      CHECK(h.sealed[i].bytes == 24 + 3 * kRecord100);
      CHECK(h.sealed[i].reason == SealReason::kSize);
      CHECK(h.sealed[i].seq == i + 1);
      CHECK(std::filesystem::file_size(h.sealed[i].path) <= 24 + 3 * kRecord100);
    }
    CHECK(h.sealed[3].packets == 1);
    CHECK(h.sealed[3].reason == SealReason::kStop);
    CHECK(h.ReadAllSealed() == sent);
    for (bool ok : h.sealed_file_readable) CHECK(ok);
  }

  TEST_CASE("a packet larger than max_bytes still gets a chunk of its own") {
    Harness h(Limits(200, Millis(60'000), Millis(10'000)));
    REQUIRE(h.Write(MakePacket(1, 500)).ok());  // empty chunk: written anyway
    REQUIRE(h.Write(MakePacket(2, 50)).ok());   // seals the oversized one first
    REQUIRE(h.writer->SealNow().ok());
    REQUIRE(h.sealed.size() == 2);
    CHECK(h.sealed[0].packets == 1);
    CHECK(h.sealed[0].bytes == 24 + 16 + 500);
    CHECK(h.sealed[1].packets == 1);
  }

  TEST_CASE("age rotation counts on the monotonic clock from the chunk's first packet") {
    Harness h(Limits(8 << 20, Millis(1'000), Millis(0)));  // idle off
    REQUIRE(h.Write(MakePacket(1, 80)).ok());
    h.clock.Advance(Millis(600));
    REQUIRE(h.Write(MakePacket(2, 80)).ok());
    h.clock.Advance(Millis(399));
    REQUIRE(h.writer->Tick().ok());
    CHECK(h.sealed.empty());
    h.clock.Advance(Millis(1));
    REQUIRE(h.Write(MakePacket(3, 80)).ok());  // the chunk is 1000 ms old: sealed first
    REQUIRE(h.sealed.size() == 1);
    CHECK(h.sealed[0].packets == 2);
    CHECK(h.sealed[0].reason == SealReason::kAge);

    h.clock.Advance(Millis(999));
    REQUIRE(h.writer->Tick().ok());
    CHECK(h.sealed.size() == 1);
    h.clock.Advance(Millis(1));
    REQUIRE(h.writer->Tick().ok());  // no packet needed to rotate on age
    REQUIRE(h.sealed.size() == 2);
    CHECK(h.sealed[1].packets == 1);
    CHECK(h.sealed[1].reason == SealReason::kAge);
  }

  TEST_CASE("idle rotation seals after `idle` without packets, checked by Tick") {
    Harness h(Limits(8 << 20, Millis(60'000), Millis(500)));
    REQUIRE(h.writer->Tick().ok());  // nothing open: nothing happens
    CHECK(h.dir.List().empty());
    REQUIRE(h.Write(MakePacket(1, 80)).ok());
    h.clock.Advance(Millis(499));
    REQUIRE(h.writer->Tick().ok());
    REQUIRE(h.Write(MakePacket(2, 80)).ok());  // resets the idle timer
    h.clock.Advance(Millis(499));
    REQUIRE(h.writer->Tick().ok());
    CHECK(h.sealed.empty());
    h.clock.Advance(Millis(1));
    REQUIRE(h.writer->Tick().ok());
    REQUIRE(h.sealed.size() == 1);
    CHECK(h.sealed[0].packets == 2);
    CHECK(h.sealed[0].reason == SealReason::kIdle);
    CHECK_FALSE(h.writer->chunk_open());
    h.clock.Advance(Millis(5'000));
    REQUIRE(h.writer->Tick().ok());
    CHECK(h.sealed.size() == 1);  // no empty chunks on a quiet link (tcpdump#1170)
  }

  TEST_CASE("packet timestamps and wall-clock steps never rotate anything") {
    Harness h(Limits(8 << 20, Millis(1'000), Millis(500)));
    REQUIRE(h.Write(MakePacket(1'763'721'363'000'000, 80)).ok());
    REQUIRE(h.Write(MakePacket(4'000'000'000'000'000, 80)).ok());  // far future
    REQUIRE(h.Write(MakePacket(1'000, 80)).ok());                  // 1970
    h.clock.StepWall(Millis(-86'400'000));
    REQUIRE(h.writer->Tick().ok());
    CHECK(h.sealed.empty());
    CHECK(h.writer->open_chunk_packets() == 3);
  }

  TEST_CASE("each chunk carries the drops of its own interval") {
    Harness h(Limits(24 + 2 * kRecord100, Millis(60'000), Millis(10'000)));
    // The writer opened at zero drops; counters only ever grow.
    h.stats = {1000, 5, 1};
    REQUIRE(h.Write(MakePacket(1, 100)).ok());
    REQUIRE(h.Write(MakePacket(2, 100)).ok());
    h.stats = {2000, 12, 4};
    REQUIRE(h.Write(MakePacket(3, 100)).ok());  // seals chunk 1 with stats as now
    REQUIRE(h.Write(MakePacket(4, 100)).ok());
    REQUIRE(h.Write(MakePacket(5, 100)).ok());  // seals chunk 2: no new drops
    h.stats_ok = false;
    REQUIRE(h.Write(MakePacket(6, 100)).ok());
    h.stats = {3000, 20, 4};
    REQUIRE(h.Write(MakePacket(7, 100)).ok());  // seals chunk 3 without stats
    h.stats_ok = true;
    REQUIRE(h.writer->SealNow().ok());  // chunk 4 gets chunk 3's drops too
    REQUIRE(h.sealed.size() == 4);
    CHECK(h.sealed[0].kernel_drops == 12);
    CHECK(h.sealed[0].interface_drops == 4);
    CHECK(h.sealed[1].kernel_drops == 0);
    CHECK(h.sealed[1].interface_drops == 0);
    CHECK(h.sealed[2].kernel_drops == 0);
    CHECK(h.sealed[3].kernel_drops == 8);
    std::uint64_t total = 0;
    for (const SealedChunk& c : h.sealed) total += c.kernel_drops;
    CHECK(total == 20);
  }

  TEST_CASE("drops from before the writer opened are in no chunk") {
    QuietLogs quiet;
    TempDir dir;
    FakeClock clock;
    CaptureStats stats{10, 3, 0};  // the source dropped 3 before the writer existed
    std::vector<SealedChunk> sealed;
    ChunkWriterOptions o;
    o.dir = dir.path();
    auto w = ChunkWriter::Open(
        o, clock, ChunkWriter::CountingSeq(1), [&]() -> Result<CaptureStats> { return stats; },
        [&](const SealedChunk& c) { sealed.push_back(c); });
    REQUIRE(w.ok());
    REQUIRE((*w)->Write(MakePacket(1, 60).View()).ok());
    stats.kernel_drops = 5;
    REQUIRE((*w)->SealNow().ok());
    REQUIRE(sealed.size() == 1);
    CHECK(sealed[0].kernel_drops == 2);
  }

  TEST_CASE("the restart gap and a capture switch are reported on the first chunk only") {
    ChunkWriterOptions o = Limits(24 + kRecord100, Millis(60'000), Millis(10'000));
    o.gap_before_ms = 340;
    o.switched_at_us = 1'800'000'000'123'456;
    Harness h(o);
    for (int i = 0; i < 3; ++i) REQUIRE(h.Write(MakePacket(i, 100)).ok());
    REQUIRE(h.writer->SealNow().ok());
    REQUIRE(h.sealed.size() == 3);
    CHECK(h.sealed[0].gap_before_ms == 340);
    CHECK(h.sealed[1].gap_before_ms == 0);
    CHECK(h.sealed[2].gap_before_ms == 0);
    CHECK(h.sealed[0].switched_at_us == 1'800'000'000'123'456);
    CHECK(h.sealed[1].switched_at_us == 0);
    CHECK(h.sealed[2].switched_at_us == 0);
  }

  TEST_CASE("SealNow seals the open chunk and discards an empty one") {
    Harness h;
    REQUIRE(h.writer->SealNow().ok());
    CHECK(h.sealed.empty());
    CHECK(h.dir.List().empty());

    REQUIRE(h.Write(MakePacket(1, 70)).ok());
    REQUIRE(h.writer->SealNow().ok());
    REQUIRE(h.sealed.size() == 1);
    CHECK(h.sealed[0].reason == SealReason::kStop);
    REQUIRE(h.writer->SealNow().ok());  // twice: nothing more
    CHECK(h.sealed.size() == 1);
    CHECK(h.dir.List() == std::vector<std::string>{"000000000001.pcap"});
  }

  TEST_CASE("an open chunk is only a dot-temp file, readers never see a partial chunk") {
    Harness h(Limits(8 << 20, Millis(60'000), Millis(10'000)), ChunkWriter::CountingSeq(42));
    REQUIRE(h.Write(MakePacket(1, 70)).ok());
    CHECK(h.dir.List() == std::vector<std::string>{".42.pcap.tmp"});
    REQUIRE(h.writer->SealNow().ok());
    CHECK(h.dir.List() == std::vector<std::string>{"000000000042.pcap"});
    REQUIRE(h.sealed_file_readable.size() == 1);
    CHECK(h.sealed_file_readable[0]);
  }

  TEST_CASE("destroying a writer with an unsealed chunk removes the temp file") {
    TempDir dir;
    FakeClock clock;
    QuietLogs quiet;
    {
      ChunkWriterOptions o;
      o.dir = dir.path();
      auto w = ChunkWriter::Open(o, clock, ChunkWriter::CountingSeq(1), {}, {});
      REQUIRE(w.ok());
      REQUIRE((*w)->Write(MakePacket(1, 70).View()).ok());
      CHECK(dir.List().size() == 1);
    }
    CHECK(dir.List().empty());
  }

  TEST_CASE("packets longer than the snaplen are cut to it, len kept") {
    ChunkWriterOptions o = Limits(8 << 20, Millis(60'000), Millis(10'000));
    o.snaplen = 128;
    Harness h(o);
    const StoredPacket big = MakePacket(1, 300);
    REQUIRE(h.Write(big).ok());
    REQUIRE(h.writer->SealNow().ok());
    auto read = ReadPcapFile(h.sealed.at(0).path);
    REQUIRE(read.ok());
    CHECK(read->snaplen == 128);
    REQUIRE(read->packets.size() == 1);
    CHECK(read->packets[0].data.size() == 128);
    CHECK(read->packets[0].len == 300);
    CHECK(std::equal(read->packets[0].data.begin(), read->packets[0].data.end(), big.data.begin()));
    CHECK(h.writer->stats().truncated_packets == 1);
  }

  TEST_CASE("the file header carries the LINKTYPE, not the DLT (DLT_RAW is 12, LINKTYPE_RAW 101)") {
    ChunkWriterOptions o;
    o.link_type = DLT_RAW;
    o.snaplen = 1500;
    Harness h(o);
    StoredPacket p = MakePacket(1, 100);
    p.data.erase(p.data.begin(), p.data.begin() + 14);  // a bare IPv4 packet
    p.len = static_cast<std::uint32_t>(p.data.size());
    REQUIRE(h.Write(p).ok());
    REQUIRE(h.writer->SealNow().ok());
    std::ifstream in(h.sealed.at(0).path, std::ios::binary);
    std::vector<char> header(24);
    in.read(header.data(), 24);
    std::uint32_t linktype = 0;
    std::memcpy(&linktype, header.data() + 20, 4);
    CHECK(linktype == 101);
    auto read = ReadPcapFile(h.sealed[0].path);
    REQUIRE(read.ok());
    CHECK(read->link_type == DLT_RAW);
    CHECK(read->packets.at(0) == p);
  }

  TEST_CASE(
      "a write error (file size limit) names the file, loses only that chunk, and is reported") {
    Harness h(Limits(8 << 20, Millis(60'000), Millis(10'000)));
    h.writer.reset();
    ChunkWriterOptions o = Limits(8 << 20, Millis(60'000), Millis(10'000));
    o.dir = h.dir.path();
    o.buffer_bytes = 4096;
    auto w = ChunkWriter::Open(o, h.clock, ChunkWriter::CountingSeq(5), {},
                               [&](const SealedChunk& c) { h.sealed.push_back(c); });
    REQUIRE(w.ok());
    ChunkWriter& writer = **w;

    Status failure;
    int written = 0;
    {
      FileSizeLimit limit(10'000);
      for (int i = 0; i < 50 && failure.ok(); ++i) {
        failure = writer.Write(MakePacket(i, 1000).View());
        if (failure.ok()) ++written;
      }
    }
    REQUIRE_FALSE(failure.ok());
    CHECK(failure.code() == StatusCode::kIoError);
    CHECK(Contains(failure.message(), h.dir.Join(".5.pcap.tmp")));
    CHECK(Contains(failure.message(), "File too large"));
    CHECK(written > 0);
    CHECK_FALSE(writer.chunk_open());
    CHECK(h.dir.List().empty());  // the torn temp file is gone, no final file
    CHECK(writer.stats().chunks_abandoned == 1);
    CHECK(writer.stats().lost_packets == static_cast<std::uint64_t>(written + 1));

    // The writer is usable again, and the next chunk reports the loss (same seq: never sealed).
    const StoredPacket p = MakePacket(100, 60);
    REQUIRE(writer.Write(p.View()).ok());
    REQUIRE(writer.SealNow().ok());
    REQUIRE(h.sealed.size() == 1);
    CHECK(h.sealed[0].seq == 5);
    CHECK(h.sealed[0].lost_packets == static_cast<std::uint64_t>(written + 1));
    auto read = ReadPcapFile(h.sealed[0].path);
    REQUIRE(read.ok());
    CHECK(read->packets == std::vector<StoredPacket>{p});
  }

  TEST_CASE("a write error while sealing (fsync/flush path) abandons the chunk, never renames it") {
    ChunkWriterOptions o = Limits(8 << 20, Millis(60'000), Millis(10'000));
    o.buffer_bytes = 64 << 10;  // everything stays buffered until the seal
    Harness h(o);
    for (int i = 0; i < 20; ++i) REQUIRE(h.Write(MakePacket(i, 1000)).ok());
    Status st;
    {
      FileSizeLimit limit(4'000);
      st = h.writer->SealNow();
    }
    REQUIRE_FALSE(st.ok());
    CHECK(Contains(st.message(), h.dir.Join(".1.pcap.tmp")));
    // Only the loss record (the file header alone fits the limit) has a final name.
    REQUIRE(h.sealed.size() == 1);
    CHECK(h.dir.List() == std::vector<std::string>{"000000000001.pcap"});
    CHECK(h.sealed[0].reason == SealReason::kLoss);
    CHECK(h.sealed[0].packets == 0);
    CHECK(h.sealed[0].lost_packets == 20);
    CHECK(h.writer->stats().lost_packets == 20);
  }

  TEST_CASE("a vanished chunk directory is an error naming the path") {
    TempDir parent;
    const std::string spool = parent.Join("spool");
    REQUIRE(::mkdir(spool.c_str(), 0755) == 0);
    ChunkWriterOptions o;
    o.dir = spool;
    FakeClock clock;
    auto w = ChunkWriter::Open(o, clock, ChunkWriter::CountingSeq(3), {}, {});
    REQUIRE(w.ok());
    REQUIRE(::rmdir(spool.c_str()) == 0);
    Status st = (*w)->Write(MakePacket(1, 60).View());
    REQUIRE_FALSE(st.ok());
    CHECK(st.code() == StatusCode::kNotFound);
    CHECK(Contains(st.message(), spool + "/.3.pcap.tmp"));
    CHECK((*w)->stats().lost_packets == 1);
  }

  TEST_CASE("a read-only chunk directory is PermissionDenied naming the path") {
    if (geteuid() == 0) {
      MESSAGE("skipped: root ignores directory permissions (the file-size-limit case covers it)");
      return;
    }
    Harness h;
    REQUIRE(::chmod(h.dir.path().c_str(), 0555) == 0);
    Status st = h.Write(MakePacket(1, 60));
    REQUIRE_FALSE(st.ok());
    CHECK(st.code() == StatusCode::kPermissionDenied);
    CHECK(Contains(st.message(), h.dir.Join(".1.pcap.tmp")));
  }

  TEST_CASE("a missing directory fails at Open") {
    FakeClock clock;
    ChunkWriterOptions o;
    o.dir = "/nonexistent/picket-spool";
    auto w = ChunkWriter::Open(o, clock, ChunkWriter::CountingSeq(1), {}, {});
    REQUIRE_FALSE(w.ok());
    CHECK(Contains(w.status().message(), "/nonexistent/picket-spool"));
    o.dir = "/tmp";
    o.max_bytes = 24;
    CHECK_FALSE(ChunkWriter::Open(o, clock, ChunkWriter::CountingSeq(1), {}, {}).ok());
  }

  TEST_CASE("an existing chunk is never overwritten: Conflict, and the seq is skipped") {
    Harness h;
    {
      std::ofstream existing(h.dir.Join("000000000001.pcap"));
      existing << "sealed earlier";
    }
    REQUIRE(h.Write(MakePacket(1, 60)).ok());
    Status st = h.writer->SealNow();
    REQUIRE_FALSE(st.ok());
    CHECK(st.code() == StatusCode::kConflict);
    CHECK(Contains(st.message(), h.dir.Join("000000000001.pcap")));
    std::ifstream in(h.dir.Join("000000000001.pcap"));
    CHECK(std::string(std::istreambuf_iterator<char>(in), {}) == "sealed earlier");
    REQUIRE(h.sealed.size() == 1);  // the loss record, in the next seq
    CHECK(h.sealed[0].seq == 2);
    CHECK(h.sealed[0].lost_packets == 1);

    REQUIRE(h.Write(MakePacket(2, 60)).ok());
    REQUIRE(h.writer->SealNow().ok());
    REQUIRE(h.sealed.size() == 2);
    CHECK(h.sealed[1].seq == 3);
    CHECK(h.sealed[1].lost_packets == 0);
  }

  TEST_CASE("a failing seq allocator loses the packet in hand and is asked again") {
    int calls = 0;
    Harness h({}, [&](std::uint64_t) -> Result<std::int64_t> {
      if (++calls == 1) return Status::Unavailable("buffer busy");
      return std::int64_t{calls * 10};
    });
    Status st = h.Write(MakePacket(1, 60));
    REQUIRE_FALSE(st.ok());
    CHECK(Contains(st.message(), "buffer busy"));
    REQUIRE(h.Write(MakePacket(2, 60)).ok());
    REQUIRE(h.writer->SealNow().ok());
    REQUIRE(h.sealed.size() == 1);
    CHECK(h.sealed[0].seq == 20);
    CHECK(h.sealed[0].lost_packets == 1);
  }

  TEST_CASE("seal reasons have names for the logs") {
    CHECK(SealReasonName(SealReason::kSize) == "size");
    CHECK(SealReasonName(SealReason::kAge) == "age");
    CHECK(SealReasonName(SealReason::kIdle) == "idle");
    CHECK(SealReasonName(SealReason::kStop) == "stop");
    CHECK(SealReasonName(SealReason::kLoss) == "loss");
  }
}

}  // namespace picket::capture
