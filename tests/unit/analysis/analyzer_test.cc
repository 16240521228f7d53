#include "picket/analysis/analyzer.h"

#include <doctest/doctest.h>

#include <deque>

#include "analysis/packet_decoder.h"
#include "frames.h"

namespace picket::analysis {
using namespace testing;

namespace {

constexpr std::int64_t kSecond = 1'000'000;

// Feeds frames built by the test; keeps them alive for the analyser's spans.
struct Harness {
  explicit Harness(AnalyzerOptions options = NoLabels())
      : analyzer(options, [this](Session&& s) { sessions.push_back(std::move(s)); }) {}
  static AnalyzerOptions NoLabels() {
    AnalyzerOptions o;
    o.label = false;
    return o;
  }
  void Tcp4(std::int64_t ts, bool client, std::uint8_t flags, std::uint32_t seq = 0,
            std::size_t payload = 0, std::uint16_t client_port = 40000) {
    Ip ip;
    if (!client) std::swap(ip.src, ip.dst);
    const std::uint16_t sport = client ? client_port : 80, dport = client ? 80 : client_port;
    Feed(ts, Ethernet(Ipv4(ip, Tcp(sport, dport, flags, seq, 0, payload))));
  }
  void Udp4(std::int64_t ts, bool client, std::size_t payload = 10, std::uint16_t client_port = 5000) {
    Ip ip;
    ip.proto = kProtoUdp;
    if (!client) std::swap(ip.src, ip.dst);
    Feed(ts, Ethernet(Ipv4(ip, client ? Udp(client_port, 53, payload) : Udp(53, client_port, payload))));
  }
  void Feed(std::int64_t ts, Bytes frame, std::uint32_t wire_len = 0) {
    frames.push_back(std::move(frame));
    analyzer.Feed(Raw(frames.back(), ts, 1, wire_len, ++offset));
  }
  void Close() { analyzer.CloseAll(EndReason::kEndOfData); }

  std::deque<Bytes> frames;
  std::vector<Session> sessions;
  std::uint64_t offset = 0;
  Analyzer analyzer;
};

// A full connection: handshake, data both ways, FIN both ways, the last ACK.
void FullConnection(Harness& h, std::int64_t t0, std::uint16_t port = 40000) {
  h.Tcp4(t0, true, kTcpSyn, 100, 0, port);
  h.Tcp4(t0 + 1000, false, kTcpSyn | kTcpAck, 500, 0, port);
  h.Tcp4(t0 + 2000, true, kTcpAck, 101, 0, port);
  h.Tcp4(t0 + 3000, true, kTcpAck | kTcpPsh, 101, 20, port);
  h.Tcp4(t0 + 4000, false, kTcpAck | kTcpPsh, 501, 300, port);
  h.Tcp4(t0 + 5000, true, kTcpFin | kTcpAck, 121, 0, port);
  h.Tcp4(t0 + 6000, false, kTcpFin | kTcpAck, 801, 0, port);
  h.Tcp4(t0 + 7000, true, kTcpAck, 122, 0, port);
}

}  // namespace

TEST_SUITE("analysis.analyzer") {
  TEST_CASE("a full TCP connection: SF, Zeek history, counters, one uid from 1") {
    Harness h;
    FullConnection(h, 10 * kSecond);
    CHECK(h.sessions.empty());  // lingering 5 s
    h.Close();
    REQUIRE(h.sessions.size() == 1);
    const Session& s = h.sessions[0];
    CHECK(s.uid == 1);
    CHECK(s.src_ip == "10.0.0.1");
    CHECK(s.src_port == 40000);
    CHECK(s.dst_ip == "10.0.0.2");
    CHECK(s.dst_port == 80);
    CHECK(s.orig_pkts == 5);
    CHECK(s.resp_pkts == 3);
    CHECK(s.orig_payload_bytes == 20);
    CHECK(s.resp_payload_bytes == 300);
    CHECK(s.orig_bytes == 5 * 54 + 20);
    CHECK(s.state == "SF");
    CHECK(s.history == "ShADdFf");  // the responder never sent a pure ACK
    CHECK(s.end_reason == EndReason::kFin);
    CHECK(s.first_ts_us == 10 * kSecond);
    CHECK(s.last_ts_us == 10 * kSecond + 7000);
    CHECK(s.packets.size() == 8);
    CHECK(s.community_id.rfind("1:", 0) == 0);
    CHECK(s.app.empty());  // labels off
  }

  TEST_CASE("the linger keeps trailing packets, then the session ends on packet time") {
    Harness h;
    FullConnection(h, 10 * kSecond);
    h.Tcp4(14 * kSecond, false, kTcpFin | kTcpAck, 801);  // retransmitted FIN within 5 s
    CHECK(h.sessions.empty());
    h.Udp4(20 * kSecond, true);  // another flow moves the clock past the linger
    REQUIRE(h.sessions.size() == 1);
    CHECK(h.sessions[0].resp_pkts == 4);
    CHECK(h.sessions[0].end_reason == EndReason::kFin);
  }

  TEST_CASE("connection states: S0, REJ, RSTO, RSTR, RSTOS0, OTH, SH") {
    auto run = [](auto&& feed) {
      Harness h;
      feed(h);
      h.Close();
      REQUIRE(h.sessions.size() == 1);
      return h.sessions[0];
    };
    Session s = run([](Harness& h) { h.Tcp4(kSecond, true, kTcpSyn, 1); });
    CHECK(s.state == "S0");
    CHECK(s.history == "S");
    CHECK(s.end_reason == EndReason::kEndOfData);

    s = run([](Harness& h) {
      h.Tcp4(kSecond, true, kTcpSyn, 1);
      h.Tcp4(kSecond + 10, false, kTcpRst | kTcpAck, 0);
    });
    CHECK(s.state == "REJ");
    CHECK(s.history == "Sr");
    CHECK(s.end_reason == EndReason::kRst);

    s = run([](Harness& h) {
      h.Tcp4(kSecond, true, kTcpSyn, 1);
      h.Tcp4(kSecond + 10, false, kTcpSyn | kTcpAck, 9);
      h.Tcp4(kSecond + 20, true, kTcpAck, 2);
      h.Tcp4(kSecond + 30, true, kTcpRst, 2);
    });
    CHECK(s.state == "RSTO");
    CHECK(s.history == "ShAR");

    s = run([](Harness& h) {
      h.Tcp4(kSecond, true, kTcpSyn, 1);
      h.Tcp4(kSecond + 10, false, kTcpSyn | kTcpAck, 9);
      h.Tcp4(kSecond + 20, true, kTcpAck, 2);
      h.Tcp4(kSecond + 30, false, kTcpRst | kTcpAck, 10);
    });
    CHECK(s.state == "RSTR");

    s = run([](Harness& h) {
      h.Tcp4(kSecond, true, kTcpSyn, 1);
      h.Tcp4(kSecond + 30, true, kTcpRst, 2);
    });
    CHECK(s.state == "RSTOS0");

    s = run([](Harness& h) {
      h.Tcp4(kSecond, true, kTcpAck | kTcpPsh, 1000, 50);
      h.Tcp4(kSecond + 10, false, kTcpAck, 5000);
    });
    CHECK(s.state == "OTH");
    CHECK(s.history == "Da");

    s = run([](Harness& h) {
      h.Tcp4(kSecond, true, kTcpSyn, 1);
      h.Tcp4(kSecond + 10, true, kTcpFin | kTcpAck, 2);
    });
    CHECK(s.state == "SH");
  }

  TEST_CASE("a capture that starts at the SYN-ACK: the originator is flipped (^)") {
    Harness h;
    h.Tcp4(kSecond, false, kTcpSyn | kTcpAck, 500);
    h.Tcp4(kSecond + 10, true, kTcpAck, 101);
    h.Tcp4(kSecond + 20, true, kTcpAck | kTcpPsh, 101, 30);
    h.Close();
    REQUIRE(h.sessions.size() == 1);
    const Session& s = h.sessions[0];
    CHECK(s.src_ip == "10.0.0.1");
    CHECK(s.src_port == 40000);
    CHECK(s.orig_pkts == 2);
    CHECK(s.resp_pkts == 1);
    CHECK(s.history == "^hAD");
    CHECK(s.state == "S1");
  }

  TEST_CASE("retransmitted payload and zero windows show as T/t and W/w") {
    Harness h;
    h.Tcp4(kSecond, true, kTcpAck | kTcpPsh, 1000, 50);
    h.Tcp4(kSecond + 10, true, kTcpAck | kTcpPsh, 1000, 50);
    h.Close();
    REQUIRE(h.sessions.size() == 1);
    CHECK(h.sessions[0].history == "DT");
  }

  TEST_CASE("port reuse: a new SYN after FIN or RST starts a new session, a retransmitted SYN does not") {
    Harness h;
    FullConnection(h, 10 * kSecond);
    h.Tcp4(11 * kSecond, true, kTcpSyn, 9000);  // new ISN within the linger
    h.Tcp4(11 * kSecond + 10, true, kTcpSyn, 9000);  // its retransmission
    h.Close();
    REQUIRE(h.sessions.size() == 2);
    CHECK(h.sessions[0].end_reason == EndReason::kFin);
    CHECK(h.sessions[0].orig_pkts == 5);
    CHECK(h.sessions[1].uid == 2);
    CHECK(h.sessions[1].orig_pkts == 2);
    CHECK(h.sessions[1].state == "S0");
    CHECK(h.sessions[1].community_id == h.sessions[0].community_id);
  }

  TEST_CASE("a new SYN on an established session without FIN ends it as reused") {
    Harness h;
    h.Tcp4(kSecond, true, kTcpSyn, 1);
    h.Tcp4(kSecond + 10, false, kTcpSyn | kTcpAck, 9);
    h.Tcp4(kSecond + 20, true, kTcpAck, 2);
    h.Tcp4(2 * kSecond, true, kTcpSyn, 777);
    h.Close();
    REQUIRE(h.sessions.size() == 2);
    CHECK(h.sessions[0].end_reason == EndReason::kReused);
    CHECK(h.sessions[1].end_reason == EndReason::kEndOfData);
  }

  TEST_CASE("idle timers run on packet time: UDP splits after 60 s, not at 60 s") {
    Harness h;
    h.Udp4(0, true);
    h.Udp4(60 * kSecond, false);  // exactly 60 s: same session
    h.Udp4(120 * kSecond + 1, true);  // 60 s and 1 µs later: a new one
    h.Close();
    REQUIRE(h.sessions.size() == 2);
    CHECK(h.sessions[0].end_reason == EndReason::kIdle);
    CHECK(h.sessions[0].orig_pkts == 1);
    CHECK(h.sessions[0].resp_pkts == 1);
    CHECK(h.sessions[0].state == "SF");
    CHECK(h.sessions[0].history == "Dd");
    CHECK(h.sessions[1].orig_pkts == 1);
    CHECK(h.sessions[1].state == "S0");
  }

  TEST_CASE("configured idle timeouts per protocol") {
    AnalyzerOptions o = Harness::NoLabels();
    o.udp_idle_us = 5 * kSecond;
    o.tcp_idle_us = 50 * kSecond;
    Harness h(o);
    h.Tcp4(0, true, kTcpAck, 1, 10);
    h.Udp4(0, true);
    h.Udp4(10 * kSecond, true, 10, 6000);
    CHECK(h.sessions.size() == 1);  // the first UDP flow only
    CHECK(h.sessions[0].proto == kProtoUdp);
    h.Udp4(51 * kSecond, true, 10, 7000);
    CHECK(h.sessions.size() == 3);  // the TCP flow and the second UDP flow
  }

  TEST_CASE("max_open_flows: the least recently active flow ends with resources") {
    AnalyzerOptions o = Harness::NoLabels();
    o.max_open_flows = 2;
    Harness h(o);
    h.Udp4(1, true, 10, 1000);
    h.Udp4(2, true, 10, 2000);
    h.Udp4(3, true, 10, 1000);  // 1000 is now more recent than 2000
    h.Udp4(4, true, 10, 3000);
    REQUIRE(h.sessions.size() == 1);
    CHECK(h.sessions[0].src_port == 2000);
    CHECK(h.sessions[0].end_reason == EndReason::kResources);
    CHECK(h.analyzer.stats().open_flows == 2);
    CHECK(h.analyzer.stats().peak_open_flows == 2);
  }

  TEST_CASE("features: the first N packets' direction, lengths, gaps and flags") {
    AnalyzerOptions o = Harness::NoLabels();
    o.features_packets = 3;
    Harness h(o);
    FullConnection(h, kSecond);
    h.Close();
    REQUIRE(h.sessions.size() == 1);
    const auto& f = h.sessions[0].features;
    REQUIRE(f.size() == 3);
    CHECK(f[0].from_originator);
    CHECK_FALSE(f[1].from_originator);
    CHECK(f[0].iat_us == 0);
    CHECK(f[1].iat_us == 1000);
    CHECK(f[0].tcp_flags == kTcpSyn);
    CHECK(f[1].wire_len == 54);
    CHECK(f[2].payload_len == 0);
  }

  TEST_CASE("bytes are wire lengths, also for packets cut by the snaplen") {
    Harness h;
    Ip ip;
    const Bytes full = Ethernet(Ipv4(ip, Tcp(1, 2, kTcpAck, 5, 0, 1400)));
    h.Feed(kSecond, Bytes(full.begin(), full.begin() + 96), static_cast<std::uint32_t>(full.size()));
    h.Close();
    REQUIRE(h.sessions.size() == 1);
    CHECK(h.sessions[0].orig_bytes == full.size());
    CHECK(h.sessions[0].orig_payload_bytes == 1400);
  }

  TEST_CASE("fragments: later pieces join their first fragment's flow, orphans go to ports 0") {
    Harness h;
    Ip ip;
    ip.proto = kProtoUdp;
    ip.id = 5;
    ip.more_fragments = true;
    h.Feed(kSecond, Ethernet(Ipv4(ip, Udp(1000, 2000, 100))));
    ip.more_fragments = false;
    ip.fragment_offset = 14;
    h.Feed(kSecond + 1, Ethernet(Ipv4(ip, Bytes(50, 'f'))));
    ip.id = 6;  // its first fragment never came
    h.Feed(kSecond + 2, Ethernet(Ipv4(ip, Bytes(50, 'f'))));
    h.Close();
    REQUIRE(h.sessions.size() == 2);
    CHECK(h.sessions[0].src_port == 1000);
    CHECK(h.sessions[0].orig_pkts == 2);
    CHECK(h.sessions[0].orig_payload_bytes == 150);
    CHECK(h.sessions[1].src_port == 0);
    CHECK(h.sessions[1].dst_port == 0);
    CHECK(h.analyzer.stats().fragments == 3);
  }

  TEST_CASE("refs outside the session: TakePacketRefs hands them out per session uid") {
    AnalyzerOptions o = Harness::NoLabels();
    o.refs_in_session = false;
    Harness h(o);
    h.Udp4(1, true, 10, 1000);
    h.Udp4(2, true, 10, 2000);
    h.Udp4(3, false, 10, 1000);
    auto refs = h.analyzer.TakePacketRefs();
    REQUIRE(refs.size() == 2);
    CHECK(refs[0].uid == 1);
    CHECK(refs[0].refs.size() == 2);
    CHECK(refs[0].refs[1].offset == 3);
    CHECK(refs[1].uid == 2);
    CHECK(h.analyzer.TakePacketRefs().empty());
    h.Udp4(4, true, 10, 2000);
    h.Close();
    REQUIRE(h.sessions.size() == 2);
    CHECK(h.sessions[0].packets.empty());
    refs = h.analyzer.TakePacketRefs();
    REQUIRE(refs.size() == 1);
    CHECK(refs[0].uid == 2);
    CHECK(refs[0].refs.size() == 1);
  }

  TEST_CASE("not-IP and undecodable frames are counted, in no session") {
    Harness h;
    h.Feed(1, Bytes{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x06, 0, 1});
    h.Feed(2, Bytes{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45});
    h.Close();
    CHECK(h.sessions.empty());
    CHECK(h.analyzer.stats().not_ip == 1);
    CHECK(h.analyzer.stats().undecodable == 1);
    CHECK(h.analyzer.stats().packets == 2);
  }
}

}  // namespace picket::analysis
