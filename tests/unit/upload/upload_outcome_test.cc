// Upload outcomes the buffer cannot record (disk full, database locked): issue 14.
#include <doctest/doctest.h>
#include <uv.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>

#include "picket/common/log.h"
#include "picket/upload/upload_scheduler.h"
#include "support/temp_dir.h"

namespace picket::upload {

namespace {

using testing::TempDir;

// A real buffer whose outcome writes fail while `refuse` is set.
class RefusingStore final : public buffer::BufferStore {
 public:
  explicit RefusingStore(std::unique_ptr<buffer::BufferStore> inner) : in_(std::move(inner)) {}
  bool refuse = true;

  std::string ChunkDir() const override { return in_->ChunkDir(); }
  Result<std::int64_t> NextChunkSeq() override { return in_->NextChunkSeq(); }
  Status CommitChunk(const buffer::ChunkMeta& m) override { return in_->CommitChunk(m); }
  Result<std::optional<buffer::ChunkMeta>> LastChunk() override { return in_->LastChunk(); }
  Result<std::uint64_t> MakeRoom(std::uint64_t b) override { return in_->MakeRoom(b); }
  Result<std::uint64_t> FootprintBytes() override { return in_->FootprintBytes(); }
  Result<std::vector<buffer::PendingChunk>> DueChunks(std::int64_t now, int limit) override {
    return in_->DueChunks(now, limit);
  }
  Status MarkChunkUploaded(std::int64_t seq) override {
    return refuse ? Full() : in_->MarkChunkUploaded(seq);
  }
  Status MarkChunkRetry(std::int64_t seq, std::int64_t next, const std::string& e) override {
    return refuse ? Full() : in_->MarkChunkRetry(seq, next, e);
  }
  Status MarkChunkDead(std::int64_t seq, const std::string& e) override {
    return refuse ? Full() : in_->MarkChunkDead(seq, e);
  }
  Status RetryAllNow() override { return in_->RetryAllNow(); }
  Result<std::int64_t> AppendBatch(buffer::BatchKind k, const std::string& b,
                                   std::uint64_t l) override {
    return in_->AppendBatch(k, b, l);
  }
  Result<std::vector<buffer::Batch>> DueBatches(std::int64_t now, int limit) override {
    return in_->DueBatches(now, limit);
  }
  Status MarkBatchUploaded(std::int64_t id) override {
    return refuse ? Full() : in_->MarkBatchUploaded(id);
  }
  Status MarkBatchRetry(std::int64_t id, std::int64_t next, const std::string& e) override {
    return refuse ? Full() : in_->MarkBatchRetry(id, next, e);
  }
  Status MarkBatchDead(std::int64_t id, const std::string& e) override {
    return refuse ? Full() : in_->MarkBatchDead(id, e);
  }
  Result<buffer::BufferCounters> Counters() override { return in_->Counters(); }
  Result<std::uint64_t> ResultBatchesPending() override { return in_->ResultBatchesPending(); }
  Result<std::uint64_t> OldestPendingAgeS(std::int64_t now) override {
    return in_->OldestPendingAgeS(now);
  }
  Status PutState(const std::string& k, const std::string& v) override { return in_->PutState(k, v); }
  Result<std::optional<std::string>> GetState(const std::string& k) override {
    return in_->GetState(k);
  }

 private:
  static Status Full() { return Status::ResourceExhausted("database or disk is full"); }
  std::unique_ptr<buffer::BufferStore> in_;
};

std::mutex g_mu;
std::map<std::string, int> g_attempts;  // "c<seq>" / "b<id>" -> requests
std::function<UploadResult(const std::string&)> g_respond;

class CountingUploader final : public ChunkUploader {
 public:
  UploadResult PutChunk(const std::string&, const buffer::ChunkMeta& c, const DeviceCounters&) override {
    return Count("c" + std::to_string(c.seq));
  }
  UploadResult PostBatch(const std::string&, const buffer::Batch& b, const DeviceCounters&) override {
    return Count("b" + std::to_string(b.id));
  }
  UploadResult PostStatus(const std::string&, const std::string&) override {
    return {Outcome::kDone, 200, {}, "", 0};
  }

 private:
  static UploadResult Count(const std::string& key) {
    std::lock_guard lock(g_mu);
    ++g_attempts[key];
    return g_respond(key);
  }
};

struct Fixture {
  TempDir dir;
  std::unique_ptr<RefusingStore> store;
  uv_loop_t loop{};

  Fixture() {
    log::SetLevel(log::Level::kError);
    auto s = buffer::OpenSqliteBuffer({dir.Join("buf"), 1ull << 30});
    REQUIRE(s.ok());
    store = std::make_unique<RefusingStore>(std::move(*s));
    uv_loop_init(&loop);
    std::lock_guard lock(g_mu);
    g_attempts.clear();
  }
  ~Fixture() {
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
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
  UploadSchedulerOptions Options() {
    UploadSchedulerOptions o;
    o.collectors = {"http://c1"};
    o.poll_interval = std::chrono::milliseconds(5);
    o.retry_base = std::chrono::milliseconds(50);
    o.retry_max = std::chrono::milliseconds(100);
    o.make_uploader = [](const UploadSettings&) { return std::make_unique<CountingUploader>(); };
    return o;
  }
  // Runs the loop for `ms` (bounded), then until `done` (bounded).
  void RunFor(int ms, const std::function<bool()>& done = [] { return true; }) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    auto deadline = until + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline &&
           (std::chrono::steady_clock::now() < until || !done())) {
      uv_run(&loop, UV_RUN_NOWAIT);
    }
  }
  void Stop(UploadScheduler& s) {
    bool stopped = false;
    s.Stop([&] { stopped = true; });
    while (!stopped) uv_run(&loop, UV_RUN_ONCE);
  }
  int Attempts(const std::string& key) {
    std::lock_guard lock(g_mu);
    return g_attempts[key];
  }
};

}  // namespace

TEST_SUITE("upload.outcomes") {
  TEST_CASE("a delivered item whose acknowledgement cannot be written is not sent again") {
    Fixture f;
    f.AddChunks(3);
    REQUIRE(f.store->AppendBatch(buffer::BatchKind::kLogs, "{}\n", 1).ok());
    g_respond = [](const std::string&) { return UploadResult{Outcome::kDone, 201, {}, "", 1}; };
    UploadScheduler s(&f.loop, f.store.get(), f.Options());
    REQUIRE(s.Start().ok());
    f.RunFor(400);  // the disk is full the whole time
    CHECK(f.Attempts("c1") == 1);
    CHECK(f.Attempts("c3") == 1);
    CHECK(f.Attempts("b1") == 1);
    CHECK(f.store->Counters()->chunks_uploaded == 0);
    f.store->refuse = false;  // space is back: the outcomes held in memory are written
    f.RunFor(0, [&] {
      auto c = f.store->Counters();
      return c->chunks_uploaded == 3 && c->batches_uploaded == 1;
    });
    CHECK(f.store->Counters()->chunks_uploaded == 3);
    CHECK(f.store->Counters()->batches_uploaded == 1);
    CHECK(f.Attempts("c1") == 1);
    f.Stop(s);
  }

  TEST_CASE("a retry whose due time cannot be written backs off in memory, a stuck item starves no other") {
    Fixture f;
    f.AddChunks(2);
    REQUIRE(f.store->AppendBatch(buffer::BatchKind::kLogs, "{}\n", 1).ok());
    // The batch and chunk 1 always fail; chunk 2 would be accepted.
    g_respond = [](const std::string& key) {
      if (key == "c2") return UploadResult{Outcome::kDone, 201, {}, "", 1};
      return UploadResult{Outcome::kRetry, 503, {}, "busy", 0};
    };
    UploadScheduler s(&f.loop, f.store.get(), f.Options());
    REQUIRE(s.Start().ok());
    f.RunFor(500);
    // Backoff of 50..100 ms over 500 ms: a handful of attempts, not thousands.
    CHECK(f.Attempts("b1") >= 2);
    CHECK(f.Attempts("b1") <= 12);
    CHECK(f.Attempts("c1") <= 12);
    CHECK(f.Attempts("c2") == 1);  // went through despite the stuck ones ahead of it
    f.Stop(s);
  }
}

}  // namespace picket::upload
