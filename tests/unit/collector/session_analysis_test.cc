// The analysis runner against a real collector.db, chunk files and
// sessions.db: seq order, the gap wait, damaged chunks, resuming.
#include "collector/session_analysis.h"

#include <doctest/doctest.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include "collector/chunk_store.h"
#include "collector/collector_db.h"
#include "support/temp_dir.h"

namespace picket::collector {

namespace {

class TestClock final : public Clock {
 public:
  MonoTime MonotonicNow() const override { return MonoTime(std::chrono::milliseconds(ms_.load())); }
  std::int64_t WallMillis() const override { return ms_.load(); }
  void Advance(std::int64_t ms) { ms_ += ms; }

 private:
  std::atomic<std::int64_t> ms_{1'800'000'000'000};
};

void Put32(std::string& out, std::uint32_t v) { out.append(reinterpret_cast<char*>(&v), 4); }

std::string PcapHeader() {
  std::string out;
  Put32(out, 0xa1b2c3d4);
  out += std::string("\x02\x00\x04\x00", 4);
  Put32(out, 0);
  Put32(out, 0);
  Put32(out, 65535);
  Put32(out, 1);  // Ethernet
  return out;
}

// One Ethernet/IPv4/UDP packet 10.0.0.<host> → 10.0.0.100:53 at `sec` seconds.
std::string UdpRecord(int host, std::uint16_t sport, std::uint32_t sec) {
  std::string frame(14, '\0');
  frame[12] = 0x08;
  const std::uint8_t ip[20] = {0x45, 0, 0, 36, 0, 1, 0, 0, 64, 17, 0, 0,
                               10,   0, 0, static_cast<std::uint8_t>(host), 10, 0, 0, 100};
  frame.append(reinterpret_cast<const char*>(ip), 20);
  const std::uint8_t udp[8] = {static_cast<std::uint8_t>(sport >> 8),
                               static_cast<std::uint8_t>(sport), 0, 53, 0, 16, 0, 0};
  frame.append(reinterpret_cast<const char*>(udp), 8);
  frame.append(8, 'x');
  std::string rec;
  Put32(rec, sec);
  Put32(rec, 0);
  Put32(rec, static_cast<std::uint32_t>(frame.size()));
  Put32(rec, static_cast<std::uint32_t>(frame.size()));
  return rec + frame;
}

struct Harness {
  testing::TempDir dir;
  TestClock clock;
  std::unique_ptr<CollectorDb> db;
  std::optional<ChunkStore> chunks;
  std::unique_ptr<SessionStore> store;

  Harness() {
    db = std::move(CollectorDb::Open(dir.path() + "/collector.db").value());
    chunks.emplace(ChunkStore::Open(dir.path()).value());
    store = std::move(SessionStore::Open(dir.path() + "/sessions.db").value());
  }

  void Put(std::uint64_t seq, const std::string& pcap, std::int64_t gap_before_ms = 0,
           const std::string& device = "gw") {
    ChunkRecord c;
    c.device = device;
    c.seq = seq;
    c.sha256_hex = "h" + std::to_string(seq);
    c.bytes = pcap.size();
    c.received_at_ms = clock.WallMillis();
    if (gap_before_ms > 0) c.gap_before_ms = gap_before_ms;
    c.path = chunks->PathFor(device, seq);
    auto pending = chunks->Prepare(device, seq, pcap);
    REQUIRE(pending.ok());
    auto put = db->PutChunk(c, {}, [&] { return pending->Publish(); });
    REQUIRE(put.ok());
  }

  // `on`: a wrapper of `store` (LeasedStore), else the store itself.
  std::unique_ptr<SessionAnalysis> Runner(std::size_t max_resident = 64,
                                          SessionStore* on = nullptr) {
    SessionAnalysisOptions o;
    o.max_resident_devices = max_resident;
    o.gap_wait = std::chrono::seconds(30);
    o.retention = std::chrono::milliseconds(0);
    o.analyzer.label = false;
    return std::move(SessionAnalysis::Create(o, db.get(), on ? on : store.get(), &clock).value());
  }

  std::vector<StoredSession> Sessions() { return store->List({}, 1000).value(); }
  DeviceAnalysisCounters Counters(SessionAnalysis& r) { return r.Counters("gw").value().value(); }
};

// Chunk n holds a packet of host n at 100·n s (so the flow of chunk n-1 is
// idle by then) and one of host 1 (a flow that spans every chunk).
std::string Chunk(int n) {
  return PcapHeader() + UdpRecord(n + 1, 1000, 100 * n) + UdpRecord(1, 999, 100 * n + 1);
}

// Sessions as comparable lines (endpoints, packets, end reason), sorted.
std::vector<std::string> Summary(const std::vector<StoredSession>& sessions) {
  std::vector<std::string> out;
  for (const auto& s : sessions) {
    out.push_back(s.session.src_ip + ":" + std::to_string(s.session.src_port) + " " +
                  std::to_string(s.session.orig_pkts) + " " +
                  std::string(analysis::EndReasonName(s.session.end_reason)));
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The SQLite store with a lease another collector may hold (the real leases
// live in MariaDB: tests/integration/mariadb_session_store_test.cc).
class LeasedStore final : public SessionStore {
 public:
  explicit LeasedStore(SessionStore* inner) : inner_(inner) {}
  bool others_hold = false;
  bool throw_on_commit = false;  // the next commit throws (a library's exception)
  std::vector<std::string> released;

  Result<std::optional<AnalysisState>> LoadState(const std::string& d) override {
    return inner_->LoadState(d);
  }
  Status CommitChunks(const std::string& d, std::span<const AnalysedChunk> c) override {
    if (std::exchange(throw_on_commit, false)) throw std::runtime_error("disk on fire");
    commit_sizes.push_back(c.size());
    return inner_->CommitChunks(d, c);
  }
  std::vector<std::size_t> commit_sizes;
  std::vector<Status> CommitDevices(std::span<const DeviceChunks> devices) override {
    group_sizes.push_back(devices.size());
    return SessionStore::CommitDevices(devices);  // one by one, through CommitChunks above
  }
  std::vector<std::size_t> group_sizes;  // devices per CommitDevices
  Result<std::uint64_t> DeleteOlderThan(std::int64_t before_us, std::uint64_t batch) override {
    return inner_->DeleteOlderThan(before_us, batch);
  }
  Result<bool> ClaimDevice(const std::string&, const std::string&, std::int64_t,
                           std::int64_t) override {
    return !others_hold;
  }
  Status ReleaseDevices(const std::string& owner) override {
    released.push_back(owner);
    return Status::Ok();
  }
  Result<std::vector<StoredSession>> List(const SessionFilter& f, std::uint64_t n) override {
    return inner_->List(f, n);
  }
  Result<std::optional<StoredSession>> Get(std::uint64_t id, bool with_packets) override {
    return inner_->Get(id, with_packets);
  }
  Result<std::vector<analysis::PacketRef>> Packets(const std::string& d, std::uint64_t uid) override {
    return inner_->Packets(d, uid);
  }
  Result<std::vector<AnalysisState>> AllCounters() override { return inner_->AllCounters(); }

 private:
  SessionStore* inner_;
};

}  // namespace

TEST_SUITE("collector.session_analysis") {
  TEST_CASE("two runners on one store: a commit over a state moved on elsewhere is refused") {
    std::vector<std::string> expected;
    {
      Harness h;
      for (int n = 1; n <= 4; ++n) h.Put(n, Chunk(n));
      REQUIRE(h.Runner()->Pass().ok());
      expected = Summary(h.Sessions());
    }
    Harness h;
    auto a = h.Runner();
    auto b = h.Runner();
    h.Put(1, Chunk(1));
    h.Put(2, Chunk(2));
    REQUIRE(a->Pass().ok());
    REQUIRE(b->Pass().ok());  // b loads the state a left (next 3): nothing to do
    CHECK(h.Counters(*b).next_seq == 3);
    auto stored = [&](int n) {  // as the API does for each stored chunk
      h.Put(n, Chunk(n));
      a->Notify("gw");
      b->Notify("gw");
    };
    stored(3);
    REQUIRE(a->Pass().ok());  // a commits 3
    REQUIRE(b->Pass().ok());  // b's analyser is at 3 too: its commit is refused, b drops it
    REQUIRE(b->Pass().ok());  // and resumes from the stored state
    CHECK(h.Counters(*b).next_seq == 4);
    stored(4);
    REQUIRE(b->Pass().ok());  // now b commits 4
    REQUIRE(a->Pass().ok());  // a, stale at 4, is refused
    CHECK(h.Counters(*a).next_seq == 5);
    CHECK(h.Counters(*a).chunks_analysed == 4);
    CHECK(Summary(h.Sessions()) == expected);  // nothing counted twice
  }

  TEST_CASE("a turn commits its chunks 16 at a time, the rest when it ends") {
    Harness h;
    LeasedStore counted(h.store.get());
    auto runner = h.Runner(64, &counted);
    for (int n = 1; n <= 40; ++n) h.Put(n, Chunk(n));
    REQUIRE(runner->Pass().ok());
    CHECK(counted.commit_sizes == std::vector<std::size_t>{16, 16, 8});
    CHECK(h.Counters(*runner).next_seq == 41);
    CHECK(h.Counters(*runner).chunks_analysed == 40);
    // What one commit per chunk stores (a fresh runner for every chunk).
    Harness one;
    for (int n = 1; n <= 40; ++n) {
      one.Put(n, Chunk(n));
      REQUIRE(one.Runner()->Pass().ok());
    }
    CHECK(Summary(h.Sessions()) == Summary(one.Sessions()));
    CHECK(h.Sessions().size() == one.Sessions().size());
  }

  TEST_CASE("a device whose analysis throws fails like a storage error, rests, then resumes once") {
    Harness h;
    LeasedStore throwing(h.store.get());
    auto runner = h.Runner(64, &throwing);
    for (int n = 1; n <= 3; ++n) h.Put(n, Chunk(n));
    throwing.throw_on_commit = true;
    Status thrown = runner->Pass();  // before: the exception ended the analysis thread
    REQUIRE_FALSE(thrown.ok());
    CHECK(thrown.code() == StatusCode::kInternal);
    CHECK(thrown.message().find("device gw") != std::string::npos);
    CHECK(thrown.message().find("analysis threw: disk on fire") != std::string::npos);
    CHECK_FALSE(runner->Counters("gw").value().has_value());  // nothing committed
    CHECK(runner->resident_devices() == 0);                   // back to its committed state
    REQUIRE(runner->Pass().ok());                             // resting, as a failed device does
    CHECK_FALSE(runner->Counters("gw").value().has_value());
    h.clock.Advance(11'000);
    REQUIRE(runner->Pass().ok());
    CHECK(h.Counters(*runner).next_seq == 4);
    CHECK(h.Counters(*runner).chunks_analysed == 3);  // each chunk counted once
    Harness clean;
    for (int n = 1; n <= 3; ++n) clean.Put(n, Chunk(n));
    REQUIRE(clean.Runner()->Pass().ok());
    CHECK(Summary(h.Sessions()) == Summary(clean.Sessions()));
  }

  TEST_CASE("a device leased by another collector waits, then is taken over from its state") {
    Harness h;
    LeasedStore leased(h.store.get());
    SessionAnalysisOptions o;
    o.owner = "collector-b";
    o.retention = std::chrono::milliseconds(0);
    o.analyzer.label = false;
    auto runner = SessionAnalysis::Create(o, h.db.get(), &leased, &h.clock).value();
    h.Put(1, Chunk(1));
    leased.others_hold = true;
    REQUIRE(runner->Pass().ok());
    CHECK_FALSE(runner->Counters("gw").value().has_value());  // not analysed while leased away
    CHECK(runner->resident_devices() == 0);
    leased.others_hold = false;  // the holder died: its lease ran out
    REQUIRE(runner->Pass().ok());  // a waiting device is retried every pass
    CHECK(h.Counters(*runner).next_seq == 2);
    runner->Start();
    runner->Stop();
    CHECK(leased.released == std::vector<std::string>{"collector-b"});
  }

  TEST_CASE("the analysis thread yields to ingest: nice 10, named 'sessions'") {
    Harness h;
    auto runner = h.Runner();
    runner->Start();
    // Its own thread names and renices itself as it starts: found by name, within 10 s.
    std::optional<int> nice;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!nice && std::chrono::steady_clock::now() < deadline) {
      for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
        std::ifstream comm(task.path() / "comm");
        std::string name;
        if (!std::getline(comm, name) || name != "sessions") continue;
        std::ifstream stat(task.path() / "stat");
        std::string text((std::istreambuf_iterator<char>(stat)), {});
        std::istringstream fields(text.substr(text.rfind(')') + 2));  // after "pid (comm) "
        std::string field;
        for (int i = 3; i <= 19 && fields >> field; ++i) {  // field 19: nice
          if (i == 19) nice = std::stoi(field);
        }
      }
      if (!nice) std::this_thread::yield();
    }
    runner->Stop();
    REQUIRE(nice);
    CHECK(*nice == 10);
  }

  TEST_CASE("chunks are analysed in seq order and a flow spans chunks") {
    Harness h;
    auto runner = h.Runner();
    h.Put(1, Chunk(1));
    h.Put(2, Chunk(2));
    REQUIRE(runner->Pass().ok());
    auto c = h.Counters(*runner);
    CHECK(c.next_seq == 3);
    CHECK(c.chunks_analysed == 2);
    // Host 2's flow (chunk 1) went idle when chunk 2's packets came 100 s later.
    auto sessions = h.Sessions();
    REQUIRE(sessions.size() == 2);  // host 2 and host 1 (port 999, idle between 101 s and 201 s)
    for (const auto& s : sessions) {
      CHECK(s.session.device == "gw");
      CHECK(s.session.end_reason == analysis::EndReason::kIdle);
      auto packets = h.store->Packets("gw", s.session.uid);
      REQUIRE(packets.ok());
      CHECK(packets->size() == 1);
      CHECK(packets->front().chunk_seq == 1);
    }
  }

  TEST_CASE("a missing seq is waited for, then skipped with gap") {
    Harness h;
    auto runner = h.Runner();
    h.Put(1, Chunk(1));
    h.Put(3, PcapHeader() + UdpRecord(9, 1000, 101));  // within the idle timeouts
    REQUIRE(runner->Pass().ok());
    CHECK(h.Counters(*runner).next_seq == 2);  // waiting for 2
    CHECK(h.Sessions().empty());
    h.clock.Advance(10'000);
    REQUIRE(runner->Pass().ok());
    CHECK(h.Counters(*runner).next_seq == 2);

    SUBCASE("it arrives in time") {
      h.Put(2, PcapHeader() + UdpRecord(8, 1000, 100));
      REQUIRE(runner->Pass().ok());
      CHECK(h.Counters(*runner).next_seq == 4);
      CHECK(h.Counters(*runner).skipped_seqs == 0);
      CHECK(h.Sessions().empty());  // nothing idle yet, no gap
    }
    SUBCASE("it never comes") {
      h.clock.Advance(25'000);
      REQUIRE(runner->Pass().ok());
      auto c = h.Counters(*runner);
      CHECK(c.next_seq == 4);
      CHECK(c.skipped_seqs == 1);
      auto sessions = h.Sessions();
      REQUIRE(sessions.size() == 2);  // chunk 1's flows, ended by the gap
      for (const auto& s : sessions) CHECK(s.session.end_reason == analysis::EndReason::kGap);
      h.Put(2, Chunk(2));  // too late: never analysed
      REQUIRE(runner->Pass().ok());
      CHECK(h.Counters(*runner).chunks_analysed == 2);
    }
  }

  TEST_CASE("a chunk recorded after a capture gap ends the open sessions with gap") {
    Harness h;
    auto runner = h.Runner();
    h.Put(1, Chunk(1));
    h.Put(2, PcapHeader() + UdpRecord(9, 1000, 101), /*gap_before_ms=*/5000);
    REQUIRE(runner->Pass().ok());
    auto sessions = h.Sessions();
    REQUIRE(sessions.size() == 2);
    for (const auto& s : sessions) CHECK(s.session.end_reason == analysis::EndReason::kGap);
  }

  TEST_CASE("a damaged chunk counts its packets before the damage and analysis goes on") {
    Harness h;
    auto runner = h.Runner();
    std::string torn = Chunk(1);
    torn += UdpRecord(7, 1000, 102).substr(0, 20);  // a record cut short
    h.Put(1, torn);
    h.Put(2, Chunk(2));
    REQUIRE(runner->Pass().ok());
    auto c = h.Counters(*runner);
    CHECK(c.chunks_analysed == 2);
    CHECK(c.damaged_chunks == 1);
    CHECK(h.Sessions().size() == 2);  // chunk 1's two flows, as without the torn record
  }

  TEST_CASE("a new runner resumes from the saved state and counts nothing twice") {
    std::vector<std::string> expected;
    auto summary = [](const std::vector<StoredSession>& sessions) {
      std::vector<std::string> out;
      for (const auto& s : sessions) {
        out.push_back(s.session.src_ip + ":" + std::to_string(s.session.src_port) + " " +
                      std::to_string(s.session.orig_pkts) + " " +
                      std::string(analysis::EndReasonName(s.session.end_reason)));
      }
      std::sort(out.begin(), out.end());
      return out;
    };
    {
      Harness h;
      auto runner = h.Runner();
      for (int n = 1; n <= 4; ++n) h.Put(n, Chunk(n));
      REQUIRE(runner->Pass().ok());
      expected = summary(h.Sessions());
    }
    Harness h;
    for (int n = 1; n <= 4; ++n) {
      h.Put(n, Chunk(n));
      auto runner = h.Runner();  // a fresh process for every chunk
      REQUIRE(runner->Pass().ok());
      CHECK(h.Counters(*runner).next_seq == static_cast<std::uint64_t>(n + 1));
    }
    CHECK(summary(h.Sessions()) == expected);
    CHECK(expected.size() == 6);
  }

  TEST_CASE("a device whose saved state cannot be restored stops, is reported, and rests") {
    Harness h;
    AnalysedChunk bad;
    bad.seq = 1;
    bad.state.next_seq = 2;
    bad.state.blob = "not a saved analyser state";
    REQUIRE(h.store->CommitChunk("gw", bad).ok());
    h.Put(1, Chunk(1));
    h.Put(2, Chunk(2));
    auto runner = h.Runner();
    Status first = runner->Pass();
    CHECK_FALSE(first.ok());
    CHECK(first.message().find("gw") != std::string::npos);
    CHECK(runner->Pass().ok());  // resting: not retried (nor logged) at once
    CHECK(h.Counters(*runner).next_seq == 2);
    h.clock.Advance(11'000);
    CHECK_FALSE(runner->Pass().ok());  // retried, still broken; nothing stored meanwhile
    CHECK(h.Sessions().empty());
  }

  TEST_CASE(
      "devices commit in groups of up to half the resident analysers, none evicted with "
      "chunks to commit") {
    Harness h;
    LeasedStore counted(h.store.get());
    auto runner = h.Runner(/*max_resident=*/4, &counted);  // groups of 2
    // Three analysers resident, committed, all active in the same millisecond as what follows.
    for (const char* device : {"z1", "z2", "z3"}) h.Put(1, Chunk(1), 0, device);
    REQUIRE(runner->Pass().ok());
    CHECK(counted.group_sizes == std::vector<std::size_t>{2, 1});
    // a1's analysed chunk waits for its group while a2 loads: the least recently active is
    // a tie, and a1 comes first by name; a committed one must go instead.
    for (const char* device : {"a1", "a2", "a3"}) {
      h.Put(1, Chunk(1), 0, device);
      runner->Notify(device);
    }
    REQUIRE(runner->Pass().ok());
    CHECK(counted.group_sizes == std::vector<std::size_t>{2, 1, 2, 1});
    for (const char* device : {"a1", "a2", "a3", "z1", "z2", "z3"}) {
      CAPTURE(device);
      auto c = runner->Counters(device);
      REQUIRE(c.ok());
      REQUIRE(c->has_value());
      CHECK((*c)->next_seq == 2);
      CHECK((*c)->chunks_analysed == 1);
    }
    CHECK(runner->resident_devices_peak() <= 4);
  }

  TEST_CASE("analysers in memory are bounded: an evicted device resumes from its saved state") {
    Harness h;
    auto runner = h.Runner(/*max_resident=*/1);
    for (int n = 1; n <= 3; ++n) {
      h.Put(n, Chunk(n), 0, "gw");
      h.Put(n, Chunk(n), 0, "gw-b");
      runner->Notify("gw");  // what the PUT path does
      runner->Notify("gw-b");
      REQUIRE(runner->Pass().ok());
      CHECK(runner->resident_devices() == 1);
      CHECK(runner->resident_devices_peak() == 1);  // also within the pass
    }
    auto a = h.store->List({.device = "gw"}, 100).value();
    auto b = h.store->List({.device = "gw-b"}, 100).value();
    CHECK(a.size() == 4);  // hosts 2 and 3, host 1 at 101 s and 201 s
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      CHECK(a[i].session.uid == b[i].session.uid);
      CHECK(a[i].session.orig_pkts == b[i].session.orig_pkts);
    }
  }
}

}  // namespace picket::collector
