#include <doctest/doctest.h>

#include <filesystem>

#include "capture_files.h"
#include "picket/analysis/analyzer.h"

namespace picket::analysis {
using namespace testing;

namespace {

std::vector<Session> SessionsOf(const std::string& name) {
  std::vector<Session> sessions;
  const auto path = std::filesystem::path(PICKET_TEST_PCAPS_DIR) / name;
  if (!std::filesystem::exists(path)) return sessions;
  const std::string capture = ReadFile(path);
  Analyzer analyzer(AnalyzerOptions{}, [&](Session&& s) { sessions.push_back(std::move(s)); });
  Status status = ReadCaptureBytes(capture, 0, [&](const RawPacket& p) { analyzer.Feed(p); });
  REQUIRE_MESSAGE(status.ok(), status.ToString());
  analyzer.CloseAll(EndReason::kEndOfData);
  return sessions;
}

}  // namespace

// The values ndpiReader 4.2 (Debian libndpi-bin) prints for the same flows.
TEST_SUITE("analysis.labels") {
  TEST_CASE("nDPI labels on real captures: app, category, risks, score, server name") {
    auto imap = SessionsOf("arkime-imap.pcap");
    if (imap.empty()) {
      MESSAGE("skipped: shared captures absent");
      return;
    }
    REQUIRE(imap.size() == 6);
    CHECK(imap[0].app == "IMAP");
    CHECK(imap[0].category == "Email");
    CHECK(imap[0].risks == std::vector<std::string>{"Unsafe Protocol", "Clear-Text Credentials"});
    CHECK(imap[0].risk_score == 110);
    CHECK(imap[0].state == "SF");
    CHECK(imap[1].app == "Unknown");
    CHECK(imap[2].app == "DCE_RPC");
    CHECK(imap[2].risk_score == 50);

    auto tls = SessionsOf("arkime-openssl-tls1_2.pcap");
    REQUIRE(tls.size() == 1);
    CHECK(tls[0].app == "TLS.Google");
    CHECK(tls[0].risk_score == 60);

    auto dns = SessionsOf("arkime-dns-udp.pcap");
    REQUIRE(dns.size() == 3);
    CHECK(dns[0].app == "DNS.Github");
    CHECK(dns[0].server_name == "www.github.com");
    CHECK(dns[2].app == "MDNS");

    auto http = SessionsOf("arkime-http-simple-get.pcap");
    REQUIRE(http.size() == 1);
    CHECK(http[0].app == "HTTP");
    CHECK(http[0].category == "Web");
    CHECK(http[0].server_name == "xxxxxxxxxxxxx.xxx.com");
  }
}

}  // namespace picket::analysis
