// `picket logs --follow` against the real collector: a posted log line
// reaches every follower within 2 s, Last-Event-ID resumes, the follower
// limit answers 503, SIGTERM does not wait for open streams, and bad
// addresses fail with a message naming them.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "support/collector_process.h"
#include "support/http_client.h"

namespace picket::testing {

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const std::string kTokens =
    "gw-1 tok-gw-1-0123456789\n"
    "gw-2 tok-gw-2-0123456789\n"
    "@operator tok-operator-0123456789\n";

std::unique_ptr<CollectorProcess> StartCollector(std::vector<std::string> extra = {}) {
  auto c = CollectorProcess::Start({kTokens, std::move(extra)});
  if (!c.ok()) FAIL("collector did not start: " << c.status().ToString());
  return std::move(c).value();
}

// The CLI reads its addresses from a config file in the test's temp dir.
struct CliSetup {
  TempDir dir;
  std::string config;
  explicit CliSetup(const CollectorProcess& c) {
    const std::string token = dir.path() + "/operator.token";
    REQUIRE(WriteWholeFile(token, "tok-operator-0123456789\n").ok());
    config = dir.path() + "/cli.json";
    REQUIRE(
        WriteWholeFile(config, nlohmann::json{{"collector", c.url()}, {"token_file", token}}.dump())
            .ok());
    ::setenv("PICKET_CLI_CONFIG", config.c_str(), 1);
  }
  ~CliSetup() { ::unsetenv("PICKET_CLI_CONFIG"); }
};

struct Cli {
  std::optional<ChildProcess> process;
  std::string log_path;
  std::string Output() const {
    auto text = ReadWholeFile(log_path);
    return text.ok() ? *text : std::string();
  }
  bool Printed(std::string_view part) const { return Output().find(part) != std::string::npos; }
};

Cli RunCli(const std::string& dir, const std::string& name, std::vector<std::string> args) {
  Cli cli;
  cli.log_path = dir + "/" + name + ".log";
  args.insert(args.begin(), PicketBinary());
  auto child = ChildProcess::Spawn(args, cli.log_path);
  REQUIRE_MESSAGE(child.ok(), child.status().ToString());
  cli.process.emplace(std::move(*child));
  return cli;
}

// Starts a follower and waits until its stream is open.
Cli StartFollower(const std::string& dir, const std::string& name, const CollectorProcess& c) {
  Cli cli = RunCli(dir, name, {"logs", "--device", "gw-1", "-f"});
  bool connected = WaitFor([&] { return cli.Printed("following device gw-1"); }, After(10s));
  REQUIRE_MESSAGE(connected, name << " output:\n" << cli.Output() << "\ncollector:\n" << c.Log());
  return cli;
}

HttpResponse PostLogs(const CollectorProcess& c, const std::string& device, const std::string& key,
                      const std::string& body) {
  auto r = Perform({"POST",
                    c.url() + "/v1/devices/" + device + "/logs",
                    {"Authorization: Bearer tok-" + device + "-0123456789",
                     "Idempotency-Key: " + key, "Content-Type: application/x-ndjson"},
                    body});
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  return *r;
}

// A raw follower: sends the request and collects what arrives.
class RawStream {
 public:
  RawStream(std::uint16_t port, const std::string& request) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(request.size()));
  }
  ~RawStream() {
    if (fd_ >= 0) ::close(fd_);
  }
  // Reads until `part` has arrived (true) or the deadline passes or the peer closes.
  bool ReadUntil(std::string_view part, Deadline deadline) {
    while (received_.find(part) == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return received_.find(part) != std::string::npos;
      received_.append(buf, static_cast<std::size_t>(n));
    }
    return true;
  }
  const std::string& received() const { return received_; }

 private:
  int fd_ = -1;
  std::string received_;
};

std::string FollowRequest(const std::string& extra_headers) {
  return "GET /v1/logs?device=gw-1&follow=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
         "Authorization: Bearer tok-operator-0123456789\r\n" +
         extra_headers + "\r\n";
}

}  // namespace

TEST_SUITE("integration.logs_follow") {
  TEST_CASE(
      "picket logs -f prints a posted line within 2 s, on every follower, SIGTERM is prompt") {
    auto c = StartCollector();
    CliSetup setup(*c);
    Cli first = StartFollower(setup.dir.path(), "first", *c);
    Cli second = StartFollower(setup.dir.path(), "second", *c);

    const auto posted = Clock::now();
    auto r =
        PostLogs(*c, "gw-1", "batch-1",
                 "{\"level\":\"info\",\"component\":\"capture\",\"msg\":\"hello-from-gw-1\"}\n");
    REQUIRE(r.status == 200);
    std::optional<Clock::duration> first_at, second_at;
    bool both = WaitFor(
        [&] {
          if (!first_at && first.Printed("gw-1 {") && first.Printed("hello-from-gw-1"))
            first_at = Clock::now() - posted;
          if (!second_at && second.Printed("hello-from-gw-1")) second_at = Clock::now() - posted;
          return first_at && second_at;
        },
        posted + 2s);
    CHECK_MESSAGE(both, "first:\n" << first.Output() << "\nsecond:\n" << second.Output());
    if (first_at && second_at) {
      MESSAGE("POST to printed: first follower "
              << std::chrono::duration_cast<std::chrono::microseconds>(*first_at).count()
              << " us, second "
              << std::chrono::duration_cast<std::chrono::microseconds>(*second_at).count()
              << " us (POST round trip included)");
    }
    // Another device's lines do not reach a gw-1 follower.
    REQUIRE(PostLogs(*c, "gw-2", "batch-1", "{\"msg\":\"from-gw-2\"}\n").status == 200);
    REQUIRE(PostLogs(*c, "gw-1", "batch-2", "{\"msg\":\"second-line\"}\n").status == 200);
    CHECK(WaitFor([&] { return first.Printed("second-line"); }, After(2s)));
    CHECK_FALSE(first.Printed("from-gw-2"));

    // SIGTERM with two followers connected: the collector exits 0 promptly.
    const auto term = Clock::now();
    REQUIRE(c->process().Signal(SIGTERM).ok());
    auto code = c->process().WaitForExit(After(5s));
    REQUIRE_MESSAGE(code.ok(), "collector still running 5 s after SIGTERM\n" << c->Log());
    CHECK(*code == 0);
    MESSAGE("collector exit after SIGTERM with 2 followers: "
            << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - term).count()
            << " ms");

    // The followers outlive it (they would reconnect) and exit 0 on SIGTERM/SIGINT.
    CHECK(first.process->running());
    REQUIRE(first.process->Signal(SIGTERM).ok());
    REQUIRE(second.process->Signal(SIGINT).ok());
    auto first_code = first.process->WaitForExit(After(5s));
    auto second_code = second.process->WaitForExit(After(5s));
    REQUIRE(first_code.ok());
    REQUIRE(second_code.ok());
    CHECK(*first_code == 0);
    CHECK(*second_code == 0);
  }

  TEST_CASE("stored lines first, Last-Event-ID resumes, new lines reach an open stream") {
    auto c = StartCollector();
    REQUIRE(PostLogs(*c, "gw-1", "a", "{\"msg\":\"one\"}\n{\"msg\":\"two\"}\n").status == 200);
    RawStream all(c->port(), FollowRequest(""));
    REQUIRE(all.ReadUntil("\"two\"", After(5s)));
    CHECK(all.received().find("HTTP/1.1 200") == 0);
    CHECK(all.received().find("text/event-stream") != std::string::npos);
    CHECK(all.received().find("id: 1\ndata: {") != std::string::npos);

    RawStream resumed(c->port(), FollowRequest("Last-Event-ID: 1\r\n"));
    REQUIRE(resumed.ReadUntil("id: 2\n", After(5s)));
    CHECK(resumed.received().find("\"one\"") == std::string::npos);
    // A new line reaches the open stream.
    REQUIRE(PostLogs(*c, "gw-1", "b", "{\"msg\":\"three\"}\n").status == 200);
    CHECK(resumed.ReadUntil("id: 3\n", After(2s)));

    // Without follow=1 the endpoint still answers a JSON array.
    auto plain = Perform({"GET",
                          c->url() + "/v1/logs?device=gw-1",
                          {"Authorization: Bearer tok-operator-0123456789"},
                          ""});
    REQUIRE(plain.ok());
    CHECK(plain->Header("content-type") == "application/json");
    CHECK(nlohmann::json::parse(plain->body).size() == 3);
    // Reading needs the operator token, as for the listing.
    auto device_token = Perform({"GET",
                                 c->url() + "/v1/logs?device=gw-1&follow=1",
                                 {"Authorization: Bearer tok-gw-1-0123456789"},
                                 ""});
    REQUIRE(device_token.ok());
    CHECK(device_token->status == 403);
  }

  TEST_CASE("beyond --max-followers: 503 with Retry-After") {
    auto c = StartCollector({"--max-followers", "1"});
    RawStream holder(c->port(), FollowRequest(""));
    REQUIRE(holder.ReadUntil("text/event-stream", After(5s)));
    auto refused = Perform({"GET",
                            c->url() + "/v1/logs?device=gw-1&follow=1",
                            {"Authorization: Bearer tok-operator-0123456789"},
                            ""});
    REQUIRE(refused.ok());
    CHECK(refused->status == 503);
    CHECK_FALSE(refused->Header("retry-after").empty());
  }

  TEST_CASE("picket logs without -f prints stored lines, --json prints the rows") {
    auto c = StartCollector();
    CliSetup setup(*c);
    REQUIRE(PostLogs(*c, "gw-1", "a", "{\"msg\":\"stored-1\"}\n{\"msg\":\"stored-2\"}\n").status ==
            200);
    // -n 1: the newest line, as `journalctl -n 1` (and GET /v1/logs?tail=1).
    Cli plain = RunCli(setup.dir.path(), "plain", {"logs", "--device", "gw-1", "-n", "1"});
    auto code = plain.process->WaitForExit(After(10s));
    REQUIRE(code.ok());
    CHECK(*code == 0);
    CHECK(plain.Printed("gw-1 {\"msg\":\"stored-2\"}\n"));
    CHECK_FALSE(plain.Printed("stored-1"));
    Cli json = RunCli(setup.dir.path(), "json", {"logs", "--device", "gw-1", "--json"});
    code = json.process->WaitForExit(After(10s));
    REQUIRE(code.ok());
    CHECK(*code == 0);
    CHECK(json.Printed("\"device\":\"gw-1\""));
    CHECK(json.Printed("stored-2"));
  }

  TEST_CASE("picket logs: --level filters, an unknown device exits 1 naming it, tail=0 is a 400") {
    auto c = StartCollector();
    CliSetup setup(*c);
    REQUIRE(PostLogs(*c, "gw-1", "b",
                     "{\"line\":\"2026-12-03T10:00:00.000Z WARN supervisor disk low\"}\n"
                     "{\"line\":\"2026-12-03T10:00:01.000Z INFO supervisor config applied\"}\n"
                     "{\"line\":\"raw worker output\"}\n")
                .status == 200);
    Cli warn = RunCli(setup.dir.path(), "warn", {"logs", "--device", "gw-1", "--level", "warn"});
    auto code = warn.process->WaitForExit(After(10s));
    REQUIRE(code.ok());
    CHECK(*code == 0);
    CHECK(warn.Printed("disk low"));
    CHECK(warn.Printed("raw worker output"));  // no level word: never filtered
    CHECK_FALSE(warn.Printed("config applied"));
    Cli unknown = RunCli(setup.dir.path(), "unknown", {"logs", "--device", "gw-404"});
    code = unknown.process->WaitForExit(After(10s));
    REQUIRE(code.ok());
    CHECK(*code == 1);
    CHECK(unknown.Printed("has no device 'gw-404'"));
    auto bad = Perform({"GET", c->url() + "/v1/logs?device=gw-1&tail=0",
                        {"Authorization: Bearer tok-operator-0123456789"}, ""});
    REQUIRE(bad.ok());
    CHECK(bad->status == 400);
    CHECK(bad->body.find("'tail'") != std::string::npos);
    auto newest = Perform({"GET", c->url() + "/v1/logs?device=gw-1&tail=2",
                           {"Authorization: Bearer tok-operator-0123456789"}, ""});
    REQUIRE(newest.ok());
    auto rows = nlohmann::json::parse(newest->body);
    REQUIRE(rows.size() == 2);
    CHECK(rows[0]["line"]["line"] == "2026-12-03T10:00:01.000Z INFO supervisor config applied");
    CHECK(rows[1]["line"]["line"] == "raw worker output");
  }

  TEST_CASE("a bad --collector URL or an unreachable collector: non-zero, naming it") {
    TempDir dir;
    ::setenv("PICKET_CLI_CONFIG", (dir.path() + "/absent.json").c_str(), 1);
    Cli missing_config = RunCli(dir.path(), "missing", {"logs", "--device", "gw-1"});
    auto code = missing_config.process->WaitForExit(After(10s));
    REQUIRE(code.ok());
    CHECK(*code != 0);
    CHECK(missing_config.Printed("absent.json"));
    ::unsetenv("PICKET_CLI_CONFIG");

    Cli bad = RunCli(dir.path(), "bad",
                     {"logs", "--device", "gw-1", "-f", "--collector", "htp://127.0.0.1:8750"});
    code = bad.process->WaitForExit(After(10s));
    REQUIRE(code.ok());
    CHECK(*code == 2);
    CHECK(bad.Printed("--collector 'htp://127.0.0.1:8750'"));

    // Port 1 on loopback: nothing listens there.
    Cli refused = RunCli(dir.path(), "refused",
                         {"logs", "--device", "gw-1", "-f", "--collector", "http://127.0.0.1:1"});
    code = refused.process->WaitForExit(After(15s));
    REQUIRE(code.ok());
    CHECK(*code == 1);
    CHECK(refused.Printed("http://127.0.0.1:1"));
  }
}

}  // namespace picket::testing
