#include "worker/control_channel.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

namespace picket::worker {
namespace {

namespace wp = worker_protocol;

// The worker's stdin and stdout: in[1] is the supervisor's end of stdin.
struct Pipes {
  Pipes() {
    REQUIRE(::pipe(in) == 0);
    REQUIRE(::pipe(out) == 0);
  }
  ~Pipes() {
    for (int fd : {in[0], in[1], out[0], out[1]}) {
      if (fd >= 0) ::close(fd);
    }
  }
  void CloseSupervisorEnd() {
    ::close(in[1]);
    in[1] = -1;
  }
  int in[2] = {-1, -1}, out[2] = {-1, -1};
};

void WriteLine(int fd, const wp::Command& command) {
  const std::string line = wp::EncodeCommand(command) + "\n";
  REQUIRE(::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()));
}

}  // namespace

TEST_SUITE("worker.control_channel") {
  TEST_CASE("before the reader starts, a waiting worker takes what it can and keeps the rest in order") {
    Pipes p;
    const int to_worker = p.in[1];
    {
      WorkerControl control(p.in[0], p.out[1]);
      WriteLine(to_worker, wp::ReleaseShard{"job-a", 1});
      WriteLine(to_worker, wp::FilterCommand{"udp port 53", 7});
      // Half a line: finished after the reader thread took over.
      const std::string second = wp::EncodeCommand(wp::ReleaseAll{}) + "\n";
      REQUIRE(::write(to_worker, second.data(), 5) == 5);

      std::vector<std::string> early;
      const auto take_filters = [&](const wp::Command& c) {
        early.push_back(wp::EncodeCommand(c));
        return std::holds_alternative<wp::FilterCommand>(c);
      };
      control.ServeBeforeStart(std::chrono::milliseconds(1000), take_filters);
      CHECK(early.size() == 2);  // both complete lines were offered, the filter taken
      // Nothing more arrives: the wait ends at its bound.
      control.ServeBeforeStart(std::chrono::milliseconds(5), take_filters);
      CHECK(early.size() == 2);

      std::mutex mu;
      std::condition_variable cv;
      std::vector<std::string> later;
      control.Start([&](const wp::Command& c) {
        std::lock_guard lock(mu);
        later.push_back(wp::EncodeCommand(c));
        cv.notify_all();
      });
      REQUIRE(::write(to_worker, second.data() + 5, second.size() - 5) ==
              static_cast<ssize_t>(second.size() - 5));
      std::unique_lock lock(mu);
      CHECK(cv.wait_for(lock, std::chrono::seconds(5), [&] { return later.size() == 2; }));
      REQUIRE(later.size() == 2);
      CHECK(later[0] == wp::EncodeCommand(wp::ReleaseShard{"job-a", 1}));  // the kept one first
      CHECK(later[1] == wp::EncodeCommand(wp::ReleaseAll{}));
    }
  }

  TEST_CASE("a channel closed before the reader starts ends the reader at once") {
    Pipes p;
    WorkerControl control(p.in[0], p.out[1]);
    WriteLine(p.in[1], wp::FilterCommand{"tcp", 3});
    p.CloseSupervisorEnd();
    int taken = 0;
    control.ServeBeforeStart(std::chrono::milliseconds(1000), [&](const wp::Command&) { return ++taken > 0; });
    control.ServeBeforeStart(std::chrono::milliseconds(1000), [&](const wp::Command&) { return ++taken > 0; });
    CHECK(taken == 1);
    const auto started = std::chrono::steady_clock::now();
    control.Start([](const wp::Command&) {});
    control.Stop();
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(1));
  }
}

}  // namespace picket::worker
