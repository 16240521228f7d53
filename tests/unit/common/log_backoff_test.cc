#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "picket/common/backoff.h"
#include "picket/common/c_handle.h"
#include "picket/common/log.h"

namespace picket {

namespace {

struct Captured {
  std::vector<std::string> lines;
};

void Collect(std::string_view line, void* context) {
  static_cast<Captured*>(context)->lines.emplace_back(line);
}

// Routes log lines to a vector for the test's lifetime, stderr off.
class LogCapture {
 public:
  LogCapture() {
    log::EnableStderr(false);
    log::SetLineObserver(&Collect, &captured_);
  }
  ~LogCapture() {
    log::SetLineObserver(nullptr, nullptr);
    log::EnableStderr(true);
    log::SetLevel(log::Level::kInfo);
  }
  const std::vector<std::string>& lines() const { return captured_.lines; }

 private:
  Captured captured_;
};

struct TestThing {};
int g_things_freed = 0;
void FreeTestThing(TestThing* t) {
  ++g_things_freed;
  delete t;
}

int g_formatted = 0;
int Expensive() {
  ++g_formatted;
  return 7;
}

}  // namespace

TEST_SUITE("common.log") {
  TEST_CASE("one line: timestamp, level, component, message, key=value fields") {
    std::string line = log::FormatLine(1'700'000'000'123, log::Level::kWarn, "upload",
                                       "retrying chunk", {{"seq", 42}, {"url", "http://c:8750"},
                                                          {"why", "connection refused"},
                                                          {"ok", false}});
    CHECK(line ==
          "2023-11-14T22:13:20.123Z WARN upload retrying chunk seq=42 url=http://c:8750 "
          "why=\"connection refused\" ok=false");
  }

  TEST_CASE("newlines and quotes cannot split or forge a line") {
    std::string line = log::FormatLine(0, log::Level::kInfo, "zk", "bad\nmessage",
                                       {{"path", "a\"b\nc"}, {"empty", ""}});
    CHECK(line.find('\n') == std::string::npos);
    CHECK(line.find("bad\\nmessage") != std::string::npos);
    CHECK(line.find("path=\"a\\\"b\\nc\"") != std::string::npos);
    CHECK(line.find("empty=\"\"") != std::string::npos);
  }

  TEST_CASE("the level is checked before any field is formatted") {
    LogCapture capture;
    log::SetLevel(log::Level::kInfo);
    g_formatted = 0;
    PICKET_LOG(kDebug, "capture", "per packet", {"n", Expensive()});
    CHECK(g_formatted == 0);
    CHECK(capture.lines().empty());
    PICKET_LOG(kInfo, "capture", "chunk sealed", {"n", Expensive()});
    CHECK(g_formatted == 1);
    REQUIRE(capture.lines().size() == 1);
    CHECK(capture.lines()[0].find(" INFO capture chunk sealed n=7") != std::string::npos);
  }

  TEST_CASE("level names parse and unknown ones are refused") {
    CHECK(*log::ParseLevel("trace") == log::Level::kTrace);
    CHECK(*log::ParseLevel("error") == log::Level::kError);
    auto bad = log::ParseLevel("loud");
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.status().message().find("'loud'") != std::string::npos);
  }

  TEST_CASE("the file sink rotates by size and keeps N files") {
    LogCapture capture;  // keeps stderr quiet
    char dir_template[] = "/tmp/picket-log-test-XXXXXX";
    REQUIRE(::mkdtemp(dir_template) != nullptr);
    const std::string base = std::string(dir_template) + "/picketd.log";
    REQUIRE(log::OpenFileSink({base, 300, 2}).ok());
    for (int i = 0; i < 40; ++i) PICKET_LOG(kInfo, "test", "line", {"i", i});
    log::CloseFileSink();
    auto size_of = [](const std::string& p) {
      std::ifstream f(p, std::ios::binary | std::ios::ate);
      return f ? static_cast<long>(f.tellg()) : -1L;
    };
    CHECK(size_of(base) > 0);
    CHECK(size_of(base) <= 300);
    CHECK(size_of(base + ".1") > 0);
    CHECK(size_of(base + ".2") > 0);
    CHECK(size_of(base + ".3") == -1);  // only keep_files rotated copies
    std::ifstream newest(base);
    std::string last, line;
    while (std::getline(newest, line)) last = line;
    CHECK(last.find("i=39") != std::string::npos);
    for (const char* suffix : {"", ".1", ".2"}) ::unlink((base + suffix).c_str());
    ::rmdir(dir_template);
  }

  TEST_CASE("opening an unwritable log file is an error naming the path") {
    Status st = log::OpenFileSink({"/nonexistent-dir/picketd.log", 1000, 1});
    CHECK(st.code() == StatusCode::kNotFound);
    CHECK(st.message().find("/nonexistent-dir/picketd.log") != std::string::npos);
    log::CloseFileSink();
  }
}

TEST_SUITE("common.backoff") {
  TEST_CASE("delays stay within [base, min(cap, base*2^n)] and reach the cap") {
    using std::chrono::milliseconds;
    JitteredBackoff b(milliseconds(100), milliseconds(5000), 42);
    std::int64_t ceiling = 100;
    for (int n = 0; n < 20; ++n) {
      auto d = b.Next();
      CHECK(d.count() >= 100);
      CHECK(d.count() <= ceiling);
      ceiling = std::min<std::int64_t>(ceiling * 2, 5000);
    }
    CHECK(b.attempts() == 20);
    b.Reset();
    CHECK(b.Next().count() == 100);  // first attempt after reset: ceiling == base
  }

  TEST_CASE("jitter spreads a fleet: different seeds, different delays") {
    using std::chrono::milliseconds;
    std::set<std::int64_t> seen;
    for (std::uint64_t seed = 1; seed <= 50; ++seed) {
      JitteredBackoff b(milliseconds(100), milliseconds(60'000), seed);
      for (int i = 0; i < 5; ++i) (void)b.Next();
      seen.insert(b.Next().count());
    }
    CHECK(seen.size() > 40);
  }

  TEST_CASE("Retry-After from the server is a floor") {
    using std::chrono::milliseconds;
    JitteredBackoff b(milliseconds(10), milliseconds(100), 7);
    CHECK(b.NextAtLeast(milliseconds(30'000)).count() == 30'000);
    CHECK(b.NextAtLeast(milliseconds(0)).count() <= 100);
  }

  TEST_CASE("huge attempt counts never overflow") {
    using std::chrono::milliseconds;
    JitteredBackoff b(milliseconds(1), milliseconds(86'400'000), 3);
    for (int i = 0; i < 10'000; ++i) {
      auto d = b.Next();
      REQUIRE(d.count() >= 1);
      REQUIRE(d.count() <= 86'400'000);
    }
  }
}

TEST_SUITE("common.handles") {
  TEST_CASE("UniqueFd closes once and moves ownership") {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    {
      UniqueFd a(fds[0]);
      UniqueFd b(std::move(a));
      CHECK_FALSE(a.valid());
      CHECK(b.get() == fds[0]);
    }
    CHECK(::close(fds[0]) == -1);  // already closed by b
    UniqueFd w(fds[1]);
    int raw = w.Release();
    CHECK_FALSE(w.valid());
    CHECK(::close(raw) == 0);
  }

  TEST_CASE("CHandle calls its C deleter exactly once, never on null") {
    g_things_freed = 0;
    {
      CHandle<TestThing, FreeTestThing> owned(new TestThing);
      CHandle<TestThing, FreeTestThing> empty;
      CHandle<TestThing, FreeTestThing> moved(std::move(owned));
      CHECK(moved != nullptr);
      CHECK(empty == nullptr);
    }
    CHECK(g_things_freed == 1);
    CHECK(sizeof(CHandle<TestThing, FreeTestThing>) == sizeof(TestThing*));
  }
}

}  // namespace picket
