#include "picket/common/shared_job.h"

#include <doctest/doctest.h>

#include <string>

namespace picket {

namespace {

constexpr const char* kGood =
    R"({"targets":"127.0.1.0/24","exclude":"","ports":"80,443,8000-8100","rate_pps":2000,)"
    R"("mode":"connect","retries":1,"wait_ms":2000,"banners":false,"shards":4,)"
    R"("max_parallel_shards":1,"group":"lab","devices":["gw-1","gw-2"],"seed":12345})";

// A minimal valid spec with `field` (a JSON member, e.g. `"rate_pps":0`) added.
std::string With(const std::string& field) {
  return R"({"targets":"127.0.0.1","ports":"80",)" + field + "}";
}

struct BadCase {
  const char* name;
  std::string json;
  const char* field;  // the message must name the field ...
  const char* value;  // ... and the offending value
};

}  // namespace

TEST_SUITE("common.shared_job") {
  TEST_CASE("CountDoneShards counts each shard number below the count once") {
    CHECK(CountDoneShards({"0", "1", "2"}, 3) == 3);
    CHECK(CountDoneShards({"0", "00", "01", "1"}, 3) == 2);  // non-canonical names ignored
    CHECK(CountDoneShards({"3", "x", "", "-1", "4294967296"}, 3) == 0);
    CHECK(CountDoneShards({}, 1) == 0);
  }

  TEST_CASE("a full spec is read field by field") {
    auto spec = ParseSharedJobSpec("lab-scan", kGood);
    REQUIRE_MESSAGE(spec.ok(), spec.status().ToString());
    CHECK(spec->id == "lab-scan");
    CHECK(spec->targets == "127.0.1.0/24");
    CHECK(spec->exclude.empty());
    CHECK(spec->ports == "80,443,8000-8100");
    CHECK(spec->rate_pps == 2000);
    CHECK(spec->mode == ScanMode::kConnect);
    CHECK(spec->retries == 1);
    CHECK(spec->wait == std::chrono::milliseconds(2000));
    CHECK_FALSE(spec->banners);
    CHECK(spec->shards == 4);
    CHECK(spec->max_parallel_shards == 1);
    CHECK(spec->group == "lab");
    CHECK(spec->devices == std::vector<std::string>{"gw-1", "gw-2"});
    CHECK(spec->seed == 12345);
  }

  TEST_CASE("a minimal spec gets the defaults and a seed derived from the id") {
    auto a = ParseSharedJobSpec("job-a", R"({"targets":"127.0.0.1","ports":"80"})");
    REQUIRE_MESSAGE(a.ok(), a.status().ToString());
    CHECK(a->mode == ScanMode::kSyn);
    CHECK(a->rate_pps == 1000);
    CHECK(a->shards == 1);
    CHECK(a->devices.empty());
    CHECK(a->seed != 0);
    CHECK(a->seed == DefaultSharedJobSeed("job-a"));
    // Same id → same seed on every device; another id → another permutation.
    auto again = ParseSharedJobSpec("job-a", With(R"("seed":0)"));
    REQUIRE(again.ok());
    CHECK(again->seed == a->seed);
    auto b = ParseSharedJobSpec("job-b", R"({"targets":"127.0.0.1","ports":"80"})");
    REQUIRE(b.ok());
    CHECK(b->seed != a->seed);
    CHECK(DefaultSharedJobSeed("") == (0xcbf29ce484222325ull | 1));  // FNV-1a offset basis
  }

  TEST_CASE("the largest seed is accepted") {
    auto spec = ParseSharedJobSpec("j", With(R"("seed":18446744073709551615)"));
    REQUIRE_MESSAGE(spec.ok(), spec.status().ToString());
    CHECK(spec->seed == ~std::uint64_t{0});
  }

  TEST_CASE("each bad field is refused with the field and the value named") {
    const BadCase cases[] = {
        {"targets missing", R"({"ports":"80"})", "/targets", "required"},
        {"targets empty", R"({"targets":"","ports":"80"})", "/targets", ""},
        {"targets bad", R"({"targets":"300.1.1.1","ports":"80"})", "/targets", "300.1.1.1"},
        {"targets type", R"({"targets":5,"ports":"80"})", "/targets", "5"},
        {"exclude bad", With(R"("exclude":"10.0.0.0/33")"), "/exclude", "10.0.0.0/33"},
        {"ports missing", R"({"targets":"127.0.0.1"})", "/ports", "required"},
        {"ports zero", R"({"targets":"127.0.0.1","ports":"0"})", "/ports", "0"},
        {"ports reversed", R"({"targets":"127.0.0.1","ports":"90-80"})", "/ports", "90-80"},
        {"rate zero", With(R"("rate_pps":0)"), "/rate_pps", "0"},
        {"rate high", With(R"("rate_pps":10000001)"), "/rate_pps", "10000001"},
        {"rate negative", With(R"("rate_pps":-5)"), "/rate_pps", "-5"},
        {"mode", With(R"("mode":"udp")"), "/mode", "udp"},
        {"retries", With(R"("retries":11)"), "/retries", "11"},
        {"wait_ms", With(R"("wait_ms":60001)"), "/wait_ms", "60001"},
        {"wait_ms string", With(R"("wait_ms":"2s")"), "/wait_ms", "2s"},
        {"wait over 60s", With(R"("wait":"2m")"), "/wait", "2m"},
        {"wait and wait_ms", With(R"("wait":"1s","wait_ms":5)"), "/wait_ms", "not both"},
        {"banners", With(R"("banners":"yes")"), "/banners", "yes"},
        {"shards zero", With(R"("shards":0)"), "/shards", "0"},
        {"shards high", With(R"("shards":1025)"), "/shards", "1025"},
        {"parallel zero", With(R"("max_parallel_shards":0)"), "/max_parallel_shards", "0"},
        {"parallel high", With(R"("max_parallel_shards":65)"), "/max_parallel_shards", "65"},
        {"group", With(R"("group":"a/b")"), "/group", "a/b"},
        {"group type", With(R"("group":7)"), "/group", "7"},
        {"devices type", With(R"("devices":"gw-1")"), "/devices", "gw-1"},
        {"device item", With(R"("devices":["gw-1","bad id"])"), "/devices/1", "bad id"},
        {"device dup", With(R"("devices":["gw-1","gw-1"])"), "/devices/1", "gw-1"},
        {"device number", With(R"("devices":[3])"), "/devices/0", "3"},
        {"seed negative", With(R"("seed":-1)"), "/seed", "-1"},
        {"seed float", With(R"("seed":1.5)"), "/seed", "1.5"},
        {"unknown key", With(R"("shard":2)"), "/shard", "did you mean 'shards'"},
        {"not an object", "[1]", "/", "[1]"},
        {"not json", "{", "not valid JSON", ""},
        {"empty", "", "not valid JSON", ""},
        {"too deep", With(R"("x":[[[[[[[[[]]]]]]]]])"), "nesting", ""},
    };
    for (const auto& c : cases) {
      CAPTURE(c.name);
      auto spec = ParseSharedJobSpec("lab", c.json);
      REQUIRE_FALSE(spec.ok());
      const std::string& m = spec.status().message();
      CAPTURE(m);
      CHECK(spec.status().code() == StatusCode::kInvalidArgument);
      CHECK(m.find("\"lab\"") != std::string::npos);  // the job is named
      CHECK(m.find(c.field) != std::string::npos);
      CHECK(m.find(c.value) != std::string::npos);
    }
  }

  TEST_CASE("every error is reported at once") {
    auto spec = ParseSharedJobSpec("lab", R"({"targets":"127.0.0.1","rate_pps":0,"mode":"x"})");
    REQUIRE_FALSE(spec.ok());
    const std::string& m = spec.status().message();
    CHECK(m.find("3 error(s)") != std::string::npos);
    CHECK(m.find("/ports") != std::string::npos);
    CHECK(m.find("/rate_pps") != std::string::npos);
    CHECK(m.find("/mode") != std::string::npos);
  }

  TEST_CASE("bad job ids and oversized documents are refused") {
    for (const char* id : {"", ".", "..", "a/b", "a b", "ü"}) {
      CAPTURE(id);
      auto spec = ParseSharedJobSpec(id, kGood);
      REQUIRE_FALSE(spec.ok());
      CHECK(spec.status().message().find("job id") != std::string::npos);
    }
    CHECK_FALSE(ParseSharedJobSpec(std::string(65, 'a'), kGood).ok());
    CHECK(ParseSharedJobSpec(std::string(64, 'a'), kGood).ok());
    std::string big = With(R"("group":"lab")");
    big.insert(1, std::string(kMaxSharedJobBytes, ' '));
    auto spec = ParseSharedJobSpec("lab", big);
    REQUIRE_FALSE(spec.ok());
    CHECK(spec.status().message().find(std::to_string(big.size())) != std::string::npos);
  }

  TEST_CASE("eligibility: the device list decides, then the group, then everyone") {
    SharedJobSpec job;
    CHECK(JobEligible(job, "gw-1", "lab"));
    CHECK(JobEligible(job, "gw-9", ""));
    job.group = "lab";
    CHECK(JobEligible(job, "gw-1", "lab"));
    CHECK_FALSE(JobEligible(job, "gw-1", "prod"));
    job.devices = {"gw-1", "gw-2"};
    CHECK(JobEligible(job, "gw-2", "lab"));
    CHECK(JobEligible(job, "gw-1", "prod"));  // listed devices need not be in the group
    CHECK_FALSE(JobEligible(job, "gw-3", "lab"));
  }

  TEST_CASE("a spec round-trips through JSON") {
    auto spec = ParseSharedJobSpec("lab-scan", kGood);
    REQUIRE(spec.ok());
    spec->exclude = "127.0.1.7";
    spec->banners = true;
    spec->mode = ScanMode::kSyn;
    auto back = ParseSharedJobSpec("lab-scan", SharedJobSpecToJson(*spec));
    REQUIRE_MESSAGE(back.ok(), back.status().ToString());
    CHECK(SharedJobSpecToJson(*back) == SharedJobSpecToJson(*spec));
    CHECK(back->exclude == "127.0.1.7");
    CHECK(back->banners);
    CHECK(back->mode == ScanMode::kSyn);
    CHECK(back->devices == spec->devices);
    CHECK(back->seed == spec->seed);
    // A derived seed is written out, so the stored form no longer depends on the id.
    auto minimal = ParseSharedJobSpec("j", R"({"targets":"127.0.0.1","ports":"80"})");
    REQUIRE(minimal.ok());
    auto copy = ParseSharedJobSpec("j", SharedJobSpecToJson(*minimal));
    REQUIRE(copy.ok());
    CHECK(copy->seed == minimal->seed);
  }

  TEST_CASE("the scan settings carry over to a ScanJobConfig") {
    auto spec = ParseSharedJobSpec("lab-scan", kGood);
    REQUIRE(spec.ok());
    ScanJobConfig c = ToScanJobConfig(*spec);
    CHECK(c.id == "lab-scan");
    CHECK(c.targets == spec->targets);
    CHECK(c.ports == spec->ports);
    CHECK(c.rate_pps == 2000);
    CHECK(c.mode == ScanMode::kConnect);
    CHECK(c.retries == 1);
    CHECK(c.wait == std::chrono::milliseconds(2000));
    CHECK(c.interval.count() == 0);
  }
}

}  // namespace picket
