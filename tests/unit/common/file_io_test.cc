#include "picket/common/file_io.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>

#include "support/temp_dir.h"

namespace picket {

TEST_SUITE("common.file_io") {
  TEST_CASE("atomic writes replace whole files and leave no temp files") {
    testing::TempDir dir;
    const std::string path = dir.Join("state.json");
    REQUIRE(WriteFileAtomically(path, "first").ok());
    REQUIRE(WriteFileAtomically(path, "second").ok());
    auto back = ReadWholeFile(path, 100);
    REQUIRE(back.ok());
    CHECK(*back == "second");
    int entries = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
      (void)e;
      ++entries;
    }
    CHECK(entries == 1);
  }

  TEST_CASE("reads are capped and errors name the path") {
    testing::TempDir dir;
    const std::string path = dir.Write("big", std::string(1000, 'x'));
    CHECK(ReadWholeFile(path, 1000).ok());
    auto over = ReadWholeFile(path, 999);
    REQUIRE_FALSE(over.ok());
    CHECK(over.status().code() == StatusCode::kResourceExhausted);
    auto missing = ReadWholeFile(dir.Join("nope"), 10);
    CHECK(missing.status().code() == StatusCode::kNotFound);
    CHECK(missing.status().message().find(dir.Join("nope")) != std::string::npos);
  }

  TEST_CASE("a pending file disappears unless published") {
    testing::TempDir dir;
    const std::string path = dir.Join("chunk.pcap");
    {
      auto pending = PendingFile::Write(path, "data");
      REQUIRE(pending.ok());
      CHECK_FALSE(std::filesystem::exists(path));
    }
    CHECK(std::filesystem::is_empty(dir.path()));
    auto pending = PendingFile::Write(path, "data");
    REQUIRE(pending.ok());
    REQUIRE(pending->Publish().ok());
    CHECK(*ReadWholeFile(path, 10) == "data");
  }

  TEST_CASE("a direct-I/O pending file takes aligned blocks, then turns buffered for a tail") {
    testing::TempDir dir;
    const std::string path = dir.Join("chunk.pcap");
    auto pending = PendingFile::Create(path, PendingFile::Mode::kDirect);
    REQUIRE(pending.ok());
    const bool direct_here = pending->direct();  // false where the filesystem has no O_DIRECT
    constexpr std::size_t kAlign = PendingFile::kDirectAlignment;
    std::unique_ptr<char, void (*)(void*)> block(
        static_cast<char*>(std::aligned_alloc(kAlign, 2 * kAlign)), &std::free);
    REQUIRE(block);
    std::memset(block.get(), 'a', 2 * kAlign);
    REQUIRE(pending->Append({block.get(), 2 * kAlign}).ok());
    CHECK(pending->direct() == direct_here);
    // A block and a bit: the block direct, the bit through the page cache, and from then on.
    REQUIRE(pending->Append({block.get(), kAlign + 3}).ok());
    CHECK_FALSE(pending->direct());
    REQUIRE(pending->Append({block.get() + 1, kAlign}).ok());  // any address now
    REQUIRE(pending->Append("tail").ok());
    REQUIRE(pending->Publish().ok());
    auto back = ReadWholeFile(path, 1 << 20);
    REQUIRE(back.ok());
    CHECK(*back == std::string(4 * kAlign + 3, 'a') + "tail");
    CHECK(std::filesystem::is_regular_file(path));
  }

  TEST_CASE("a secret file holds one word on one line, errors name where it came from") {
    testing::TempDir dir;
    auto ok = ReadSecretFile(dir.Write("token", "  s3cret\n"), "--token-file");
    REQUIRE(ok.ok());
    CHECK(*ok == "s3cret");
    auto empty = ReadSecretFile(dir.Write("empty", " \n\t"), "--zk-password-file");
    CHECK(empty.status().message() == "--zk-password-file " + dir.Join("empty") + ": empty");
    auto two = ReadSecretFile(dir.Write("multi", "alpha\nbravo\n"), "upload.token_file");
    CHECK(two.status().message() ==
          "upload.token_file " + dir.Join("multi") + ": expected one word on one line");
    auto missing = ReadSecretFile(dir.Join("none"), "--token-file");
    CHECK(missing.status().message().find("--token-file " + dir.Join("none")) == 0);
  }

  TEST_CASE("a secret file that group or others can access is refused, saying how to fix it") {
    testing::TempDir dir;
    const std::string path = dir.Write("token", "s3cret\n");
    namespace fs = std::filesystem;
    for (auto open_to : {fs::perms::group_read, fs::perms::others_read, fs::perms::group_write}) {
      fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write | open_to);
      auto refused = ReadSecretFile(path, "upload.token_file");
      CHECK(refused.status().code() == StatusCode::kPermissionDenied);
      CHECK(refused.status().message().find("upload.token_file " + path) == 0);
      CHECK(refused.status().message().find("chmod 600 " + path) != std::string::npos);
      CHECK(refused.status().message().find("s3cret") == std::string::npos);
    }
    fs::permissions(path, fs::perms::owner_read);
    CHECK(ReadSecretFile(path, "upload.token_file").ok());
    const std::string big = dir.Write("big", std::string(70 * 1024, 'x'));
    CHECK(ReadSecretFile(big, "upload.token_file").status().code() ==
          StatusCode::kResourceExhausted);
  }
}

}  // namespace picket
