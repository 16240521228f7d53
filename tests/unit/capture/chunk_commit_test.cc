// A sealed chunk the buffer refuses (disk full, database locked): issue 14.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <thread>

#include "fakes/capture/capture_test_support.h"
#include "fakes/capture/fake_clock.h"
#include "picket/capture/chunk_writer.h"

namespace picket::capture {

namespace {

using testing::FakeClock;
using testing::MakePacket;
using testing::QuietLogs;
using testing::TempDir;
namespace fs = std::filesystem;

struct Refusing {
  QuietLogs quiet;
  TempDir dir;
  FakeClock clock;
  CaptureStats stats;
  std::vector<SealedChunk> offered;   // every chunk the writer sealed
  std::vector<bool> final_file_there;  // at the moment of the commit
  std::vector<std::uint64_t> room_asked;  // max_bytes of each seq asked for
  int refuse_left = 1;
  std::unique_ptr<ChunkWriter> writer;

  explicit Refusing(bool queued, Millis idle = Millis(0)) {
    ChunkWriterOptions o;
    o.dir = dir.path();
    o.interface = "test0";
    o.max_bytes = 24 + 3 * (16 + 100);  // three 100-byte packets a chunk
    o.max_age = Millis(0);
    o.idle = idle;
    if (queued) o.queue_bytes = 64 << 10;
    auto w = ChunkWriter::OpenCommitting(
        o, clock,
        [this, next = std::int64_t{1}](std::uint64_t max_bytes) mutable -> Result<std::int64_t> {
          room_asked.push_back(max_bytes);
          return next++;
        },
        [this]() -> Result<CaptureStats> { return stats; },
        [this](const SealedChunk& c) -> Status {
          offered.push_back(c);
          final_file_there.push_back(fs::exists(c.path));
          if (refuse_left > 0) {
            --refuse_left;
            return Status::Unavailable("database is locked");
          }
          return Status::Ok();
        });
    REQUIRE(w.ok());
    writer = std::move(*w);
  }

  // Queued mode: the writer thread's progress, seen through its counters.
  bool WaitFor(const std::function<bool(const ChunkWriterStats&)>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!done(writer->stats()) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
    return done(writer->stats());
  }
};

}  // namespace

TEST_SUITE("capture.chunk_commit") {
  TEST_CASE("a refused chunk leaves no file, keeps its seq consumed, and its packets and drops move on") {
    for (bool queued : {false, true}) {
      CAPTURE(queued);
      Refusing r(queued);
      r.stats.kernel_drops = 0;
      for (int i = 0; i < 3; ++i) REQUIRE(r.writer->Write(MakePacket(1000 + i, 100).View()).ok());
      r.stats.kernel_drops = 7;  // drops during the first chunk
      for (int i = 0; i < 4; ++i) REQUIRE(r.writer->Write(MakePacket(2000 + i, 100).View()).ok());
      REQUIRE(r.writer->SealNow().ok());
      REQUIRE(r.offered.size() == 3);  // 3 + 3 + 1 packets
      CHECK(r.final_file_there[0]);  // sealed under its final name before the commit
      CHECK_FALSE(fs::exists(r.offered[0].path));  // refused: removed
      CHECK(fs::exists(r.offered[1].path));
      CHECK(r.offered[0].seq == 1);
      CHECK(r.offered[1].seq == 2);  // never 1 again
      CHECK(r.offered[2].seq == 3);
      CHECK(r.offered[1].lost_packets == 3);  // the refused chunk's packets, reported once
      CHECK(r.offered[2].lost_packets == 0);
      std::uint64_t drops = 0;
      for (const auto& c : r.offered) drops += c.kernel_drops;
      CHECK(drops - r.offered[0].kernel_drops == 7);  // every drop lands in a kept chunk
      auto st = r.writer->stats();
      CHECK(st.commit_failures == 1);
      CHECK(st.chunks_sealed == 2);
      CHECK(st.lost_packets == 3);
    }
  }

  TEST_CASE("a refused chunk on a link that goes quiet: a loss record reports it after idle") {
    // Retries of a refused record back off: idle (300 ms), then double.
    Refusing r(false, Millis(300));
    r.refuse_left = 2;  // the chunk, then the first loss record
    for (int i = 0; i < 2; ++i) REQUIRE(r.writer->Write(MakePacket(1000 + i, 100).View()).ok());
    r.clock.Advance(Millis(300));
    REQUIRE(r.writer->Tick().ok());  // idle seal: refused
    REQUIRE(r.offered.size() == 1);
    r.stats.kernel_drops = 4;
    REQUIRE(r.writer->Tick().ok());  // idle since the last packet: a loss record, refused
    REQUIRE(r.offered.size() == 2);
    CHECK(r.offered[1].packets == 0);
    REQUIRE(r.writer->Tick().ok());
    r.clock.Advance(Millis(299));
    REQUIRE(r.writer->Tick().ok());
    CHECK(r.offered.size() == 2);  // backing off
    r.clock.Advance(Millis(1));
    REQUIRE(r.writer->Tick().ok());
    REQUIRE(r.offered.size() == 3);
    const SealedChunk& record = r.offered[2];
    CHECK(record.reason == SealReason::kLoss);
    CHECK(record.packets == 0);
    CHECK(record.bytes == 24);  // the file header alone
    CHECK(fs::file_size(record.path) == 24);
    CHECK(record.first_packet_us == 0);
    CHECK(record.last_packet_us == 0);
    CHECK(record.lost_packets == 2);  // the refused chunk's packets, once
    CHECK(record.kernel_drops == 4);  // drops come along
    r.clock.Advance(Millis(60'000));
    REQUIRE(r.writer->Tick().ok());
    REQUIRE(r.writer->SealNow().ok());
    CHECK(r.offered.size() == 3);  // nothing left to report
    CHECK(r.writer->stats().commit_failures == 2);
    CHECK(r.writer->stats().lost_packets == 2);
  }

  TEST_CASE("losses wait for the link to be idle: a chunk that opens first carries them") {
    for (bool queued : {false, true}) {
      CAPTURE(queued);
      Refusing r(queued, Millis(300));
      REQUIRE(r.writer->Write(MakePacket(1000, 100).View()).ok());
      r.clock.Advance(Millis(300));
      REQUIRE(r.writer->Tick().ok());  // idle seal: refused
      REQUIRE(r.WaitFor([](const ChunkWriterStats& s) { return s.commit_failures == 1; }));
      REQUIRE(r.writer->Write(MakePacket(2000, 100).View()).ok());
      r.writer->NoteLostPackets(1);  // lost by the capture loop
      REQUIRE(r.writer->Tick().ok());
      r.clock.Advance(Millis(300));
      REQUIRE(r.writer->Tick().ok());  // idle seal of the second chunk
      REQUIRE(r.WaitFor([](const ChunkWriterStats& s) { return s.chunks_sealed == 1; }));
      REQUIRE(r.writer->Tick().ok());  // nothing pending: no loss record
      REQUIRE(r.writer->SealNow().ok());
      REQUIRE(r.offered.size() == 2);
      CHECK(r.offered[1].packets == 1);
      CHECK(r.offered[1].lost_packets == 2);
    }
  }

  TEST_CASE(
      "queued: a refused chunk's packets come in a loss record from Tick and none from SealNow") {
    Refusing r(true, Millis(300));
    for (int i = 0; i < 2; ++i) REQUIRE(r.writer->Write(MakePacket(1000 + i, 100).View()).ok());
    r.clock.Advance(Millis(300));
    REQUIRE(r.writer->Tick().ok());  // idle seal, refused on the writer thread
    REQUIRE(r.WaitFor([](const ChunkWriterStats& s) { return s.commit_failures == 1; }));
    REQUIRE(r.writer->Tick().ok());  // the loss record
    REQUIRE(r.WaitFor([](const ChunkWriterStats& s) { return s.chunks_sealed == 1; }));
    REQUIRE(r.writer->SealNow().ok());
    REQUIRE(r.offered.size() == 2);
    CHECK(r.offered[1].reason == SealReason::kLoss);
    CHECK(r.offered[1].seq == 2);
    CHECK(r.offered[1].packets == 0);
    CHECK(r.offered[1].lost_packets == 2);
  }

  TEST_CASE(
      "the worker stops after a refused chunk: SealNow reports its packets in a loss record") {
    for (bool queued : {false, true}) {
      CAPTURE(queued);
      Refusing r(queued);
      REQUIRE(r.writer->Write(MakePacket(1000, 100).View()).ok());
      REQUIRE(r.writer->SealNow().ok());  // the chunk is refused, the loss record kept
      REQUIRE(r.offered.size() == 2);
      // Room is asked for a whole chunk, and for a loss record only its file header.
      CHECK(r.room_asked == std::vector<std::uint64_t>{24 + 3 * (16 + 100), 24});
      CHECK(r.offered[0].packets == 1);
      CHECK(r.offered[1].reason == SealReason::kLoss);
      CHECK(r.offered[1].lost_packets == 1);
      CHECK(fs::exists(r.offered[1].path));
      REQUIRE(r.writer->SealNow().ok());
      CHECK(r.offered.size() == 2);
    }
  }
}

}  // namespace picket::capture
