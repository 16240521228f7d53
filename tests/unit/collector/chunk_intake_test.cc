#include "collector/chunk_intake.h"

#include <doctest/doctest.h>
#include <zstd.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>

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

// Tasks posted by an intake's writer, run when the test says (or by a thread).
struct ManualPost {
  std::mutex mu;
  std::deque<std::function<void()>> tasks;
  bool run_at_once = false;
  ChunkIntake::Post Poster() {
    return [this](std::function<void()> task) {
      if (run_at_once) return task();
      std::lock_guard lock(mu);
      tasks.push_back(std::move(task));
    };
  }
  bool RunOne() {
    std::function<void()> task;
    {
      std::lock_guard lock(mu);
      if (tasks.empty()) return false;
      task = std::move(tasks.front());
      tasks.pop_front();
    }
    task();
    return true;
  }
};

}  // namespace

TEST_SUITE("collector.chunk_intake") {
  TEST_CASE("writes off the caller's thread: in order, byte for byte, the same hash and count") {
    testing::TempDir dir;
    const std::string pcap = Pcap(3000, 1500);  // ~4.5 MiB: many writes, past every bound
    std::string zst(ZSTD_compressBound(pcap.size()), '\0');
    zst.resize(ZSTD_compress(zst.data(), zst.size(), pcap.data(), pcap.size(), 1));
    int n = 0;
    for (BodyEncoding encoding : {BodyEncoding::kIdentity, BodyEncoding::kZstd}) {
      for (std::size_t piece : {std::size_t{1000}, std::size_t{1} << 20}) {
        CAPTURE(BodyEncodingName(encoding));
        CAPTURE(piece);
        const std::string& body = encoding == BodyEncoding::kZstd ? zst : pcap;
        const std::string final_path = dir.Join("off" + std::to_string(n++) + ".pcap");
        auto file = PendingFile::Create(final_path);
        REQUIRE(file.ok());
        ChunkIntake intake(encoding, 8u << 20, std::move(*file));
        std::vector<std::thread> writers;
        intake.WriteOffThread(
            [&](std::function<void()> task) { writers.emplace_back(std::move(task)); });
        auto staged = Take(intake, body, piece);
        for (auto& t : writers) t.join();
        REQUIRE_MESSAGE(staged.ok(), staged.status().ToString());
        CHECK(!writers.empty());
        CHECK(staged->sha256 == Sha256Of(pcap));
        CHECK(staged->packets == std::optional<std::uint64_t>(3000));
        REQUIRE(staged->file);
        REQUIRE(staged->file->Publish().ok());
        CHECK(ReadAll(final_path) == pcap);
      }
    }
  }

  TEST_CASE("reading pauses while writes lag and resumes once they catch up") {
    testing::TempDir dir;
    auto file = PendingFile::Create(dir.Join("paused.pcap"));
    REQUIRE(file.ok());
    ChunkIntake intake(BodyEncoding::kIdentity, 8u << 20, std::move(*file));
    ManualPost writer;
    intake.WriteOffThread(writer.Poster());
    int resumed = 0;
    CHECK_FALSE(intake.PauseReading([&] { ++resumed; }));  // nothing waits yet
    const std::string pcap = Pcap(400, 1500);  // ~600 KiB, all queued: the writer has not run
    REQUIRE(intake.Write(pcap).ok());
    REQUIRE(intake.Write(Pcap(1, 10).substr(24)).ok());  // one more record: flushes the buffer
    CHECK(intake.PauseReading([&] { ++resumed; }));
    CHECK(resumed == 0);
    while (writer.RunOne()) {
    }
    CHECK(resumed == 1);
    CHECK_FALSE(intake.PauseReading([&] { ++resumed; }));
    writer.run_at_once = true;  // Finish queues the last record and waits for it
    auto staged = intake.Finish();
    REQUIRE_MESSAGE(staged.ok(), staged.status().ToString());
    CHECK(staged->packets == std::optional<std::uint64_t>(401));
  }

  TEST_CASE("a dropped intake: its temp file goes at once, queued writes are skipped") {
    testing::TempDir dir;
    ManualPost writer;
    {
      auto file = PendingFile::Create(dir.Join("dropped.pcap"));
      REQUIRE(file.ok());
      ChunkIntake intake(BodyEncoding::kIdentity, 8u << 20, std::move(*file));
      intake.WriteOffThread(writer.Poster());
      REQUIRE(intake.Write(Pcap(200, 1500)).ok());
      REQUIRE(intake.Write(Pcap(1, 10).substr(24)).ok());
      REQUIRE(intake.PauseReading([] {}));  // a resume held: released with the intake
    }
    auto files = [&] {
      int n = 0;
      for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++n;
      return n;
    };
    CHECK(files() == 0);  // before the writer lets go of the descriptor
    while (writer.RunOne()) {
    }
    CHECK(files() == 0);
  }

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
