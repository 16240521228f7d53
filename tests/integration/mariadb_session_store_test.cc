// MariaDbSessionStore against a real MariaDB: the same calls on it and on the
// SQLite engine give the same sessions, packets, states and counters; stale
// commits and two collectors racing on a device; leases; retention; binary
// state blobs up to max_allowed_packet. One server per test case.
#include <doctest/doctest.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "collector/session_store.h"
#include "picket/common/log.h"
#include "picket/sync/db_url.h"
#include "picket/sync/mariadb_connection.h"
#include "support/mariadb_server.h"
#include "support/temp_dir.h"

namespace picket::testing {
namespace {

using analysis::PacketRef;
using analysis::Session;
using collector::AnalysedChunk;
using collector::AnalysisState;
using collector::SessionFilter;
using collector::SessionStore;
using collector::StoredSession;

void StartServer(MariaDbServer& server) {
  Status st = server.Start(PICKET_SCHEMA_SQL);
  REQUIRE_MESSAGE(st.ok(), st.ToString());
}

sync::DbUrl UrlOf(const MariaDbServer& server) {
  auto url = sync::ParseDbUrl(server.Url());
  REQUIRE_MESSAGE(url.ok(), url.status().ToString());
  return *url;
}

std::unique_ptr<SessionStore> OpenMaria(const MariaDbServer& server, std::size_t connections = 3) {
  auto store = SessionStore::OpenMariaDb(UrlOf(server), connections);
  REQUIRE_MESSAGE(store.ok(), store.status().ToString());
  return std::move(store).value();
}

Session MakeSession(std::uint64_t uid, std::string src, int dport, std::int64_t first_us,
                    std::string app, std::vector<std::string> risks = {}) {
  Session s;
  s.uid = uid;
  s.community_id = "1:abc" + std::to_string(uid);
  s.proto = 17;
  s.src_ip = std::move(src);
  s.src_port = static_cast<std::uint16_t>(40000 + uid);
  s.dst_ip = "10.0.0.9";
  s.dst_port = static_cast<std::uint16_t>(dport);
  s.orig_pkts = 2 + uid;
  s.orig_bytes = 200 + uid;
  s.resp_pkts = uid;
  s.resp_bytes = 3 * uid;
  s.orig_payload_bytes = 7;
  s.resp_payload_bytes = 1ull << 40;
  s.first_ts_us = first_us;
  s.last_ts_us = first_us + 5;
  s.state = "S0";
  s.history = "Dd";
  s.end_reason = analysis::EndReason::kIdle;
  s.app = std::move(app);
  s.category = "Network";
  s.risks = std::move(risks);
  s.risk_score = 10 * static_cast<std::uint32_t>(uid);
  s.server_name = "host" + std::to_string(uid) + ".example";
  return s;
}

// Every stored field of a session (features are never stored).
auto Fields(const Session& s) {
  return std::tie(s.uid, s.community_id, s.proto, s.src_ip, s.dst_ip, s.src_port, s.dst_port,
                  s.orig_pkts, s.orig_bytes, s.resp_pkts, s.resp_bytes, s.orig_payload_bytes,
                  s.resp_payload_bytes, s.first_ts_us, s.last_ts_us, s.state, s.history,
                  s.end_reason, s.app, s.category, s.risks, s.risk_score, s.server_name, s.device,
                  s.packets);
}

auto Fields(const AnalysisState& s) {
  return std::tie(s.device, s.next_seq, s.blob, s.chunks_analysed, s.damaged_chunks, s.skipped_seqs,
                  s.sessions);
}

void CheckSame(const std::vector<StoredSession>& a, const std::vector<StoredSession>& b) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CAPTURE(i);
    CHECK(a[i].id == b[i].id);
    CHECK(Fields(a[i].session) == Fields(b[i].session));
  }
}

// Both engines side by side: every call goes to each, and answers must match.
struct BothStores {
  explicit BothStores(const MariaDbServer& server) {
    auto opened = SessionStore::Open(dir.Join("sessions.db"));
    REQUIRE_MESSAGE(opened.ok(), opened.status().ToString());
    sqlite = std::move(opened).value();
    maria = OpenMaria(server);
  }

  Status Commit(const std::string& device, const AnalysedChunk& chunk) {
    Status a = sqlite->CommitChunk(device, chunk);
    Status b = maria->CommitChunk(device, chunk);
    CHECK_MESSAGE(a.code() == b.code(),
                  "sqlite: " << a.ToString() << "\nmariadb: " << b.ToString());
    CHECK(a.message() == b.message());
    return b;
  }

  std::vector<StoredSession> List(const SessionFilter& filter, std::uint64_t max_rows = 100) {
    auto a = sqlite->List(filter, max_rows);
    auto b = maria->List(filter, max_rows);
    REQUIRE_MESSAGE(a.ok(), a.status().ToString());
    REQUIRE_MESSAGE(b.ok(), b.status().ToString());
    CheckSame(*a, *b);
    return *b;
  }

  void SameGet(std::uint64_t id, bool with_packets) {
    CAPTURE(id);
    CAPTURE(with_packets);
    auto a = sqlite->Get(id, with_packets);
    auto b = maria->Get(id, with_packets);
    REQUIRE_MESSAGE(a.ok(), a.status().ToString());
    REQUIRE_MESSAGE(b.ok(), b.status().ToString());
    REQUIRE(a->has_value() == b->has_value());
    if (a->has_value()) CheckSame({**a}, {**b});
  }

  void SamePackets(const std::string& device, std::uint64_t uid) {
    auto a = sqlite->Packets(device, uid);
    auto b = maria->Packets(device, uid);
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    CHECK(*a == *b);
  }

  void SameState(const std::string& device) {
    auto a = sqlite->LoadState(device);
    auto b = maria->LoadState(device);
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    REQUIRE(a->has_value() == b->has_value());
    if (a->has_value()) CHECK(Fields(**a) == Fields(**b));
  }

  void SameCounters() {
    auto a = sqlite->AllCounters();
    auto b = maria->AllCounters();
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    REQUIRE(a->size() == b->size());
    for (std::size_t i = 0; i < a->size(); ++i) CHECK(Fields((*a)[i]) == Fields((*b)[i]));
  }

  TempDir dir;
  std::unique_ptr<SessionStore> sqlite, maria;
};

AnalysisState StateAfter(std::uint64_t next_seq, std::string blob, std::uint64_t sessions) {
  AnalysisState s;
  s.next_seq = next_seq;
  s.blob = std::move(blob);
  s.chunks_analysed = next_seq - 1;
  s.damaged_chunks = 1;
  s.skipped_seqs = 2;
  s.sessions = sessions;
  return s;
}

// Every byte value, NULs and 0xff included, `size` bytes.
std::string AllBytes(std::size_t size) {
  std::string out(size, '\0');
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<char>((i * 7 + i / 256) & 0xff);
  return out;
}

TEST_CASE("mariadb session store: commits, listings and reads as SQLite's, two opens share them") {
  PICKET_REQUIRE_MARIADB();
  MariaDbServer server;
  StartServer(server);
  BothStores both(server);
  auto second = OpenMaria(server);  // the schema again: harmless

  AnalysedChunk first;
  first.seq = 7;
  first.closed = {
      MakeSession(1, "10.0.0.1", 53, 1'000'000, "DNS", {"Known Proto on Non Std Port"}),
      MakeSession(2, "10.0.0.2", 443, 2'000'000, "TLS", {"Self-signed Cert", "TLS \"old\" é"}),
      MakeSession(3, "fe80::1", 80, 3'000'000, "HTTP")};
  first.closed[1].state = "SF";
  first.closed[1].end_reason = analysis::EndReason::kFin;
  first.closed[2].proto = 6;
  first.closed[2].server_name = std::string("\xff\xfe\0raw", 6);  // bytes from the wire
  // uid 4 stays open: its packets of chunk 7 are stored now, the session later.
  first.refs = {{1, {{7, 24}, {7, 90}}}, {2, {{7, 150}}}, {3, {{7, 300}, {6, 1}}}, {4, {{7, 400}}}};
  first.state = StateAfter(8, std::string("\0st\xff", 4), 3);
  REQUIRE(both.Commit("gw-1", first).ok());

  AnalysedChunk second_chunk;
  second_chunk.seq = 8;
  second_chunk.closed = {
      MakeSession(4, "10.0.0.1", 53, 4'000'000, "DNS ", {"known proto on non std port"})};
  second_chunk.refs = {{4, {{8, 10}, {8, 5}}}};
  second_chunk.state = StateAfter(9, AllBytes(1000), 4);
  second_chunk.previous_next_seq = 8;
  REQUIRE(both.Commit("gw-1", second_chunk).ok());

  AnalysedChunk other;
  other.seq = 1;
  other.closed = {MakeSession(1, "192.168.1.5", 22, 2'500'000, "SSH")};
  other.refs = {{1, {{1, 0}}}};
  other.state = StateAfter(2, "", 1);
  REQUIRE(both.Commit("gw 0", other).ok());

  both.SameState("gw-1");
  both.SameState("gw 0");
  both.SameState("nobody");
  both.SameCounters();
  CHECK(both.maria->AllCounters()->front().device == "gw 0");

  const auto all = both.List({});
  REQUIRE(all.size() == 5);
  CHECK(all[4].session.device == "gw 0");
  CHECK(all[2].session.server_name == std::string("\xff\xfe\0raw", 6));
  CHECK(all[1].session.risks == std::vector<std::string>{"Self-signed Cert", "TLS \"old\" é"});

  auto filter = [](auto set) {
    SessionFilter f;
    set(f);
    return f;
  };
  CHECK(both.List(filter([](SessionFilter& f) { f.device = "gw-1"; })).size() == 4);
  CHECK(both.List(filter([](SessionFilter& f) { f.device = "gw"; })).empty());
  CHECK(both.List(filter([](SessionFilter& f) { f.device = "gw 0 "; })).empty());  // no padding
  CHECK(both.List(filter([](SessionFilter& f) { f.since_us = 2'000'005; })).size() == 4);
  CHECK(both.List(filter([](SessionFilter& f) { f.until_us = 2'000'000; })).size() == 1);
  CHECK(both.List(filter([](SessionFilter& f) {
              f.since_us = 1'500'000;
              f.until_us = 3'000'001;
            }))
            .size() == 3);
  CHECK(both.List(filter([](SessionFilter& f) { f.ip = "10.0.0.1"; })).size() == 2);
  CHECK(both.List(filter([](SessionFilter& f) { f.ip = "10.0.0.9"; })).size() == 5);
  CHECK(both.List(filter([](SessionFilter& f) { f.ip = "fe80::1"; })).size() == 1);
  CHECK(both.List(filter([](SessionFilter& f) { f.port = 53; })).size() == 2);
  CHECK(both.List(filter([](SessionFilter& f) { f.port = 40002; })).size() == 1);  // src end
  CHECK(both.List(filter([](SessionFilter& f) { f.proto = 6; })).size() == 1);
  CHECK(both.List(filter([](SessionFilter& f) { f.app = "DNS"; })).size() == 1);
  CHECK(both.List(filter([](SessionFilter& f) { f.app = "dns"; })).empty());
  CHECK(both.List(filter([](SessionFilter& f) { f.state = "SF"; })).size() == 1);
  CHECK(
      both.List(filter([](SessionFilter& f) { f.risk = "Known Proto on Non Std Port"; })).size() ==
      1);
  CHECK(both.List(filter([](SessionFilter& f) { f.risk = "TLS \"old\" é"; })).size() == 1);
  CHECK(both.List(filter([](SessionFilter& f) { f.risk = "Self-signed"; })).empty());
  CHECK(both.List(filter([](SessionFilter& f) {
              f.device = "gw-1";
              f.port = 53;
              f.risk = "known proto on non std port";
            }))
            .size() == 1);
  CHECK(both.List(filter([&](SessionFilter& f) { f.after = all[1].id; })).size() == 3);
  CHECK(both.List(filter([&](SessionFilter& f) { f.after = all[4].id; })).empty());
  CHECK(both.List({}, 2).size() == 2);
  CHECK(both.List({}, 0).empty());

  for (const StoredSession& s : all) {
    both.SameGet(s.id, false);
    both.SameGet(s.id, true);
  }
  both.SameGet(999, true);
  auto with_packets = both.maria->Get(all[3].id, true);
  REQUIRE(with_packets.ok());
  REQUIRE(with_packets->has_value());
  CHECK((*with_packets)->session.packets ==
        std::vector<PacketRef>{{7, 400}, {8, 10}, {8, 5}});  // by chunk, in stored order
  CHECK((*both.maria->Get(all[3].id, false))->session.packets.empty());
  both.SamePackets("gw-1", 4);
  both.SamePackets("gw-1", 3);  // the ref of chunk 6 was not this chunk's
  both.SamePackets("gw-1", 99);
  both.SamePackets("gw 0", 1);

  // The other collector sees the same rows.
  auto seen = second->List({}, 100);
  REQUIRE(seen.ok());
  CheckSame(all, *seen);

  // A database a newer collector wrote is refused, naming it.
  auto raw = sync::MariaDbConnection::Connect(UrlOf(server));
  REQUIRE(raw.ok());
  REQUIRE((*raw)->Execute("UPDATE collector_session_schema SET version = 99 WHERE id = 1").ok());
  auto newer = SessionStore::OpenMariaDb(UrlOf(server), 2);
  CHECK(newer.status().code() == StatusCode::kFailedPrecondition);
  CHECK(newer.status().message().find("127.0.0.1") != std::string::npos);
}

TEST_CASE("mariadb session store: a commit from a state no longer on record writes nothing") {
  PICKET_REQUIRE_MARIADB();
  MariaDbServer server;
  StartServer(server);
  BothStores both(server);

  AnalysedChunk chunk;
  chunk.seq = 1;
  chunk.closed = {MakeSession(1, "10.0.0.1", 53, 1000, "DNS")};
  chunk.refs = {{1, {{1, 24}}}};
  chunk.state = StateAfter(2, "one", 1);
  chunk.previous_next_seq = 1;  // claims a state the device never had
  CHECK(both.Commit("gw", chunk).code() == StatusCode::kConflict);
  chunk.previous_next_seq = std::nullopt;
  REQUIRE(both.Commit("gw", chunk).ok());

  AnalysedChunk next;
  next.seq = 2;
  next.closed = {MakeSession(2, "10.0.0.2", 53, 2000, "DNS")};
  next.refs = {{2, {{2, 50}}}};
  next.state = StateAfter(3, "two", 2);
  for (std::optional<std::uint64_t> stale :
       {std::optional<std::uint64_t>(), std::optional<std::uint64_t>(1),
        std::optional<std::uint64_t>(3)}) {
    CAPTURE(stale.value_or(0));
    next.previous_next_seq = stale;
    Status st = both.Commit("gw", next);
    CHECK(st.code() == StatusCode::kConflict);
    CHECK(st.message() == "device gw: its analysis state moved on elsewhere");
  }
  // Nothing of the refused commits is on record.
  CHECK(both.List({}).size() == 1);
  both.SamePackets("gw", 2);
  CHECK(both.maria->Packets("gw", 2)->empty());
  both.SameState("gw");
  CHECK((*both.maria->LoadState("gw"))->blob == "one");
  both.SameCounters();

  next.previous_next_seq = 2;
  REQUIRE(both.Commit("gw", next).ok());
  CHECK(both.List({}).size() == 2);
  both.SameState("gw");
  both.SamePackets("gw", 2);
}

TEST_CASE(
    "mariadb session store: several devices commit in one transaction as one by one, a "
    "device whose state moved on or would not fit left out") {
  PICKET_REQUIRE_MARIADB();
  MariaDbServer server;
  StartServer(server);
  BothStores both(server);
  auto chunk = [](std::uint64_t seq, std::uint64_t uid, std::string blob,
                  std::optional<std::uint64_t> previous) {
    AnalysedChunk c;
    c.seq = seq;
    c.closed = {MakeSession(uid, "10.0.0." + std::to_string(uid), 53,
                            static_cast<std::int64_t>(uid) * 1000, "DNS")};
    c.refs = {{uid, {{seq, 24 + uid}}}};
    c.state = StateAfter(seq + 1, std::move(blob), uid);
    c.previous_next_seq = previous;
    return c;
  };
  for (const char* device : {"old", "stale", "taken"}) {
    REQUIRE(both.Commit(device, chunk(1, 1, std::string("at 2 ") + device, std::nullopt)).ok());
  }
  auto raw = sync::MariaDbConnection::Connect(UrlOf(server));
  REQUIRE(raw.ok());
  auto limit_rows = (*raw)->Query("SELECT @@max_allowed_packet");
  REQUIRE(limit_rows.ok());
  const std::size_t limit = std::stoull(limit_rows->at(0).at(0).value());

  const std::vector<AnalysedChunk> old_next = {chunk(2, 2, "old at 3", 2)};
  const std::vector<AnalysedChunk> first_two = {chunk(1, 3, "", std::nullopt),
                                                chunk(2, 4, "new at 3", std::nullopt)};
  const std::vector<AnalysedChunk> stale_next = {chunk(2, 5, "stale at 3", 1)};     // 2 on record
  const std::vector<AnalysedChunk> taken_first = {chunk(1, 6, "x", std::nullopt)};  // one exists
  const std::vector<AnalysedChunk> too_big = {chunk(1, 7, AllBytes(limit), std::nullopt)};
  const std::vector<SessionStore::DeviceChunks> devices = {{"new", first_two},
                                                           {"old", old_next},
                                                           {"stale", stale_next},
                                                           {"taken", taken_first},
                                                           {"huge", too_big}};
  std::atomic<int> one_by_one{0};
  log::SetLineObserver(
      [](std::string_view line, void* count) {
        if (line.find("committing its devices one by one") != std::string_view::npos) {
          ++*static_cast<std::atomic<int>*>(count);
        }
      },
      &one_by_one);
  std::vector<Status> maria = both.maria->CommitDevices(devices);
  log::SetLineObserver(nullptr, nullptr);
  CHECK(one_by_one.load() == 0);  // one transaction
  // SQLite, one by one, without the device it has no size limit for.
  std::vector<Status> sqlite =
      both.sqlite->CommitDevices(std::span(devices).first(devices.size() - 1));
  REQUIRE(maria.size() == devices.size());
  REQUIRE(sqlite.size() == devices.size() - 1);
  const std::vector<StatusCode> expected = {StatusCode::kOk, StatusCode::kOk, StatusCode::kConflict,
                                            StatusCode::kConflict};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(devices[i].device);
    CHECK(maria[i].code() == expected[i]);
    CHECK(sqlite[i].code() == expected[i]);
    CHECK(maria[i].message() == sqlite[i].message());
  }
  CHECK(maria[4].code() == StatusCode::kResourceExhausted);
  CHECK(maria[4].message().find("device huge") != std::string::npos);

  CHECK(both.List({}).size() == 6);  // three before, old's one and new's two
  for (const char* device : {"new", "old", "stale", "taken"}) both.SameState(device);
  CHECK((*both.maria->LoadState("new"))->blob == "new at 3");
  CHECK((*both.maria->LoadState("stale"))->blob == "at 2 stale");
  CHECK_FALSE(both.maria->LoadState("huge")->has_value());
  for (std::uint64_t uid = 1; uid <= 7; ++uid) {
    for (const char* device : {"new", "old", "stale", "taken"}) both.SamePackets(device, uid);
  }
  both.SameCounters();
}

TEST_CASE("mariadb session store: two collectors commit the same chunk at once, one wins") {
  PICKET_REQUIRE_MARIADB();
  MariaDbServer server;
  StartServer(server);
  auto a = OpenMaria(server);
  auto b = OpenMaria(server);
  constexpr int kRounds = 20;
  for (int round = 0; round < kRounds; ++round) {
    CAPTURE(round);
    // Even rounds race on a device without a state row, odd ones on its next chunk.
    const std::string device = "race-" + std::to_string(round / 2);
    const std::uint64_t seq = static_cast<std::uint64_t>(round % 2) + 1;
    std::optional<std::uint64_t> previous;
    if (seq == 2) previous = 2;
    auto chunk_of = [&](const std::string& collector) {
      AnalysedChunk c;
      c.seq = seq;
      c.closed = {MakeSession(seq, "10.0.0.1", 53, 1000, collector)};
      c.refs = {{seq, {{seq, 24}}}};
      c.state = StateAfter(seq + 1, collector, seq);
      c.previous_next_seq = previous;
      return c;
    };
    const AnalysedChunk ca = chunk_of("a"), cb = chunk_of("b");
    std::atomic<int> ready{0};
    Status ra, rb;
    auto commit = [&](SessionStore* store, const AnalysedChunk* chunk, Status* out) {
      ++ready;
      while (ready.load() < 2) std::this_thread::yield();
      *out = store->CommitChunk(device, *chunk);
    };
    std::thread ta(commit, a.get(), &ca, &ra);
    std::thread tb(commit, b.get(), &cb, &rb);
    ta.join();
    tb.join();
    CHECK_MESSAGE((ra.ok() || ra.code() == StatusCode::kConflict), ra.ToString());
    CHECK_MESSAGE((rb.ok() || rb.code() == StatusCode::kConflict), rb.ToString());
    REQUIRE(ra.ok() + rb.ok() == 1);
    // The winner's state and session, and nothing of the loser's.
    const std::string winner = ra.ok() ? "a" : "b";
    auto state = a->LoadState(device);
    REQUIRE(state.ok());
    REQUIRE(state->has_value());
    CHECK((*state)->blob == winner);
    SessionFilter mine;
    mine.device = device;
    auto sessions = b->List(mine, 100);
    REQUIRE(sessions.ok());
    REQUIRE(sessions->size() == seq);
    CHECK(sessions->back().session.app == winner);
  }
  CHECK(a->AllCounters()->size() == kRounds / 2);
}

TEST_CASE("mariadb session store: device leases are taken, refused, renewed, expire and end") {
  PICKET_REQUIRE_MARIADB();
  MariaDbServer server;
  StartServer(server);
  auto a = OpenMaria(server);
  auto b = OpenMaria(server);
  auto claim = [](SessionStore& store, const std::string& device, const std::string& owner,
                  std::int64_t now_ms) {
    auto got = store.ClaimDevice(device, owner, now_ms, 1000);
    REQUIRE_MESSAGE(got.ok(), got.status().ToString());
    return *got;
  };
  CHECK(claim(*a, "gw", "collector-a", 10'000));  // new: until 11'000
  CHECK_FALSE(claim(*b, "gw", "collector-b", 10'500));
  CHECK(claim(*a, "gw", "collector-a", 10'900));         // renewed: until 11'900
  CHECK_FALSE(claim(*b, "gw", "collector-b", 11'500));   // would have run out unrenewed
  CHECK_FALSE(claim(*b, "gw", "collector-a ", 11'500));  // another owner, not a's name padded
  CHECK(claim(*b, "gw", "collector-b", 11'900));         // ran out: b takes over
  CHECK_FALSE(claim(*a, "gw", "collector-a", 12'000));
  CHECK(claim(*b, "gw", "collector-b", 12'000));
  CHECK(claim(*a, "gw-2", "collector-a", 12'000));  // leases are per device

  // A clean stop ends b's leases at once, and only b's.
  CHECK(claim(*b, "gw-3", "collector-b", 12'000));
  REQUIRE(b->ReleaseDevices("collector-b").ok());
  CHECK(claim(*a, "gw", "collector-a", 12'001));
  CHECK(claim(*a, "gw-3", "collector-a", 12'001));
  CHECK_FALSE(claim(*b, "gw-2", "collector-b", 12'001));
  REQUIRE(b->ReleaseDevices("nobody").ok());
  CHECK_FALSE(claim(*b, "gw", "collector-b", 12'002));

  // Many claims at once for one free device: exactly one owner.
  std::atomic<int> won{0};
  std::vector<std::thread> claimers;
  for (int i = 0; i < 6; ++i) {
    claimers.emplace_back([&, i] {
      SessionStore& store = i % 2 ? *a : *b;
      auto got = store.ClaimDevice("contested", "c" + std::to_string(i), 20'000, 1000);
      if (got.ok() && *got) ++won;
    });
  }
  for (std::thread& t : claimers) t.join();
  CHECK(won.load() == 1);
}

TEST_CASE(
    "mariadb session store: retention in batches as SQLite, binary states up to the packet limit") {
  PICKET_REQUIRE_MARIADB();
  MariaDbServer server;
  StartServer(server);
  BothStores both(server);

  AnalysedChunk chunk;
  chunk.seq = 1;
  for (std::uint64_t uid = 1; uid <= 5; ++uid) {
    chunk.closed.push_back(
        MakeSession(uid, "10.0.0.1", 53, static_cast<std::int64_t>(uid) * 1000, "DNS"));
    chunk.refs.push_back({uid, {{1, uid * 100}}});
  }
  chunk.state = StateAfter(2, "", 5);
  REQUIRE(both.Commit("gw", chunk).ok());
  AnalysedChunk later;
  later.seq = 2;
  later.closed = {MakeSession(6, "10.0.0.1", 53, 500, "DNS")};
  later.refs = {{6, {{2, 10}}}, {5, {{2, 20}}}};
  later.state = StateAfter(3, "", 6);
  later.previous_next_seq = 2;
  REQUIRE(both.Commit("gw", later).ok());
  for (std::uint64_t expected : {2, 2, 0}) {
    auto a = both.sqlite->DeleteOlderThan(3'500, 2);
    auto b = both.maria->DeleteOlderThan(3'500, 2);
    REQUIRE(a.ok());
    REQUIRE_MESSAGE(b.ok(), b.status().ToString());
    CHECK(*a == expected);
    CHECK(*b == expected);
  }
  CHECK(both.List({}).size() == 2);
  for (std::uint64_t uid = 1; uid <= 6; ++uid) both.SamePackets("gw", uid);
  CHECK(both.maria->Packets("gw", 1)->empty());
  CHECK(both.maria->Packets("gw", 5)->size() == 2);
  CHECK(*both.maria->DeleteOlderThan(1'000'000, 0) == 0);

  // Analyser states are bytes: NULs, 0xff, a megabyte.
  const std::string megabyte = AllBytes(1 << 20);
  AnalysedChunk big;
  big.seq = 1;
  big.state = StateAfter(2, megabyte, 0);
  REQUIRE(both.Commit("blob", big).ok());
  both.SameState("blob");
  CHECK((*both.maria->LoadState("blob"))->blob == megabyte);

  // The server's max_allowed_packet bounds a state: half of it fits, all of it
  // is refused before it is sent, naming the device and the size.
  auto raw = sync::MariaDbConnection::Connect(UrlOf(server));
  REQUIRE(raw.ok());
  auto limit_rows = (*raw)->Query("SELECT @@max_allowed_packet");
  REQUIRE(limit_rows.ok());
  const std::size_t limit = std::stoull(limit_rows->at(0).at(0).value());
  MESSAGE("max_allowed_packet: " << limit);
  AnalysedChunk half;
  half.seq = 2;
  half.state = StateAfter(3, AllBytes(limit / 2), 0);
  half.previous_next_seq = 2;
  REQUIRE(both.maria->CommitChunk("blob", half).ok());
  CHECK((*both.maria->LoadState("blob"))->blob == half.state.blob);
  AnalysedChunk whole;
  whole.seq = 3;
  whole.closed = {MakeSession(1, "10.0.0.1", 53, 1000, "DNS")};
  whole.state = StateAfter(4, AllBytes(limit), 0);
  whole.previous_next_seq = 3;
  Status refused = both.maria->CommitChunk("blob", whole);
  CHECK(refused.code() == StatusCode::kResourceExhausted);
  CHECK(refused.message().find("device blob") != std::string::npos);
  CHECK(refused.message().find(std::to_string(limit)) != std::string::npos);
  CHECK((*both.maria->LoadState("blob"))->next_seq == 3);
  SessionFilter blob_device;
  blob_device.device = "blob";
  CHECK(both.maria->List(blob_device, 10)->empty());
}

}  // namespace
}  // namespace picket::testing
