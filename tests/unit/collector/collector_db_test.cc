#include "collector/collector_db.h"
#include "picket/sqlite/database.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <new>
#include <optional>
#include <thread>
#include <vector>

#include "picket/common/file_io.h"
#include "support/process_harness.h"
#include "support/temp_dir.h"

namespace picket::collector {

namespace {

ChunkRecord Chunk(std::string device, std::uint64_t seq, std::string sha) {
  ChunkRecord c;
  c.device = std::move(device);
  c.seq = seq;
  c.sha256_hex = std::move(sha);
  c.bytes = 100;
  c.packets = 3;
  c.kernel_drops = 1;
  c.received_at_ms = 1000;
  c.path = "/x/" + std::to_string(seq);
  return c;
}

}  // namespace

TEST_SUITE("collector.db") {
  TEST_CASE("a chunk is stored once, same hash is a repeat, other hash a conflict") {
    testing::TempDir dir;
    auto db = CollectorDb::Open(dir.path() + "/collector.db");
    REQUIRE(db.ok());
    int published = 0;
    auto publish = [&] {
      ++published;
      return Status::Ok();
    };

    auto first = (*db)->PutChunk(Chunk("gw", 1, "aa"), {}, publish);
    REQUIRE(first.ok());
    CHECK(first->outcome == ChunkOutcome::kStored);
    CHECK(published == 1);

    auto again = (*db)->PutChunk(Chunk("gw", 1, "aa"), {}, publish);
    REQUIRE(again.ok());
    CHECK(again->outcome == ChunkOutcome::kAlreadyStored);
    auto other = (*db)->PutChunk(Chunk("gw", 1, "bb"), {}, publish);
    REQUIRE(other.ok());
    CHECK(other->outcome == ChunkOutcome::kConflict);
    CHECK(other->stored_sha256 == "aa");
    CHECK(published == 1);  // the file is never replaced

    auto hash = (*db)->ChunkHash("gw", 1);
    REQUIRE(hash.ok());
    CHECK(*hash == std::optional<std::string>("aa"));
    CHECK_FALSE((*db)->ChunkHash("gw", 2)->has_value());
    CHECK_FALSE((*db)->ChunkHash("other", 1)->has_value());
  }

  // Counts the batches it was asked to make durable; fails when told to.
  struct CountingSync final : CollectorDb::PublishedFileSync {
    mutable std::atomic<int> calls{0};
    bool fail = false;
    Status SyncPublished() const override {
      ++calls;
      return fail ? Status::IoError("syncfs failed (test)") : Status::Ok();
    }
  };

  // kWaiting + 1 chunk requests of device "gw" (seqs 1...): the first one's publish holds its
  // commit until the other kWaiting are queued behind it; the fourth one's publish fails.
  struct HeldCommit {
    static constexpr int kWaiting = 7;
    testing::TempDir dir;
    std::unique_ptr<CollectorDb> db;
    std::vector<ChunkRecord> records;
    const DeviceReport report;
    CountingSync sync;
    std::vector<CollectorDb::ChunkPutRequest> requests;
    std::atomic<bool> first_publishing{false}, all_queued{false};

    HeldCommit() : requests(kWaiting + 1) {
      auto opened = CollectorDb::Open(dir.path() + "/collector.db");
      REQUIRE(opened.ok());
      db = std::move(*opened);
      for (int i = 0; i <= kWaiting; ++i) records.push_back(Chunk("gw", i + 1, "h" + std::to_string(i)));
      for (int i = 0; i <= kWaiting; ++i) {
        requests[i].record = &records[i];
        requests[i].report = &report;
        requests[i].file_sync = &sync;
        requests[i].publish_file = [this, i]() -> Status {
          if (i == 0) {
            first_publishing = true;
            all_queued = testing::WaitFor([&] { return db->chunks_queued() == kWaiting; },
                                          testing::After(std::chrono::seconds(10)));
          }
          if (i == 3) return Status::IoError("rename failed (test)");
          return Status::Ok();
        };
      }
    }
    bool WaitFirstPublishing() {
      return testing::WaitFor([&] { return first_publishing.load(); },
                              testing::After(std::chrono::seconds(10)));
    }
  };

  TEST_CASE("group commit: chunks that wait during a commit go in the next one, each on its own") {
    HeldCommit h;
    constexpr int kWaiting = HeldCommit::kWaiting;
    auto& db = h.db;
    std::vector<std::optional<Result<ChunkPut>>> results(kWaiting + 1);
    std::thread first([&] { results[0] = db->PutChunk(h.requests[0]); });
    // The others start once the first commit runs: its publish waits for them.
    const bool started = h.WaitFirstPublishing();
    std::vector<std::thread> others;
    for (int i = 1; i <= kWaiting; ++i) others.emplace_back([&, i] { results[i] = db->PutChunk(h.requests[i]); });
    first.join();
    for (auto& t : others) t.join();
    REQUIRE(started);
    CHECK(h.all_queued.load());
    CHECK(db->chunk_commits() == 2);  // the first alone, then the seven together
    CHECK(h.sync.calls.load() == 2);  // one file sync per batch, not per chunk
    CHECK(db->chunks_committed() == kWaiting + 1);
    for (int i = 0; i <= kWaiting; ++i) {
      CAPTURE(i);
      REQUIRE(results[i].has_value());
      if (i == 3) {
        CHECK(results[i]->status().code() == StatusCode::kIoError);
        CHECK_FALSE(db->ChunkHash("gw", i + 1)->has_value());  // its savepoint rolled back
      } else {
        REQUIRE(results[i]->ok());
        CHECK((*results[i])->outcome == ChunkOutcome::kStored);
        CHECK(*db->ChunkHash("gw", i + 1) == std::optional<std::string>("h" + std::to_string(i)));
      }
    }
    auto devices = db->ListDevices();
    REQUIRE(devices.ok());
    CHECK((*devices)[0]["chunks"] == kWaiting);  // the failed one is not counted
  }

  TEST_CASE("PutChunkAsync: chunks submitted during a commit return at once and share the next one") {
    HeldCommit h;
    constexpr int kWaiting = HeldCommit::kWaiting;
    auto& db = h.db;
    std::mutex mu;
    std::vector<std::optional<Result<ChunkPut>>> results(kWaiting + 1);
    std::vector<int> calls(kWaiting + 1, 0);
    auto done = [&](int i) {
      return [&, i](Result<ChunkPut> put) {
        std::lock_guard lock(mu);
        ++calls[i];
        results[i] = std::move(put);
      };
    };
    // The first submitter finds no commit running: it commits, on its own thread.
    std::thread first([&] { db->PutChunkAsync(h.requests[0], done(0)); });
    const bool started = h.WaitFirstPublishing();
    // The others, all from this thread while that commit runs: none waits for it.
    if (started) {
      for (int i = 1; i <= kWaiting; ++i) db->PutChunkAsync(h.requests[i], done(i));
    }
    first.join();  // it went on with the queued batch before returning
    REQUIRE(started);
    CHECK(h.all_queued.load());
    CHECK(db->chunk_commits() == 2);  // the first alone, then the seven together
    CHECK(h.sync.calls.load() == 2);
    std::lock_guard lock(mu);
    for (int i = 0; i <= kWaiting; ++i) {
      CAPTURE(i);
      CHECK(calls[i] == 1);
      REQUIRE(results[i].has_value());
      if (i == 3) {
        CHECK(results[i]->status().code() == StatusCode::kIoError);
      } else {
        REQUIRE(results[i]->ok());
        CHECK((*results[i])->outcome == ChunkOutcome::kStored);
        CHECK(*db->ChunkHash("gw", i + 1) == std::optional<std::string>("h" + std::to_string(i)));
      }
    }
  }

  // Takes `work` of steady time to sync, as a disk flush would.
  struct SlowSync final : CollectorDb::PublishedFileSync {
    std::chrono::milliseconds work{5};
    Status SyncPublished() const override {
      const auto until = std::chrono::steady_clock::now() + work;
      while (std::chrono::steady_clock::now() < until) {
      }
      return Status::Ok();
    }
  };

  TEST_CASE("commits count their time, and the file sync's share of it (/metrics)") {
    testing::TempDir dir;
    auto db = CollectorDb::Open(dir.path() + "/collector.db");
    REQUIRE(db.ok());
    CHECK((*db)->chunk_commit_seconds() == 0);
    const DeviceReport report;
    SlowSync sync;
    const ChunkRecord chunk = Chunk("gw", 1, "h1");
    CollectorDb::ChunkPutRequest r;
    r.record = &chunk;
    r.report = &report;
    r.file_sync = &sync;
    r.publish_file = [] { return Status::Ok(); };
    REQUIRE((*db)->PutChunk(r).ok());
    CHECK((*db)->chunk_commits() == 1);
    CHECK((*db)->chunk_file_sync_seconds() >= 0.005);
    CHECK((*db)->chunk_file_sync_seconds() < 5);
    CHECK((*db)->chunk_commit_seconds() >= (*db)->chunk_file_sync_seconds());
  }

  TEST_CASE("a commit that throws fails its batch, rolls back, and the next chunk still commits") {
    testing::TempDir dir;
    auto db = CollectorDb::Open(dir.path() + "/collector.db");
    REQUIRE(db.ok());
    const DeviceReport report;
    CountingSync sync;
    const ChunkRecord thrown = Chunk("gw", 1, "h1"), next = Chunk("gw", 2, "h2");
    CollectorDb::ChunkPutRequest r;
    r.record = &thrown;
    r.report = &report;
    r.file_sync = &sync;
    r.publish_file = []() -> Status { throw std::bad_alloc(); };
    auto failed = (*db)->PutChunk(r);
    REQUIRE_FALSE(failed.ok());
    CHECK(failed.status().code() == StatusCode::kInternal);
    CHECK(failed.status().message().find("chunk commit failed: the commit threw") !=
          std::string::npos);
    CHECK_FALSE((*db)->ChunkHash("gw", 1)->has_value());

    // Before, the throw left the commit marked running: this waited for ever (async: never called).
    std::atomic<int> calls{0};
    std::optional<Result<ChunkPut>> answer;
    r.record = &next;
    r.publish_file = [] { return Status::Ok(); };
    (*db)->PutChunkAsync(r, [&](Result<ChunkPut> put) {
      answer = std::move(put);
      ++calls;
    });
    REQUIRE(testing::WaitFor([&] { return calls.load() == 1; },
                             testing::After(std::chrono::seconds(10))));
    REQUIRE(answer->ok());
    CHECK((*answer)->outcome == ChunkOutcome::kStored);
    CHECK(*(*db)->ChunkHash("gw", 2) == std::optional<std::string>("h2"));
    auto devices = (*db)->ListDevices();
    REQUIRE(devices.ok());
    CHECK((*devices)[0]["chunks"] == 1);  // the thrown one's savepoint and transaction rolled back
  }

  TEST_CASE("a batch whose files cannot be made durable stores none of its rows") {
    testing::TempDir dir;
    auto db = CollectorDb::Open(dir.path() + "/collector.db");
    REQUIRE(db.ok());
    const ChunkRecord record = Chunk("gw", 1, "h1");
    const DeviceReport report;
    CountingSync sync;
    sync.fail = true;
    CollectorDb::ChunkPutRequest r;
    r.record = &record;
    r.report = &report;
    r.file_sync = &sync;
    r.publish_file = [] { return Status::Ok(); };
    auto put = (*db)->PutChunk(r);
    CHECK(put.status().code() == StatusCode::kIoError);
    CHECK(sync.calls.load() == 1);
    CHECK_FALSE((*db)->ChunkHash("gw", 1)->has_value());
    sync.fail = false;  // the device's retry
    put = (*db)->PutChunk(r);
    REQUIRE(put.ok());
    CHECK(put->outcome == ChunkOutcome::kStored);
  }

  TEST_CASE("a failed publish stores no row") {
    testing::TempDir dir;
    auto db = CollectorDb::Open(dir.path() + "/collector.db");
    REQUIRE(db.ok());
    auto put =
        (*db)->PutChunk(Chunk("gw", 5, "aa"), {}, [] { return Status::IoError("disk on fire"); });
    REQUIRE_FALSE(put.ok());
    CHECK(put.status().message() == "disk on fire");
    CHECK_FALSE((*db)->ChunkHash("gw", 5)->has_value());
    auto devices = (*db)->ListDevices();
    REQUIRE(devices.ok());
    CHECK(devices->empty());  // the whole transaction rolled back
  }

  TEST_CASE(
      "the disk quota refuses a chunk that would pass it, per device, inside the transaction") {
    testing::TempDir dir;
    auto db = CollectorDb::Open(dir.path() + "/collector.db");
    REQUIRE(db.ok());
    int published = 0;
    auto publish = [&] {
      ++published;
      return Status::Ok();
    };
    // Chunks of 100 bytes; a quota of 250 holds two.
    REQUIRE((*db)->PutChunk(Chunk("gw", 1, "a"), {}, publish, 250)->outcome ==
            ChunkOutcome::kStored);
    REQUIRE((*db)->PutChunk(Chunk("gw", 2, "b"), {}, publish, 250)->outcome ==
            ChunkOutcome::kStored);
    CHECK(*(*db)->DeviceChunkBytes("gw") == 200);
    auto over = (*db)->PutChunk(Chunk("gw", 3, "c"), {}, publish, 250);
    REQUIRE(over.ok());
    CHECK(over->outcome == ChunkOutcome::kOverDiskQuota);
    CHECK(over->device_bytes == 200);
    CHECK(published == 2);  // no file for the refused chunk
    CHECK_FALSE(*(*db)->ChunkHash("gw", 3));
    // A repeat of a stored chunk is still answered; another device is not affected.
    CHECK((*db)->PutChunk(Chunk("gw", 2, "b"), {}, publish, 250)->outcome ==
          ChunkOutcome::kAlreadyStored);
    CHECK((*db)->PutChunk(Chunk("other", 1, "a"), {}, publish, 250)->outcome ==
          ChunkOutcome::kStored);
    // Exactly at the quota fits; 0 is no quota.
    CHECK((*db)->PutChunk(Chunk("gw", 3, "c"), {}, publish, 300)->outcome == ChunkOutcome::kStored);
    CHECK((*db)->PutChunk(Chunk("gw", 4, "d"), {}, publish, 0)->outcome == ChunkOutcome::kStored);
    CHECK(*(*db)->DeviceChunkBytes("gw") == 400);
    CHECK(*(*db)->DeviceChunkBytes("nobody") == 0);
    auto seqs = (*db)->ChunkSeqs("gw");
    REQUIRE(seqs.ok());
    CHECK(*seqs == std::unordered_set<std::uint64_t>{1, 2, 3, 4});
  }

  TEST_CASE("device counters add up and evictions keep the latest report") {
    testing::TempDir dir;
    auto db = CollectorDb::Open(dir.path() + "/collector.db");
    REQUIRE(db.ok());
    auto ok = [] { return Status::Ok(); };
    REQUIRE((*db)->PutChunk(Chunk("gw", 2, "a"), {7, 700}, ok).ok());
    REQUIRE((*db)->PutChunk(Chunk("gw", 1, "b"), {}, ok).ok());
    REQUIRE((*db)->TouchDevice("gw", 5000, {9, std::nullopt}).ok());
    auto devices = (*db)->ListDevices();
    REQUIRE(devices.ok());
    REQUIRE(devices->size() == 1);
    const auto& d = (*devices)[0];
    CHECK(d["id"] == "gw");
    CHECK(d["chunks"] == 2);
    CHECK(d["chunk_bytes"] == 200);
    CHECK(d["packets"] == 6);
    CHECK(d["kernel_drops"] == 2);
    CHECK(d["last_chunk_seq"] == 2);
    CHECK(d["evicted_chunks"] == 9);
    CHECK(d["evicted_bytes"] == 700);
    CHECK(d["first_seen_ms"] == 1000);
    CHECK(d["last_seen_ms"] == 5000);

    auto chunks = (*db)->ListChunks("gw", {});
    REQUIRE(chunks.ok());
    REQUIRE(chunks->size() == 2);
    CHECK((*chunks)[0]["seq"] == 1);  // ordered by seq, not by arrival
    CHECK((*chunks)[1]["seq"] == 2);
    CHECK((*chunks)[0]["interface"].is_null());
    ListQuery after1;
    after1.since = 1;
    CHECK((*db)->ListChunks("gw", after1)->size() == 1);
  }

  TEST_CASE("an idempotency key stores its lines once, per device and kind") {
    testing::TempDir dir;
    auto db = CollectorDb::Open(dir.path() + "/collector.db");
    REQUIRE(db.ok());
    std::vector<NdjsonLine> lines = {{R"({"msg":"a"})", std::nullopt},
                                     {R"({"msg":"b"})", std::nullopt}};
    auto first = (*db)->IngestLines(LineKind::kLogs, "gw", "k1", lines, 100, {});
    REQUIRE(first.ok());
    CHECK(first->accepted == 2);
    CHECK_FALSE(first->duplicate);

    auto replay = (*db)->IngestLines(LineKind::kLogs, "gw", "k1", lines, 200, {});
    REQUIRE(replay.ok());
    CHECK(replay->accepted == 0);
    CHECK(replay->duplicate);

    // The same key from another device, or for results, is a different request.
    CHECK_FALSE((*db)->IngestLines(LineKind::kLogs, "gw2", "k1", lines, 300, {})->duplicate);
    CHECK_FALSE((*db)->IngestLines(LineKind::kResults, "gw", "k1", lines, 300, {})->duplicate);

    ListQuery q;
    q.device = "gw";
    auto logs = (*db)->ListLogs(q);
    REQUIRE(logs.ok());
    REQUIRE(logs->size() == 2);
    CHECK((*logs)[0]["line"]["msg"] == "a");
    CHECK((*logs)[1]["line"]["msg"] == "b");
    q.since = (*logs)[0]["id"].get<std::uint64_t>();
    CHECK((*db)->ListLogs(q)->size() == 1);
  }

  // Chunk `gw` 1 as an older collector left it: a current database with
  // `statements` run on it (columns dropped, the row inserted), at `version`;
  // listed after the current collector opened it again.
  nlohmann::json ChunksAfterUpgrade(const std::vector<std::string>& statements, int version) {
    testing::TempDir dir;
    const std::string path = dir.path() + "/collector.db";
    {
      auto raw = sqlite::Database::Open(path);
      REQUIRE(raw.ok());
      REQUIRE(CollectorDb::Open(path).ok());
      for (const auto& sql : statements) REQUIRE(raw->Exec(sql).ok());
      REQUIRE(raw->Exec("PRAGMA user_version=" + std::to_string(version)).ok());
    }
    auto db = CollectorDb::Open(path);
    REQUIRE(db.ok());
    auto listed = (*db)->ListChunks("gw", ListQuery{});
    REQUIRE(listed.ok());
    REQUIRE(listed->size() == 1);
    return (*listed)[0];
  }

  TEST_CASE("a schema 2 database gains chunks.ts_backwards and switched_at_us, NULL for the chunks it had") {
    const auto chunk = ChunksAfterUpgrade(
        {"ALTER TABLE chunks DROP COLUMN ts_backwards", "ALTER TABLE chunks DROP COLUMN switched_at_us",
         "INSERT INTO chunks(device, seq, sha256, bytes, received_at_ms, path) "
         "VALUES('gw', 1, 'aa', 10, 5, '/x')"},
        2);
    CHECK(chunk.contains("ts_backwards"));
    CHECK(chunk["ts_backwards"].is_null());
    CHECK(chunk.contains("switched_at_us"));
    CHECK(chunk["switched_at_us"].is_null());
  }

  TEST_CASE("a schema 3 database gains chunks.switched_at_us and keeps ts_backwards") {
    const auto chunk = ChunksAfterUpgrade(
        {"ALTER TABLE chunks DROP COLUMN switched_at_us",
         "INSERT INTO chunks(device, seq, sha256, bytes, received_at_ms, path, ts_backwards) "
         "VALUES('gw', 1, 'aa', 10, 5, '/x', 2)"},
        3);
    CHECK(chunk["ts_backwards"] == 2);
    CHECK(chunk["switched_at_us"].is_null());
  }

  TEST_CASE("a schema 1 database gains the idempotency fingerprint and keeps its keys") {
    testing::TempDir dir;
    const std::string path = dir.path() + "/collector.db";
    std::vector<NdjsonLine> lines = {{R"({"msg":"a"})", std::nullopt}};
    {
      auto db = CollectorDb::Open(path);
      REQUIRE(db.ok());
      REQUIRE((*db)->IngestLines(LineKind::kLogs, "gw", "old", lines, 100, {}, "aa").ok());
    }
    {  // back to how a schema 1 collector left it
      auto raw = sqlite::Database::Open(path);
      REQUIRE(raw.ok());
      REQUIRE(raw->Exec("ALTER TABLE idempotency_keys DROP COLUMN body_sha256").ok());
      REQUIRE(raw->Exec("PRAGMA user_version=1").ok());
    }
    auto db = CollectorDb::Open(path);
    REQUIRE(db.ok());
    // A key from before the upgrade has no fingerprint: any body is a replay.
    auto old = (*db)->IngestLines(LineKind::kLogs, "gw", "old", lines, 200, {}, "bb");
    REQUIRE(old.ok());
    CHECK(old->duplicate);
    REQUIRE((*db)->IngestLines(LineKind::kLogs, "gw", "new", lines, 300, {}, "cc").ok());
    CHECK((*db)->IngestLines(LineKind::kLogs, "gw", "new", lines, 400, {}, "cc")->duplicate);
    auto reused = (*db)->IngestLines(LineKind::kLogs, "gw", "new", lines, 500, {}, "dd");
    CHECK(reused.status().code() == StatusCode::kConflict);
  }

  TEST_CASE("a stored line nested too deep is served as text, never parsed") {
    testing::TempDir dir;
    auto db = CollectorDb::Open(dir.path() + "/collector.db");
    REQUIRE(db.ok());
    // As a collector before the ingest bound could have stored it.
    std::string deep = std::string(100000, '[') + std::string(100000, ']');
    std::vector<NdjsonLine> lines = {{deep, std::nullopt}, {R"({"msg":"a"})", std::nullopt}};
    REQUIRE((*db)->IngestLines(LineKind::kLogs, "gw", "k", lines, 100, {}).ok());
    ListQuery q;
    auto logs = (*db)->ListLogs(q);
    REQUIRE(logs.ok());
    REQUIRE(logs->size() == 2);
    CHECK((*logs)[0]["line"] == deep);
    CHECK((*logs)[1]["line"]["msg"] == "a");
    CHECK(logs->dump().size() > 200000);  // dump() of the answer recurses no deeper than the row
  }

  TEST_CASE("a repeated finding keeps first_seen and moves last_seen") {
    testing::TempDir dir;
    auto db = CollectorDb::Open(dir.path() + "/collector.db");
    REQUIRE(db.ok());
    ResultKey key{"job-1", "10.0.0.1", 22, "tcp"};
    std::vector<NdjsonLine> first = {
        {R"({"ip":"10.0.0.1","port":22,"proto":"tcp","job":"job-1"})", key},
        {R"({"note":"no key"})", std::nullopt}};
    REQUIRE((*db)->IngestLines(LineKind::kResults, "gw", "a", first, 100, {}).ok());
    std::vector<NdjsonLine> second = {
        {R"({"ip":"10.0.0.1","port":22,"proto":"tcp","job":"job-1","banner":"SSH-2.0"})", key},
        {R"({"note":"no key"})", std::nullopt}};
    REQUIRE((*db)->IngestLines(LineKind::kResults, "gw", "b", second, 900, {}).ok());

    ListQuery q;
    q.job = "job-1";
    auto rows = (*db)->ListResults(q);
    REQUIRE(rows.ok());
    REQUIRE(rows->size() == 1);
    const auto& r = (*rows)[0];
    CHECK(r["first_seen_ms"] == 100);
    CHECK(r["last_seen_ms"] == 900);
    CHECK(r["seen"] == 2);
    CHECK(r["result"]["banner"] == "SSH-2.0");
    CHECK((*db)->ListResults({})->size() == 3);  // keyless lines are never merged
  }

  TEST_CASE("reopening keeps the data") {
    testing::TempDir dir;
    const std::string path = dir.path() + "/collector.db";
    {
      auto db = CollectorDb::Open(path);
      REQUIRE(db.ok());
      REQUIRE((*db)->PutChunk(Chunk("gw", 1, "aa"), {}, [] { return Status::Ok(); }).ok());
    }
    auto db = CollectorDb::Open(path);
    REQUIRE(db.ok());
    CHECK(*(*db)->ChunkHash("gw", 1) == std::optional<std::string>("aa"));
  }

  TEST_CASE("a database that is not SQLite is refused, naming the path") {
    testing::TempDir dir;
    const std::string path = dir.path() + "/collector.db";
    REQUIRE(WriteFileAtomically(path, std::string(4096, 'x')).ok());
    auto db = CollectorDb::Open(path);
    REQUIRE_FALSE(db.ok());
    CHECK(db.status().message().find(path) != std::string::npos);
  }
}

}  // namespace picket::collector
