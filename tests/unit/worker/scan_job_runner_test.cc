#include "worker/scan_job_runner.h"

#include <doctest/doctest.h>

#include <set>

#include <nlohmann/json.hpp>

#include "picket/common/log.h"
#include "support/temp_dir.h"

namespace picket::worker {

namespace {

// A scanner over indices 0..99 that finds an open port at every 10th index,
// reports progress every 10 indices and can be told to "die" at an index.
struct FakeScanScript {
  std::uint64_t stop_at = 1000;
  std::vector<std::uint64_t> starts;  // start_index of each scanner created
};
FakeScanScript* g_script = nullptr;

class FakeScanner final : public scan::Scanner {
 public:
  explicit FakeScanner(scan::ScanSpec spec) : spec_(std::move(spec)) {}
  Status Run(const std::function<void(const scan::ScanResult&)>& on_result,
             const std::function<void(const scan::ScanProgress&)>& on_progress) override {
    for (std::uint64_t i = spec_.start_index; i < 100; ++i) {
      if (stop_ || i == g_script->stop_at) return Status::Cancelled("stopped");
      if (i % 10 == 0) {
        scan::ScanResult r;
        r.ip = IpAddress::V4(0x7f000001);
        r.port = static_cast<std::uint16_t>(1000 + i);
        r.job_id = spec_.job_id;
        on_result(r);
        ++open_;
      }
      if (i % 10 == 9) on_progress({i + 1, i + 1, 100, i + 1, open_, open_});
    }
    return Status::Ok();
  }
  void RequestStop() noexcept override { stop_ = true; }
  scan::ScanSummary Summary() const override { return {100, open_, open_, 1000, 0.1}; }

 private:
  scan::ScanSpec spec_;
  std::atomic<bool> stop_{false};
  std::uint64_t open_ = 0;
};

ScanJobOptions FakeOptions() {
  ScanJobOptions o;
  o.make_scanner = [](const scan::ScanSpec& spec) -> Result<std::unique_ptr<scan::Scanner>> {
    g_script->starts.push_back(spec.start_index);
    return std::unique_ptr<scan::Scanner>(std::make_unique<FakeScanner>(spec));
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
    FakeScanScript script;
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
    FakeScanScript script;
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
    FakeScanScript script;
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
