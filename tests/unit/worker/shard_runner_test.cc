#include "worker/shard_runner.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <condition_variable>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "fakes/scan/fake_scanner.h"
#include "picket/common/log.h"
#include "support/temp_dir.h"

namespace picket::worker {

namespace {

// The shared fake scanner (tests/fakes/scan), unlabelled results and no open
// counts, as a shard scanner reports them; plus what the runner asked for.
// At `block_at` a scanner waits until it is stopped or the gate opens.
struct Script : scan::testing::FakeScanScript {
  Script() {
    label_results = false;  // the runner labels them
    count_open = false;
  }
  std::vector<scan::ScanSpec> specs;  // one per scanner created (guarded by mu)
  bool fail_create = false;
};

ScanJobOptions FakeOptions(Script& script) {
  ScanJobOptions o;
  o.make_scanner = [&script](const scan::ScanSpec& spec) -> Result<std::unique_ptr<scan::Scanner>> {
    std::lock_guard lock(script.mu);
    if (script.fail_create) return Status::PermissionDenied("no CAP_NET_RAW");
    script.specs.push_back(spec);
    return std::unique_ptr<scan::Scanner>(
        std::make_unique<scan::testing::FakeScanner>(spec, &script));
  };
  o.flush_lines = 4;  // several batches per flush
  return o;
}

// Events as the runner threads report them; tests wait on them without sleeping.
class EventLog {
 public:
  void Add(const ShardEvent& e) {
    std::lock_guard lock(mu_);
    events_.push_back(e);
    cv_.notify_all();
  }
  // Waits (bounded) until some event matches.
  bool WaitFor(const std::function<bool(const ShardEvent&)>& match) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(30),
                        [&] { return std::any_of(events_.begin(), events_.end(), match); });
  }
  std::vector<ShardEvent> Of(std::uint32_t shard) {
    std::lock_guard lock(mu_);
    std::vector<ShardEvent> out;
    for (const auto& e : events_) {
      if (e.shard == shard) out.push_back(e);
    }
    return out;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ShardEvent> events_;
};

SharedJobSpec Job(std::uint32_t shards = 1) {
  auto spec = ParseSharedJobSpec(
      "lab", R"({"targets":"127.0.0.1","ports":"1000-1099","mode":"connect","shards":)" +
                 std::to_string(shards) + "}");
  REQUIRE_MESSAGE(spec.ok(), spec.status().ToString());
  return *spec;
}

std::unique_ptr<buffer::BufferStore> Open(const testing::TempDir& dir) {
  auto s = buffer::OpenSqliteBuffer({dir.Join("buf"), 1ull << 30, false});
  REQUIRE(s.ok());
  return std::move(*s);
}

// Every result line in the buffer, parsed.
std::vector<nlohmann::json> Results(buffer::BufferStore& store) {
  std::vector<nlohmann::json> out;
  auto batches = store.DueBatches(std::numeric_limits<std::int64_t>::max(), 100000);
  REQUIRE(batches.ok());
  for (const auto& b : *batches) {
    CHECK(b.kind == buffer::BatchKind::kResults);
    std::size_t start = 0;
    for (std::size_t nl; (nl = b.body.find('\n', start)) != std::string::npos; start = nl + 1) {
      out.push_back(nlohmann::json::parse(b.body.substr(start, nl - start)));
    }
  }
  return out;
}

bool Is(const ShardEvent& e, ShardEvent::Kind kind, std::uint32_t shard) {
  return e.kind == kind && e.shard == shard;
}

struct Quiet {
  Quiet() { log::SetLevel(log::Level::kError); }
  ~Quiet() { log::SetLevel(log::Level::kInfo); }
};

}  // namespace

TEST_SUITE("worker.shard_runner") {
  TEST_CASE("a shard runs to the end, each checkpoint is reported after its results are buffered") {
    Quiet quiet;
    testing::TempDir dir;
    Script script;
    EventLog log;
    auto reader = Open(dir);  // used only inside on_event, on the one shard thread
    std::vector<std::string> violations;
    ShardRunner runner(
        1ull << 20, Open(dir),
        [&](const ShardEvent& e) {
          if (e.kind == ShardEvent::kProgress) {
            // Results at indices 0, 10, … below the checkpoint must already be in the buffer.
            const std::size_t in_buffer = Results(*reader).size();
            if (in_buffer < (e.checkpoint + 9) / 10 || in_buffer != e.results) {
              violations.push_back(std::to_string(e.checkpoint) + ": " + std::to_string(in_buffer) +
                                   " results buffered");
            }
          }
          log.Add(e);
        },
        FakeOptions(script));
    runner.Assign({Job(), 0, 0});
    REQUIRE(log.WaitFor([](const ShardEvent& e) { return Is(e, ShardEvent::kFinished, 0); }));
    runner.JoinAll();
    CHECK(violations.empty());
    CHECK(runner.Running().empty());

    auto events = log.Of(0);
    REQUIRE(events.size() == 11);
    for (std::size_t i = 0; i < 10; ++i) {
      CHECK(events[i].kind == ShardEvent::kProgress);
      CHECK(events[i].checkpoint == 10 * (i + 1));
      CHECK(events[i].job == "lab");
    }
    const ShardEvent& end = events.back();
    CHECK(end.kind == ShardEvent::kFinished);
    CHECK(end.checkpoint == 100);
    CHECK(end.total == 100);
    CHECK(end.results == 10);

    REQUIRE(script.specs.size() == 1);
    const scan::ScanSpec& spec = script.specs[0];
    CHECK(spec.job_id == "lab");
    CHECK(spec.seed == Job().seed);
    CHECK(spec.shard_index == 0);
    CHECK(spec.shard_count == 1);
    CHECK(spec.start_index == 0);
    CHECK(spec.max_probes == 1ull << 20);
    CHECK(spec.mode == ScanMode::kConnect);

    auto results = Results(*reader);
    CHECK(results.size() == 10);
    for (const auto& r : results) {
      CHECK(r["job"] == "lab");
      CHECK(r["shard"] == 0);
    }
  }

  TEST_CASE("a released shard stops with its checkpoint and resumes from it") {
    Quiet quiet;
    testing::TempDir dir;
    Script script;
    script.block_at = 55;
    EventLog log;
    ShardRunner runner(
        1ull << 20, Open(dir), [&](const ShardEvent& e) { log.Add(e); }, FakeOptions(script));
    runner.Assign({Job(), 0, 0});
    REQUIRE(script.WaitBlocked(1));
    runner.Release("lab", 0);  // its kStopped is out when this returns
    CHECK(runner.Running().empty());
    auto events = log.Of(0);
    REQUIRE_FALSE(events.empty());
    CHECK(events.back().kind == ShardEvent::kStopped);
    CHECK(events.back().checkpoint == 50);
    CHECK(events.back().results == 6);  // indices 0..50, the one at 50 flushed on the way out

    script.block_at = 1000;
    runner.Assign({Job(), 0, events.back().checkpoint});
    REQUIRE(log.WaitFor([](const ShardEvent& e) { return Is(e, ShardEvent::kFinished, 0); }));
    runner.JoinAll();
    REQUIRE(script.specs.size() == 2);
    CHECK(script.specs[1].start_index == 50);
    auto store = Open(dir);
    std::set<int> ports;
    for (const auto& r : Results(*store)) ports.insert(r["port"].get<int>());
    CHECK(ports.size() == 10);  // nothing lost across the release
  }

  TEST_CASE("two shards scan in parallel and label their results") {
    Quiet quiet;
    testing::TempDir dir;
    Script script;
    script.block_at = 55;
    EventLog log;
    ShardRunner runner(
        1ull << 20, Open(dir), [&](const ShardEvent& e) { log.Add(e); }, FakeOptions(script));
    runner.Assign({Job(2), 0, 0});
    runner.Assign({Job(2), 1, 0});
    // Both wait at index 55 at once: neither waits for the other to finish.
    REQUIRE(script.WaitBlocked(2));
    auto running = runner.Running();
    std::sort(running.begin(), running.end());
    CHECK(running == std::vector<std::pair<std::string, std::uint32_t>>{{"lab", 0}, {"lab", 1}});
    script.gate_open.store(true);
    runner.JoinAll();
    for (std::uint32_t shard : {0u, 1u}) {
      CAPTURE(shard);
      auto events = log.Of(shard);
      REQUIRE_FALSE(events.empty());
      CHECK(events.back().kind == ShardEvent::kFinished);
      CHECK(events.back().results == 10);
    }
    std::set<std::uint32_t> shard_indices;
    for (const auto& spec : script.specs) {
      CHECK(spec.shard_count == 2);
      shard_indices.insert(spec.shard_index);
    }
    CHECK(shard_indices == std::set<std::uint32_t>{0, 1});
    auto store = Open(dir);
    std::map<int, int> per_shard;
    for (const auto& r : Results(*store)) ++per_shard[r["shard"].get<int>()];
    CHECK(per_shard == std::map<int, int>{{0, 10}, {1, 10}});
  }

  TEST_CASE("a second assignment of a running shard is ignored, an ended one may run again") {
    Quiet quiet;
    testing::TempDir dir;
    Script script;
    script.block_at = 55;
    EventLog log;
    ShardRunner runner(
        1ull << 20, Open(dir), [&](const ShardEvent& e) { log.Add(e); }, FakeOptions(script));
    runner.Assign({Job(), 0, 0});
    runner.Assign({Job(), 0, 0});
    REQUIRE(script.WaitBlocked(1));
    runner.Assign({Job(), 0, 30});
    CHECK(runner.Running().size() == 1);
    script.gate_open.store(true);
    REQUIRE(log.WaitFor([](const ShardEvent& e) { return Is(e, ShardEvent::kFinished, 0); }));
    CHECK(runner.Running().empty());  // ended, although perhaps not joined yet
    runner.Assign({Job(), 0, 90});    // joins the ended thread and starts anew
    runner.JoinAll();
    REQUIRE(script.specs.size() == 2);
    CHECK(script.specs[1].start_index == 90);
    int finished = 0;
    for (const auto& e : log.Of(0)) finished += e.kind == ShardEvent::kFinished;
    CHECK(finished == 2);
  }

  TEST_CASE("RequestStopAll stops every shard and refuses later assignments") {
    Quiet quiet;
    testing::TempDir dir;
    Script script;
    script.block_at = 25;
    EventLog log;
    ShardRunner runner(
        1ull << 20, Open(dir), [&](const ShardEvent& e) { log.Add(e); }, FakeOptions(script));
    runner.Assign({Job(3), 0, 0});
    runner.Assign({Job(3), 2, 0});
    REQUIRE(script.WaitBlocked(2));
    runner.RequestStopAll();
    runner.JoinAll();
    for (std::uint32_t shard : {0u, 2u}) {
      CAPTURE(shard);
      auto events = log.Of(shard);
      REQUIRE_FALSE(events.empty());
      CHECK(events.back().kind == ShardEvent::kStopped);
      CHECK(events.back().checkpoint == 20);
    }
    runner.Assign({Job(3), 1, 0});
    CHECK(runner.Running().empty());
    CHECK(log.Of(1).empty());
  }

  TEST_CASE("shards that cannot start are reported as failed") {
    Quiet quiet;
    testing::TempDir dir;
    Script script;
    EventLog log;
    script.fail_create = true;
    {
      ShardRunner runner(
          1ull << 20, Open(dir), [&](const ShardEvent& e) { log.Add(e); }, FakeOptions(script));
      runner.Assign({Job(2), 2, 0});  // out of range
      REQUIRE(log.WaitFor([](const ShardEvent& e) { return Is(e, ShardEvent::kFailed, 2); }));
      runner.Assign({Job(2), 1, 7});
      REQUIRE(log.WaitFor([](const ShardEvent& e) { return Is(e, ShardEvent::kFailed, 1); }));
    }  // the destructor joins
    auto out_of_range = log.Of(2);
    REQUIRE(out_of_range.size() == 1);
    CHECK(out_of_range[0].error.find("shard 2") != std::string::npos);
    auto denied = log.Of(1);
    REQUIRE(denied.size() == 1);
    CHECK(denied[0].error.find("CAP_NET_RAW") != std::string::npos);
    CHECK(denied[0].checkpoint == 7);
    CHECK(script.specs.empty());
  }
}

}  // namespace picket::worker
