#include "collector/capture_format.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace picket::collector {

namespace {

std::string WithMagic(std::initializer_list<unsigned char> magic, std::size_t total) {
  std::string s(total, '\0');
  std::size_t i = 0;
  for (unsigned char b : magic) s[i++] = static_cast<char>(b);
  return s;
}

}  // namespace

TEST_SUITE("collector.capture_format") {
  TEST_CASE("classic pcap in both byte orders and both resolutions") {
    CHECK(CheckCaptureHeader(WithMagic({0xd4, 0xc3, 0xb2, 0xa1}, 24)).ok());  // little-endian µs
    CHECK(CheckCaptureHeader(WithMagic({0xa1, 0xb2, 0xc3, 0xd4}, 24)).ok());  // big-endian µs
    CHECK(CheckCaptureHeader(WithMagic({0x4d, 0x3c, 0xb2, 0xa1}, 24)).ok());  // little-endian ns
    CHECK(CheckCaptureHeader(WithMagic({0xa1, 0xb2, 0x3c, 0x4d}, 24)).ok());  // big-endian ns
  }

  TEST_CASE("pcapng section header") {
    CHECK(CheckCaptureHeader(WithMagic({0x0a, 0x0d, 0x0d, 0x0a}, 28)).ok());
    CHECK_FALSE(CheckCaptureHeader(WithMagic({0x0a, 0x0d, 0x0d, 0x0a}, 27)).ok());
  }

  TEST_CASE("packets are counted in classic pcap bodies of either byte order") {
    std::string le = WithMagic({0xd4, 0xc3, 0xb2, 0xa1}, 24);
    CHECK(CountPcapPackets(le) == std::optional<std::uint64_t>(0));
    auto record_le = [](unsigned char caplen) {
      std::string r(16, '\0');
      r[8] = static_cast<char>(caplen);
      return r + std::string(caplen, 'p');
    };
    le += record_le(3) + record_le(0) + record_le(60);
    CHECK(CountPcapPackets(le) == std::optional<std::uint64_t>(3));
    CHECK_FALSE(CountPcapPackets(le.substr(0, le.size() - 1)));  // last packet cut short
    CHECK_FALSE(CountPcapPackets(le + "0123"));                  // a torn record header

    std::string be = WithMagic({0xa1, 0xb2, 0x3c, 0x4d}, 24);
    std::string r(16, '\0');
    r[11] = 2;  // big-endian caplen 2
    be += r + "ab";
    CHECK(CountPcapPackets(be) == std::optional<std::uint64_t>(1));
    CHECK_FALSE(CountPcapPackets(WithMagic({0x0a, 0x0d, 0x0d, 0x0a}, 28)));  // pcapng: not counted
  }

  TEST_CASE("the counter fed in pieces of any size agrees with the whole body") {
    std::string body = WithMagic({0xd4, 0xc3, 0xb2, 0xa1}, 24);
    for (unsigned char caplen : {0, 1, 15, 16, 17, 200}) {
      std::string r(16, '\0');
      r[8] = static_cast<char>(caplen);
      body += r + std::string(caplen, 'x');
    }
    const std::vector<std::string> bodies = {body, body.substr(0, body.size() - 1),
                                             body.substr(0, 30), body.substr(0, 10),
                                             WithMagic({0x0a, 0x0d, 0x0d, 0x0a}, 28)};
    for (const std::string& b : bodies) {
      for (std::size_t piece : {std::size_t{1}, std::size_t{3}, std::size_t{16}, std::size_t{1000}}) {
        PcapRecordCounter counter;
        for (std::size_t at = 0; at < b.size(); at += piece) counter.Feed(std::string_view(b).substr(at, piece));
        const auto whole = CheckCaptureHeader(b).ok() ? CountPcapPackets(b) : std::nullopt;
        CHECK_MESSAGE(counter.Count() == whole, "body of " << b.size() << " bytes in pieces of " << piece);
      }
    }
    PcapRecordCounter counter;
    counter.Feed(body);
    CHECK(counter.Count() == std::optional<std::uint64_t>(6));
  }

  TEST_CASE("other bodies are refused, naming the magic") {
    auto gzip = CheckCaptureHeader(WithMagic({0x1f, 0x8b, 0x08, 0x00}, 40));
    REQUIRE_FALSE(gzip.ok());
    CHECK(gzip.code() == StatusCode::kInvalidArgument);
    CHECK(gzip.message().find("1f8b0800") != std::string::npos);
    CHECK_FALSE(CheckCaptureHeader("").ok());
    CHECK_FALSE(CheckCaptureHeader("\xd4\xc3\xb2").ok());
    CHECK_FALSE(
        CheckCaptureHeader(WithMagic({0xd4, 0xc3, 0xb2, 0xa1}, 23)).ok());  // header cut short
    CHECK_FALSE(CheckCaptureHeader("{\"not\":\"a pcap\"} padding padding").ok());
  }
}

}  // namespace picket::collector
