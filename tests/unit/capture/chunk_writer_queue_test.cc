// ChunkWriter in queued mode (queue_bytes > 0): the capture thread only fills
// pool blocks; a writer thread writes, hashes and seals. Same contract as the
// inline mode (chunk_writer_test.cc), plus: seals on one other thread in seq
// order, a full pool drops and counts instead of blocking, SealNow drains all.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/resource.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fakes/capture/capture_test_support.h"
#include "fakes/capture/fake_clock.h"
#include "picket/capture/chunk_writer.h"
#include "picket/common/digest.h"

namespace picket::capture {

namespace {

using testing::FakeClock;
using testing::MakePacket;
using testing::QuietLogs;
using testing::ReadPcapFile;
using testing::StoredPacket;
using testing::TempDir;

constexpr std::uint64_t kRecord100 = 16 + 100;

bool Contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

ChunkWriterOptions Queued(std::size_t queue_bytes, std::uint64_t max_bytes,
                          Millis max_age = Millis(60'000), Millis idle = Millis(10'000)) {
  ChunkWriterOptions o;
  o.queue_bytes = queue_bytes;
  o.max_bytes = max_bytes;
  o.max_age = max_age;
  o.idle = idle;
  o.snaplen = 2048;  // small records: small blocks (queue_bytes / 8, at least 4 KiB)
  o.interface = "test0";
  return o;
}

// A closed gate the sealed callback waits at (a disk that stalls), opened by the test.
class Gate {
 public:
  void Arrive() {
    std::unique_lock<std::mutex> lock(mu_);
    arrived_ = true;
    cv_.notify_all();
    cv_.wait(lock, [this] { return open_; });
  }
  // Bounded waits: a bound on a hang, not a synchronisation.
  bool WaitArrived() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(20), [this] { return arrived_; });
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool arrived_ = false;
  bool open_ = false;
};

// A queued writer over a scratch dir. The callback and allocator run on the
// writer thread: what they record is read by the test only after SealNow (or
// the writer's destruction), which waits for them.
struct QHarness {
  explicit QHarness(ChunkWriterOptions o, ChunkWriter::SeqAllocator seq = {}) {
    o.dir = dir.path();
    if (!seq) seq = ChunkWriter::CountingSeq(1);
    auto w = ChunkWriter::Open(
        o, clock,
        [this, seq = std::move(seq)](std::uint64_t max_bytes) mutable {
          seq_threads.push_back(std::this_thread::get_id());
          return seq(max_bytes);
        },
        [this]() -> Result<CaptureStats> {
          stats_threads.push_back(std::this_thread::get_id());
          return stats;
        },
        [this](const SealedChunk& c) {
          callback_threads.push_back(std::this_thread::get_id());
          auto read = ReadPcapFile(c.path);
          auto digest = Sha256File(c.path);
          sealed_file_ok.push_back(read.ok() && read->packets.size() == c.packets &&
                                   digest.ok() && *digest == c.sha256 &&
                                   std::filesystem::file_size(c.path) == c.bytes);
          sealed.push_back(c);
          if (on_sealed) on_sealed(c);
        });
    REQUIRE(w.ok());
    writer = std::move(*w);
  }
  Status Write(const StoredPacket& p) { return writer->Write(p.View()); }

  std::vector<StoredPacket> ReadAllSealed() const { return testing::ReadSealedPackets(sealed); }

  QuietLogs quiet;
  TempDir dir;
  FakeClock clock;
  CaptureStats stats;
  std::function<void(const SealedChunk&)> on_sealed;
  std::vector<SealedChunk> sealed;
  std::vector<bool> sealed_file_ok;
  std::vector<std::thread::id> seq_threads, stats_threads, callback_threads;
  std::unique_ptr<ChunkWriter> writer;
};

using testing::FileSizeLimit;

}  // namespace

TEST_SUITE("capture.chunk_writer.queued") {
  TEST_CASE("FromConfig picks the queued mode with the default pool") {
    CaptureSection config;
    struct : PacketSource {
      Result<DispatchResult> Dispatch(int, const PacketHandler&) override { return DispatchResult{}; }
      Result<CaptureStats> Stats() override { return CaptureStats{}; }
      Status SetFilter(std::string_view) override { return Status::Ok(); }
      int LinkType() const override { return 1; }
      int Snaplen() const override { return 262144; }
      const std::string& Name() const override { return name; }
      std::string name = "lo";
    } source;
    const auto o = ChunkWriterOptions::FromConfig(config, "/tmp", source);
    CHECK(o.queue_bytes == ChunkWriterOptions::kDefaultQueueBytes);
    CHECK(ChunkWriterOptions{}.queue_bytes == 0);  // plain options stay inline
    config.queue_mib = 4;  // a small box
    CHECK(ChunkWriterOptions::FromConfig(config, "/tmp", source).queue_bytes == 4u << 20);
  }

  TEST_CASE("the writer thread seals every chunk in seq order, byte for byte, hashed") {
    QHarness h(Queued(1 << 20, 24 + 7 * 300), ChunkWriter::CountingSeq(11));  // holds all
    std::vector<StoredPacket> sent;
    for (int i = 0; i < 500; ++i) {
      sent.push_back(MakePacket(1'763'721'363'000'000 + i, 60 + (i * 53) % 400,
                                static_cast<std::uint8_t>(i)));
      REQUIRE(h.Write(sent.back()).ok());
    }
    sent.push_back(MakePacket(2, 5000));  // longer than the snaplen: cut, len kept
    REQUIRE(h.Write(sent.back()).ok());
    sent.back().data.resize(2048);
    REQUIRE(h.writer->SealNow().ok());

    REQUIRE(h.sealed.size() > 20);
    for (std::size_t i = 0; i < h.sealed.size(); ++i) {
      CAPTURE(i);
      CHECK(h.sealed[i].seq == static_cast<std::int64_t>(11 + i));
      CHECK(h.sealed_file_ok[i]);
      CHECK(h.sealed[i].bytes <= 24 + 7 * 300);
      CHECK(h.sealed[i].reason == (i + 1 == h.sealed.size() ? SealReason::kStop : SealReason::kSize));
      CHECK(h.sealed[i].lost_packets == 0);
    }
    CHECK(h.ReadAllSealed() == sent);
    CHECK(h.sealed.front().first_packet_us == sent.front().ts_us);
    CHECK(h.sealed.back().last_packet_us == sent.back().ts_us);

    // Allocator and callback on one thread, not ours; the stats provider on ours.
    REQUIRE_FALSE(h.callback_threads.empty());
    for (auto id : h.callback_threads) CHECK(id == h.callback_threads.front());
    for (auto id : h.seq_threads) CHECK(id == h.callback_threads.front());
    CHECK(h.callback_threads.front() != std::this_thread::get_id());
    for (auto id : h.stats_threads) CHECK(id == std::this_thread::get_id());

    const ChunkWriterStats s = h.writer->stats();
    CHECK(s.chunks_sealed == h.sealed.size());
    CHECK(s.packets_sealed == sent.size());
    CHECK(s.lost_packets == 0);
    CHECK(s.queue_drops == 0);
    CHECK(s.truncated_packets == 1);
    for (const std::string& name : h.dir.List()) CHECK(name.find(".tmp") == std::string::npos);
  }

  TEST_CASE("age, idle and stop seals keep their reasons, drops land in their interval") {
    QHarness h(Queued(64 << 10, 8 << 20, Millis(1'000), Millis(300)));
    h.stats = {10, 1, 0};
    REQUIRE(h.Write(MakePacket(1, 80)).ok());
    h.clock.Advance(Millis(600));
    REQUIRE(h.Write(MakePacket(2, 80)).ok());
    h.clock.Advance(Millis(400));
    h.stats = {20, 4, 1};
    REQUIRE(h.writer->Tick().ok());  // age: 1000 ms since the first packet
    CHECK_FALSE(h.writer->chunk_open());
    REQUIRE(h.Write(MakePacket(3, 80)).ok());
    h.clock.Advance(Millis(300));
    h.stats = {30, 6, 1};
    REQUIRE(h.writer->Tick().ok());  // idle
    REQUIRE(h.Write(MakePacket(4, 80)).ok());
    h.stats = {40, 9, 1};
    REQUIRE(h.writer->SealNow().ok());
    REQUIRE(h.sealed.size() == 3);
    CHECK(h.sealed[0].reason == SealReason::kAge);
    CHECK(h.sealed[0].packets == 2);
    CHECK(h.sealed[0].kernel_drops == 4);
    CHECK(h.sealed[0].interface_drops == 1);
    CHECK(h.sealed[1].reason == SealReason::kIdle);
    CHECK(h.sealed[1].kernel_drops == 2);
    CHECK(h.sealed[2].reason == SealReason::kStop);
    CHECK(h.sealed[2].kernel_drops == 3);
    CHECK(h.sealed[0].sealed_at_ms > 0);
  }

  TEST_CASE("SealNow returns only when every queued chunk is sealed and its callback returned") {
    QHarness h(Queued(1 << 20, 24 + 4 * kRecord100));
    // A slow index: each commit takes a while, as SQLite with synchronous=FULL does.
    h.on_sealed = [](const SealedChunk&) { std::this_thread::sleep_for(std::chrono::milliseconds(3)); };
    std::vector<StoredPacket> sent;
    for (int i = 0; i < 4 * 40 + 1; ++i) {
      sent.push_back(MakePacket(i, 100, static_cast<std::uint8_t>(i)));
      REQUIRE(h.Write(sent.back()).ok());
    }
    REQUIRE(h.writer->SealNow().ok());
    REQUIRE(h.sealed.size() == 41);  // read right away: no waiting here
    CHECK(h.sealed.back().packets == 1);
    CHECK(h.writer->stats().chunks_sealed == 41);
    CHECK(h.ReadAllSealed() == sent);
    CHECK(h.dir.List().size() == 41);
    for (const std::string& name : h.dir.List()) CHECK(name.find(".tmp") == std::string::npos);
    REQUIRE(h.writer->SealNow().ok());  // twice: nothing more
    CHECK(h.sealed.size() == 41);
  }

  TEST_CASE("a stalled disk: Write never blocks, a full pool drops, counts, and the chunk says so") {
    // 16 KiB pool of 4 KiB blocks: about 140 records of 100 bytes.
    QHarness h(Queued(16 << 10, 8 << 20, Millis(60'000), Millis(500)));
    Gate gate;
    bool first = true;
    h.on_sealed = [&](const SealedChunk&) {
      if (first) {
        first = false;
        gate.Arrive();  // the writer thread is stuck here until the test opens the gate
      }
    };
    // A bound on a hang if Write ever blocked on the stalled writer thread.
    std::mutex watch_mu;
    std::condition_variable watch_cv;
    bool writes_done = false;
    bool watchdog_fired = false;
    std::thread watchdog([&] {
      std::unique_lock<std::mutex> lock(watch_mu);
      if (!watch_cv.wait_for(lock, std::chrono::seconds(20), [&] { return writes_done; })) {
        watchdog_fired = true;
        gate.Open();
      }
    });

    REQUIRE(h.Write(MakePacket(0, 100)).ok());
    h.clock.Advance(Millis(500));
    REQUIRE(h.writer->Tick().ok());  // idle seal of chunk 1: its callback stalls
    REQUIRE(gate.WaitArrived());

    std::vector<StoredPacket> sent;
    for (int i = 1; i <= 1000; ++i) {
      sent.push_back(MakePacket(i, 100, static_cast<std::uint8_t>(i)));
      REQUIRE(h.Write(sent.back()).ok());  // dropped or queued, never an error
    }
    const ChunkWriterStats during = h.writer->stats();
    {
      std::lock_guard<std::mutex> lock(watch_mu);
      writes_done = true;
    }
    watch_cv.notify_all();
    watchdog.join();
    REQUIRE_FALSE(watchdog_fired);
    CHECK(during.queue_drops > 800);
    CHECK(during.queue_drops < 1000);
    CHECK(during.lost_packets == during.queue_drops);
    CHECK(h.writer->open_chunk_packets() == 1000 - during.queue_drops);

    gate.Open();
    REQUIRE(h.writer->SealNow().ok());
    REQUIRE(h.sealed.size() == 2);
    CHECK(h.sealed[0].packets == 1);
    CHECK(h.sealed[0].lost_packets == 0);
    // Chunk 2 holds what fitted (the oldest packets: nothing drained meanwhile)
    // and reports the rest as lost.
    CHECK(h.sealed[1].packets == 1000 - during.queue_drops);
    CHECK(h.sealed[1].lost_packets == during.queue_drops);
    const std::vector<StoredPacket> kept(sent.begin(),
                                         sent.begin() + static_cast<long>(h.sealed[1].packets));
    auto read = ReadPcapFile(h.sealed[1].path);
    REQUIRE(read.ok());
    CHECK(read->packets == kept);

    // The pool is free again: nothing more is lost.
    for (int i = 0; i < 100; ++i) REQUIRE(h.Write(MakePacket(2000 + i, 100)).ok());
    REQUIRE(h.writer->SealNow().ok());
    REQUIRE(h.sealed.size() == 3);
    CHECK(h.sealed[2].packets == 100);
    CHECK(h.sealed[2].lost_packets == 0);
    CHECK(h.writer->stats().queue_drops == during.queue_drops);
  }

  TEST_CASE("packets lost while no chunk is open go to the next chunk") {
    QHarness h(Queued(16 << 10, 8 << 20));
    h.writer->NoteLostPackets(3);
    REQUIRE(h.Write(MakePacket(1, 60)).ok());
    h.writer->NoteLostPackets(2);
    REQUIRE(h.writer->SealNow().ok());
    REQUIRE(h.sealed.size() == 1);
    CHECK(h.sealed[0].lost_packets == 5);
    CHECK(h.writer->stats().lost_packets == 5);
  }

  TEST_CASE("a write error on the writer thread names the file, loses only that chunk, and is returned later") {
    ChunkWriterOptions o = Queued(64 << 10, 8 << 20);
    QHarness h(o, ChunkWriter::CountingSeq(5));
    Status failure;
    int attempts = 0;
    {
      FileSizeLimit limit(10'000);
      for (int i = 0; i < 60 && failure.ok(); ++i, ++attempts) {
        failure = h.Write(MakePacket(i, 1000));
      }
      if (failure.ok()) failure = h.writer->SealNow();
    }
    REQUIRE_FALSE(failure.ok());
    CHECK(failure.code() == StatusCode::kIoError);
    CHECK(Contains(failure.message(), h.dir.Join(".5.pcap.tmp")));
    CHECK(Contains(failure.message(), "File too large"));
    REQUIRE(h.writer->SealNow().ok());  // settles the writer; the error was reported once
    // The torn temp file is gone; the loss is reported by a loss record, a chunk without
    // packets (the file limit leaves room for its header), in the seq the failed chunk left.
    REQUIRE(h.sealed.size() == 1);
    CHECK(h.dir.List() == std::vector<std::string>{"000000000005.pcap"});
    CHECK(h.sealed[0].seq == 5);
    CHECK(h.sealed[0].reason == SealReason::kLoss);
    CHECK(h.sealed[0].packets == 0);
    CHECK(h.sealed[0].bytes == 24);
    CHECK(h.sealed[0].first_packet_us == 0);
    CHECK(h.sealed[0].lost_packets == static_cast<std::uint64_t>(attempts));
    CHECK(h.writer->stats().chunks_abandoned == 1);
    CHECK(h.writer->stats().lost_packets == static_cast<std::uint64_t>(attempts));

    const StoredPacket p = MakePacket(100, 60);
    REQUIRE(h.Write(p).ok());
    REQUIRE(h.writer->SealNow().ok());
    REQUIRE(h.sealed.size() == 2);
    CHECK(h.sealed[1].seq == 6);
    CHECK(h.sealed[1].lost_packets == 0);  // reported once
    auto read = ReadPcapFile(h.sealed[1].path);
    REQUIRE(read.ok());
    CHECK(read->packets == std::vector<StoredPacket>{p});
  }

  TEST_CASE("a failing seq allocator loses that chunk's packets and is asked again") {
    int calls = 0;
    QHarness h(Queued(16 << 10, 8 << 20), [&](std::uint64_t) -> Result<std::int64_t> {
      if (++calls == 1) return Status::Unavailable("buffer busy");
      return std::int64_t{calls * 10};
    });
    for (int i = 0; i < 3; ++i) REQUIRE(h.Write(MakePacket(i, 60)).ok());
    Status st = h.writer->SealNow();
    REQUIRE_FALSE(st.ok());
    CHECK(Contains(st.message(), "buffer busy"));
    REQUIRE(h.sealed.size() == 1);  // the loss record SealNow makes, at the next seq
    CHECK(h.sealed[0].seq == 20);
    CHECK(h.sealed[0].packets == 0);
    CHECK(h.sealed[0].lost_packets == 3);
    REQUIRE(h.Write(MakePacket(10, 60)).ok());
    REQUIRE(h.writer->SealNow().ok());
    REQUIRE(h.sealed.size() == 2);
    CHECK(h.sealed[1].seq == 30);
    CHECK(h.sealed[1].packets == 1);
    CHECK(h.sealed[1].lost_packets == 0);
  }

  TEST_CASE("an existing chunk is never overwritten: Conflict, and the seq is skipped") {
    QHarness h(Queued(16 << 10, 8 << 20));
    { std::ofstream(h.dir.Join("000000000001.pcap")) << "sealed earlier"; }
    REQUIRE(h.Write(MakePacket(1, 60)).ok());
    Status st = h.writer->SealNow();
    CHECK(st.code() == StatusCode::kConflict);
    REQUIRE(h.sealed.size() == 1);  // the loss record
    CHECK(h.sealed[0].seq == 2);
    CHECK(h.sealed[0].lost_packets == 1);
    REQUIRE(h.Write(MakePacket(2, 60)).ok());
    REQUIRE(h.writer->SealNow().ok());
    REQUIRE(h.sealed.size() == 2);
    CHECK(h.sealed[1].seq == 3);
    CHECK(h.sealed[1].lost_packets == 0);
  }

  TEST_CASE("destroying the writer seals what was rotated and removes the open chunk") {
    QHarness h(Queued(16 << 10, 24 + 2 * kRecord100));
    for (int i = 0; i < 5; ++i) REQUIRE(h.Write(MakePacket(i, 100)).ok());
    h.writer.reset();  // joins the writer thread: the callbacks are done
    REQUIRE(h.sealed.size() == 2);
    CHECK(h.dir.List() ==
          std::vector<std::string>{"000000000001.pcap", "000000000002.pcap"});
  }
}

}  // namespace picket::capture
