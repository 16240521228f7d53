#include "collector/chunk_store.h"

#include <doctest/doctest.h>

#include <filesystem>

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
