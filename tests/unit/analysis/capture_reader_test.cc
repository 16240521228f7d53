#include <doctest/doctest.h>

#include <random>

#include "capture_files.h"
#include "frames.h"
#include "picket/analysis/analyzer.h"

namespace picket::analysis {
using namespace testing;

namespace {

struct Seen {
  std::int64_t ts_us;
  std::uint32_t wire_len;
  int link_type;
  std::string data;
  PacketRef ref;
};

std::vector<Seen> ReadAllPackets(std::string_view capture, Status& status, std::uint64_t chunk = 7) {
  std::vector<Seen> seen;
  status = ReadCaptureBytes(capture, chunk, [&](const RawPacket& p) {
    seen.push_back({p.ts_us, p.wire_len, p.link_type,
                    std::string(reinterpret_cast<const char*>(p.data.data()), p.data.size()), p.ref});
  });
  return seen;
}

void CheckPacketAtAgrees(const std::string& capture, const std::vector<Seen>& seen) {
  for (const Seen& s : seen) {
    RawPacket at;
    Status status = PacketAt(capture, s.ref.offset, at);
    REQUIRE_MESSAGE(status.ok(), status.ToString());
    CHECK(at.ts_us == s.ts_us);
    CHECK(at.wire_len == s.wire_len);
    CHECK(at.link_type == s.link_type);
    CHECK(std::string(reinterpret_cast<const char*>(at.data.data()), at.data.size()) == s.data);
  }
}

// A small pcapng: section header, interface (ns resolution), packets with an
// interface statistics block between them.
class PcapngBuilder {
 public:
  PcapngBuilder() {
    Block(0x0a0d0d0a, [](std::string& b) {
      Le32(b, 0x1a2b3c4d);
      Le16(b, 1);
      Le16(b, 0);
      Le32(b, 0xffffffff);
      Le32(b, 0xffffffff);
    });
    Block(1, [](std::string& b) {
      Le16(b, 1);  // Ethernet
      Le16(b, 0);
      Le32(b, 65535);
      Le16(b, 9);  // if_tsresol: 10^-9
      Le16(b, 1);
      b.push_back(9);
      b.append(3, '\0');
      Le32(b, 0);  // opt_endofopt
    });
  }
  void Add(std::uint64_t ts_ns, const Bytes& frame, std::uint32_t wire_len = 0) {
    Block(6, [&](std::string& b) {
      Le32(b, 0);
      Le32(b, static_cast<std::uint32_t>(ts_ns >> 32));
      Le32(b, static_cast<std::uint32_t>(ts_ns));
      Le32(b, static_cast<std::uint32_t>(frame.size()));
      Le32(b, wire_len != 0 ? wire_len : static_cast<std::uint32_t>(frame.size()));
      b.append(reinterpret_cast<const char*>(frame.data()), frame.size());
      b.append((4 - frame.size() % 4) % 4, '\0');
    });
  }
  void AddStatistics() {
    Block(5, [](std::string& b) {
      Le32(b, 0);
      Le32(b, 0);
      Le32(b, 0);
    });
  }
  const std::string& data() const { return data_; }

 private:
  static void Le16(std::string& b, std::uint16_t v) { b.append(reinterpret_cast<const char*>(&v), 2); }
  static void Le32(std::string& b, std::uint32_t v) { b.append(reinterpret_cast<const char*>(&v), 4); }
  template <typename F>
  void Block(std::uint32_t type, F&& body) {
    std::string b;
    body(b);
    const auto length = static_cast<std::uint32_t>(12 + b.size());
    Le32(data_, type);
    Le32(data_, length);
    data_ += b;
    Le32(data_, length);
  }
  std::string data_;
};

Bytes Frame(std::uint16_t port, std::size_t payload) {
  return Ethernet(Ipv4({}, Tcp(port, 80, 0x18, 1, 1, payload)));
}

}  // namespace

TEST_SUITE("analysis.capture") {
  TEST_CASE("classic pcap: refs are record offsets and PacketAt finds the same packets") {
    PcapBuilder b;
    const std::uint64_t first = b.Add(1'500'000, Frame(1, 10));
    const std::uint64_t second = b.Add(2'000'001, Frame(2, 20), 1000);
    Status status;
    const auto seen = ReadAllPackets(b.data(), status);
    REQUIRE(status.ok());
    REQUIRE(seen.size() == 2);
    CHECK(seen[0].ref == PacketRef{7, first});
    CHECK(seen[1].ref == PacketRef{7, second});
    CHECK(seen[0].ts_us == 1'500'000);
    CHECK(seen[1].wire_len == 1000);
    CHECK(seen[1].link_type == 1);
    CheckPacketAtAgrees(b.data(), seen);
  }

  TEST_CASE("a loss record (a file header and no packets) reads as no packets, not as damage") {
    PcapBuilder b;
    REQUIRE(b.data().size() == 24);
    Status status;
    CHECK(ReadAllPackets(b.data(), status).empty());
    CHECK(status.ok());
  }

  TEST_CASE("classic pcap in big-endian byte order with nanoseconds") {
    std::string be;
    auto put32 = [&](std::uint32_t v) {
      for (int i = 3; i >= 0; --i) be.push_back(static_cast<char>(v >> (8 * i)));
    };
    put32(0xa1b23c4d);
    be += std::string("\0\x02\0\x04", 4);
    put32(0);
    put32(0);
    put32(65535);
    put32(1);
    const Bytes frame = Frame(3, 5);
    put32(100);
    put32(123'456'789);
    put32(static_cast<std::uint32_t>(frame.size()));
    put32(static_cast<std::uint32_t>(frame.size()));
    be.append(reinterpret_cast<const char*>(frame.data()), frame.size());
    Status status;
    const auto seen = ReadAllPackets(be, status);
    REQUIRE(status.ok());
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].ts_us == 100'123'456);
    CHECK(seen[0].ref.offset == 24);
    CheckPacketAtAgrees(be, seen);
  }

  TEST_CASE("pcapng: PacketAt walks to the packet block at the reported offset") {
    PcapngBuilder b;
    b.Add(1'000'000'123'456'789ull, Frame(1, 3));
    b.AddStatistics();
    b.Add(1'000'000'223'456'789ull, Frame(2, 9), 500);
    Status status;
    const auto seen = ReadAllPackets(b.data(), status);
    REQUIRE_MESSAGE(status.ok(), status.ToString());
    REQUIRE(seen.size() == 2);
    CHECK(seen[0].ts_us == 1'000'000'123'456);
    CHECK(seen[1].wire_len == 500);
    CheckPacketAtAgrees(b.data(), seen);
  }

  TEST_CASE("a damaged capture feeds the packets before the damage and names the offset") {
    PcapBuilder b;
    b.Add(1, Frame(1, 10));
    const std::uint64_t second = b.Add(2, Frame(2, 20));
    const std::string cut = b.data().substr(0, b.data().size() - 5);
    Status status;
    const auto seen = ReadAllPackets(cut, status);
    CHECK(seen.size() == 1);
    CHECK_FALSE(status.ok());
    CHECK(status.message().find("byte " + std::to_string(second)) != std::string::npos);
    CHECK_FALSE(ReadAllPackets("", status).size());
    CHECK_FALSE(status.ok());
    CHECK_FALSE(ReadAllPackets("not a capture at all, just text", status).size());
    CHECK_FALSE(status.ok());
    RawPacket p;
    CHECK_FALSE(PacketAt(cut, second, p).ok());
    CHECK_FALSE(PacketAt(cut, 1u << 30, p).ok());
    CHECK_FALSE(PacketAt(cut, 3, p).ok());
  }

  TEST_CASE("hostile captures: every truncation and random byte flips never crash the analyser") {
    std::vector<std::string> captures;
    PcapBuilder b;
    Ip v6;
    v6.src = "2001:db8::1";
    v6.dst = "2001:db8::2";
    for (int i = 0; i < 6; ++i) {
      b.Add(i * 1000, Frame(static_cast<std::uint16_t>(1 + i % 3), static_cast<std::size_t>(10 * i)));
      b.Add(i * 1000 + 1, Ethernet(Ipv6(v6, Tcp(5, 6, 0x02, 0, 0, 4)), {0x8100}, true));
    }
    captures.push_back(b.data());
    PcapngBuilder ng;
    ng.Add(1, Frame(1, 4));
    ng.AddStatistics();
    ng.Add(2, Frame(2, 8));
    captures.push_back(ng.data());
    for (const auto& path : SharedCaptures()) {
      if (path.filename() == "arkime-http-simple-get.pcap" || path.filename() == "communityid-icmp6.pcap") {
        captures.push_back(ReadFile(path));
      }
    }
    std::mt19937 random(7);
    AnalyzerOptions o;  // labels on: nDPI sees the damaged bytes too
    Analyzer analyzer(o, [](Session&&) {});
    std::size_t fed = 0;
    auto run = [&](const std::string& capture) {
      Status status = ReadCaptureBytes(capture, 0, [&](const RawPacket& p) {
        analyzer.Feed(p);
        ++fed;
        RawPacket at;
        if (PacketAt(capture, p.ref.offset, at).ok()) analyzer.Feed(at);
      });
      (void)status;
      for (std::uint64_t offset : {std::uint64_t{0}, std::uint64_t{24}, std::uint64_t{capture.size() / 2}}) {
        RawPacket at;
        (void)PacketAt(capture, offset, at);
      }
    };
    for (const std::string& capture : captures) {
      for (std::size_t n = 0; n <= capture.size(); ++n) run(capture.substr(0, n));
      for (int round = 0; round < 300; ++round) {
        std::string damaged = capture;
        for (int f = 0; f < 3; ++f) damaged[random() % damaged.size()] ^= static_cast<char>(1 + random() % 255);
        run(damaged);
      }
    }
    analyzer.CloseAll(EndReason::kEndOfData);
    CHECK(fed > 0);
    CHECK(analyzer.stats().open_flows == 0);
  }
}

}  // namespace picket::analysis
