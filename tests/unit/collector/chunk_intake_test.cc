#include "collector/chunk_intake.h"

#include <doctest/doctest.h>
#include <zstd.h>

#include <fstream>
#include <iterator>
#include <string>

#include "collector/gunzip.h"
#include "support/temp_dir.h"

namespace picket::collector {

namespace {

// A little-endian pcap with `records` packets of `caplen` bytes each.
std::string Pcap(int records, std::size_t caplen) {
  std::string p("\xd4\xc3\xb2\xa1\x02\x00\x04\x00", 8);
  p += std::string(8, '\0') + std::string("\xff\xff\x00\x00\x01\x00\x00\x00", 8);
  for (int i = 0; i < records; ++i) {
    std::string header(16, '\0');
    header[8] = static_cast<char>(caplen & 0xff);
    header[9] = static_cast<char>((caplen >> 8) & 0xff);
    header[12] = header[8];
    header[13] = header[9];
    p += header + std::string(caplen, static_cast<char>('a' + i % 26));
  }
  return p;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

Result<ChunkIntake::Staged> Take(ChunkIntake& intake, const std::string& body, std::size_t piece) {
  for (std::size_t at = 0; at < body.size(); at += piece) {
    Status st = intake.Write(std::string_view(body).substr(at, piece));
    if (!st.ok()) return st;
  }
  return intake.Finish();
}

}  // namespace

TEST_SUITE("collector.chunk_intake") {
  TEST_CASE("raw, gzip and zstd bodies in pieces of any size land byte for byte, hashed and counted") {
    testing::TempDir dir;
    const std::string pcap = Pcap(300, 1500);
    auto gz = GzipCompress(pcap);
    REQUIRE(gz.ok());
    std::string zst(ZSTD_compressBound(pcap.size()), '\0');
    zst.resize(ZSTD_compress(zst.data(), zst.size(), pcap.data(), pcap.size(), 1));
    int n = 0;
    for (BodyEncoding encoding : {BodyEncoding::kIdentity, BodyEncoding::kGzip, BodyEncoding::kZstd}) {
      const std::string& body = encoding == BodyEncoding::kGzip   ? *gz
                                : encoding == BodyEncoding::kZstd ? zst
                                                                  : pcap;
      for (std::size_t piece : {std::size_t{1}, std::size_t{1000}, std::size_t{200'000}}) {
        CAPTURE(BodyEncodingName(encoding));
        CAPTURE(piece);
        const std::string final_path = dir.Join("chunk" + std::to_string(n++) + ".pcap");
        auto file = PendingFile::Create(final_path);
        REQUIRE(file.ok());
        ChunkIntake intake(encoding, 1u << 20, std::move(*file));
        auto staged = Take(intake, body, piece);
        REQUIRE_MESSAGE(staged.ok(), staged.status().ToString());
        CHECK(staged->sha256 == Sha256Of(pcap));
        CHECK(staged->bytes == pcap.size());
        CHECK(staged->packets == std::optional<std::uint64_t>(300));
        CHECK(intake.received_bytes() == body.size());
        REQUIRE(staged->file);
        REQUIRE(staged->file->Publish().ok());
        CHECK(ReadAll(final_path) == pcap);
      }
    }
  }

  TEST_CASE("without a file the body is only hashed") {
    testing::TempDir dir;
    const std::string pcap = Pcap(3, 60);
    ChunkIntake intake(BodyEncoding::kIdentity, 1u << 20, std::nullopt);
    auto staged = Take(intake, pcap, 7);
    REQUIRE(staged.ok());
    CHECK(staged->sha256 == Sha256Of(pcap));
    CHECK_FALSE(staged->file);
    CHECK(dir.List().empty());
  }

  TEST_CASE("refusals: over the cap, not a capture (from its first bytes), corrupt gzip") {
    testing::TempDir dir;
    auto fresh = [&] {
      auto file = PendingFile::Create(dir.Join("c.pcap"));
      REQUIRE(file.ok());
      return std::move(*file);
    };
    const std::string pcap = Pcap(100, 1000);
    {
      ChunkIntake intake(BodyEncoding::kIdentity, pcap.size() - 1, fresh());
      auto r = Take(intake, pcap, 4096);
      CHECK(r.status().code() == StatusCode::kResourceExhausted);
      CHECK(intake.error().code() == StatusCode::kResourceExhausted);
    }
    {
      auto gz = GzipCompress(pcap);
      REQUIRE(gz.ok());
      ChunkIntake intake(BodyEncoding::kGzip, pcap.size() - 1, fresh());
      CHECK(Take(intake, *gz, 512).status().code() == StatusCode::kResourceExhausted);
    }
    {
      ChunkIntake intake(BodyEncoding::kIdentity, 1u << 20, fresh());
      // Refused at byte 28, before the rest is taken in.
      Status st = intake.Write("GET / HTTP/1.1\r\nHost: x\r\n\r\n and more");
      CHECK(st.code() == StatusCode::kInvalidArgument);
      CHECK(st.message().find("not a pcap") != std::string::npos);
      CHECK(intake.Write(pcap).code() == StatusCode::kInvalidArgument);
      CHECK_FALSE(intake.Finish().ok());
    }
    {
      ChunkIntake intake(BodyEncoding::kIdentity, 1u << 20, fresh());
      CHECK(Take(intake, pcap.substr(0, 10), 3).status().code() == StatusCode::kInvalidArgument);
    }
    {
      ChunkIntake intake(BodyEncoding::kGzip, 1u << 20, fresh());
      CHECK(Take(intake, "\x1f\x8b not really gzip", 5).status().code() ==
            StatusCode::kInvalidArgument);
    }
    // Every refused intake removed its temp file.
    CHECK(dir.List().empty());
  }

  TEST_CASE("a short but complete body is checked at Finish: a bare pcap header is 0 packets") {
    testing::TempDir dir;
    const std::string header_only = Pcap(0, 0);
    auto file = PendingFile::Create(dir.Join("h.pcap"));
    REQUIRE(file.ok());
    ChunkIntake intake(BodyEncoding::kIdentity, 1u << 20, std::move(*file));
    auto staged = Take(intake, header_only, 5);
    REQUIRE(staged.ok());
    CHECK(staged->packets == std::optional<std::uint64_t>(0));
    CHECK(staged->bytes == 24);
  }
}

}  // namespace picket::collector
