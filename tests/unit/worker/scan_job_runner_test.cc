#include "worker/scan_job_runner.h"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "fakes/scan/fake_scanner.h"
#include "picket/common/log.h"
#include "support/temp_dir.h"

namespace picket::worker {

namespace {

// The shared fake scanner (tests/fakes/scan) plus the resume points of the
// scanners one test creates; stop_at makes a scanner "die" at an index.
struct Script : scan::testing::FakeScanScript {
  std::vector<std::uint64_t> starts;  // start_index of each scanner created
};
Script* g_script = nullptr;

ScanJobOptions FakeOptions() {
  ScanJobOptions o;
  o.make_scanner = [](const scan::ScanSpec& spec) -> Result<std::unique_ptr<scan::Scanner>> {
    g_script->starts.push_back(spec.start_index);
    return std::unique_ptr<scan::Scanner>(std::make_unique<scan::testing::FakeScanner>(spec, g_script));
  };
  return o;
}

ScanJobConfig Job() {
  ScanJobConfig j;
  j.id = "lab";
  j.targets = "127.0.0.1";
  j.ports = "1000-1099";
  j.mode = ScanMode::kConnect;
  return j;
}

std::unique_ptr<buffer::BufferStore> Open(const testing::TempDir& dir) {
  auto s = buffer::OpenSqliteBuffer({dir.Join("buf"), 1ull << 30});
  REQUIRE(s.ok());
  return std::move(*s);
}

std::vector<int> ResultPorts(buffer::BufferStore& store) {
  std::vector<int> ports;
  auto batches = store.DueBatches(std::numeric_limits<std::int64_t>::max(), 1000);
  REQUIRE(batches.ok());
  for (const auto& b : *batches) {
    CHECK(b.kind == buffer::BatchKind::kResults);
    std::size_t start = 0;
    for (std::size_t nl; (nl = b.body.find('\n', start)) != std::string::npos; start = nl + 1) {
      auto j = nlohmann::json::parse(b.body.substr(start, nl - start));
      CHECK(j["job"] == "lab");
      ports.push_back(j["port"].get<int>());
    }
  }
  return ports;
}

struct Quiet {
  Quiet() { log::SetLevel(log::Level::kError); }
  ~Quiet() { log::SetLevel(log::Level::kInfo); }
};

}  // namespace

TEST_SUITE("worker.scan_job_runner") {
  TEST_CASE("a one-shot job runs once and its results land in the buffer") {
    Quiet quiet;
    testing::TempDir dir;
    Script script;
    g_script = &script;
    ScanJobRunner runner({Job()}, 1ull << 32, Open(dir), FakeOptions());
    runner.RunDueJobsOnce();
    runner.RunDueJobsOnce();  // finished one-shot jobs are not run again
    CHECK(script.starts == std::vector<std::uint64_t>{0});
    auto store = Open(dir);
    auto ports = ResultPorts(*store);
    CHECK(ports.size() == 10);
    CHECK(std::set<int>(ports.begin(), ports.end()).size() == 10);
  }

  TEST_CASE("a job interrupted mid-scan resumes from its checkpoint and misses nothing") {
    Quiet quiet;
    testing::TempDir dir;
    Script script;
    g_script = &script;
    script.stop_at = 55;  // "killed" after checkpoint 50 was saved
    {
      ScanJobRunner first({Job()}, 1ull << 32, Open(dir), FakeOptions());
      first.RunDueJobsOnce();
    }
    script.stop_at = 1000;
    {
      ScanJobRunner second({Job()}, 1ull << 32, Open(dir), FakeOptions());
      second.RunDueJobsOnce();
    }
    CHECK(script.starts == std::vector<std::uint64_t>{0, 50});
    auto store = Open(dir);
    auto ports = ResultPorts(*store);
    std::set<int> unique(ports.begin(), ports.end());
    CHECK(unique.size() == 10);          // every open port found
    CHECK(ports.size() <= 11);            // at most the probes after the checkpoint repeat
  }

  TEST_CASE("a changed job starts over instead of resuming someone else's checkpoint") {
    Quiet quiet;
    testing::TempDir dir;
    Script script;
    g_script = &script;
    script.stop_at = 55;
    {
      ScanJobRunner first({Job()}, 1ull << 32, Open(dir), FakeOptions());
      first.RunDueJobsOnce();
    }
    script.stop_at = 1000;
    ScanJobConfig changed = Job();
    changed.ports = "2000-2099";
    ScanJobRunner second({changed}, 1ull << 32, Open(dir), FakeOptions());
    second.RunDueJobsOnce();
    CHECK(script.starts == std::vector<std::uint64_t>{0, 0});
  }
}

}  // namespace picket::worker
