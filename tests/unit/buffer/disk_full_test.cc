// The buffer's footprint, the free-space floor and seqs after a failed commit (issue 14).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "picket/buffer/buffer_store.h"
#include "picket/common/log.h"
#include "support/temp_dir.h"

namespace picket::buffer {

namespace {

using testing::TempDir;
namespace fs = std::filesystem;

struct Quiet {
  Quiet() { log::SetLevel(log::Level::kError); }
  ~Quiet() { log::SetLevel(log::Level::kInfo); }
};

ChunkMeta Chunk(BufferStore& store, std::int64_t seq, std::uint64_t bytes, std::uint64_t packets) {
  ChunkMeta m;
  m.seq = seq;
  m.file = store.ChunkDir() + "/" + std::to_string(seq) + ".pcap";
  std::ofstream(m.file, std::ios::binary) << std::string(bytes, 'x');
  m.bytes = bytes;
  m.packets = packets;
  m.sha256_hex = "ab";
  m.interface = "lo";
  return m;
}

}  // namespace

TEST_SUITE("buffer.disk_full") {
  TEST_CASE("seqs handed out to chunks that never committed are skipped, never reused") {
    Quiet quiet;
    TempDir dir;
    auto store = OpenSqliteBuffer({dir.Join("buf"), 1ull << 30});
    REQUIRE(store.ok());
    REQUIRE((*store)->CommitChunk(Chunk(**store, 1, 10, 1)).ok());
    ChunkMeta after_gap = Chunk(**store, 4, 10, 1);
    CHECK((*store)->CommitChunk(after_gap).code() == StatusCode::kFailedPrecondition);
    after_gap.uncommitted_before = 2;  // seqs 2 and 3 failed
    REQUIRE((*store)->CommitChunk(after_gap).ok());
    CHECK(*(*store)->NextChunkSeq() == 5);
    ChunkMeta back = Chunk(**store, 3, 10, 1);
    back.uncommitted_before = -2;
    CHECK((*store)->CommitChunk(back).code() == StatusCode::kFailedPrecondition);
  }

  TEST_CASE("the footprint counts the database, its WAL and the reserve file") {
    Quiet quiet;
    TempDir dir;
    auto store = OpenSqliteBuffer({dir.Join("buf"), 1ull << 30});
    REQUIRE(store.ok());
    CHECK(fs::file_size(dir.Join("buf") + "/reserve") == kReserveBytes);
    REQUIRE((*store)->CommitChunk(Chunk(**store, 1, 1000, 1)).ok());
    auto footprint = (*store)->FootprintBytes();
    REQUIRE(footprint.ok());
    CHECK(*footprint >= 1000 + kReserveBytes + fs::file_size(dir.Join("buf") + "/buffer.db"));
  }

  TEST_CASE("MakeRoom evicts the oldest chunks for a full disk, counts them apart, and says when it cannot") {
    Quiet quiet;
    TempDir dir;
    auto store = OpenSqliteBuffer({dir.Join("buf"), 1ull << 30});
    REQUIRE(store.ok());
    BufferStore& s = **store;
    for (std::int64_t seq = 1; seq <= 3; ++seq) REQUIRE(s.CommitChunk(Chunk(s, seq, 4096, 5)).ok());
    REQUIRE(s.AppendBatch(BatchKind::kResults, "{}\n", 1).ok());
    auto room = s.MakeRoom(1);  // there is room: nothing happens
    REQUIRE(room.ok());
    CHECK(s.Counters()->chunks_evicted == 0);
    // More than any filesystem has: everything pending goes, then it says why it failed.
    auto none = s.MakeRoom(~std::uint64_t{0} / 2);
    CHECK(none.status().code() == StatusCode::kResourceExhausted);
    CHECK(none.status().message().find("needed") != std::string::npos);
    auto c = s.Counters();
    REQUIRE(c.ok());
    CHECK(c->chunks_evicted == 3);
    CHECK(c->chunks_evicted_disk_full == 3);
    CHECK(c->packets_evicted == 15);
    CHECK(c->batches_pending == 1);  // results are never evicted
    CHECK_FALSE(fs::exists(s.ChunkDir() + "/1.pcap"));
    auto again = s.MakeRoom(~std::uint64_t{0} / 2);
    CHECK(again.status().message().find("no pending chunk left") != std::string::npos);
  }

  TEST_CASE("a chunk evicted while it was being uploaded counts as uploaded once delivered") {
    Quiet quiet;
    TempDir dir;
    auto store = OpenSqliteBuffer({dir.Join("buf"), 1ull << 30});
    REQUIRE(store.ok());
    BufferStore& s = **store;
    REQUIRE(s.CommitChunk(Chunk(s, 1, 4096, 5)).ok());
    REQUIRE(s.CommitChunk(Chunk(s, 2, 4096, 5)).ok());
    (void)s.MakeRoom(~std::uint64_t{0} / 2);  // the disk filled up meanwhile: both evicted
    REQUIRE(s.Counters()->chunks_evicted == 2);
    REQUIRE(s.MarkChunkUploaded(1).ok());  // but chunk 1 had reached the collector
    auto c = s.Counters();
    CHECK(c->chunks_uploaded == 1);
    CHECK(c->chunks_evicted == 1);
    CHECK(c->chunks_evicted_disk_full == 1);
    CHECK(c->packets_evicted == 5);
    CHECK(c->bytes_evicted == 4096);
    CHECK(s.MarkChunkUploaded(1).code() == StatusCode::kNotFound);  // once only
  }
}

}  // namespace picket::buffer
