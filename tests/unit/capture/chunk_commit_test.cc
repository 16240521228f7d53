// A sealed chunk the buffer refuses (disk full, database locked): issue 14.
#include <doctest/doctest.h>

#include <filesystem>

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
  int refuse_left = 1;
  std::unique_ptr<ChunkWriter> writer;

  explicit Refusing(bool queued) {
    ChunkWriterOptions o;
    o.dir = dir.path();
    o.interface = "test0";
    o.max_bytes = 24 + 3 * (16 + 100);  // three 100-byte packets a chunk
    o.max_age = Millis(0);
    o.idle = Millis(0);
    if (queued) o.queue_bytes = 64 << 10;
    auto w = ChunkWriter::OpenCommitting(
        o, clock, ChunkWriter::CountingSeq(1), [this]() -> Result<CaptureStats> { return stats; },
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
}

}  // namespace picket::capture
