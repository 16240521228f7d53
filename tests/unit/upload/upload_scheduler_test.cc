#include "picket/upload/upload_scheduler.h"

#include <doctest/doctest.h>
#include <uv.h>

#include <fstream>
#include <mutex>
#include <set>

#include "picket/common/log.h"
#include "support/temp_dir.h"

namespace picket::upload {

namespace {

using testing::TempDir;

// Scripted collector behaviour shared by the fake uploaders of all pool threads.
struct Script {
  std::mutex mu;
  std::vector<std::string> urls_seen;
  std::vector<std::int64_t> chunks_seen;
  std::function<upload::UploadResult(const std::string& url)> respond;
};
Script* g_script = nullptr;

class FakeUploader final : public upload::ChunkUploader {
 public:
  upload::UploadResult PutChunk(const std::string& url, const buffer::ChunkMeta& c,
                                const upload::DeviceCounters&) override {
    std::lock_guard lock(g_script->mu);
    g_script->urls_seen.push_back(url);
    g_script->chunks_seen.push_back(c.seq);
    return g_script->respond(url);
  }
  upload::UploadResult PostBatch(const std::string& url, const buffer::Batch&,
                                 const upload::DeviceCounters&) override {
    std::lock_guard lock(g_script->mu);
    g_script->urls_seen.push_back(url);
    return g_script->respond(url);
  }
};

struct Fixture {
  TempDir dir;
  std::unique_ptr<buffer::BufferStore> store;
  uv_loop_t loop{};
  Script script;

  Fixture() {
    log::SetLevel(log::Level::kError);
    auto s = buffer::OpenSqliteBuffer({dir.Join("buf"), 1ull << 30});
    REQUIRE(s.ok());
    store = std::move(*s);
    uv_loop_init(&loop);
    g_script = &script;
  }
  ~Fixture() {
    uv_run(&loop, UV_RUN_DEFAULT);  // let closed handles finish
    uv_loop_close(&loop);
    g_script = nullptr;
    log::SetLevel(log::Level::kInfo);
  }

  void AddChunks(int n) {
    for (int i = 0; i < n; ++i) {
      buffer::ChunkMeta m;
      m.seq = *store->NextChunkSeq();
      m.file = store->ChunkDir() + "/" + std::to_string(m.seq) + ".pcap";
      std::ofstream(m.file) << "x";
      m.bytes = 1;
      REQUIRE(store->CommitChunk(m).ok());
    }
  }

  UploadSchedulerOptions Options(std::vector<std::string> collectors) {
    UploadSchedulerOptions o;
    o.collectors = std::move(collectors);
    o.poll_interval = std::chrono::milliseconds(5);
    o.retry_base = std::chrono::milliseconds(1);
    o.retry_max = std::chrono::milliseconds(2);
    o.make_uploader = [](const upload::UploadSettings&) { return std::make_unique<FakeUploader>(); };
    return o;
  }

  // Runs the loop until `done` holds; fails after a generous deadline.
  void RunUntil(UploadScheduler& s, const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!done() && std::chrono::steady_clock::now() < deadline) uv_run(&loop, UV_RUN_ONCE);
    bool stopped = false;
    s.Stop([&] { stopped = true; });
    while (!stopped) uv_run(&loop, UV_RUN_ONCE);
    CHECK(done());
  }
};

upload::UploadResult Ok() { return {upload::Outcome::kDone, 201, {}, "", 1}; }

}  // namespace

TEST_SUITE("upload.scheduler") {
  TEST_CASE("every pending chunk and batch is uploaded once and acknowledged") {
    Fixture f;
    f.AddChunks(25);
    REQUIRE(f.store->AppendBatch(buffer::BatchKind::kResults, "{}\n", 1).ok());
    f.script.respond = [](const std::string&) { return Ok(); };
    UploadScheduler s(&f.loop, f.store.get(), f.Options({"http://c1"}));
    REQUIRE(s.Start().ok());
    f.RunUntil(s, [&] { return f.store->Counters()->chunks_uploaded == 25 &&
                               f.store->Counters()->batches_uploaded == 1; });
    std::lock_guard lock(f.script.mu);
    std::set<std::int64_t> unique(f.script.chunks_seen.begin(), f.script.chunks_seen.end());
    CHECK(unique.size() == 25);
    CHECK(f.script.chunks_seen.size() == 25);  // no duplicate attempts after success
    CHECK(s.stats().chunks_ok == 25);
  }

  TEST_CASE("a failing collector fails over to the next one, retries keep the item") {
    Fixture f;
    f.AddChunks(5);
    f.script.respond = [](const std::string& url) {
      if (url == "http://down") return upload::UploadResult{upload::Outcome::kRetry, 0, {}, "refused", 0};
      return Ok();
    };
    UploadScheduler s(&f.loop, f.store.get(), f.Options({"http://down", "http://up"}));
    REQUIRE(s.Start().ok());
    f.RunUntil(s, [&] { return f.store->Counters()->chunks_uploaded == 5; });
    CHECK(s.stats().failures >= 1);
    std::lock_guard lock(f.script.mu);
    CHECK(f.script.urls_seen.front() == "http://down");
    CHECK(f.script.urls_seen.back() == "http://up");
  }

  TEST_CASE("a refused item is kept aside as dead, the rest go on") {
    Fixture f;
    f.AddChunks(3);
    f.script.respond = [](const std::string&) { return Ok(); };
    std::atomic<int> calls{0};
    f.script.respond = [&](const std::string&) {
      return ++calls == 1 ? upload::UploadResult{upload::Outcome::kDead, 409, {}, "conflict", 0}
                          : Ok();
    };
    UploadScheduler s(&f.loop, f.store.get(), f.Options({"http://c1"}));
    REQUIRE(s.Start().ok());
    f.RunUntil(s, [&] {
      auto c = f.store->Counters();
      return c->chunks_uploaded == 2 && c->chunks_dead == 1;
    });
    CHECK(f.store->Counters()->chunks_pending == 0);
    CHECK(s.stats().dead == 1);
  }

  TEST_CASE("Retry-After from the server postpones the next attempt") {
    Fixture f;
    f.AddChunks(1);
    f.script.respond = [](const std::string&) {
      return upload::UploadResult{upload::Outcome::kRetry, 429, std::chrono::seconds(30), "busy", 0};
    };
    UploadScheduler s(&f.loop, f.store.get(), f.Options({"http://c1"}));
    REQUIRE(s.Start().ok());
    f.RunUntil(s, [&] { return s.stats().failures >= 1 && s.in_flight() == 0; });
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
    CHECK(f.store->DueChunks(now, 10)->empty());
    CHECK(f.store->DueChunks(now + 31'000, 10)->size() == 1);
    CHECK(s.stats().failures == 1);
  }
}

}  // namespace picket::upload
