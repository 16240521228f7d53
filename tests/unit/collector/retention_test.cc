#include "collector/retention.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <map>
#include <stdexcept>
#include <string>
#include <utility>

#include "picket/common/file_io.h"
#include "support/process_harness.h"
#include "support/temp_dir.h"

namespace picket::collector {

namespace {

constexpr std::int64_t kDay = 86'400'000;
constexpr std::int64_t kNow = 100 * kDay;

class SetClock final : public Clock {
 public:
  MonoTime MonotonicNow() const override { return MonoTime(); }
  std::int64_t WallMillis() const override { return now_ms; }
  std::int64_t now_ms = kNow;
};

ChunkFacts Facts(std::string device, std::uint64_t seq, std::uint64_t bytes,
                 std::int64_t received_at_ms, bool analysed = true) {
  return {std::move(device), seq, bytes, received_at_ms, analysed};
}

// The indices PlanRetention drops, with their reasons as letters: a(ge),
// d(evice bytes), t(otal bytes), '.' kept.
std::string Plan(const RetentionPolicy& p, const std::vector<ChunkFacts>& chunks) {
  std::string out;
  for (DropReason r : PlanRetention(p, kNow, chunks)) {
    out += r == DropReason::kKeep          ? '.'
           : r == DropReason::kAge         ? 'a'
           : r == DropReason::kDeviceBytes ? 'd'
                                           : 't';
  }
  return out;
}

bool Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

}  // namespace

TEST_SUITE("collector.retention") {
  TEST_CASE("ingest that stores an eighth of the smallest cap wakes retention before its interval") {
    testing::TempDir dir;
    auto db = CollectorDb::Open(dir.path() + "/collector.db");
    REQUIRE(db.ok());
    SetClock clock;
    RetentionPolicy policy;
    policy.total_bytes = 64ull << 20;
    policy.device_bytes = 16ull << 20;  // the smaller: nudges every 2 MiB
    Retention retention(policy, db->get(), {}, &clock, std::chrono::hours(1));
    CHECK(retention.nudge_bytes() == (2ull << 20));
    CHECK(Retention({}, db->get(), {}, &clock, std::chrono::hours(1)).nudge_bytes() == 0);
    RetentionPolicy tiny;
    tiny.total_bytes = 1000;
    CHECK(Retention(tiny, db->get(), {}, &clock, std::chrono::hours(1)).nudge_bytes() == 256 * 1024);

    retention.Start();  // the first pass runs at once, the next one in an hour
    auto passes = [&] { return retention.counters().passes.load(); };
    REQUIRE(testing::WaitFor([&] { return passes() == 1; },
                             testing::After(std::chrono::seconds(10))));
    retention.OnStored(1ull << 20);
    retention.OnStored((1ull << 20) - 1);  // one byte short of the nudge
    CHECK(passes() == 1);
    retention.OnStored(1);
    CHECK(testing::WaitFor([&] { return passes() == 2; }, testing::After(std::chrono::seconds(10))));
    retention.OnStored(3ull << 20);  // one chunk past the nudge on its own
    CHECK(testing::WaitFor([&] { return passes() == 3; }, testing::After(std::chrono::seconds(10))));
    retention.Stop();
  }

  TEST_CASE("a pass that throws is a counted, named failure and the next pass runs") {
    testing::TempDir dir;
    auto db = CollectorDb::Open(dir.path() + "/collector.db");
    REQUIRE(db.ok());
    SetClock clock;
    RetentionPolicy policy;
    policy.max_age_ms = 30 * kDay;
    bool throws = true;
    Retention retention(
        policy, db->get(),
        [&]() -> Result<std::map<std::string, std::uint64_t>> {
          if (std::exchange(throws, false)) throw std::runtime_error("cursor store gone");
          return std::map<std::string, std::uint64_t>{};
        },
        &clock, std::chrono::hours(1));
    auto thrown = retention.RunPass();  // before: the exception ended the retention thread
    REQUIRE_FALSE(thrown.ok());
    CHECK(thrown.status().code() == StatusCode::kInternal);
    CHECK(thrown.status().message() == "retention pass threw: cursor store gone");
    CHECK(retention.counters().errors.load() == 1);
    CHECK(retention.RunPass().ok());
    CHECK(retention.counters().passes.load() == 2);
    CHECK(retention.counters().errors.load() == 1);
  }

  TEST_CASE("age: analysed chunks older than the limit go, younger and unanalysed ones stay") {
    RetentionPolicy p;
    p.max_age_ms = 30 * kDay;
    const std::vector<ChunkFacts> chunks = {
        Facts("a", 0, 10, kNow - 40 * kDay), Facts("b", 0, 10, kNow - 35 * kDay, false),
        Facts("a", 1, 10, kNow - 31 * kDay), Facts("a", 2, 10, kNow - 30 * kDay),
        Facts("b", 1, 10, kNow - 1)};
    CHECK(Plan(p, chunks) == "a.a..");
    p.max_age_ms = 0;  // off
    CHECK(Plan(p, chunks) == ".....");
  }

  TEST_CASE("per-device bytes: the device's oldest analysed chunks go until it is under the cap") {
    RetentionPolicy p;
    p.device_bytes = 250;
    const std::vector<ChunkFacts> chunks = {Facts("a", 0, 100, 1), Facts("b", 0, 100, 2),
                                            Facts("a", 1, 100, 3), Facts("b", 1, 100, 4),
                                            Facts("a", 2, 100, 5), Facts("a", 3, 100, 6)};
    // a holds 400 (> 250): seqs 0 and 1 go (200 left); b holds 200 and keeps both.
    CHECK(Plan(p, chunks) == "d.d...");
  }

  TEST_CASE("per-device bytes never take a chunk the analysis has not reached") {
    RetentionPolicy p;
    p.device_bytes = 100;
    const std::vector<ChunkFacts> chunks = {Facts("a", 0, 100, 1), Facts("a", 1, 100, 2, false),
                                            Facts("a", 2, 100, 3, false)};
    CHECK(Plan(p, chunks) == "d..");
  }

  TEST_CASE("total bytes: oldest analysed first across devices, then unanalysed only if needed") {
    RetentionPolicy p;
    p.total_bytes = 300;
    std::vector<ChunkFacts> chunks = {Facts("a", 0, 100, 1), Facts("b", 0, 100, 2, false),
                                      Facts("a", 1, 100, 3), Facts("b", 1, 100, 4, false),
                                      Facts("a", 2, 100, 5, false)};
    // 500 stored: two analysed chunks are enough.
    CHECK(Plan(p, chunks) == "t.t..");
    p.total_bytes = 150;
    // The analysed ones leave 300 > 150: the hard pass takes the oldest unanalysed ones too.
    CHECK(Plan(p, chunks) == "tttt.");
  }

  TEST_CASE("limits combine: age and the device cap first, then the total cap on what is left") {
    RetentionPolicy p;
    p.max_age_ms = 10 * kDay;
    p.device_bytes = 150;
    p.total_bytes = 10'000;
    const std::vector<ChunkFacts> chunks = {
        Facts("a", 0, 100, kNow - 20 * kDay), Facts("b", 0, 100, kNow - 5 * kDay),
        Facts("b", 1, 100, kNow - 4 * kDay), Facts("a", 1, 100, kNow - 3 * kDay)};
    CHECK(Plan(p, chunks) == "ad..");
    p.total_bytes = 100;  // 200 left after the other limits: the oldest of the rest goes
    CHECK(Plan(p, chunks) == "adt.");
  }

  TEST_CASE("a pass against collector.db: rows, files, device counters, lines and counters") {
    testing::TempDir dir;
    auto db = CollectorDb::Open(dir.path() + "/collector.db");
    REQUIRE(db.ok());
    SetClock clock;
    // gw-old: 4 chunks of 100 bytes received 40 days ago; gw-new: 3 received now.
    // Analysis has reached seq 3 of gw-old and seq 2 of gw-new.
    auto put = [&](const std::string& device, std::uint64_t seq, std::int64_t at) {
      ChunkRecord r;
      r.device = device;
      r.seq = seq;
      r.sha256_hex = "h" + std::to_string(seq);
      r.bytes = 100;
      r.received_at_ms = at;
      r.path = dir.path() + "/" + device + "-" + std::to_string(seq) + ".pcap";
      auto stored = (*db)->PutChunk(
          r, {}, [&] { return WriteFileAtomically(r.path, std::string(100, 'x')); });
      REQUIRE(stored.ok());
      return r.path;
    };
    std::vector<std::string> old_paths, new_paths;
    for (std::uint64_t s = 0; s < 4; ++s)
      old_paths.push_back(put("gw-old", s, kNow - 40 * kDay + s));
    for (std::uint64_t s = 0; s < 3; ++s) new_paths.push_back(put("gw-new", s, kNow - 10 + s));
    std::string line = R"({"msg":"x"})";
    REQUIRE((*db)
                ->IngestLines(LineKind::kLogs, "gw-old", "k1", {{line, std::nullopt}},
                              kNow - 40 * kDay, {})
                .ok());
    REQUIRE(
        (*db)->IngestLines(LineKind::kLogs, "gw-new", "k2", {{line, std::nullopt}}, kNow, {}).ok());
    std::string result = R"({"ip":"10.0.0.1","port":22,"proto":"tcp"})";
    REQUIRE((*db)
                ->IngestLines(LineKind::kResults, "gw-old", "r1",
                              {{result, ResultKey{"", "10.0.0.1", 22, "tcp"}}}, kNow - 40 * kDay,
                              {})
                .ok());
    REQUIRE((*db)
                ->IngestLines(LineKind::kResults, "gw-new", "r2",
                              {{result, ResultKey{"", "10.0.0.1", 22, "tcp"}}}, kNow, {})
                .ok());

    RetentionPolicy p;
    p.max_age_ms = 30 * kDay;
    p.device_bytes = 200;
    Retention retention(
        p, db->get(),
        [] {
          return Result<std::map<std::string, std::uint64_t>>(
              std::map<std::string, std::uint64_t>{{"gw-old", 3}, {"gw-new", 2}});
        },
        &clock, std::chrono::milliseconds(60'000), /*batch=*/2);
    auto pass = retention.RunPass();
    REQUIRE(pass.ok());
    // gw-old 0..2 by age (3 is not analysed); gw-new 0 by its cap (300 > 200).
    CHECK(pass->chunks == 4);
    CHECK(pass->chunk_bytes == 400);
    CHECK(pass->logs == 1);
    CHECK(pass->results == 1);
    CHECK(pass->idempotency_keys == 2);
    CHECK(pass->unanalysed_chunks == 0);
    for (int i = 0; i < 3; ++i) CHECK_FALSE(Exists(old_paths[i]));
    CHECK(Exists(old_paths[3]));
    CHECK_FALSE(Exists(new_paths[0]));
    CHECK(Exists(new_paths[1]));
    CHECK(Exists(new_paths[2]));
    CHECK((*db)->ChunkSeqs("gw-old")->size() == 1);
    CHECK((*db)->ChunkSeqs("gw-new")->size() == 2);
    CHECK(*(*db)->DeviceChunkBytes("gw-old") == 100);
    CHECK(*(*db)->DeviceChunkBytes("gw-new") == 200);
    auto logs = (*db)->ListLogs({});
    REQUIRE(logs.ok());
    REQUIRE(logs->size() == 1);
    CHECK((*logs)[0]["device"] == "gw-new");
    auto results = (*db)->ListResults({});
    REQUIRE(results.ok());
    REQUIRE(results->size() == 1);
    CHECK((*results)[0]["device"] == "gw-new");
    const RetentionCounters& c = retention.counters();
    CHECK(c.chunks[0] == 3);  // age
    CHECK(c.chunks[1] == 1);  // device_bytes
    CHECK(c.chunks[2] == 0);
    CHECK(c.chunk_bytes[0] == 300);
    CHECK(c.passes == 1);

    // A total cap of 150 bytes: the analysed gw-new 1 goes first, then the
    // unanalysed chunks, oldest first, until 150 or less is left.
    RetentionPolicy hard;
    hard.total_bytes = 150;
    Retention tight(
        hard, db->get(),
        [] {
          return Result<std::map<std::string, std::uint64_t>>(
              std::map<std::string, std::uint64_t>{{"gw-old", 3}, {"gw-new", 2}});
        },
        &clock, std::chrono::milliseconds(60'000), 2);
    auto second = tight.RunPass();
    REQUIRE(second.ok());
    CHECK(second->chunks == 2);
    CHECK(second->unanalysed_chunks == 1);
    CHECK_FALSE(Exists(old_paths[3]));
    CHECK_FALSE(Exists(new_paths[1]));
    CHECK(Exists(new_paths[2]));
    CHECK(tight.counters().unanalysed_chunks == 1);
    CHECK(tight.counters().chunks[2] == 2);

    ExpositionWriter w;
    WriteRetentionMetrics(w, tight.counters());
    CHECK(w.text().find("picket_retention_deleted_chunks_total{reason=\"total_bytes\"} 2\n") !=
          std::string::npos);
    CHECK(w.text().find("picket_retention_unanalysed_chunks_deleted_total 1\n") !=
          std::string::npos);
  }

  TEST_CASE("a batch's files are unlinked on several threads: exactly the dropped ones go") {
    testing::TempDir dir;
    auto db = CollectorDb::Open(dir.path() + "/collector.db");
    REQUIRE(db.ok());
    SetClock clock;
    std::vector<std::string> paths;
    for (std::uint64_t seq = 0; seq < 100; ++seq) {
      ChunkRecord r;
      r.device = "gw-1";
      r.seq = seq;
      r.sha256_hex = "h" + std::to_string(seq);
      r.bytes = 100;
      r.received_at_ms = kNow - 1000 + static_cast<std::int64_t>(seq);
      r.path = dir.path() + "/gw-1-" + std::to_string(seq) + ".pcap";
      REQUIRE(
          (*db)
              ->PutChunk(r, {}, [&] { return WriteFileAtomically(r.path, std::string(100, 'x')); })
              .ok());
      paths.push_back(r.path);
    }
    RetentionPolicy p;
    p.device_bytes = 1000;  // the newest 10 stay
    // Batches of 64 (four unlink threads) and 26 (one).
    Retention retention(p, db->get(), nullptr, &clock, std::chrono::milliseconds(60'000), 64);
    auto pass = retention.RunPass();
    REQUIRE(pass.ok());
    CHECK(pass->chunks == 90);
    for (std::size_t i = 0; i < paths.size(); ++i) {
      CAPTURE(i);
      CHECK(Exists(paths[i]) == (i >= 90));
    }
    CHECK((*db)->ChunkSeqs("gw-1")->size() == 10);
  }

  TEST_CASE("a chunk pinned by a reader waits for the pass after its lease ends") {
    testing::TempDir dir;
    auto db = CollectorDb::Open(dir.path() + "/collector.db");
    REQUIRE(db.ok());
    SetClock clock;
    std::vector<std::string> paths;
    for (std::uint64_t seq = 0; seq < 2; ++seq) {
      ChunkRecord r;
      r.device = "gw";
      r.seq = seq;
      r.sha256_hex = "h";
      r.bytes = 100;
      r.received_at_ms = kNow - 40 * kDay;
      r.path = dir.Join("gw-" + std::to_string(seq));
      REQUIRE((*db)->PutChunk(r, {}, [&] { return WriteFileAtomically(r.path, "x"); }).ok());
      paths.push_back(r.path);
    }
    RetentionPolicy p;
    p.max_age_ms = 30 * kDay;
    ChunkPins pins;
    Retention retention(p, db->get(), nullptr, &clock, std::chrono::milliseconds(60'000), 256,
                        &pins);
    {
      ChunkPins::Lease lease(&pins, {{"gw", 1}});
      auto pass = retention.RunPass();
      REQUIRE(pass.ok());
      CHECK(pass->chunks == 1);
      CHECK(pass->kept_pinned == 1);
      CHECK_FALSE(Exists(paths[0]));
      CHECK(Exists(paths[1]));
    }
    auto pass = retention.RunPass();
    REQUIRE(pass.ok());
    CHECK(pass->chunks == 1);
    CHECK_FALSE(Exists(paths[1]));
    CHECK((*db)->ChunkSeqs("gw")->empty());
  }
}

}  // namespace picket::collector
