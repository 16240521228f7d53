#include "picket/upload/upload_scheduler.h"

#include <doctest/doctest.h>
#include <uv.h>

#include <algorithm>
#include <condition_variable>
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
  std::vector<std::string> order;         // "c<seq>", "b", "h:<body>" as attempts start
  std::vector<std::string> status_bodies;
  int status_now = 0, status_max = 0;     // heartbeats in flight now / at most
  bool hold_status = false;               // PostStatus waits until released
  std::condition_variable released;
  std::function<upload::UploadResult(const std::string& url)> respond;
  std::function<upload::UploadResult()> respond_status;
};
Script* g_script = nullptr;

upload::UploadResult Ok() { return {upload::Outcome::kDone, 201, {}, "", 1}; }

class FakeUploader final : public upload::ChunkUploader {
 public:
  upload::UploadResult PutChunk(const std::string& url, const buffer::ChunkMeta& c,
                                const upload::DeviceCounters&) override {
    std::lock_guard lock(g_script->mu);
    g_script->urls_seen.push_back(url);
    g_script->chunks_seen.push_back(c.seq);
    g_script->order.push_back("c" + std::to_string(c.seq));
    return g_script->respond(url);
  }
  upload::UploadResult PostBatch(const std::string& url, const buffer::Batch&,
                                 const upload::DeviceCounters&) override {
    std::lock_guard lock(g_script->mu);
    g_script->urls_seen.push_back(url);
    g_script->order.push_back("b");
    return g_script->respond(url);
  }
  upload::UploadResult PostStatus(const std::string& url, const std::string& body) override {
    std::unique_lock lock(g_script->mu);
    g_script->urls_seen.push_back(url);
    g_script->order.push_back("h:" + body);
    g_script->status_bodies.push_back(body);
    g_script->status_max = std::max(g_script->status_max, ++g_script->status_now);
    g_script->released.wait(lock, [] { return !g_script->hold_status; });
    --g_script->status_now;
    return g_script->respond_status ? g_script->respond_status() : Ok();
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

  // Runs the loop (the scheduler keeps running) until `done` holds or a generous deadline.
  bool RunWhileRunning(const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!done() && std::chrono::steady_clock::now() < deadline) uv_run(&loop, UV_RUN_ONCE);
    return done();
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

std::vector<std::string> Snapshot(std::vector<std::string> Script::*field) {
  std::lock_guard lock(g_script->mu);
  return g_script->*field;
}

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

  TEST_CASE("a heartbeat set while every slot is busy goes before the chunks still due") {
    Fixture f;
    f.AddChunks(3);
    std::mutex gate_mu;
    std::condition_variable gate;
    bool entered = false, open = false;
    f.script.respond = [&](const std::string&) {
      std::unique_lock lock(gate_mu);
      entered = true;
      gate.wait(lock, [&] { return open; });  // the first chunk holds the only slot
      return Ok();
    };
    auto o = f.Options({"http://c1"});
    o.max_in_flight = 1;  // one slot: the order of attempts is the order of dispatch
    UploadScheduler s(&f.loop, f.store.get(), std::move(o));
    REQUIRE(s.Start().ok());
    REQUIRE(f.RunWhileRunning([&] {
      std::lock_guard lock(gate_mu);
      return entered;
    }));
    s.SetHeartbeat(R"({"n":1})");
    {
      std::lock_guard lock(gate_mu);
      open = true;
    }
    gate.notify_all();
    f.RunUntil(s, [&] { return f.store->Counters()->chunks_uploaded == 3; });
    CHECK(Snapshot(&Script::order) == std::vector<std::string>{"c1", R"(h:{"n":1})", "c2", "c3"});
    CHECK(s.stats().heartbeats_ok == 1);
    CHECK(s.stats().chunks_ok == 3);  // heartbeats are not counted as items
    CHECK(s.stats().bytes_sent == 3);
  }

  TEST_CASE("a newer heartbeat replaces one still waiting for a slot") {
    Fixture f;
    f.script.respond = [](const std::string&) { return Ok(); };
    UploadScheduler s(&f.loop, f.store.get(), f.Options({"http://c1"}));
    s.SetHeartbeat("old");
    s.SetHeartbeat("newer");
    s.SetHeartbeat("newest");
    REQUIRE(s.Start().ok());
    f.RunUntil(s, [&] { return s.stats().heartbeats_ok == 1 && s.in_flight() == 0; });
    CHECK(Snapshot(&Script::status_bodies) == std::vector<std::string>{"newest"});
    CHECK(s.stats().heartbeats_replaced == 2);
  }

  TEST_CASE("a failed heartbeat is dropped: not retried, not stored, no fail-over") {
    for (const auto& failure :
         {upload::UploadResult{upload::Outcome::kRetry, 0, {}, "connection refused", 0},
          upload::UploadResult{upload::Outcome::kRetry, 503, std::chrono::seconds(5), "busy", 0},
          upload::UploadResult{upload::Outcome::kRetry, 429, std::chrono::seconds(5), "slow", 0},
          upload::UploadResult{upload::Outcome::kDead, 501, {}, "not implemented", 0}}) {
      CAPTURE(failure.http_status);
      Fixture f;
      f.script.respond = [](const std::string&) { return Ok(); };
      f.script.respond_status = [&] { return failure; };
      UploadScheduler s(&f.loop, f.store.get(), f.Options({"http://c1", "http://c2"}));
      REQUIRE(s.Start().ok());
      s.SetHeartbeat("hb");
      REQUIRE(f.RunWhileRunning([&] { return s.stats().heartbeats_failed == 1 && s.in_flight() == 0; }));
      // Chunks committed after the failure are uploaded by later polls, which
      // would have resent a kept heartbeat; they also stay on the first collector.
      f.AddChunks(2);
      f.RunUntil(s, [&] { return f.store->Counters()->chunks_uploaded == 2; });
      CHECK(Snapshot(&Script::status_bodies).size() == 1);
      const auto urls = Snapshot(&Script::urls_seen);
      CHECK(std::count(urls.begin(), urls.end(), "http://c1") == 3);
      CHECK(f.store->Counters()->batches_pending == 0);
      CHECK(s.stats().failures == 0);  // heartbeats never count as failed uploads
      CHECK(s.stats().dead == 0);
    }
  }

  TEST_CASE("at most one heartbeat is in flight, the newest waits, chunks still flow") {
    Fixture f;
    f.script.respond = [](const std::string&) { return Ok(); };
    f.script.hold_status = true;
    auto o = f.Options({"http://c1"});
    o.max_in_flight = 4;
    UploadScheduler s(&f.loop, f.store.get(), std::move(o));
    REQUIRE(s.Start().ok());
    s.SetHeartbeat("first");
    auto in_post = [&] {
      std::lock_guard lock(f.script.mu);
      return f.script.status_now == 1;
    };
    REQUIRE(f.RunWhileRunning(in_post));
    s.SetHeartbeat("second");
    s.SetHeartbeat("third");
    f.AddChunks(6);
    // Free slots upload chunks while the first heartbeat hangs; no second one starts.
    CHECK(f.RunWhileRunning([&] { return f.store->Counters()->chunks_uploaded == 6; }));
    CHECK(Snapshot(&Script::status_bodies) == std::vector<std::string>{"first"});
    {
      std::lock_guard lock(f.script.mu);
      f.script.hold_status = false;
    }
    f.script.released.notify_all();
    f.RunUntil(s, [&] { return s.stats().heartbeats_ok == 2 && s.in_flight() == 0; });
    CHECK(Snapshot(&Script::status_bodies) == std::vector<std::string>{"first", "third"});
    std::lock_guard lock(f.script.mu);
    CHECK(f.script.status_max == 1);
  }

  TEST_CASE("no heartbeat is sent unless one is set, and none after Stop") {
    Fixture f;
    f.AddChunks(2);
    f.script.respond = [](const std::string&) { return Ok(); };
    UploadScheduler s(&f.loop, f.store.get(), f.Options({"http://c1"}));
    REQUIRE(s.Start().ok());
    f.RunUntil(s, [&] { return f.store->Counters()->chunks_uploaded == 2; });
    s.SetHeartbeat("after stop");
    uv_run(&f.loop, UV_RUN_NOWAIT);
    CHECK(Snapshot(&Script::status_bodies).empty());
    CHECK(s.stats().heartbeats_ok + s.stats().heartbeats_failed == 0);
  }
}

}  // namespace picket::upload
