#include "collector/group_commit.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "support/process_harness.h"

namespace picket::collector {

TEST_SUITE("collector") {
  TEST_CASE("group commit: a waiting caller returns after its own batch and the next waiter leads") {
    GroupCommit<int, int> commits;
    std::atomic<bool> first_running{false}, release_first{false};
    std::mutex mu;
    std::map<int, std::thread::id> committed_by;  // request -> the thread that committed it
    auto commit = [&](std::vector<GroupCommit<int, int>::Item*>& batch) {
      for (auto* item : batch) {
        if (*item->request == 1) {  // the first batch holds on until told
          first_running = true;
          testing::WaitFor([&] { return release_first.load(); },
                           testing::After(std::chrono::seconds(10)));
        }
        std::lock_guard lock(mu);
        committed_by[*item->request] = std::this_thread::get_id();
        item->answer = *item->request * 10;
      }
    };
    int one = 1, two = 2;
    int answer_one = 0, answer_two = 0;
    std::thread::id first_id, second_id;
    std::thread first([&] {
      first_id = std::this_thread::get_id();
      answer_one = commits.Submit(one, commit);
    });
    REQUIRE(testing::WaitFor([&] { return first_running.load(); },
                             testing::After(std::chrono::seconds(10))));
    std::thread second([&] {
      second_id = std::this_thread::get_id();
      answer_two = commits.Submit(two, commit);
    });
    REQUIRE(testing::WaitFor([&] { return commits.queued() == 1; },
                             testing::After(std::chrono::seconds(10))));
    release_first = true;
    first.join();
    second.join();
    CHECK(answer_one == 10);
    CHECK(answer_two == 20);
    CHECK(committed_by[1] == first_id);
    CHECK(committed_by[2] == second_id);  // not committed by the first caller before it returned
  }
}

}  // namespace picket::collector
