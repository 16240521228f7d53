#include "upload/chunk_body.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>

#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_getFrameHeader: the window a frame asks for
#include <zstd.h>

#include "fakes/upload/gunzip_for_tests.h"
#include "picket/common/digest.h"
#include "support/temp_dir.h"

namespace picket::upload {

namespace {

// One or more zstd frames back to back, as the collector reads them.
std::string Unzstd(const std::string& packed) {
  std::string out;
  ZSTD_DCtx* d = ZSTD_createDCtx();
  std::string buf(ZSTD_DStreamOutSize(), '\0');
  ZSTD_inBuffer in{packed.data(), packed.size(), 0};
  std::size_t rc = 1;
  while (in.pos < in.size || rc != 0) {
    ZSTD_outBuffer o{buf.data(), buf.size(), 0};
    rc = ZSTD_decompressStream(d, &o, &in);
    REQUIRE_FALSE(ZSTD_isError(rc));
    out.append(buf.data(), o.pos);
    if (in.pos == in.size && o.pos < o.size && rc != 0) break;  // truncated
  }
  ZSTD_freeDCtx(d);
  CHECK(rc == 0);  // the last frame is complete
  return out;
}


// Pcap-like text that gzip shrinks, and bytes it cannot (a fixed LCG: the same every run).
std::string Compressible(std::size_t n) {
  std::string s;
  for (std::size_t i = 0; s.size() < n; ++i) s += "udp 127.0.0.1:" + std::to_string(i % 97) + " ";
  s.resize(n);
  return s;
}
std::string Incompressible(std::size_t n) {
  std::string s(n, '\0');
  std::uint64_t x = 88172645463325252ull;
  for (auto& c : s) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    c = static_cast<char>(x >> 56);
  }
  return s;
}

// The whole body in pieces of `piece` bytes, as libcurl would pull it.
std::string ReadAll(ChunkBody& body, std::size_t piece) {
  std::string out, buf(piece, '\0');
  while (true) {
    auto got = body.Read(buf.data(), buf.size());
    REQUIRE(got.ok());
    if (*got == 0) return out;
    out.append(buf.data(), *got);
  }
}

}  // namespace

TEST_SUITE("upload") {
  TEST_CASE("a chunk body streams the file as it is, in any piece size, and again after a rewind") {
    testing::TempDir dir;
    const std::string data = Incompressible(300 * 1024 + 17);
    ChunkBody body;
    REQUIRE(body.Open(dir.Write("c.pcap", data), 1 << 20).ok());
    CHECK(body.file_size() == data.size());
    CHECK_FALSE(body.WorthCompressing(Compression::kGzip));
    CHECK_FALSE(body.WorthCompressing(Compression::kZstd));
    CHECK(ReadAll(body, 16384) == data);
    REQUIRE(body.Rewind().ok());
    CHECK(ReadAll(body, 1000) == data);
  }

  TEST_CASE("a chunk body made gzip on the fly unpacks to the file, also after a rewind mid-way") {
    testing::TempDir dir;
    const std::string data = Compressible(1 << 20);
    ChunkBody body;
    REQUIRE(body.Open(dir.Write("c.pcap", data), 2 << 20).ok());
    CHECK(body.WorthCompressing(Compression::kGzip));
    REQUIRE(body.UseGzip().ok());
    const std::string packed = ReadAll(body, 16384);
    CHECK(packed.size() < data.size() / 2);
    CHECK(GunzipForTests(packed) == data);
    // libcurl rewinds a body it has partly sent (a reused connection that had closed).
    REQUIRE(body.Rewind().ok());
    char some[300];
    REQUIRE(body.Read(some, sizeof some).ok());
    REQUIRE(body.Rewind().ok());
    CHECK(GunzipForTests(ReadAll(body, 7)) == data);
  }

  TEST_CASE("a chunk body made zstd on the fly unpacks to the file, after a rewind and a switch to gzip") {
    testing::TempDir dir;
    const std::string data = Compressible(3 << 20);
    ChunkBody body;
    REQUIRE(body.Open(dir.Write("c.pcap", data), 4 << 20).ok());
    CHECK(body.WorthCompressing(Compression::kZstd));
    REQUIRE(body.UseZstd().ok());
    CHECK(body.compressed());
    const std::string packed = ReadAll(body, 16384);
    CHECK(packed.size() < data.size() / 4);
    CHECK(ZSTD_getFrameContentSize(packed.data(), packed.size()) == ZSTD_CONTENTSIZE_UNKNOWN);
    ZSTD_frameHeader header{};
    REQUIRE(ZSTD_getFrameHeader(&header, packed.data(), packed.size()) == 0);
    CHECK(header.windowSize <= (1u << 20));  // what the collector accepts
    CHECK(Unzstd(packed) == data);
    char some[300];
    REQUIRE(body.Read(some, sizeof some).ok());
    REQUIRE(body.Rewind().ok());
    CHECK(Unzstd(ReadAll(body, 5)) == data);
    // A collector that refuses zstd: the same body again as gzip, from the first byte.
    REQUIRE(body.Rewind().ok());
    REQUIRE(body.Read(some, sizeof some).ok());
    REQUIRE(body.UseGzip().ok());
    CHECK(body.compressed());
    CHECK(GunzipForTests(ReadAll(body, 4096)) == data);
    ChunkBody empty;
    REQUIRE(empty.Open(dir.Write("e.pcap", ""), 1 << 20).ok());
    REQUIRE(empty.UseZstd().ok());
    CHECK(Unzstd(ReadAll(empty, 64)).empty());
  }

  TEST_CASE("a chunk body hashes its file and still reads from the first byte") {
    testing::TempDir dir;
    const std::string data = Compressible(70 * 1024);
    ChunkBody body;
    REQUIRE(body.Open(dir.Write("c.pcap", data), 1 << 20).ok());
    Sha256 hash;
    hash.Update(data);
    auto digest = body.HashFile();
    REQUIRE(digest.ok());
    CHECK(*digest == hash.Finish());
    CHECK(ReadAll(body, 4096) == data);
  }

  TEST_CASE("a chunk body: a missing file is NotFound, an empty one reads as empty, a big one is refused") {
    testing::TempDir dir;
    ChunkBody missing;
    CHECK(missing.Open(dir.Join("gone.pcap"), 1 << 20).code() == StatusCode::kNotFound);
    ChunkBody empty;
    REQUIRE(empty.Open(dir.Write("e.pcap", ""), 1 << 20).ok());
    REQUIRE(empty.UseGzip().ok());
    CHECK(GunzipForTests(ReadAll(empty, 512)).empty());
    ChunkBody big;
    const Status st = big.Open(dir.Write("b.pcap", std::string(5000, 'x')), 4096);
    CHECK(st.code() == StatusCode::kInvalidArgument);
    CHECK(st.message().find("5000 bytes") != std::string::npos);
  }
}

}  // namespace picket::upload
