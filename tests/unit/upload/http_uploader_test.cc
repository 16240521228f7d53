#include <doctest/doctest.h>
#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_getFrameHeader: the window a body needs
#include <zstd.h>

#include "fakes/upload/gunzip_for_tests.h"
#include "picket/upload/http_uploader.h"
#include "upload/gzip.h"
#include "upload/tls_ip_names.h"

namespace picket::upload {

TEST_SUITE("upload") {
  TEST_CASE("the address a TLS certificate must name, from the collector URL") {
    auto v4 = IpNameOf("https://10.0.0.5:8750/");
    REQUIRE(v4.size == 4);
    CHECK(v4.bytes[0] == 10);
    CHECK(v4.bytes[3] == 5);
    auto v6 = IpNameOf("https://[fd00::5]:8750");
    REQUIRE(v6.size == 16);
    CHECK(v6.bytes[0] == 0xfd);
    CHECK(v6.bytes[15] == 5);
    CHECK(IpNameOf("https://[fe80::1%25eth0]:8750").size == 16);  // the zone is not compared
    CHECK(IpNameOf("https://collector.example:8750").size == 0);   // DNS names: mbedTLS's own check
    CHECK(IpNameOf("https://10.0.0.5.example/").size == 0);
    CHECK(IpNameOf("not a url").size == 0);
  }

  TEST_CASE("HTTP statuses: done, retry, dead") {
    for (int s : {200, 201, 204}) CHECK(ClassifyHttpStatus(s) == Outcome::kDone);
    for (int s : {408, 429, 500, 502, 503, 504}) CHECK(ClassifyHttpStatus(s) == Outcome::kRetry);
    for (int s : {400, 404, 409, 413, 301}) CHECK(ClassifyHttpStatus(s) == Outcome::kDead);
    // The device's token is refused, not the item: keep it and retry.
    for (int s : {401, 403}) CHECK(ClassifyHttpStatus(s) == Outcome::kRetry);
  }

  TEST_CASE("gzip bodies round-trip through zlib") {
    std::string ndjson;
    for (int i = 0; i < 1000; ++i) ndjson += "{\"ip\":\"127.0.0.1\",\"port\":" + std::to_string(i) + "}\n";
    auto packed = GzipCompress(ndjson);
    REQUIRE(packed.ok());
    CHECK(packed->size() < ndjson.size() / 4);
    CHECK(static_cast<unsigned char>((*packed)[0]) == 0x1f);  // gzip magic
    CHECK(static_cast<unsigned char>((*packed)[1]) == 0x8b);
    CHECK(GunzipForTests(*packed) == ndjson);
    CHECK(GunzipForTests(*GzipCompress("")) == "");
  }

  TEST_CASE("zstd bodies: one frame, the fast level's small window, and the compress decision per sample") {
    std::string ndjson;
    for (int i = 0; i < 1000; ++i) ndjson += "{\"ip\":\"127.0.0.1\",\"port\":" + std::to_string(i) + "}\n";
    auto packed = ZstdCompress(ndjson);
    REQUIRE(packed.ok());
    CHECK(packed->size() < ndjson.size() / 4);
    CHECK(ZSTD_getFrameContentSize(packed->data(), packed->size()) == ndjson.size());
    std::string back(ndjson.size(), '\0');
    CHECK(ZSTD_decompress(back.data(), back.size(), packed->data(), packed->size()) == ndjson.size());
    CHECK(back == ndjson);
    // A body larger than the window still needs only 512 KiB of it (the collector allows 1 MiB).
    std::string large;
    while (large.size() < (4u << 20)) large += ndjson;
    auto packed_large = ZstdCompress(large);
    REQUIRE(packed_large.ok());
    ZSTD_frameHeader header{};
    REQUIRE(ZSTD_getFrameHeader(&header, packed_large->data(), packed_large->size()) == 0);
    CHECK(header.windowSize <= (512u << 10));
    CHECK(ContentEncodingOf(Compression::kZstd) == "zstd");
    CHECK(ContentEncodingOf(Compression::kGzip) == "gzip");
    std::string noise(200 * 1024, '\0');
    std::uint64_t x = 1;
    for (auto& c : noise) c = static_cast<char>((x = x * 6364136223846793005ull + 1) >> 56);
    for (Compression c : {Compression::kZstd, Compression::kGzip}) {
      CHECK(CompressionPays(c, std::string_view(ndjson).substr(0, 40000), 1 << 20));
      CHECK_FALSE(CompressionPays(c, std::string_view(noise).substr(0, 65536), noise.size()));
      CHECK(CompressionPays(c, noise, 1000));  // a body no bigger than a sample: always
    }
  }

  TEST_CASE("a refused connection is a retry that names the error") {
    InitHttpGlobals();
    auto uploader = MakeCurlUploader({"gw-1", "", "", false});
    buffer::Batch batch;
    batch.idempotency_key = "k";
    batch.body = "{}\n";
    // Port 1 on loopback: nothing listens there, the kernel refuses at once.
    UploadResult r = uploader->PostBatch("http://127.0.0.1:1", batch, {});
    CHECK(r.outcome == Outcome::kRetry);
    CHECK(r.http_status == 0);
    CHECK(r.error.find("onnect") != std::string::npos);
  }

  TEST_CASE("a chunk whose file vanished is dead, not retried forever") {
    auto uploader = MakeCurlUploader({"gw-1"});
    buffer::ChunkMeta chunk;
    chunk.seq = 1;
    chunk.file = "/nonexistent/000000000001.pcap";
    UploadResult r = uploader->PutChunk("http://127.0.0.1:1", chunk, {});
    CHECK(r.outcome == Outcome::kDead);
    CHECK(r.error.find("/nonexistent/000000000001.pcap") != std::string::npos);
  }
}

}  // namespace picket::upload
