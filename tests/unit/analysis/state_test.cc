#include <doctest/doctest.h>

#include <random>

#include "capture_files.h"
#include "frames.h"
#include "picket/analysis/analyzer.h"

namespace picket::analysis {
using namespace testing;

namespace {

std::vector<RawPacket> Packets(const std::string& capture) {
  // ReadCapture's spans live only during the callback: keep the packets as
  // PacketAt finds them in `capture` (which also checks that both agree).
  std::vector<RawPacket> packets;
  Status status = ReadCaptureBytes(capture, 0, [&](const RawPacket& p) {
    RawPacket at;
    REQUIRE(PacketAt(capture, p.ref.offset, at).ok());
    CHECK(at.ts_us == p.ts_us);
    CHECK(at.wire_len == p.wire_len);
    CHECK(at.link_type == p.link_type);
    CHECK(std::equal(at.data.begin(), at.data.end(), p.data.begin(), p.data.end()));
    at.ref = p.ref;
    packets.push_back(at);
  });
  REQUIRE_MESSAGE(status.ok(), status.ToString());
  return packets;
}

PacketFetcher FetcherFor(const std::string& capture) {
  return [&capture](const PacketRef& ref, std::string&, RawPacket& packet) {
    return PacketAt(capture, ref.offset, packet);
  };
}

std::vector<std::string> Uninterrupted(const std::vector<RawPacket>& packets, const AnalyzerOptions& o) {
  std::vector<std::string> out;
  Analyzer a(o, [&](Session&& s) { out.push_back(ToJson(s, true).dump()); });
  for (const RawPacket& p : packets) a.Feed(p);
  a.CloseAll(EndReason::kEndOfData);
  return out;
}

// Restores into a new Analyzer before every packet index in `cuts`.
std::vector<std::string> WithRestores(const std::vector<RawPacket>& packets, const AnalyzerOptions& o,
                                      const std::string& capture, const std::vector<std::size_t>& cuts) {
  std::vector<std::string> out;
  auto sink = [&](Session&& s) { out.push_back(ToJson(s, true).dump()); };
  auto analyzer = std::make_unique<Analyzer>(o, sink);
  std::size_t next_cut = 0;
  for (std::size_t i = 0; i < packets.size(); ++i) {
    if (next_cut < cuts.size() && cuts[next_cut] == i) {
      ++next_cut;
      const std::string blob = analyzer->SaveState();
      analyzer = std::make_unique<Analyzer>(o, sink);
      Status status = analyzer->RestoreState(blob, FetcherFor(capture));
      REQUIRE_MESSAGE(status.ok(), status.ToString());
    }
    analyzer->Feed(packets[i]);
  }
  analyzer->CloseAll(EndReason::kEndOfData);
  return out;
}

// A synthetic stream: interleaved TCP and UDP flows, an idle split, port reuse.
std::string SyntheticCapture() {
  PcapBuilder b;
  std::int64_t t = 1'000'000;
  for (int round = 0; round < 3; ++round) {
    for (std::uint16_t port = 1000; port < 1004; ++port) {
      Ip c, s;
      std::swap(s.src, s.dst);
      b.Add(t += 10, Ethernet(Ipv4(c, Tcp(port, 80, 0x02, 100, 0))));
      b.Add(t += 10, Ethernet(Ipv4(s, Tcp(80, port, 0x12, 500, 101))));
      b.Add(t += 10, Ethernet(Ipv4(c, Tcp(port, 80, 0x18, 101, 501, 30))));
      Ip u;
      u.proto = 17;
      b.Add(t += 10, Ethernet(Ipv4(u, Udp(port, 53, 20))));
      b.Add(t += 10, Ethernet(Ipv4(s, Tcp(80, port, 0x11, 501, 131))));
      b.Add(t += 10, Ethernet(Ipv4(c, Tcp(port, 80, 0x11, 131, 502))));
    }
    t += 70'000'000;  // UDP flows go idle
  }
  return b.data();
}

}  // namespace

TEST_SUITE("analysis.state") {
  TEST_CASE("restoring before every packet gives the uninterrupted run's sessions, labels included") {
    std::vector<std::pair<std::string, std::string>> captures = {{"synthetic", SyntheticCapture()}};
    for (const auto& path : SharedCaptures()) captures.emplace_back(path.filename().string(), ReadFile(path));
    if (captures.size() == 1) MESSAGE("shared captures absent: synthetic stream only");
    for (bool refs_in_session : {true, false}) {
      if (!refs_in_session) captures.resize(std::min<std::size_t>(captures.size(), 4));
      AnalyzerOptions o;
      o.features_packets = 4;
      o.refs_in_session = refs_in_session;
      for (const auto& [name, capture] : captures) {
        INFO(name << " refs_in_session=" << refs_in_session);
        const auto packets = Packets(capture);
        // Each restore builds a new nDPI module (tens of ms): real captures get
        // about 8 cuts spread over the file (the TLS case below cuts everywhere),
        // the synthetic one a cut before every packet.
        const std::size_t stride = name == "synthetic" ? 1 : std::max<std::size_t>(1, packets.size() / 8);
        std::vector<std::size_t> cuts;
        for (std::size_t i = 0; i < packets.size(); i += stride) cuts.push_back(i);
        const auto expected = Uninterrupted(packets, o);
        REQUIRE_FALSE(expected.empty());
        CHECK(WithRestores(packets, o, capture, cuts) == expected);
      }
    }
  }

  TEST_CASE("one cut anywhere in a TLS handshake split over segments keeps its label and name") {
    const std::filesystem::path path = std::filesystem::path(PICKET_TEST_PCAPS_DIR) / "arkime-tls-split-client-hello.pcap";
    if (!std::filesystem::exists(path)) {
      MESSAGE("skipped: " << path << " is absent");
      return;
    }
    const std::string capture = ReadFile(path);
    const auto packets = Packets(capture);
    AnalyzerOptions o;
    const auto expected = Uninterrupted(packets, o);
    for (std::size_t cut = 0; cut <= packets.size(); ++cut) {
      INFO("cut before packet " << cut);
      CHECK(WithRestores(packets, o, capture, {cut}) == expected);
    }
  }

  TEST_CASE("hostile state blobs: every truncation and random byte flips fail cleanly or restore") {
    const std::string capture = SyntheticCapture();
    const auto packets = Packets(capture);
    AnalyzerOptions o;
    o.label = false;
    o.features_packets = 2;
    Analyzer source(o, nullptr);
    for (std::size_t i = 0; i < packets.size() / 2; ++i) source.Feed(packets[i]);
    const std::string blob = source.SaveState();
    REQUIRE(source.stats().open_flows > 0);
    for (std::size_t n = 0; n < blob.size(); ++n) {
      Analyzer target(o, nullptr);
      CHECK_MESSAGE(!target.RestoreState(blob.substr(0, n), FetcherFor(capture)).ok(), n << " of " << blob.size());
      CHECK(target.stats().open_flows == 0);
    }
    std::mt19937 random(12);
    for (int round = 0; round < 2000; ++round) {
      std::string damaged = blob;
      const int flips = 1 + static_cast<int>(random() % 4);
      for (int f = 0; f < flips; ++f) damaged[random() % damaged.size()] ^= static_cast<char>(1 + random() % 255);
      std::vector<Session> sessions;
      Analyzer target(o, [&](Session&& s) { sessions.push_back(std::move(s)); });
      if (target.RestoreState(damaged, FetcherFor(capture)).ok()) {
        for (std::size_t i = packets.size() / 2; i < packets.size(); ++i) target.Feed(packets[i]);
        target.CloseAll(EndReason::kEndOfData);
      } else {
        CHECK(target.stats().open_flows == 0);
      }
    }
  }
}

}  // namespace picket::analysis
