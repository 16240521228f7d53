#include "supervisor/log_shipper.h"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "support/temp_dir.h"

namespace picket::supervisor {

namespace {

struct Fixture {
  testing::TempDir dir;
  std::unique_ptr<buffer::BufferStore> store;
  uv_loop_t loop{};
  Fixture() {
    auto s = buffer::OpenSqliteBuffer({dir.Join("buf"), 1ull << 30});
    REQUIRE(s.ok());
    store = std::move(*s);
    uv_loop_init(&loop);
  }
  ~Fixture() {
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
  std::vector<nlohmann::json> ShippedLines() {
    std::vector<nlohmann::json> out;
    auto batches = store->DueBatches(std::numeric_limits<std::int64_t>::max(), 100);
    REQUIRE(batches.ok());
    for (const auto& b : *batches) {
      CHECK(b.kind == buffer::BatchKind::kLogs);
      std::size_t start = 0;
      for (std::size_t nl; (nl = b.body.find('\n', start)) != std::string::npos; start = nl + 1) {
        out.push_back(nlohmann::json::parse(b.body.substr(start, nl - start)));
      }
    }
    return out;
  }
};

}  // namespace

TEST_SUITE("supervisor.logs") {
  TEST_CASE("worker output is split into lines across reads and shipped as NDJSON") {
    Fixture f;
    LogShipper shipper(&f.loop, f.store.get());
    shipper.FeedWorkerOutput("first li");
    shipper.FeedWorkerOutput("ne\nsecond line\nthird \"quoted\" ");
    shipper.Flush();
    auto lines = f.ShippedLines();
    REQUIRE(lines.size() == 2);
    CHECK(lines[0]["line"] == "first line");
    CHECK(lines[1]["line"] == "second line");
    shipper.FeedWorkerOutput("line\n");
    shipper.Flush();
    lines = f.ShippedLines();
    REQUIRE(lines.size() == 3);
    CHECK(lines[2]["line"] == "third \"quoted\" line");
    CHECK(shipper.shipped() == 3);
  }

  TEST_CASE("a full queue drops the oldest lines and says how many") {
    Fixture f;
    LogShipper shipper(&f.loop, f.store.get(), 3);
    for (int i = 0; i < 5; ++i) shipper.Enqueue("line " + std::to_string(i));
    shipper.Flush();
    auto lines = f.ShippedLines();
    REQUIRE(lines.size() == 4);
    CHECK(lines[0]["line"] == "line 2");
    CHECK(lines[2]["line"] == "line 4");
    CHECK(lines[3]["dropped_lines"] == 2);
  }

  TEST_CASE("nothing queued, nothing written") {
    Fixture f;
    LogShipper shipper(&f.loop, f.store.get());
    shipper.Flush();
    CHECK(f.ShippedLines().empty());
  }
}

}  // namespace picket::supervisor
