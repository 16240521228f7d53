// `picket sessions`: which form a command line picks, and the offline form's
// flags (values, ranges, the errors that name them).
#include "cli/sessions_command.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace picket::cli {
namespace {

struct Args {
  explicit Args(std::vector<std::string> a) : storage(std::move(a)) {
    for (auto& s : storage) argv.push_back(s.data());
  }
  std::vector<std::string> storage;
  std::vector<char*> argv;
};

SessionsForm Form(std::vector<std::string> a) {
  Args args(std::move(a));
  return PickSessionsForm(args.argv);
}

Result<SessionsReadOptions> Parse(std::vector<std::string> a) {
  Args args(std::move(a));
  return ParseSessionsReadOptions(args.argv);
}

std::string ErrorOf(std::vector<std::string> a) {
  auto r = Parse(std::move(a));
  REQUIRE_FALSE(r.ok());
  return r.status().message();
}

TEST_CASE("PickSessionsForm: --read anywhere is offline, else show, pcap or the list") {
  CHECK(Form({"--read", "f.pcap"}) == SessionsForm::kRead);
  CHECK(Form({"--json", "--read=f.pcap"}) == SessionsForm::kRead);
  CHECK(Form({"show", "12", "--read", "x"}) == SessionsForm::kRead);
  CHECK(Form({"show", "12"}) == SessionsForm::kShow);
  CHECK(Form({"pcap", "12", "-o", "out.pcap"}) == SessionsForm::kPcap);
  CHECK(Form({}) == SessionsForm::kList);
  CHECK(Form({"--device", "gw-1", "--json"}) == SessionsForm::kList);
  // A flag value spelled like a subcommand is not one.
  CHECK(Form({"--app", "show"}) == SessionsForm::kList);
  CHECK(Form({"--reader", "x"}) == SessionsForm::kList);
}

TEST_CASE("ParseSessionsReadOptions: defaults are the analyser's") {
  auto o = Parse({"--read", "a.pcapng"});
  REQUIRE(o.ok());
  CHECK(o->file == "a.pcapng");
  CHECK_FALSE(o->json);
  CHECK_FALSE(o->with_packets);
  const analysis::AnalyzerOptions defaults;
  CHECK(o->analyzer.tcp_idle_us == defaults.tcp_idle_us);
  CHECK(o->analyzer.udp_idle_us == defaults.udp_idle_us);
  CHECK(o->analyzer.icmp_idle_us == defaults.icmp_idle_us);
  CHECK(o->analyzer.other_idle_us == defaults.other_idle_us);
  CHECK(o->analyzer.features_packets == 0);
  CHECK(o->analyzer.label);
  CHECK(o->analyzer.refs_in_session);
}

TEST_CASE("ParseSessionsReadOptions: every flag reaches its option") {
  auto o = Parse({"--read=-", "--json", "--packets", "--features", "8", "--no-labels", "--tcp-idle",
                  "10m", "--udp-idle=90s", "--icmp-idle", "5s", "--other-idle", "150ms"});
  REQUIRE(o.ok());
  CHECK(o->file == "-");
  CHECK(o->json);
  CHECK(o->with_packets);
  CHECK(o->analyzer.features_packets == 8);
  CHECK_FALSE(o->analyzer.label);
  CHECK(o->analyzer.tcp_idle_us == 600'000'000);
  CHECK(o->analyzer.udp_idle_us == 90'000'000);
  CHECK(o->analyzer.icmp_idle_us == 5'000'000);
  CHECK(o->analyzer.other_idle_us == 150'000);
}

TEST_CASE("ParseSessionsReadOptions: errors name the flag and its value") {
  CHECK(ErrorOf({"--read"}).find("--read") != std::string::npos);
  CHECK(ErrorOf({"--read", ""}).find("--read") != std::string::npos);
  CHECK(ErrorOf({"--read", "f", "--bogus"}).find("--bogus") != std::string::npos);
  CHECK(ErrorOf({"--read", "f", "extra"}).find("extra") != std::string::npos);

  for (const char* bad : {"0", "-1", "x", "8x", "10001", "99999999999999999999", ""}) {
    CAPTURE(bad);
    const std::string e = ErrorOf({"--read", "f", "--json", "--features", bad});
    CHECK(e.find("--features '" + std::string(bad) + "'") != std::string::npos);
  }
  CHECK(Parse({"--read", "f", "--json", "--features", "10000"}).ok());

  for (const char* flag : {"--tcp-idle", "--udp-idle", "--icmp-idle", "--other-idle"}) {
    for (const char* bad : {"60", "0s", "-5s", "abc", "8d"}) {
      CAPTURE(flag);
      CAPTURE(bad);
      const std::string e = ErrorOf({"--read", "f", flag, bad});
      CHECK(e.find(std::string(flag) + " '" + bad + "'") != std::string::npos);
    }
  }
}

TEST_CASE("ParseSessionsReadOptions: --packets and --features need --json") {
  CHECK(ErrorOf({"--read", "f", "--packets"}).find("--packets needs --json") != std::string::npos);
  CHECK(ErrorOf({"--read", "f", "--features", "4"}).find("--features needs --json") !=
        std::string::npos);
}

}  // namespace
}  // namespace picket::cli
