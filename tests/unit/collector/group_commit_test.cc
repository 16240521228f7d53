#include "collector/group_commit.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "support/process_harness.h"

namespace picket::collector {

namespace {
int Unanswered(const std::string&) { return -1; }
}  // namespace

TEST_SUITE("collector") {
  TEST_CASE("group commit: a waiting caller returns after its own batch and the next waiter leads") {
    GroupCommit<int, int> commits(Unanswered);
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

  TEST_CASE("group commit: a commit that throws or forgets an item fails only its batch") {
    std::string why;
    GroupCommit<int, int> commits([&](const std::string& w) {
      why = w;
      return -1;
    });
    auto throwing = [](std::vector<GroupCommit<int, int>::Item*>&) {
      throw std::runtime_error("boom");
    };
    CHECK(commits.Submit(1, throwing) == -1);
    CHECK(why == "the commit threw: boom");
    int called = 0, answer = 0;
    commits.SubmitAsync(2, [&](int a) { ++called, answer = a; }, throwing);
    CHECK(called == 1);
    CHECK(answer == -1);
    // A commit that answers only some: the rest fail, none reads an empty answer.
    auto partial = [](std::vector<GroupCommit<int, int>::Item*>& batch) {
      if (*batch[0]->request == 3) batch[0]->answer = 30;
    };
    CHECK(commits.Submit(3, partial) == 30);
    CHECK(commits.Submit(4, partial) == -1);
    CHECK(why == "the commit gave no answer");
    // A callback that throws loses only its own answer; the queue still commits.
    auto fine = [](std::vector<GroupCommit<int, int>::Item*>& batch) {
      for (auto* item : batch) item->answer = *item->request * 10;
    };
    commits.SubmitAsync(5, [](int) { throw std::runtime_error("caller gone"); }, fine);
    CHECK(commits.Submit(6, fine) == 60);
    CHECK(commits.queued() == 0);
  }
}

}  // namespace picket::collector
