#include "collector/chunk_store.h"

#include <doctest/doctest.h>

#include <filesystem>

#include "collector/collector_db.h"
#include "picket/common/file_io.h"
#include "support/temp_dir.h"

namespace picket::collector {

namespace {

std::size_t FilesIn(const std::string& dir) {
  std::size_t n = 0;
  for (auto& e : std::filesystem::directory_iterator(dir)) {
    (void)e;
    ++n;
  }
  return n;
}

}  // namespace

TEST_SUITE("collector.chunk_store") {
  TEST_CASE("a prepared chunk is invisible until published, and its temp file goes away") {
    testing::TempDir dir;
    auto store = ChunkStore::Open(dir.path());
    REQUIRE(store.ok());
    const std::string path = store->PathFor("gw-1", 42);
    CHECK(path == dir.path() + "/chunks/gw-1/000000000042.pcap");
    {
      auto pending = store->Prepare("gw-1", 42, "bytes");
      REQUIRE(pending.ok());
      CHECK_FALSE(std::filesystem::exists(path));
      CHECK(FilesIn(dir.path() + "/chunks/gw-1") == 1);  // the temp file
    }
    CHECK(FilesIn(dir.path() + "/chunks/gw-1") == 0);  // dropped without publishing

    auto pending = store->Prepare("gw-1", 42, "bytes");
    REQUIRE(pending.ok());
    REQUIRE(pending->Publish().ok());
    CHECK(*ChunkStore::Read(path) == "bytes");
    CHECK(FilesIn(dir.path() + "/chunks/gw-1") == 1);
    CHECK_FALSE(pending->Publish().ok());  // only once
  }

  TEST_CASE("Create makes the device directory on first use, and again after it was removed") {
    testing::TempDir dir;
    auto store = ChunkStore::Open(dir.path());
    REQUIRE(store.ok());
    const std::string device_dir = dir.path() + "/chunks/gw-1";
    {
      auto first = store->Create("gw-1", 1);
      REQUIRE(first.ok());
      REQUIRE(first->Append("one").ok());
      REQUIRE(first->Close().ok());
      REQUIRE(first->Publish().ok());
    }
    CHECK(*ChunkStore::Read(store->PathFor("gw-1", 1)) == "one");
    std::filesystem::remove_all(device_dir);  // say, retention emptied and removed it
    auto again = store->Create("gw-1", 2);
    REQUIRE_MESSAGE(again.ok(), again.status().ToString());
    CHECK(std::filesystem::is_directory(device_dir));
    // Any other failure is reported as it is, naming the path.
    REQUIRE(WriteFileAtomically(dir.path() + "/chunks/gw-2", "not a directory").ok());
    auto blocked = store->Create("gw-2", 1);
    REQUIRE_FALSE(blocked.ok());
    CHECK(blocked.status().message().find("chunks/gw-2") != std::string::npos);
  }

  TEST_CASE("the ext4-without-a-journal check is false where it cannot tell") {
    CHECK_FALSE(ChunkStore::OnExt4WithoutJournal("/proc"));
    CHECK_FALSE(ChunkStore::OnExt4WithoutJournal("/no/such/path"));
  }

  TEST_CASE("opening removes temp files a crash left behind, and nothing else") {
    testing::TempDir dir;
    std::filesystem::create_directories(dir.path() + "/chunks/gw-1");
    REQUIRE(WriteFileAtomically(dir.path() + "/chunks/gw-1/000000000001.pcap", "kept").ok());
    REQUIRE(WriteFileAtomically(dir.path() + "/chunks/gw-1/.000000000002.pcap.tmp.123.0", "stale")
                .ok());
    auto store = ChunkStore::Open(dir.path());
    REQUIRE(store.ok());
    CHECK(FilesIn(dir.path() + "/chunks/gw-1") == 1);
    CHECK(*ChunkStore::Read(dir.path() + "/chunks/gw-1/000000000001.pcap") == "kept");
  }

  TEST_CASE("the crash window: a file renamed into place whose row never committed is swept") {
    testing::TempDir dir;
    auto store = ChunkStore::Open(dir.path());
    REQUIRE(store.ok());
    auto db = CollectorDb::Open(dir.path() + "/collector.db");
    REQUIRE(db.ok());
    auto put = [&](std::uint64_t seq, bool crash) {
      ChunkRecord c;
      c.device = "gw-1";
      c.seq = seq;
      c.sha256_hex = "aa";
      c.bytes = 5;
      c.received_at_ms = 1;
      c.path = store->PathFor("gw-1", seq);
      auto pending = store->Prepare("gw-1", seq, "bytes");
      REQUIRE(pending.ok());
      // crash: the rename happens, then the process dies before COMMIT (the
      // transaction is rolled back as SQLite would on the next open).
      return (*db)->PutChunk(c, {}, [&]() -> Status {
        PICKET_RETURN_IF_ERROR(pending->Publish());
        if (crash) return Status::Internal("killed before commit");
        return Status::Ok();
      });
    };
    REQUIRE(put(1, false).ok());
    REQUIRE_FALSE(put(2, true).ok());
    REQUIRE(put(3, false).ok());
    const std::string orphan = store->PathFor("gw-1", 2);
    REQUIRE(std::filesystem::exists(orphan));  // the state a crash leaves
    CHECK_FALSE(*(*db)->ChunkHash("gw-1", 2));
    // A file that is not a chunk's name is never touched.
    REQUIRE(WriteFileAtomically(dir.path() + "/chunks/gw-1/notes.txt", "x").ok());

    auto swept =
        store->SweepOrphans([&](const std::string& device) { return (*db)->ChunkSeqs(device); });
    REQUIRE(swept.ok());
    CHECK(swept->files == 1);
    CHECK(swept->bytes == 5);
    CHECK_FALSE(std::filesystem::exists(orphan));
    CHECK(*ChunkStore::Read(store->PathFor("gw-1", 1)) == "bytes");
    CHECK(*ChunkStore::Read(store->PathFor("gw-1", 3)) == "bytes");
    CHECK(std::filesystem::exists(dir.path() + "/chunks/gw-1/notes.txt"));

    // The device resends the unacknowledged chunk: stored normally.
    REQUIRE(put(2, false).ok());
    CHECK(*(*db)->ChunkHash("gw-1", 2) == "aa");
    auto again =
        store->SweepOrphans([&](const std::string& device) { return (*db)->ChunkSeqs(device); });
    REQUIRE(again.ok());
    CHECK(again->files == 0);
  }

  TEST_CASE("a sweep that cannot read the database removes nothing and says why") {
    testing::TempDir dir;
    auto store = ChunkStore::Open(dir.path());
    REQUIRE(store.ok());
    auto pending = store->Prepare("gw-1", 7, "x");
    REQUIRE(pending.ok());
    REQUIRE(pending->Publish().ok());
    auto swept =
        store->SweepOrphans([](const std::string&) -> Result<std::unordered_set<std::uint64_t>> {
          return Status::Unavailable("database locked");
        });
    REQUIRE_FALSE(swept.ok());
    CHECK(swept.status().message().find("database locked") != std::string::npos);
    CHECK(std::filesystem::exists(store->PathFor("gw-1", 7)));
  }

  TEST_CASE("errors name the path") {
    auto missing = ChunkStore::Read("/nonexistent/chunk.pcap");
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.status().code() == StatusCode::kNotFound);
    CHECK(missing.status().message().find("/nonexistent/chunk.pcap") != std::string::npos);
    testing::TempDir dir;
    REQUIRE(
        WriteFileAtomically(dir.path() + "/chunks", "a file where the directory should be").ok());
    auto store = ChunkStore::Open(dir.path());
    REQUIRE_FALSE(store.ok());
    CHECK(store.status().message().find(dir.path() + "/chunks") != std::string::npos);
  }

  TEST_CASE("pending-file names") {
    CHECK(IsPendingFileName(".000000000001.pcap.tmp.99.3"));
    CHECK_FALSE(IsPendingFileName("000000000001.pcap"));
    CHECK_FALSE(IsPendingFileName(".hidden"));
  }
}

}  // namespace picket::collector
