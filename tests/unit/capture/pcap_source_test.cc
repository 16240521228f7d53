#include "picket/capture/pcap_source.h"

#include <doctest/doctest.h>
#include <pcap/pcap.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "fakes/capture/capture_test_support.h"
#include "fakes/capture/fake_clock.h"
#include "picket/capture/capture_filter.h"
#include "picket/capture/chunk_writer.h"
#include "picket/capture/sniffer.h"
#include "picket/common/filter_check.h"

#ifndef PICKET_TEST_PCAPS_DIR
#define PICKET_TEST_PCAPS_DIR ""
#endif

namespace picket::capture {

namespace {

using testing::FakeClock;
using testing::MakePacket;
using testing::QuietLogs;
using testing::ReadPcapFile;
using testing::StoredPacket;
using testing::TcpFrame;
using testing::TempDir;
using testing::UdpFrame;
using testing::WritePcapFile;

constexpr std::uint32_t kLocal = 0x7f000001;      // 127.0.0.1
constexpr std::uint32_t kCollector = 0x7f000002;  // 127.0.0.2
constexpr std::uint32_t kOther = 0x0a000001;      // 10.0.0.1

bool Contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

StoredPacket Frame(std::vector<std::uint8_t> bytes, std::int64_t ts_us) {
  StoredPacket p;
  p.ts_us = ts_us;
  p.data = std::move(bytes);
  p.len = static_cast<std::uint32_t>(p.data.size());
  return p;
}

// Everything a source yields, in order.
std::vector<StoredPacket> Drain(PacketSource& source, int batch = 7) {
  std::vector<StoredPacket> out;
  for (;;) {
    auto r = source.Dispatch(batch, [&](const Packet& p) {
      StoredPacket s;
      s.ts_us = static_cast<std::int64_t>(p.ts.tv_sec) * 1'000'000 + p.ts.tv_usec;
      s.len = p.len;
      s.data.assign(p.data, p.data + p.caplen);
      out.push_back(std::move(s));
    });
    REQUIRE(r.ok());
    CHECK(r->packets <= batch);
    if (r->end_of_input) break;
  }
  return out;
}

std::vector<std::string> SharedPcaps() {
  std::vector<std::string> files;
  const std::filesystem::path dir(PICKET_TEST_PCAPS_DIR);
  std::error_code ec;
  if (dir.empty() || !std::filesystem::is_directory(dir, ec)) return files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".pcap") files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

TEST_SUITE("capture.filter") {
  TEST_CASE("the exclusion clause is composed around the operator's filter") {
    const std::vector<ExcludedEndpoint> none;
    const std::vector<ExcludedEndpoint> one = {{"127.0.0.2", 8750}};
    const std::vector<ExcludedEndpoint> two = {{"127.0.0.2", 8750}, {"::1", 443}};
    CHECK(*ComposeCaptureFilter("", none) == "");
    CHECK(*ComposeCaptureFilter("udp", none) == "udp");
    CHECK(*ComposeCaptureFilter("", one) == "not (host 127.0.0.2 and tcp port 8750)");
    CHECK(*ComposeCaptureFilter("  ", one) == "not (host 127.0.0.2 and tcp port 8750)");
    CHECK(*ComposeCaptureFilter("tcp or udp", two) ==
          "(tcp or udp) and not (host 127.0.0.2 and tcp port 8750) and not (host ::1 and tcp port "
          "443)");
  }

  TEST_CASE("host names, port 0 and unbalanced parentheses are refused") {
    auto name = ComposeCaptureFilter("", {{"collector.example", 443}});
    REQUIRE_FALSE(name.ok());
    CHECK(Contains(name.status().message(), "collector.example"));
    CHECK_FALSE(ComposeCaptureFilter("", {{"127.0.0.1) or (tcp", 443}}).ok());
    CHECK_FALSE(ComposeCaptureFilter("", {{"127.0.0.1", 0}}).ok());
    auto parens = ComposeCaptureFilter("tcp) or (udp", {{"127.0.0.1", 443}});
    REQUIRE_FALSE(parens.ok());
    CHECK(parens.status().code() == StatusCode::kInvalidArgument);
    CHECK_FALSE(ComposeCaptureFilter("(tcp", {}).ok());
  }

  TEST_CASE("the composed filter compiles and keeps the uploads out, in both directions") {
    auto composed = ComposeCaptureFilter("tcp or udp", {{"127.0.0.2", 8750}});
    REQUIRE(composed.ok());
    CHECK(CheckFilter(*composed, 65535).ok());

    TempDir dir;
    const std::vector<StoredPacket> input = {
        Frame(TcpFrame(kLocal, kCollector, 40000, 8750, "upload"), 1),      // excluded
        Frame(TcpFrame(kCollector, kLocal, 8750, 40000, "200 OK"), 2),      // excluded (reply)
        Frame(TcpFrame(kOther, kLocal, 51000, 80, "GET /"), 3),             // kept
        Frame(UdpFrame(kLocal, kCollector, 40001, 8750, "udp"), 4),         // kept: not TCP
        Frame(TcpFrame(kLocal, kOther, 40002, 8750, "other host"), 5),      // kept: other host
        Frame(TcpFrame(kLocal, kCollector, 40003, 8751, "other port"), 6),  // kept: other port
    };
    const std::string path = dir.Join("in.pcap");
    REQUIRE(WritePcapFile(path, DLT_EN10MB, 65535, input).ok());
    auto source = PcapFileSource::Open(path);
    REQUIRE(source.ok());
    REQUIRE((*source)->SetFilter(*composed).ok());
    const auto kept = Drain(**source);
    CHECK(kept == std::vector<StoredPacket>{input[2], input[3], input[4], input[5]});
  }

  TEST_CASE("live options come from the capture config") {
    CaptureSection c;
    c.interface = "eth1";
    c.filter = "tcp";
    c.snaplen = 1500;
    c.buffer_mib = 64;
    c.timeout_ms = 100;
    const auto o = LiveCaptureOptions::FromConfig(c, {{"127.0.0.1", 8750}});
    CHECK(o.interface == "eth1");
    CHECK(o.filter == "tcp");
    CHECK(o.snaplen == 1500);
    CHECK(o.buffer_mib == 64);
    CHECK(o.timeout_ms == 100);
    CHECK_FALSE(o.promiscuous);
    REQUIRE(o.excluded.size() == 1);
    CHECK(o.excluded[0].port == 8750);
  }
}

TEST_SUITE("capture.pcap_file_source") {
  TEST_CASE("a file replays every packet, filters apply, stats are zero") {
    TempDir dir;
    std::vector<StoredPacket> input;
    for (int i = 0; i < 20; ++i) {
      input.push_back(
          Frame(UdpFrame(kOther, kLocal, 1000, static_cast<std::uint16_t>(i % 2 ? 53 : 123),
                         std::string(static_cast<std::size_t>(i), 'x')),
                1'000'000 + i));
    }
    const std::string path = dir.Join("in.pcap");
    REQUIRE(WritePcapFile(path, DLT_EN10MB, 9000, input).ok());

    auto source = PcapFileSource::Open(path);
    REQUIRE(source.ok());
    CHECK((*source)->LinkType() == DLT_EN10MB);
    CHECK((*source)->Snaplen() == 9000);
    CHECK((*source)->Name() == path);
    CHECK((*source)->SelectableFd() == -1);
    CHECK(Drain(**source) == input);
    auto stats = (*source)->Stats();
    REQUIRE(stats.ok());
    CHECK(stats->kernel_drops == 0);

    auto filtered = PcapFileSource::Open(path);
    REQUIRE(filtered.ok());
    REQUIRE((*filtered)->SetFilter("udp dst port 53").ok());
    CHECK(Drain(**filtered).size() == 10);
  }

  TEST_CASE("a bad filter carries pcap's text") {
    TempDir dir;
    const std::string path = dir.Join("in.pcap");
    REQUIRE(WritePcapFile(path, DLT_EN10MB, 9000, {MakePacket(1, 60)}).ok());
    auto source = PcapFileSource::Open(path);
    REQUIRE(source.ok());
    Status st = (*source)->SetFilter("tcp port");
    REQUIRE_FALSE(st.ok());
    CHECK(st.code() == StatusCode::kInvalidArgument);
    CHECK(Contains(st.message(), "bad BPF filter \"tcp port\""));
    CHECK(Contains(st.message(), "syntax error"));
  }

  TEST_CASE("missing and torn files are errors naming the file") {
    auto missing = PcapFileSource::Open("/nonexistent/x.pcap");
    REQUIRE_FALSE(missing.ok());
    CHECK(Contains(missing.status().message(), "/nonexistent/x.pcap"));

    TempDir dir;
    const std::string path = dir.Join("torn.pcap");
    REQUIRE(WritePcapFile(path, DLT_EN10MB, 9000, {MakePacket(1, 200), MakePacket(2, 200)}).ok());
    std::filesystem::resize_file(path, 24 + 216 + 30);  // the second record is cut short
    auto source = PcapFileSource::Open(path);
    REQUIRE(source.ok());
    int seen = 0;
    Status error;
    for (int i = 0; i < 5 && error.ok(); ++i) {
      auto r = (*source)->Dispatch(1, [&](const Packet&) { ++seen; });
      if (!r.ok())
        error = r.status();
      else if (r->end_of_input)
        break;
    }
    CHECK(seen == 1);
    REQUIRE_FALSE(error.ok());
    CHECK(error.code() == StatusCode::kCorruption);
    CHECK(Contains(error.message(), path));
  }

  TEST_CASE("an exception in the handler comes out of Dispatch, not through libpcap") {
    TempDir dir;
    const std::string path = dir.Join("in.pcap");
    REQUIRE(WritePcapFile(path, DLT_EN10MB, 9000,
                          {MakePacket(1, 60), MakePacket(2, 60), MakePacket(3, 60)})
                .ok());
    auto source = PcapFileSource::Open(path);
    REQUIRE(source.ok());
    int calls = 0;
    CHECK_THROWS_AS((*source)->Dispatch(10,
                                        [&](const Packet&) {
                                          ++calls;
                                          throw std::runtime_error("handler failed");
                                        }),
                    std::runtime_error);
    CHECK(calls == 1);  // the batch stopped at the throw
    int rest = 0;
    auto r = (*source)->Dispatch(10, [&](const Packet&) { ++rest; });
    REQUIRE(r.ok());
    CHECK(rest == 2);
  }

  TEST_CASE("real captures survive the sniffer and chunking byte for byte") {
    const std::vector<std::string> files = SharedPcaps();
    if (files.empty()) {
      MESSAGE("skipped: no shared pcaps at \"" PICKET_TEST_PCAPS_DIR "\"");
      return;
    }
    QuietLogs quiet;
    for (const std::string& file : files) {
      CAPTURE(file);
      auto original = ReadPcapFile(file);
      REQUIRE(original.ok());

      auto source = PcapFileSource::Open(file);
      REQUIRE(source.ok());
      TempDir dir;
      FakeClock clock;
      std::vector<SealedChunk> sealed;
      CaptureSection config;
      config.chunk_max_bytes = 4096;  // several chunks per file
      auto writer = ChunkWriter::Open(ChunkWriterOptions::FromConfig(config, dir.path(), **source),
                                      clock, ChunkWriter::CountingSeq(1), {},
                                      [&](const SealedChunk& c) { sealed.push_back(c); });
      REQUIRE(writer.ok());
      Sniffer sniffer(**source, **writer, clock);
      REQUIRE(sniffer.Run().ok());

      std::vector<StoredPacket> chunked;
      std::uint64_t counted = 0;
      for (const SealedChunk& c : sealed) {
        auto read = ReadPcapFile(c.path);
        REQUIRE(read.ok());
        CHECK(read->link_type == original->link_type);
        CHECK(read->snaplen == original->snaplen);
        CHECK((c.packets == 1 || c.bytes <= 4096));  // only a lone big packet may exceed it
        counted += c.packets;
        chunked.insert(chunked.end(), read->packets.begin(), read->packets.end());
      }
      CHECK(counted == original->packets.size());
      CHECK(chunked == original->packets);
      CHECK(sniffer.Stats().packets == original->packets.size());
    }
  }
}

}  // namespace picket::capture
