#include "collector/session_store.h"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include "support/temp_dir.h"

namespace picket::collector {

namespace {

analysis::Session MakeSession(std::uint64_t uid, std::string src, int dport, std::int64_t first_us,
                              std::string app, std::vector<std::string> risks = {}) {
  analysis::Session s;
  s.uid = uid;
  s.community_id = "1:abc" + std::to_string(uid);
  s.proto = 17;
  s.src_ip = std::move(src);
  s.src_port = 40000;
  s.dst_ip = "10.0.0.9";
  s.dst_port = static_cast<std::uint16_t>(dport);
  s.orig_pkts = 2;
  s.orig_bytes = 200;
  s.first_ts_us = first_us;
  s.last_ts_us = first_us + 5;
  s.state = "S0";
  s.history = "D";
  s.end_reason = analysis::EndReason::kIdle;
  s.app = std::move(app);
  s.category = "Network";
  s.risks = std::move(risks);
  return s;
}

}  // namespace

TEST_SUITE("collector.session_store") {
  TEST_CASE("packet offsets survive the varint encoding, in any order") {
    std::vector<std::uint64_t> offsets = {24, 100, 1'000'000, 90, 0, (1ull << 40) + 3};
    auto back = DecodeOffsets(EncodeOffsets(offsets));
    REQUIRE(back.ok());
    CHECK(*back == offsets);
    CHECK(EncodeOffsets({24, 50, 80}).size() == 3);  // deltas under 64: a byte each
    CHECK_FALSE(DecodeOffsets(std::string("\x80", 1)).ok());
  }

  TEST_CASE("a committed chunk is listed, filtered and read back with its packets") {
    testing::TempDir dir;
    auto store = SessionStore::Open(dir.path() + "/sessions.db");
    REQUIRE(store.ok());
    struct stat st {};
    REQUIRE(::stat((dir.path() + "/sessions.db").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);

    AnalysedChunk chunk;
    chunk.seq = 7;
    chunk.closed = {MakeSession(1, "10.0.0.1", 53, 1'000'000, "DNS", {"Known Proto on Non Std Port"}),
                    MakeSession(2, "10.0.0.2", 443, 2'000'000, "TLS")};
    chunk.refs = {{1, {{7, 24}, {7, 90}}}, {2, {{7, 150}}}, {3, {{7, 300}}}};
    chunk.state.next_seq = 8;
    chunk.state.blob = std::string("\0state", 6);
    chunk.state.chunks_analysed = 1;
    REQUIRE((*store)->CommitChunk("gw-1", chunk).ok());

    auto state = (*store)->LoadState("gw-1");
    REQUIRE(state.ok());
    REQUIRE(state->has_value());
    CHECK((*state)->next_seq == 8);
    CHECK((*state)->blob == std::string("\0state", 6));
    CHECK_FALSE((*store)->LoadState("gw-2")->has_value());

    auto all = (*store)->List({}, 100);
    REQUIRE(all.ok());
    REQUIRE(all->size() == 2);
    CHECK((*all)[0].session.device == "gw-1");
    CHECK((*all)[0].session.risks == std::vector<std::string>{"Known Proto on Non Std Port"});

    SessionFilter by_ip;
    by_ip.ip = "10.0.0.2";
    CHECK((*store)->List(by_ip, 100)->size() == 1);
    SessionFilter by_other_end;
    by_other_end.ip = "10.0.0.9";
    CHECK((*store)->List(by_other_end, 100)->size() == 2);
    SessionFilter by_port;
    by_port.port = 53;
    CHECK((*store)->List(by_port, 100)->size() == 1);
    SessionFilter by_risk;
    by_risk.risk = "Known Proto on Non Std Port";
    CHECK((*store)->List(by_risk, 100)->size() == 1);
    SessionFilter by_time;
    by_time.since_us = 1'500'000;
    CHECK((*store)->List(by_time, 100)->size() == 1);
    by_time.until_us = 1'500'000;
    CHECK((*store)->List(by_time, 100)->empty());
    SessionFilter page;
    page.after = (*all)[0].id;
    auto rest = (*store)->List(page, 100);
    REQUIRE(rest->size() == 1);
    CHECK((*rest)[0].id == (*all)[1].id);
    CHECK((*store)->List({}, 1)->size() == 1);

    auto one = (*store)->Get((*all)[0].id, true);
    REQUIRE(one.ok());
    REQUIRE(one->has_value());
    CHECK((*one)->session.packets ==
          std::vector<analysis::PacketRef>{{7, 24}, {7, 90}});
    CHECK_FALSE((*store)->Get(999, true)->has_value());
  }

  TEST_CASE("retention deletes old sessions and their packet rows in batches") {
    testing::TempDir dir;
    auto store = SessionStore::Open(dir.path() + "/sessions.db");
    REQUIRE(store.ok());
    AnalysedChunk chunk;
    chunk.seq = 1;
    for (std::uint64_t uid = 1; uid <= 5; ++uid) {
      chunk.closed.push_back(MakeSession(uid, "10.0.0.1", 53, static_cast<std::int64_t>(uid) * 1000, "DNS"));
      chunk.refs.push_back({uid, {{1, uid * 100}}});
    }
    chunk.state.next_seq = 2;
    REQUIRE((*store)->CommitChunk("gw", chunk).ok());
    auto n = (*store)->DeleteOlderThan(3'500, 2);
    REQUIRE(n.ok());
    CHECK(*n == 2);
    CHECK(*(*store)->DeleteOlderThan(3'500, 2) == 1);
    CHECK(*(*store)->DeleteOlderThan(3'500, 2) == 0);
    CHECK((*store)->List({}, 100)->size() == 2);
    CHECK((*store)->Packets("gw", 1)->empty());
    CHECK((*store)->Packets("gw", 5)->size() == 1);
  }
}

}  // namespace picket::collector
