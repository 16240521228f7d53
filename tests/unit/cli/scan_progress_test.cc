// `picket scan status --watch` and `picket scan list`: fraction, smoothed
// rate and ETA, and the text they print.
#include "cli/scan_progress.h"

#include <doctest/doctest.h>

#include <cmath>
#include <nlohmann/json.hpp>

namespace picket::cli {
namespace {

zk::JobStatusView View(std::vector<zk::ShardView> rows) {
  zk::JobStatusView v;
  v.job = "j";
  v.shards = static_cast<std::uint32_t>(rows.size());
  for (const auto& r : rows) {
    if (r.state == "done") ++v.done;
    if (r.state == "claimed") ++v.claimed;
    if (r.state == "waiting") ++v.waiting;
  }
  v.rows = std::move(rows);
  return v;
}

zk::ShardView Shard(std::string state, std::optional<std::uint64_t> checkpoint = std::nullopt,
                    std::optional<std::uint64_t> total = std::nullopt) {
  zk::ShardView r;
  r.state = std::move(state);
  r.checkpoint = checkpoint;
  r.total = total;
  return r;
}

}  // namespace

TEST_SUITE("cli.scan_progress") {
  TEST_CASE("JobFraction: done whole, claimed by checkpoint over size, waiting and unknown 0") {
    CHECK(JobFraction(View({})) == 0);
    CHECK(JobFraction(View({Shard("done"), Shard("claimed", 50, 100), Shard("waiting"),
                            Shard("claimed", 10)})) == doctest::Approx(1.5 / 4));
    CHECK(JobFraction(View({Shard("claimed", 500, 100)})) == 1.0);  // capped
  }

  TEST_CASE("JobPairs: reported shard size x shards, else the spec's bound") {
    SharedJobSpec spec;
    spec.targets = "127.0.0.0/30";
    spec.ports = "1-10";
    CHECK(JobPairs(View({Shard("waiting"), Shard("waiting")}), spec) == 40);
    CHECK(JobPairs(View({Shard("claimed", 1, 19), Shard("waiting")}), spec) == 38);
  }

  TEST_CASE("the smoothed rate moves ~10 % a second, so the ETA does not swing 2x") {
    ProgressSmoother s;  // tau 10 s
    s.Add(0, 0);
    s.Add(1, 0);  // the job waits for a claim: no rate rather than 0
    CHECK_FALSE(s.FractionPerSecond());
    CHECK_FALSE(s.EtaSeconds());
    s.Add(2, 0.01);  // the first move seeds it: 1 %/s
    REQUIRE(s.FractionPerSecond());
    CHECK(*s.FractionPerSecond() == doctest::Approx(0.01));
    CHECK(*s.EtaSeconds() == doctest::Approx(99));
    for (int t = 3; t <= 12; ++t) s.Add(t, 0.01 * (t - 1));
    const double before = *s.EtaSeconds();
    CHECK(before == doctest::Approx(89).epsilon(0.001));
    // One poll at half the speed (a slow read, a shard handed over): a raw
    // sample would double the ETA (0.885 / 0.005 = 177 s).
    s.Add(13, 0.115);
    const double after = *s.EtaSeconds();
    CHECK(after > before);
    CHECK(after < 1.15 * before);
    // Back to 1 %/s: the average returns to it.
    for (int t = 14; t <= 60; ++t) s.Add(t, 0.115 + 0.01 * (t - 13));
    CHECK(*s.FractionPerSecond() == doctest::Approx(0.01).epsilon(0.01));
    s.Add(61, 1.0);
    CHECK(*s.EtaSeconds() == 0);
    s.Add(61, 0.5);  // the same instant again: ignored
    CHECK(*s.EtaSeconds() == 0);
  }

  TEST_CASE("progress that arrives in steps gives a steady rate, a real stall lowers it") {
    // A job at 2 %/s whose counts land every 5 s (the claimers' status cadence),
    // polled every second; then one burst of done nodes, then nothing for 30 s.
    ProgressSmoother s;
    std::vector<double> rates;
    for (int t = 0; t <= 40; ++t) {
      s.Add(t, 0.02 * (t - t % 5));
      if (auto r = s.FractionPerSecond()) rates.push_back(*r);
    }
    REQUIRE(rates.size() > 30);
    for (std::size_t i = 1; i < rates.size(); ++i) {
      CHECK(rates[i] / rates[i - 1] < 1.5 + 1e-9);
      CHECK(rates[i - 1] / rates[i] < 1.5 + 1e-9);
    }
    CHECK(rates.back() == doctest::Approx(0.02).epsilon(0.05));
    s.Add(41, 0.80 + 0.02);  // nothing held back: moved at once
    const double before = *s.FractionPerSecond();
    s.Add(42, 0.99);  // a burst: 17 % in one poll
    const double burst = *s.FractionPerSecond();
    CHECK(burst == doctest::Approx(before * 1.5));  // capped (the EWMA alone: x1.6)
    for (int t = 43; t <= 51; ++t) s.Add(t, 0.99);  // held: no new count for less than 10 s
    CHECK(*s.FractionPerSecond() == doctest::Approx(burst));
    s.Add(52, 0.99);  // 10 s without a change: a stall, the rate falls
    CHECK(*s.FractionPerSecond() < burst);
    CHECK(*s.FractionPerSecond() >= burst / 1.5);
  }

  TEST_CASE("live counts from the claimers' status nodes move claimed shards") {
    LiveDone live;
    AddLiveDone(R"({"scan":[{"job":"j","shard":1,"done":60,"total":100},)"
                R"({"job":"other","shard":0,"done":99},{"job":"j","shard":-1,"done":5},)"
                R"({"job":"j","shard":0,"done":"x"},"junk"]})",
                "j", live);
    CHECK(live == LiveDone{{1, 60}});
    AddLiveDone("not json", "j", live);
    AddLiveDone(R"({"scan":{}})", "j", live);
    CHECK(live.size() == 1);
    auto v = View({Shard("waiting"), Shard("claimed", 20, 100)});
    v.rows[1].shard = 1;
    CHECK(JobFraction(v) == doctest::Approx(0.1));
    CHECK(JobFraction(v, live) == doctest::Approx(0.3));
  }

  TEST_CASE("the watch line and its JSON event") {
    WatchSample s;
    s.job = "scan-1";
    s.state = "running";
    s.fraction = 0.421789;
    s.pairs_per_s = 1234;
    s.found = 5;
    s.shards = 4;
    s.done = 1;
    s.claimed = 2;
    s.waiting = 1;
    s.eta_s = 83.2;
    s.ts_ms = 1000;
    CHECK(FormatWatchLine(s) ==
          "scan-1: 42.17% done, rate 1.2k/s, found 5, shards 1/4 done 2 running, ETA 0:01:24");
    auto j = nlohmann::json::parse(WatchEventJson(s));
    CHECK(j["percent"] == doctest::Approx(42.17));
    CHECK(j["eta_s"] == doctest::Approx(83.2));
    CHECK(j["state"] == "running");
    CHECK(j["found"] == 5);
    s.state = "finished";
    s.fraction = 1;
    s.claimed = 0;
    s.done = 4;
    CHECK(FormatWatchLine(s) == "scan-1: 100.00% done, rate 1.2k/s, found 5, shards 4/4 done, finished");
    s.pairs_per_s.reset();
    s.eta_s.reset();
    s.state = "running";
    CHECK(FormatWatchLine(s).ends_with("rate -, found 5, shards 4/4 done, ETA -"));
    CHECK(nlohmann::json::parse(WatchEventJson(s))["eta_s"].is_null());
  }

  TEST_CASE("scan list: refusals named, progress from ZooKeeper, JSON array") {
    JobListEntry active;
    active.row.id = "a";
    active.row.state = "active";
    active.row.targets = "127.0.0.1";
    active.row.ports = "1-1024";
    active.row.mode = "connect";
    active.row.shards = 4;
    active.row.created_ms = 1795272592000;
    active.fraction = 0.5;
    active.shards_done = 2;
    active.found = 3;
    active.devices = {"gw-1", "gw-2"};
    JobListEntry bad;
    bad.row.id = "bad";
    bad.row.state = "active";
    bad.row.targets = "10.0.0.0/33";
    bad.row.ports = "80";
    bad.refused = "row version 7: /targets: bad prefix";
    const std::string table = FormatJobListTable({active, bad});
    CHECK(table.find("127.0.0.1 : 1-1024") != std::string::npos);
    CHECK(table.find("2/4") != std::string::npos);
    CHECK(table.find("50.0%") != std::string::npos);
    CHECK(table.find("gw-1,gw-2") != std::string::npos);
    CHECK(table.find("2026-11-21T14:49:52Z") != std::string::npos);
    CHECK(table.find("active (refused)") != std::string::npos);
    CHECK(table.find("job bad refused by picket sync: row version 7: /targets: bad prefix") !=
          std::string::npos);
    auto j = nlohmann::json::parse(FormatJobListJson({active, bad}));
    REQUIRE(j.size() == 2);
    CHECK(j[0]["percent"] == 50.0);
    CHECK(j[0]["refused"].is_null());
    CHECK(j[1]["percent"].is_null());
    CHECK(j[1]["refused"] == "row version 7: /targets: bad prefix");
  }
}

}  // namespace picket::cli
