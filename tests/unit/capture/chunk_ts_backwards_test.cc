// The "timestamps went backwards" count of sealed chunks, in both writer
// modes: packets stamped earlier than the packet before them (a wall clock
// stepped back during capture), across chunk boundaries too.
#include <doctest/doctest.h>

#include <vector>

#include "fakes/capture/capture_test_support.h"
#include "fakes/capture/fake_clock.h"
#include "picket/capture/chunk_writer.h"

namespace picket::capture {

namespace {

using testing::FakeClock;
using testing::MakePacket;
using testing::QuietLogs;
using testing::TempDir;

constexpr std::uint64_t kRecord100 = 16 + 100;

// Chunks of two 100-byte packets; queue_bytes > 0 picks the queued mode.
std::vector<SealedChunk> SealAll(std::size_t queue_bytes, const std::vector<std::int64_t>& stamps_us) {
  QuietLogs quiet;
  TempDir dir;
  FakeClock clock;
  std::vector<SealedChunk> sealed;
  ChunkWriterOptions o;
  o.dir = dir.path();
  o.interface = "test0";
  o.snaplen = 2048;
  o.max_bytes = 24 + 2 * kRecord100;
  o.queue_bytes = queue_bytes;
  auto w = ChunkWriter::Open(o, clock, ChunkWriter::CountingSeq(1),
                             []() -> Result<CaptureStats> { return CaptureStats{}; },
                             [&](const SealedChunk& c) { sealed.push_back(c); });
  REQUIRE(w.ok());
  for (std::int64_t us : stamps_us) REQUIRE((*w)->Write(MakePacket(us, 100).View()).ok());
  REQUIRE((*w)->SealNow().ok());
  return sealed;
}

}  // namespace

TEST_SUITE("capture.chunk_writer.ts_backwards") {
  TEST_CASE("in-order stamps (equal ones too) count nothing") {
    for (std::size_t queue : {std::size_t{0}, std::size_t{1} << 20}) {
      CAPTURE(queue);
      auto sealed = SealAll(queue, {1'000, 2'000, 2'000, 5'000});
      REQUIRE(sealed.size() == 2);
      CHECK(sealed[0].ts_backwards == 0);
      CHECK(sealed[1].ts_backwards == 0);
    }
  }

  TEST_CASE("a step back inside a chunk and one across a chunk boundary are each counted once") {
    const std::int64_t hour = 3'600'000'000;
    for (std::size_t queue : {std::size_t{0}, std::size_t{1} << 20}) {
      CAPTURE(queue);
      // chunk 1: t, t-1h (back); chunk 2: t-1h+1, t-2h (back); chunk 3 opens below chunk 2's last.
      auto sealed = SealAll(queue, {10 * hour, 9 * hour, 9 * hour + 1, 8 * hour, 7 * hour, 7 * hour + 5});
      REQUIRE(sealed.size() == 3);
      CHECK(sealed[0].ts_backwards == 1);
      CHECK(sealed[0].last_packet_us < sealed[0].first_packet_us);
      CHECK(sealed[1].ts_backwards == 1);
      CHECK(sealed[2].ts_backwards == 1);  // its first packet is older than chunk 2's last
    }
  }
}

}  // namespace picket::capture
