#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "picket/buffer/buffer_store.h"
#include "picket/common/log.h"
#include "support/temp_dir.h"

namespace picket::buffer {

namespace {

using testing::TempDir;
namespace fs = std::filesystem;

std::unique_ptr<BufferStore> Open(const TempDir& dir, std::uint64_t max_bytes = 1ull << 30) {
  auto store = OpenSqliteBuffer({dir.Join("buf"), max_bytes});
  REQUIRE_MESSAGE(store.ok(), store.status().ToString());
  return std::move(*store);
}

// Writes a fake sealed chunk file of `bytes` bytes and commits it with the next seq.
ChunkMeta AddChunk(BufferStore& store, std::uint64_t bytes) {
  auto seq = store.NextChunkSeq();
  REQUIRE(seq.ok());
  ChunkMeta m;
  m.seq = *seq;
  m.file = store.ChunkDir() + "/" + std::to_string(m.seq) + ".pcap";
  std::ofstream(m.file, std::ios::binary) << std::string(bytes, 'x');
  m.bytes = bytes;
  m.packets = 10;
  m.sha256_hex = "ab";
  m.interface = "lo";
  Status st = store.CommitChunk(m);
  REQUIRE_MESSAGE(st.ok(), st.ToString());
  return m;
}

struct QuietLogs {
  QuietLogs() { log::SetLevel(log::Level::kError); }
  ~QuietLogs() { log::SetLevel(log::Level::kInfo); }
};

}  // namespace

TEST_SUITE("buffer") {
  TEST_CASE("chunk seqs are continuous and survive reopening") {
    TempDir dir;
    {
      auto store = Open(dir);
      CHECK(*store->NextChunkSeq() == 1);
      AddChunk(*store, 100);
      AddChunk(*store, 100);
      CHECK(*store->NextChunkSeq() == 3);
      ChunkMeta wrong;
      wrong.seq = 7;
      CHECK(store->CommitChunk(wrong).code() == StatusCode::kFailedPrecondition);
    }
    auto store = Open(dir);
    CHECK(*store->NextChunkSeq() == 3);
    auto last = store->LastChunk();
    REQUIRE(last.ok());
    REQUIRE(last->has_value());
    CHECK((*last)->seq == 2);
    CHECK((*last)->interface == "lo");
  }

  TEST_CASE("upload outcomes: done deletes the file, retry waits, dead is kept aside") {
    TempDir dir;
    auto store = Open(dir);
    ChunkMeta a = AddChunk(*store, 10), b = AddChunk(*store, 20), c = AddChunk(*store, 30);
    auto due = store->DueChunks(0, 10);
    REQUIRE(due.ok());
    CHECK(due->size() == 3);
    REQUIRE(store->MarkChunkUploaded(a.seq).ok());
    CHECK_FALSE(fs::exists(a.file));
    REQUIRE(store->MarkChunkRetry(b.seq, 5000, "HTTP 503").ok());
    REQUIRE(store->MarkChunkDead(c.seq, "HTTP 400 bad digest").ok());
    CHECK(fs::exists(c.file));  // dead chunks are kept for an operator
    CHECK(store->DueChunks(4999, 10)->empty());
    auto later = store->DueChunks(5000, 10);
    REQUIRE(later->size() == 1);
    CHECK(later->at(0).meta.seq == b.seq);
    CHECK(later->at(0).attempts == 1);
    auto counters = store->Counters();
    REQUIRE(counters.ok());
    CHECK(counters->chunks_pending == 1);
    CHECK(counters->chunk_bytes_pending == 20);
    CHECK(counters->chunks_uploaded == 1);
    CHECK(counters->chunks_dead == 1);
    CHECK(store->MarkChunkUploaded(a.seq).code() == StatusCode::kNotFound);
  }

  TEST_CASE("the disk budget evicts the oldest chunks, counts them, never batches") {
    QuietLogs quiet;
    TempDir dir;
    auto store = Open(dir, 2 << 20);  // 2 MiB
    REQUIRE(store->AppendBatch(BatchKind::kResults, std::string(300 << 10, 'r'), 1).ok());
    std::vector<ChunkMeta> chunks;
    for (int i = 0; i < 12; ++i) {
      chunks.push_back(AddChunk(*store, 256 << 10));
      auto c = store->Counters();
      REQUIRE(c.ok());
      CHECK(c->chunk_bytes_pending + c->batch_bytes_pending <= (2u << 20));
    }
    auto c = store->Counters();
    CHECK(c->batches_pending == 1);     // results are never evicted
    CHECK(c->chunks_evicted == 12 - c->chunks_pending);
    CHECK(c->chunks_evicted > 0);
    CHECK(c->bytes_evicted == c->chunks_evicted * (256u << 10));
    CHECK_FALSE(fs::exists(chunks.front().file));
    CHECK(fs::exists(chunks.back().file));
    auto due = store->DueChunks(0, 100);
    REQUIRE(!due->empty());
    CHECK(due->front().meta.seq == static_cast<std::int64_t>(c->chunks_evicted) + 1);  // oldest went
    CHECK(*store->NextChunkSeq() == 13);  // eviction never breaks numbering
  }

  TEST_CASE("batches keep a stable idempotency key across retries") {
    TempDir dir;
    auto store = Open(dir);
    auto id = store->AppendBatch(BatchKind::kLogs, "{\"l\":1}\n{\"l\":2}\n", 2);
    REQUIRE(id.ok());
    auto first = store->DueBatches(0, 10);
    REQUIRE(first->size() == 1);
    const std::string key = first->at(0).idempotency_key;
    CHECK(key.size() == 32);
    REQUIRE(store->MarkBatchRetry(*id, 100, "timeout").ok());
    auto second = store->DueBatches(100, 10);
    REQUIRE(second->size() == 1);
    CHECK(second->at(0).idempotency_key == key);
    CHECK(second->at(0).kind == BatchKind::kLogs);
    CHECK(second->at(0).attempts == 1);
    REQUIRE(store->MarkBatchUploaded(*id).ok());
    CHECK(store->DueBatches(1000, 10)->empty());
    CHECK(store->Counters()->batches_uploaded == 1);
  }

  TEST_CASE("result batches pending: only results, only until uploaded") {
    TempDir dir;
    auto store = Open(dir);
    REQUIRE(store->AppendBatch(BatchKind::kLogs, "{}\n", 1).ok());
    auto a = store->AppendBatch(BatchKind::kResults, "{}\n", 1);
    auto b = store->AppendBatch(BatchKind::kResults, "{}\n", 1);
    REQUIRE((a.ok() && b.ok()));
    CHECK(*store->ResultBatchesPending() == 2);
    REQUIRE(store->MarkBatchUploaded(*a).ok());
    REQUIRE(store->MarkBatchDead(*b, "refused").ok());
    CHECK(*store->ResultBatchesPending() == 0);
    CHECK(store->Counters()->result_batches_pending == 0);
  }

  TEST_CASE("start-up recovery removes temp files and uncommitted chunk files") {
    QuietLogs quiet;
    TempDir dir;
    std::string committed;
    {
      auto store = Open(dir);
      committed = AddChunk(*store, 10).file;
      std::ofstream(store->ChunkDir() + "/.2.pcap.tmp") << "torn";
      std::ofstream(store->ChunkDir() + "/000000000002.pcap") << "sealed but not committed";
    }
    auto store = Open(dir);
    CHECK(fs::exists(committed));
    CHECK_FALSE(fs::exists(store->ChunkDir() + "/.2.pcap.tmp"));
    CHECK_FALSE(fs::exists(store->ChunkDir() + "/000000000002.pcap"));
    CHECK(*store->NextChunkSeq() == 2);
  }

  TEST_CASE("a damaged database is moved aside and a fresh one starts") {
    QuietLogs quiet;
    TempDir dir;
    fs::create_directories(dir.Join("buf"));
    std::ofstream(dir.Join("buf/buffer.db"), std::ios::binary)
        << std::string(8192, '\x5a');  // not an SQLite file
    fs::create_directories(dir.Join("buf/chunks"));
    std::ofstream(dir.Join("buf/chunks/000000000007.pcap")) << "owned by the damaged database";
    const auto before_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    auto store = Open(dir);
    // The collector may already hold chunks 1..N of the old database: numbering
    // continues above anything it can have issued (the wall clock in 10 ms
    // units), within the collector's seq range (< 1e12).
    const std::int64_t next = *store->NextChunkSeq();
    CHECK(next > before_ms / 10);
    CHECK(next < 1'000'000'000'000);
    CHECK(AddChunk(*store, 10).seq == next);
    CHECK(*store->NextChunkSeq() == next + 1);
    bool moved = false, chunks_moved = false;
    for (const auto& e : fs::directory_iterator(dir.Join("buf/lost+found"))) {
      moved = moved || e.path().filename().string().rfind("buffer.db.", 0) == 0;
      chunks_moved = chunks_moved || fs::exists(e.path() / "000000000007.pcap");
    }
    CHECK(moved);
    CHECK(chunks_moved);
  }

  TEST_CASE("state survives reopening") {
    TempDir dir;
    {
      auto store = Open(dir);
      REQUIRE(store->PutState("last_good_config", "{\"version\":3}").ok());
      REQUIRE(store->PutState("last_good_config", "{\"version\":4}").ok());
    }
    auto store = Open(dir);
    auto v = store->GetState("last_good_config");
    REQUIRE(v.ok());
    REQUIRE(v->has_value());
    CHECK(**v == "{\"version\":4}");
    CHECK_FALSE(store->GetState("nothing")->has_value());
  }

  TEST_CASE("an unwritable buffer dir is an error naming it") {
    auto store = OpenSqliteBuffer({"/proc/picket-cannot-exist/buf", 1 << 20});
    REQUIRE_FALSE(store.ok());
    CHECK(store.status().message().find("/proc/picket-cannot-exist") != std::string::npos);
  }
}

}  // namespace picket::buffer

namespace picket::buffer {

TEST_SUITE("buffer") {
  TEST_CASE("RetryAllNow makes every pending item due again") {
    testing::TempDir dir;
    auto store = Open(dir);
    ChunkMeta a = AddChunk(*store, 10);
    auto batch = store->AppendBatch(BatchKind::kLogs, "{}\n", 1);
    REQUIRE(batch.ok());
    REQUIRE(store->MarkChunkRetry(a.seq, 1'000'000, "refused").ok());
    REQUIRE(store->MarkBatchRetry(*batch, 1'000'000, "refused").ok());
    CHECK(store->DueChunks(10, 10)->empty());
    CHECK(store->DueBatches(10, 10)->empty());
    REQUIRE(store->RetryAllNow().ok());
    CHECK(store->DueChunks(10, 10)->size() == 1);
    CHECK(store->DueBatches(10, 10)->size() == 1);
  }
}

}  // namespace picket::buffer

namespace picket::buffer {

TEST_SUITE("buffer") {
  TEST_CASE("a chunk's lost packets are kept with it") {
    testing::TempDir dir;
    auto store = Open(dir);
    ChunkMeta m;
    m.seq = 1;
    m.file = store->ChunkDir() + "/1.pcap";
    std::ofstream(m.file) << "x";
    m.bytes = 1;
    m.lost_packets = 17601;
    REQUIRE(store->CommitChunk(m).ok());
    auto due = store->DueChunks(0, 10);
    REQUIRE(due->size() == 1);
    CHECK(due->at(0).meta.lost_packets == 17601);
    CHECK((*store->LastChunk())->lost_packets == 17601);
  }
}

}  // namespace picket::buffer

namespace picket::buffer {

TEST_SUITE("buffer") {
  TEST_CASE("the oldest pending age follows the oldest chunk or batch still waiting") {
    testing::TempDir dir;
    auto store = Open(dir);
    constexpr std::int64_t kT0 = 1'800'000'000'000;  // sealed_at_ms of the first chunk
    CHECK(*store->OldestPendingAgeS(kT0) == 0);      // nothing pending
    auto add_sealed_at = [&](std::int64_t sealed_at_ms) {
      ChunkMeta m;
      m.seq = *store->NextChunkSeq();
      m.file = store->ChunkDir() + "/" + std::to_string(m.seq) + ".pcap";
      std::ofstream(m.file) << "x";
      m.bytes = 1;
      m.sealed_at_ms = sealed_at_ms;
      REQUIRE(store->CommitChunk(m).ok());
      return m.seq;
    };
    const std::int64_t first = add_sealed_at(kT0);
    const std::int64_t second = add_sealed_at(kT0 + 30'000);
    CHECK(*store->OldestPendingAgeS(kT0 + 90'500) == 90);
    // Uploaded or dead items no longer wait; retried ones still do.
    REQUIRE(store->MarkChunkRetry(second, kT0 + 200'000, "503").ok());
    REQUIRE(store->MarkChunkUploaded(first).ok());
    CHECK(*store->OldestPendingAgeS(kT0 + 90'500) == 60);
    REQUIRE(store->MarkChunkDead(second, "409").ok());
    CHECK(*store->OldestPendingAgeS(kT0 + 90'500) == 0);
    // A batch counts from when it was appended (wall clock now).
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
    REQUIRE(store->AppendBatch(BatchKind::kResults, "{}\n", 1).ok());
    const std::uint64_t batch_age = *store->OldestPendingAgeS(now_ms + 42'000);
    CHECK(batch_age >= 41);
    CHECK(batch_age <= 42);
    // A clock that went back reads as 0, never as a huge unsigned age.
    CHECK(*store->OldestPendingAgeS(now_ms - 10'000) == 0);
  }
}

}  // namespace picket::buffer
