// MariaDbCollectorDb against a real MariaDB: the same calls on it and on the
// SQLite engine give the same answers and listings; group commit; two
// collectors on one database; a server restart. One server per test case.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <unordered_set>
#include <vector>

#include "collector/collector_db.h"
#include "collector/header_text.h"
#include "picket/common/log.h"
#include "picket/sync/db_url.h"
#include "picket/sync/mariadb_connection.h"
#include "support/mariadb_server.h"
#include "support/process_harness.h"
#include "support/temp_dir.h"

namespace picket::testing {
namespace {

using collector::ChunkOutcome;
using collector::ChunkRecord;
using collector::CollectorDb;
using collector::DeviceReport;
using collector::LineKind;
using collector::ListQuery;
using collector::NdjsonLine;
using collector::ResultKey;
using collector::StoredChunk;
using Json = nlohmann::json;

ChunkRecord Chunk(std::string device, std::uint64_t seq, std::string sha,
                  std::int64_t received_at_ms = 1000) {
  ChunkRecord c;
  c.device = std::move(device);
  c.seq = seq;
  c.sha256_hex = std::move(sha);
  c.bytes = 100;
  c.packets = 3;
  c.kernel_drops = 1;
  c.received_at_ms = received_at_ms;
  c.path = "/x/" + c.device + "/" + std::to_string(seq);
  return c;
}

Status Published() { return Status::Ok(); }

std::unique_ptr<CollectorDb> OpenMaria(const MariaDbServer& server, std::size_t connections = 4) {
  auto db = CollectorDb::OpenMariaDb(server.Url(), connections);
  REQUIRE_MESSAGE(db.ok(), db.status().ToString());
  return std::move(db).value();
}

void StartServer(MariaDbServer& server) {
  Status st = server.Start(PICKET_SCHEMA_SQL);
  REQUIRE_MESSAGE(st.ok(), st.ToString());
}

// Both engines side by side: every call goes to each, and answers must match.
struct BothEngines {
  explicit BothEngines(const MariaDbServer& server) {
    auto opened = CollectorDb::Open(dir.Join("collector.db"));
    REQUIRE_MESSAGE(opened.ok(), opened.status().ToString());
    sqlite = std::move(opened).value();
    maria = OpenMaria(server);
  }

  ChunkOutcome Put(const ChunkRecord& r, const DeviceReport& report = {}, std::uint64_t quota = 0) {
    auto a = sqlite->PutChunk(r, report, Published, quota);
    auto b = maria->PutChunk(r, report, Published, quota);
    REQUIRE_MESSAGE(a.ok(), a.status().ToString());
    REQUIRE_MESSAGE(b.ok(), b.status().ToString());
    CHECK(a->outcome == b->outcome);
    CHECK(a->stored_sha256 == b->stored_sha256);
    CHECK(a->device_bytes == b->device_bytes);
    return b->outcome;
  }

  collector::IngestOutcome Ingest(LineKind kind, const std::string& device, const std::string& key,
                                  const std::vector<NdjsonLine>& lines, std::int64_t now_ms,
                                  std::string_view body_sha256 = {}) {
    auto a = sqlite->IngestLines(kind, device, key, lines, now_ms, {}, body_sha256);
    auto b = maria->IngestLines(kind, device, key, lines, now_ms, {}, body_sha256);
    REQUIRE_MESSAGE(a.ok(), a.status().ToString());
    REQUIRE_MESSAGE(b.ok(), b.status().ToString());
    CHECK(a->accepted == b->accepted);
    CHECK(a->duplicate == b->duplicate);
    return *b;
  }

  void SameJson(const Result<Json>& a, const Result<Json>& b) {
    REQUIRE_MESSAGE(a.ok(), a.status().ToString());
    REQUIRE_MESSAGE(b.ok(), b.status().ToString());
    CHECK_MESSAGE(*a == *b, "sqlite:  " << a->dump() << "\nmariadb: " << b->dump());
  }
  void SameDevices() { SameJson(sqlite->ListDevices(), maria->ListDevices()); }
  void SameChunks(const std::string& device, const ListQuery& q = {}) {
    SameJson(sqlite->ListChunks(device, q), maria->ListChunks(device, q));
  }
  void SameLogs(const ListQuery& q) { SameJson(sqlite->ListLogs(q), maria->ListLogs(q)); }
  // Result ids are opaque cursors: MariaDB's AUTO_INCREMENT also spends one on
  // a repeated finding, so the ids are compared by their order only.
  void SameResults(const ListQuery& q) {
    auto a = sqlite->ListResults(q);
    auto b = maria->ListResults(q);
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    std::uint64_t last_id = 0;
    for (Json* rows : {&*a, &*b}) {
      last_id = 0;
      for (Json& row : *rows) {
        CHECK(row["id"].get<std::uint64_t>() > last_id);
        last_id = row["id"].get<std::uint64_t>();
        row.erase("id");
      }
    }
    CHECK_MESSAGE(*a == *b, "sqlite:  " << a->dump() << "\nmariadb: " << b->dump());
  }

  TempDir dir;
  std::unique_ptr<CollectorDb> sqlite, maria;
};

std::vector<StoredChunk> Sorted(std::vector<StoredChunk> chunks) {
  std::sort(chunks.begin(), chunks.end(), [](const StoredChunk& a, const StoredChunk& b) {
    return std::tie(a.device, a.seq) < std::tie(b.device, b.seq);
  });
  return chunks;
}

void CheckSameChunks(const std::vector<StoredChunk>& a, const std::vector<StoredChunk>& b) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CAPTURE(i);
    CHECK(a[i].device == b[i].device);
    CHECK(a[i].seq == b[i].seq);
    CHECK(a[i].bytes == b[i].bytes);
    CHECK(a[i].received_at_ms == b[i].received_at_ms);
    CHECK(a[i].path == b[i].path);
  }
}

// Counts the batches it was asked to make durable.
struct CountingSync final : CollectorDb::PublishedFileSync {
  mutable std::atomic<int> calls{0};
  Status SyncPublished() const override {
    ++calls;
    return Status::Ok();
  }
};

TEST_CASE("mariadb collector db: chunk PUTs answer and list as SQLite's, two opens share the tables") {
  PICKET_REQUIRE_MARIADB();
  MariaDbServer server;
  StartServer(server);
  BothEngines both(server);
  auto second = OpenMaria(server);  // the schema again: harmless

  CHECK(both.Put(Chunk("gw", 2, "a"), {7, 700}) == ChunkOutcome::kStored);
  CHECK(both.Put(Chunk("gw", 1, "b")) == ChunkOutcome::kStored);
  CHECK(both.Put(Chunk("gw", 1, "b")) == ChunkOutcome::kAlreadyStored);
  CHECK(both.Put(Chunk("gw", 1, "c")) == ChunkOutcome::kConflict);
  CHECK(both.Put(Chunk("gw", 3, "d"), {}, 250) == ChunkOutcome::kOverDiskQuota);
  CHECK(both.Put(Chunk("gw", 3, "d"), {}, 300) == ChunkOutcome::kStored);
  ChunkRecord full = Chunk("other", 9, std::string(64, 'f'), 2000);
  full.first_ts_us = 11;
  full.last_ts_us = 12;
  full.interface_drops = 4;
  full.lost_packets = 5;
  full.gap_before_ms = 6;
  full.ts_backwards = 7;
  full.switched_at_us = 8;
  full.interface = "eth0";
  CHECK(both.Put(full, {1, std::nullopt}) == ChunkOutcome::kStored);
  // A name that is not UTF-8, as intake escapes it (utf8mb4 refuses the raw byte).
  ChunkRecord odd_name = Chunk("other", 10, "g");
  odd_name.interface = collector::PrintableHeaderText("eth\xff\\");
  CHECK(both.Put(odd_name) == ChunkOutcome::kStored);
  REQUIRE(both.sqlite->TouchDevice("gw", 5000, {9, std::nullopt}).ok());
  REQUIRE(both.maria->TouchDevice("gw", 5000, {9, std::nullopt}).ok());
  REQUIRE(both.sqlite->TouchDevice("gw", 4000, {}).ok());  // last_seen never goes back
  REQUIRE(both.maria->TouchDevice("gw", 4000, {}).ok());

  // A failed publish stores no row and leaves the counters.
  auto failed = both.maria->PutChunk(Chunk("gw", 4, "e"), {},
                                     [] { return Status::IoError("disk on fire"); });
  CHECK(failed.status().code() == StatusCode::kIoError);
  CHECK_FALSE(both.maria->ChunkHash("gw", 4)->has_value());

  both.SameDevices();
  both.SameChunks("gw");
  both.SameChunks("other");
  ListQuery page;
  page.since = 1;
  page.limit = 1;
  both.SameChunks("gw", page);
  CHECK(*both.maria->ChunkHash("gw", 1) == std::optional<std::string>("b"));
  CHECK(*both.maria->ChunkPath("gw", 2) == std::optional<std::string>("/x/gw/2"));
  CHECK_FALSE(both.maria->ChunkPath("gw", 99)->has_value());
  CHECK(*both.maria->DeviceChunkBytes("gw") == 300);
  CHECK(*both.maria->DeviceChunkBytes("nobody") == 0);
  CHECK(*both.maria->ChunkSeqs("gw") == std::unordered_set<std::uint64_t>{1, 2, 3});
  CHECK(*both.maria->ChunkBytesByDevice() == *both.sqlite->ChunkBytesByDevice());
  // The other collector sees the same rows.
  CHECK(*second->ListDevices() == *both.maria->ListDevices());

  // A database a newer collector wrote is refused, naming it.
  auto url = sync::ParseDbUrl(server.Url());
  REQUIRE(url.ok());
  auto raw = sync::MariaDbConnection::Connect(*url);
  REQUIRE(raw.ok());
  REQUIRE((*raw)->Execute("UPDATE collector_schema SET version = 99 WHERE id = 1").ok());
  auto newer = CollectorDb::OpenMariaDb(server.Url(), 2);
  CHECK(newer.status().code() == StatusCode::kFailedPrecondition);
  CHECK(newer.status().message().find("127.0.0.1") != std::string::npos);
}

TEST_CASE("mariadb collector db: 50 concurrent PUTs commit in groups, one file sync per group") {
  PICKET_REQUIRE_MARIADB();
  MariaDbServer server;
  StartServer(server);
  auto db = OpenMaria(server);
  constexpr int kPuts = 50;
  std::vector<ChunkRecord> records;
  for (int i = 0; i < kPuts; ++i) {
    records.push_back(Chunk("gw-" + std::to_string(i % 5), i, "h" + std::to_string(i)));
  }
  const DeviceReport report;
  CountingSync sync;
  std::atomic<bool> first_publishing{false}, all_queued{false};
  std::vector<CollectorDb::ChunkPutRequest> requests(kPuts);
  for (int i = 0; i < kPuts; ++i) {
    requests[i] = {&records[i], &report, nullptr, &sync, 0};
    requests[i].publish_file = [&, i]() -> Status {
      if (i == 0) {  // the first commit holds on until the others queue behind it
        first_publishing = true;
        all_queued = WaitFor([&] { return db->chunks_queued() == kPuts - 1; },
                             After(std::chrono::seconds(20)));
      }
      return Status::Ok();
    };
  }
  std::vector<std::optional<Result<collector::ChunkPut>>> results(kPuts);
  std::thread first([&] { results[0] = db->PutChunk(requests[0]); });
  const bool started =
      WaitFor([&] { return first_publishing.load(); }, After(std::chrono::seconds(20)));
  std::vector<std::thread> others;
  for (int i = 1; i < kPuts; ++i) others.emplace_back([&, i] { results[i] = db->PutChunk(requests[i]); });
  first.join();
  for (auto& t : others) t.join();
  REQUIRE(started);
  CHECK(all_queued.load());
  for (int i = 0; i < kPuts; ++i) {
    CAPTURE(i);
    REQUIRE(results[i].has_value());
    REQUIRE_MESSAGE(results[i]->ok(), results[i]->status().ToString());
    CHECK((*results[i])->outcome == ChunkOutcome::kStored);
  }
  CHECK(sync.calls.load() < kPuts);
  CHECK(sync.calls.load() == static_cast<int>(db->chunk_commits()));
  CHECK(db->chunk_commits() == 2);  // the first alone, then the 49 together
  CHECK(db->chunks_committed() == kPuts);
  auto devices = db->ListDevices();
  REQUIRE(devices.ok());
  REQUIRE(devices->size() == 5);
  for (const Json& d : *devices) {
    CHECK(d["chunks"] == kPuts / 5);
    CHECK(d["chunk_bytes"] == 100 * kPuts / 5);
  }
}

// Puts `records` as one group commit on `db`: a first PUT (device "opener", seq
// `opener_seq`, new) holds its commit until the others queue behind it, so they all commit
// together. `publish` gives each its publish result; answers in the order of `records`.
std::vector<Result<collector::ChunkPut>> PutAsOneBatch(CollectorDb& db, std::uint64_t opener_seq,
                                                       const std::vector<ChunkRecord>& records,
                                                       const std::vector<std::uint64_t>& quotas,
                                                       const std::vector<Status>& publish) {
  const DeviceReport report{4, 400};
  const ChunkRecord opener = Chunk("opener", opener_seq, "o");
  std::atomic<bool> opening{false}, all_queued{false};
  CollectorDb::ChunkPutRequest first{&opener, &report, nullptr, nullptr, 0};
  first.publish_file = [&]() -> Status {
    opening = true;
    all_queued = WaitFor([&] { return db.chunks_queued() == records.size(); },
                         After(std::chrono::seconds(20)));
    return Status::Ok();
  };
  std::vector<CollectorDb::ChunkPutRequest> requests(records.size());
  for (std::size_t i = 0; i < records.size(); ++i) {
    requests[i] = {&records[i], &report, [&publish, i] { return publish[i]; }, nullptr, quotas[i]};
  }
  std::optional<Result<collector::ChunkPut>> opened;
  std::thread opener_thread([&] { opened = db.PutChunk(first); });
  const bool started = WaitFor([&] { return opening.load(); }, After(std::chrono::seconds(20)));
  std::vector<std::optional<Result<collector::ChunkPut>>> answers(records.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < records.size(); ++i) {
    threads.emplace_back([&, i] { answers[i] = db.PutChunk(requests[i]); });
    // Queued in this order: the batch keeps it for equal keys. (After the last one the
    // opener lets the batch go at once.)
    if (i + 1 < records.size()) {
      CHECK(WaitFor([&] { return db.chunks_queued() == i + 1; }, After(std::chrono::seconds(20))));
    }
  }
  opener_thread.join();
  for (auto& t : threads) t.join();
  REQUIRE(started);
  REQUIRE(all_queued.load());
  REQUIRE(opened->ok());
  std::vector<Result<collector::ChunkPut>> out;
  for (auto& a : answers) out.push_back(std::move(*a));
  return out;
}

TEST_CASE(
    "mariadb collector db: one batch decides repeats, conflicts, quota and failed publishes "
    "as one-by-one PUTs do, and a value the server refuses fails only its chunk") {
  PICKET_REQUIRE_MARIADB();
  MariaDbServer server;
  StartServer(server);
  BothEngines both(server);
  // Already on record before the batch: a repeat and a conflict against a committed row.
  CHECK(both.Put(Chunk("gw-a", 1, "x"), {4, 400}) == ChunkOutcome::kStored);

  // Two batches: the first takes the batch path throughout; in the second a file cannot be
  // renamed, which sends that batch one chunk at a time.
  const std::vector<std::vector<ChunkRecord>> batches = {
      {
          Chunk("gw-a", 1, "x"),  // on record: already stored
          Chunk("gw-a", 2, "y"),  // stored
          Chunk("gw-a", 2, "y"),  // the same again in the batch: already stored
          Chunk("gw-a", 3, "z"),  // stored
          Chunk("gw-a", 3, "w"),  // the same seq, other bytes: conflict
          Chunk("gw-q", 1, "q1"), Chunk("gw-q", 2, "q2"),
          Chunk("gw-q", 3, "q3"),        // 300 bytes with this batch's two: over the 250 quota
          Chunk("gw-n", 5, "n5", 2000),  // first seen 2000
          Chunk("gw-n", 6, "n6", 2600),  // last seen 2600
          Chunk("gw-n", 7, "n7", 2500),  // last chunk: seq 7 at 2500
      },
      {
          Chunk("gw-f", 1, "f1"),  // its publish fails: no row, not even the device's
          Chunk("gw-f", 2, "f2", 3000),
          Chunk("gw-q", 3, "q3"),
      },
  };
  const std::vector<std::vector<std::uint64_t>> quotas = {{0, 0, 0, 0, 0, 250, 250, 250, 0, 0, 0},
                                                          {0, 0, 0}};
  const std::vector<std::vector<std::optional<ChunkOutcome>>> expected = {
      {ChunkOutcome::kAlreadyStored, ChunkOutcome::kStored, ChunkOutcome::kAlreadyStored,
       ChunkOutcome::kStored, ChunkOutcome::kConflict, ChunkOutcome::kStored, ChunkOutcome::kStored,
       ChunkOutcome::kOverDiskQuota, ChunkOutcome::kStored, ChunkOutcome::kStored,
       ChunkOutcome::kStored},
      {std::nullopt, ChunkOutcome::kStored, ChunkOutcome::kStored}};
  std::atomic<int> one_by_one{0};  // batches that went one chunk at a time
  log::SetLineObserver(
      [](std::string_view line, void* count) {
        if (line.find("committing its chunks one by one") != std::string_view::npos) {
          ++*static_cast<std::atomic<int>*>(count);
        }
      },
      &one_by_one);
  for (std::size_t b = 0; b < batches.size(); ++b) {
    const auto& records = batches[b];
    std::vector<Status> publish(records.size(), Status::Ok());
    if (b == 1) publish[0] = Status::IoError("disk on fire");
    const std::uint64_t commits_before = both.maria->chunk_commits();
    auto answers = PutAsOneBatch(*both.maria, b + 1, records, quotas[b], publish);
    CHECK(both.maria->chunk_commits() == commits_before + 2);  // the opener's, then the batch
    CHECK(one_by_one.load() == static_cast<int>(b));
    for (std::size_t i = 0; i < records.size(); ++i) {
      CAPTURE(b);
      CAPTURE(i);
      // SQLite one by one, in the batch's order, gives the same answers.
      auto one = both.sqlite->PutChunk(
          records[i], {4, 400}, [&] { return publish[i]; }, quotas[b][i]);
      if (!expected[b][i]) {
        CHECK(answers[i].status().code() == StatusCode::kIoError);
        CHECK(one.status().code() == StatusCode::kIoError);
        continue;
      }
      REQUIRE_MESSAGE(answers[i].ok(), answers[i].status().ToString());
      REQUIRE(one.ok());
      CHECK(answers[i]->outcome == *expected[b][i]);
      CHECK(one->outcome == *expected[b][i]);
      CHECK(answers[i]->stored_sha256 == one->stored_sha256);
      CHECK(answers[i]->device_bytes == one->device_bytes);
    }
    REQUIRE(both.sqlite->PutChunk(Chunk("opener", b + 1, "o"), {4, 400}, Published).ok());
  }
  log::SetLineObserver(nullptr, nullptr);
  both.SameDevices();  // counters, last chunk, eviction counters, first and last seen
  for (const char* device : {"gw-a", "gw-q", "gw-f", "gw-n", "opener"}) both.SameChunks(device);

  // A value the server refuses (not UTF-8 for a utf8mb4 column) fails the batch's
  // statement: the batch goes again one chunk at a time, and only that chunk fails.
  std::vector<ChunkRecord> second = {Chunk("gw-b", 1, "b1"), Chunk("gw-b", 2, "b2"),
                                     Chunk("gw-c", 1, "c1")};
  second[1].interface = std::string("eth\xff\xfe", 5);
  auto refused = PutAsOneBatch(*both.maria, 3, second, {0, 0, 0},
                               std::vector<Status>(second.size(), Status::Ok()));
  REQUIRE_MESSAGE(refused[0].ok(), refused[0].status().ToString());
  CHECK(refused[0]->outcome == ChunkOutcome::kStored);
  CHECK_FALSE(refused[1].ok());
  REQUIRE_MESSAGE(refused[2].ok(), refused[2].status().ToString());
  CHECK(refused[2]->outcome == ChunkOutcome::kStored);
  CHECK(*both.maria->ChunkSeqs("gw-b") == std::unordered_set<std::uint64_t>{1});
  CHECK(*both.maria->ChunkSeqs("gw-c") == std::unordered_set<std::uint64_t>{1});
  CHECK(*both.maria->DeviceChunkBytes("gw-b") == 100);
  // The refused chunk sent again (its interface mended) is stored.
  second[1].interface = "eth0";
  auto again = both.maria->PutChunk(second[1], {}, Published);
  REQUIRE_MESSAGE(again.ok(), again.status().ToString());
  CHECK(again->outcome == ChunkOutcome::kStored);
}

TEST_CASE("mariadb collector db: two collectors PUT the same chunk at once, one stores it") {
  PICKET_REQUIRE_MARIADB();
  MariaDbServer server;
  StartServer(server);
  auto a = OpenMaria(server);
  auto b = OpenMaria(server);
  constexpr int kRounds = 20;
  for (int round = 0; round < kRounds; ++round) {
    CAPTURE(round);
    // Odd rounds race on a device row that exists already, even ones on a new one.
    const std::string device = "race-" + std::to_string(round / 2);
    const ChunkRecord record = Chunk(device, round, "h");
    std::atomic<int> ready{0}, published{0};
    auto publish = [&] {
      ++published;
      return Status::Ok();
    };
    std::optional<Result<collector::ChunkPut>> ra, rb;
    auto put = [&](CollectorDb* db, std::optional<Result<collector::ChunkPut>>* out) {
      ++ready;
      while (ready.load() < 2) std::this_thread::yield();
      *out = db->PutChunk(record, {}, publish);
    };
    std::thread ta(put, a.get(), &ra);
    std::thread tb(put, b.get(), &rb);
    ta.join();
    tb.join();
    REQUIRE_MESSAGE(ra->ok(), ra->status().ToString());
    REQUIRE_MESSAGE(rb->ok(), rb->status().ToString());
    const int stored = ((*ra)->outcome == ChunkOutcome::kStored) + ((*rb)->outcome == ChunkOutcome::kStored);
    const int repeated = ((*ra)->outcome == ChunkOutcome::kAlreadyStored) +
                         ((*rb)->outcome == ChunkOutcome::kAlreadyStored);
    CHECK(stored == 1);
    CHECK(repeated == 1);
    CHECK(published.load() == 1);
  }
  auto devices = a->ListDevices();
  REQUIRE(devices.ok());
  REQUIRE(devices->size() == kRounds / 2);
  for (const Json& d : *devices) CHECK(d["chunks"] == 2);
}

TEST_CASE("mariadb collector db: results, logs, idempotency keys and cursors as SQLite's") {
  PICKET_REQUIRE_MARIADB();
  MariaDbServer server;
  StartServer(server);
  BothEngines both(server);

  std::vector<NdjsonLine> logs = {{R"({"msg":"a"})", std::nullopt},
                                  {R"({"msg":"b","n":[1,2]})", std::nullopt}};
  CHECK(both.Ingest(LineKind::kLogs, "gw", "k1", logs, 100).accepted == 2);
  CHECK(both.Ingest(LineKind::kLogs, "gw", "k1", logs, 200).duplicate);
  CHECK_FALSE(both.Ingest(LineKind::kLogs, "gw2", "k1", logs, 300).duplicate);
  CHECK_FALSE(both.Ingest(LineKind::kLogs, "gw", "k2", logs, 400, "aa").duplicate);
  CHECK(both.Ingest(LineKind::kLogs, "gw", "k2", logs, 450, "aa").duplicate);
  auto reused = both.maria->IngestLines(LineKind::kLogs, "gw", "k2", logs, 500, {}, "bb");
  CHECK(reused.status().code() == StatusCode::kConflict);
  CHECK(reused.status().message().find("\"k2\"") != std::string::npos);
  CHECK(both.sqlite->IngestLines(LineKind::kLogs, "gw", "k2", logs, 500, {}, "bb").status().code() ==
        StatusCode::kConflict);
  // A key of any bytes, and a line nested too deep (served as text).
  const std::string deep = std::string(100, '[') + std::string(100, ']');
  CHECK(both.Ingest(LineKind::kLogs, "gw", std::string("k\0'\xff", 4),
                    {{deep, std::nullopt}, {R"({"msg":"é \"q\""})", std::nullopt}}, 600)
            .accepted == 2);

  ResultKey key{"job-1", "10.0.0.1", 22, "tcp"};
  std::vector<NdjsonLine> first = {
      {R"({"ip":"10.0.0.1","port":22,"proto":"tcp","job":"job-1"})", key},
      {R"({"note":"no key"})", std::nullopt},
      {R"({"ip":"10.0.0.2","port":80,"proto":"tcp"})", ResultKey{"", "10.0.0.2", 80, "tcp"}}};
  CHECK(both.Ingest(LineKind::kResults, "gw", "r1", first, 100).accepted == 3);
  std::vector<NdjsonLine> second = {
      {R"({"ip":"10.0.0.1","port":22,"proto":"tcp","job":"job-1","banner":"SSH-2.0"})", key},
      {R"({"note":"no key"})", std::nullopt},
      {R"({"ip":"10.0.0.1","port":22,"proto":"tcp","job":"job-1","banner":"again"})", key}};
  CHECK(both.Ingest(LineKind::kResults, "gw", "r2", second, 900).accepted == 3);
  CHECK(both.Ingest(LineKind::kResults, "gw2", "r1", first, 950).accepted == 3);

  both.SameDevices();
  ListQuery all;
  both.SameResults(all);
  ListQuery job;
  job.job = "job-1";
  both.SameResults(job);
  ListQuery no_job;
  no_job.job = "";
  both.SameResults(no_job);
  ListQuery device;
  device.device = "gw2";
  both.SameResults(device);
  auto job_rows = both.maria->ListResults(job);
  REQUIRE(job_rows.ok());
  REQUIRE(job_rows->size() == 2);
  CHECK((*job_rows)[0]["seen"] == 3);
  CHECK((*job_rows)[0]["first_seen_ms"] == 100);
  CHECK((*job_rows)[0]["last_seen_ms"] == 900);
  CHECK((*job_rows)[0]["result"]["banner"] == "again");

  both.SameLogs(all);
  both.SameLogs(device);
  ListQuery since;
  since.since = 2;
  since.limit = 3;
  both.SameLogs(since);
  ListQuery since_ms;
  since_ms.since_ms = 400;
  both.SameLogs(since_ms);
  auto listed = both.maria->ListLogs(all);
  REQUIRE(listed.ok());
  CHECK(listed->back()["line"]["msg"] == "é \"q\"");
  CHECK((*listed)[listed->size() - 2]["line"] == deep);
  for (std::int64_t at : {0, 100, 250, 400, 600, 601}) {
    CAPTURE(at);
    CHECK(*both.maria->LogCursorAt(at) == *both.sqlite->LogCursorAt(at));
  }
  for (const auto& [dev, n] : std::vector<std::pair<std::optional<std::string>, std::uint64_t>>{
           {std::nullopt, 1}, {std::nullopt, 3}, {"gw", 2}, {"gw", 100}, {"gw2", 0}, {"none", 1}}) {
    CAPTURE(n);
    CHECK(*both.maria->LogCursorTail(dev, n) == *both.sqlite->LogCursorTail(dev, n));
  }
}

TEST_CASE("mariadb collector db: retention walks, deletes chunks and expires lines as SQLite") {
  PICKET_REQUIRE_MARIADB();
  MariaDbServer server;
  StartServer(server);
  BothEngines both(server);
  for (int i = 0; i < 6; ++i) {
    both.Put(Chunk(i % 2 ? "b" : "a", i, "h", 1000 + (i / 2) * 10));
  }
  auto page1a = both.sqlite->OldestChunks(std::nullopt, 3);
  auto page1b = both.maria->OldestChunks(std::nullopt, 3);
  REQUIRE(page1a.ok());
  REQUIRE(page1b.ok());
  CheckSameChunks(*page1a, *page1b);
  const StoredChunk& last = page1b->back();
  const collector::ChunkCursor cursor{last.received_at_ms, last.device, last.seq};
  auto page2a = both.sqlite->OldestChunks(cursor, 10);
  auto page2b = both.maria->OldestChunks(cursor, 10);
  REQUIRE(page2b.ok());
  CHECK(page2b->size() == 3);
  CheckSameChunks(*page2a, *page2b);

  const std::vector<std::pair<std::string, std::uint64_t>> keys = {
      {"b", 3}, {"a", 0}, {"a", 77}, {"b", 1}};
  auto deleted_a = both.sqlite->DeleteChunks(keys);
  auto deleted_b = both.maria->DeleteChunks(keys);
  REQUIRE(deleted_a.ok());
  REQUIRE_MESSAGE(deleted_b.ok(), deleted_b.status().ToString());
  CHECK(deleted_b->size() == 3);
  CheckSameChunks(Sorted(*deleted_a), Sorted(*deleted_b));
  both.SameDevices();
  CHECK(*both.maria->ChunkBytesByDevice() == *both.sqlite->ChunkBytesByDevice());

  std::vector<NdjsonLine> line = {{R"({"msg":"x"})", std::nullopt}};
  for (std::int64_t at : {100, 200, 300}) {
    both.Ingest(LineKind::kLogs, "a", "l" + std::to_string(at), line, at);
  }
  ResultKey key{"j", "10.0.0.1", 1, "tcp"};
  both.Ingest(LineKind::kResults, "a", "r1", {{R"({"ip":"10.0.0.1"})", key}}, 100);
  both.Ingest(LineKind::kResults, "a", "r2", {{R"({"n":1})", std::nullopt}}, 500);
  for (auto [kind, before, batch, expect] :
       {std::tuple{LineKind::kLogs, 250, 1, 1}, std::tuple{LineKind::kLogs, 250, 10, 1},
        std::tuple{LineKind::kLogs, 250, 10, 0}, std::tuple{LineKind::kResults, 300, 10, 1},
        std::tuple{LineKind::kResults, 300, 10, 0}}) {
    CAPTURE(before);
    auto a = both.sqlite->DeleteLinesBefore(kind, before, batch);
    auto b = both.maria->DeleteLinesBefore(kind, before, batch);
    REQUIRE(b.ok());
    CHECK(*b == static_cast<std::uint64_t>(expect));
    CHECK(*a == *b);
  }
  both.SameLogs({});
  both.SameResults({});
  for (auto [before, batch, expect] : {std::tuple{250, 1, 1}, std::tuple{250, 10, 2},
                                       std::tuple{1000, 10, 2}, std::tuple{1000, 10, 0}}) {
    CAPTURE(before);
    auto a = both.sqlite->DeleteIdempotencyKeysBefore(before, batch);
    auto b = both.maria->DeleteIdempotencyKeysBefore(before, batch);
    REQUIRE(b.ok());
    CHECK(*b == static_cast<std::uint64_t>(expect));
    CHECK(*a == *b);
  }
  // Gone keys can be used again.
  CHECK_FALSE(both.Ingest(LineKind::kLogs, "a", "l100", line, 2000).duplicate);
}

TEST_CASE(
    "mariadb collector db: the analysis backlog over 1,100 devices, summed across batches, as "
    "SQLite's") {
  PICKET_REQUIRE_MARIADB();
  MariaDbServer server;
  StartServer(server);
  BothEngines both(server);
  // d0000..d1099 hold chunk 0 (received 5000 + i); the odd ones are not
  // analysed yet. "late" (after d1099: the second query of 1,000) holds 0..2,
  // analysed up to 1, and its seq 1 is the oldest pending chunk of all.
  std::vector<collector::AnalysisCursor> cursors;
  for (int i = 0; i < 1100; ++i) {
    char id[8];
    std::snprintf(id, sizeof id, "d%04d", i);
    both.Put(Chunk(id, 0, "h", 5000 + i));
    cursors.push_back({id, i % 2 ? 0u : 1u});
  }
  for (std::uint64_t seq : {0, 1, 2}) both.Put(Chunk("late", seq, "h", 100 + 10 * seq));
  cursors.push_back({"late", 1});
  cursors.push_back({"no-chunks", 0});
  cursors.push_back({"d0001", UINT64_MAX});  // past every chunk, not negative in SQL
  for (CollectorDb* db : {both.sqlite.get(), both.maria.get()}) {
    auto pending = db->ChunksBehind(cursors);
    REQUIRE_MESSAGE(pending.ok(), pending.status().ToString());
    CHECK(pending->count == 550 + 2);
    CHECK(pending->oldest_received_at_ms == std::optional<std::int64_t>(110));
    auto none = db->ChunksBehind({{"no-chunks", 0}});
    REQUIRE(none.ok());
    CHECK(none->count == 0);
    CHECK_FALSE(none->oldest_received_at_ms.has_value());
    auto empty = db->ChunksBehind({});
    REQUIRE(empty.ok());
    CHECK(empty->count == 0);
  }
}

TEST_CASE("mariadb collector db: after a server restart a call may fail once, then the pool reconnects") {
  PICKET_REQUIRE_MARIADB();
  MariaDbServer server;
  StartServer(server);
  auto db = OpenMaria(server, 2);
  REQUIRE(db->PutChunk(Chunk("gw", 1, "a"), {}, Published).ok());
  REQUIRE(db->ListDevices().ok());

  REQUIRE(server.Stop().ok());
  auto down = db->PutChunk(Chunk("gw", 2, "b"), {}, Published);
  CHECK(down.status().code() == StatusCode::kUnavailable);
  CHECK(db->ListDevices().status().code() == StatusCode::kUnavailable);
  StartServer(server);
  // Whatever connections were idle died with the old server: at most one call
  // notices, and the pool connects anew.
  int failures = 0;
  Result<Json> devices = Status::Internal("not asked");
  for (int i = 0; i < 3 && !devices.ok(); ++i) {
    devices = db->ListDevices();
    if (!devices.ok()) {
      ++failures;
      CHECK(devices.status().code() == StatusCode::kUnavailable);
    }
  }
  REQUIRE(devices.ok());
  CHECK(failures <= 1);
  auto put = db->PutChunk(Chunk("gw", 2, "b"), {}, Published);
  REQUIRE_MESSAGE(put.ok(), put.status().ToString());
  CHECK(put->outcome == ChunkOutcome::kStored);

  // Again with the pool's idle connections only (nothing asked while it was down).
  REQUIRE(server.Stop().ok());
  StartServer(server);
  failures = 0;
  Result<collector::ChunkPut> again = Status::Internal("not asked");
  for (int i = 0; i < 3 && !again.ok(); ++i) {
    again = db->PutChunk(Chunk("gw", 3, "c"), {}, Published);
    if (!again.ok()) {
      ++failures;
      CHECK(again.status().code() == StatusCode::kUnavailable);
    }
  }
  REQUIRE(again.ok());
  CHECK(again->outcome == ChunkOutcome::kStored);
  CHECK(failures <= 1);
  CHECK(*db->ChunkSeqs("gw") == std::unordered_set<std::uint64_t>{1, 2, 3});
}

TEST_CASE("mariadb collector db: a chunk row naming a file outside the chunk root is never handed out") {
  PICKET_REQUIRE_MARIADB();
  MariaDbServer server;
  StartServer(server);
  auto db = CollectorDb::OpenMariaDb(server.Url(), 2, "/srv/chunks");
  REQUIRE_MESSAGE(db.ok(), db.status().ToString());
  auto put = [&](std::uint64_t seq, const std::string& path) {
    ChunkRecord c = Chunk("gw-1", seq, "h" + std::to_string(seq));
    c.path = path;
    auto r = (*db)->PutChunk(c, {}, Published);
    REQUIRE(r.ok());
    REQUIRE(r->outcome == ChunkOutcome::kStored);
  };
  // Rows as whoever can write the database might leave them.
  put(1, "/srv/chunks/gw-1/000000000001.pcap");
  put(2, "/etc/passwd");
  put(3, "/srv/chunks/gw-1/../../../etc/shadow");
  put(4, "/srv/chunks/gw-1/000000000001.pcap");  // another chunk's file

  auto good = (*db)->ChunkPath("gw-1", 1);
  REQUIRE(good.ok());
  CHECK(**good == "/srv/chunks/gw-1/000000000001.pcap");
  for (std::uint64_t seq : {2, 3, 4}) {
    auto bad = (*db)->ChunkPath("gw-1", seq);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.status().code() == StatusCode::kCorruption);
    CHECK(bad.status().message().find("collector_chunks row (gw-1, " + std::to_string(seq)) !=
          std::string::npos);
  }
  auto next = (*db)->NextChunksFrom("gw-1", 0, 10);  // the analysis: refused, not opened
  REQUIRE_FALSE(next.ok());
  CHECK(next.status().message().find("/etc/passwd") != std::string::npos);

  // Retention deletes the rows but unlinks nothing they name.
  auto oldest = (*db)->OldestChunks(std::nullopt, 10);
  REQUIRE(oldest.ok());
  REQUIRE(oldest->size() == 4);
  CHECK((*oldest)[0].path == "/srv/chunks/gw-1/000000000001.pcap");
  for (std::size_t i = 1; i < 4; ++i) CHECK((*oldest)[i].path.empty());
  auto deleted = (*db)->DeleteChunks({{"gw-1", 2}, {"gw-1", 3}});
  REQUIRE(deleted.ok());
  REQUIRE(deleted->size() == 2);
  for (const StoredChunk& c : *deleted) CHECK(c.path.empty());
  CHECK(*(*db)->ChunkSeqs("gw-1") == std::unordered_set<std::uint64_t>{1, 4});
}

}  // namespace
}  // namespace picket::testing
