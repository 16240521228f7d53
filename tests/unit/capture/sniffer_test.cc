#include "picket/capture/sniffer.h"

#include <doctest/doctest.h>

#include <chrono>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "fakes/capture/capture_test_support.h"
#include "fakes/capture/fake_clock.h"
#include "fakes/capture/fake_packet_source.h"

namespace picket::capture {

namespace {

using testing::FakeClock;
using testing::FakePacketSource;
using testing::MakePacket;
using testing::QuietLogs;
using testing::ReadPcapFile;
using testing::StoredPacket;
using testing::TempDir;

std::vector<StoredPacket> Packets(int first, int count, std::size_t size = 100) {
  std::vector<StoredPacket> out;
  for (int i = first; i < first + count; ++i) {
    out.push_back(MakePacket(i * 1000, size, static_cast<std::uint8_t>(i)));
  }
  return out;
}

// A fake source, a real ChunkWriter in a scratch dir, a fake clock.
struct Rig {
  explicit Rig(ChunkWriterOptions o = {}, ChunkWriter::SeqAllocator seq = {}) {
    o.dir = dir.path();
    o.interface = source.Name();
    if (o.max_bytes == ChunkWriterOptions{}.max_bytes) o.max_bytes = 1 << 20;
    auto w = ChunkWriter::Open(
        o, clock, seq ? std::move(seq) : ChunkWriter::CountingSeq(1),
        [this] { return source.Stats(); }, [this](const SealedChunk& c) { sealed.push_back(c); });
    REQUIRE(w.ok());
    writer = std::move(*w);
  }

  std::vector<StoredPacket> ReadAllSealed() const { return testing::ReadSealedPackets(sealed); }

  QuietLogs quiet;
  TempDir dir;
  FakeClock clock;
  FakePacketSource source;
  std::vector<SealedChunk> sealed;
  std::unique_ptr<ChunkWriter> writer;
};

ChunkWriterOptions IdleAfter(Millis idle) {
  ChunkWriterOptions o;
  o.idle = idle;
  return o;
}

}  // namespace

TEST_SUITE("capture.sniffer") {
  TEST_CASE("packets flow into chunks, idle ticks rotate, end of input seals the rest") {
    Rig rig(IdleAfter(Millis(500)));
    const auto first = Packets(0, 5);
    const auto second = Packets(5, 3);
    rig.source.PushPackets(first);
    rig.source.PushIdle([&] { rig.clock.Advance(Millis(300)); });
    rig.source.PushIdle([&] { rig.clock.Advance(Millis(200)); });  // idle reached: Tick seals
    rig.source.PushPackets(second);
    Sniffer sniffer(rig.source, *rig.writer, rig.clock);
    REQUIRE(sniffer.Run().ok());

    REQUIRE(rig.sealed.size() == 2);
    CHECK(rig.sealed[0].packets == 5);
    CHECK(rig.sealed[0].reason == SealReason::kIdle);
    CHECK(rig.sealed[1].packets == 3);
    CHECK(rig.sealed[1].reason == SealReason::kStop);
    CHECK(rig.sealed[1].interface == "fake0");
    std::vector<StoredPacket> all = first;
    all.insert(all.end(), second.begin(), second.end());
    CHECK(rig.ReadAllSealed() == all);

    const SnifferStats s = sniffer.Stats();
    CHECK(s.packets == 8);
    CHECK(s.captured_bytes == 800);
    CHECK(s.wire_bytes == 800);
    CHECK(s.lost_packets == 0);
  }

  TEST_CASE("drops from the source's counters land in the chunk of their interval") {
    Rig rig(IdleAfter(Millis(100)));
    rig.source.PushPackets(Packets(0, 2));
    rig.source.PushIdle([&] {
      rig.source.set_stats({50, 7, 2});
      rig.clock.Advance(Millis(100));
    });
    rig.source.PushPackets(Packets(2, 2));
    rig.source.PushIdle([&] { rig.source.set_stats({90, 9, 2}); });
    Sniffer sniffer(rig.source, *rig.writer, rig.clock);
    REQUIRE(sniffer.Run().ok());
    REQUIRE(rig.sealed.size() == 2);
    CHECK(rig.sealed[0].kernel_drops == 7);
    CHECK(rig.sealed[0].interface_drops == 2);
    CHECK(rig.sealed[1].kernel_drops == 2);
    CHECK(rig.sealed[1].interface_drops == 0);
  }

  TEST_CASE("Stats carries the source's drop counters, read at most every source_stats_every") {
    Rig rig;
    Sniffer* running = nullptr;
    std::uint64_t seen_before_due = 0;
    rig.source.PushIdle([&] {
      rig.source.set_stats({10, 3, 1});
      rig.clock.Advance(Millis(1000));
    });
    rig.source.PushIdle([&] { rig.source.set_stats({20, 5, 2}); });  // not due yet
    rig.source.PushIdle([&] {
      seen_before_due = running->Stats().kernel_drops;
      rig.clock.Advance(Millis(1000));
    });
    SnifferOptions o;
    o.source_stats_every = Millis(1000);
    Sniffer sniffer(rig.source, *rig.writer, rig.clock, o);
    running = &sniffer;
    REQUIRE(sniffer.Run().ok());
    CHECK(seen_before_due == 3);
    CHECK(sniffer.Stats().kernel_drops == 5);
    CHECK(sniffer.Stats().interface_drops == 2);
  }

  TEST_CASE("a stop request ends the loop after the current dispatch and seals") {
    Rig rig;
    std::unique_ptr<Sniffer> sniffer;
    rig.source.PushPackets(Packets(0, 4));
    rig.source.PushIdle([&] { sniffer->RequestStop(); });
    rig.source.PushPackets(Packets(4, 4));  // never read
    sniffer = std::make_unique<Sniffer>(rig.source, *rig.writer, rig.clock);
    REQUIRE(sniffer->Run().ok());
    CHECK(sniffer->stop_requested());
    CHECK(rig.source.dispatch_calls() == 2);
    REQUIRE(rig.sealed.size() == 1);
    CHECK(rig.sealed[0].packets == 4);
    CHECK(rig.sealed[0].reason == SealReason::kStop);
  }

  TEST_CASE("stop on a quiet link: an empty chunk is discarded, not sealed") {
    Rig rig;
    std::unique_ptr<Sniffer> sniffer;
    rig.source.PushIdle([&] { sniffer->RequestStop(); });
    sniffer = std::make_unique<Sniffer>(rig.source, *rig.writer, rig.clock);
    REQUIRE(sniffer->Run().ok());
    CHECK(rig.sealed.empty());
    CHECK(rig.dir.List().empty());
  }

  TEST_CASE("a stop requested before Run is honoured at once") {
    Rig rig;
    rig.source.PushPackets(Packets(0, 4));
    Sniffer sniffer(rig.source, *rig.writer, rig.clock);
    sniffer.RequestStop();
    REQUIRE(sniffer.Run().ok());
    CHECK(rig.source.dispatch_calls() == 0);
  }

  TEST_CASE("max_packets bounds the dispatches exactly") {
    Rig rig;
    rig.source.PushPackets(Packets(0, 10));
    SnifferOptions options;
    options.max_packets = 4;
    options.dispatch_batch = 3;
    Sniffer sniffer(rig.source, *rig.writer, rig.clock, options);
    REQUIRE(sniffer.Run().ok());
    CHECK(sniffer.Stats().packets == 4);
    REQUIRE(rig.sealed.size() == 1);
    CHECK(rig.sealed[0].packets == 4);
    CHECK(rig.source.dispatch_calls() == 2);  // 3, then 1
  }

  TEST_CASE("a fatal source error still seals what was captured, then is returned") {
    Rig rig;
    rig.source.PushPackets(Packets(0, 3));
    FakePacketSource::Step broken;
    broken.error = Status::Unavailable("capture on fake0: The interface disappeared");
    rig.source.Push(std::move(broken));
    Sniffer sniffer(rig.source, *rig.writer, rig.clock);
    Status st = sniffer.Run();
    CHECK(st.code() == StatusCode::kUnavailable);
    CHECK(st.message() == "capture on fake0: The interface disappeared");
    REQUIRE(rig.sealed.size() == 1);
    CHECK(rig.sealed[0].packets == 3);
  }

  TEST_CASE("a live filter change is applied by the loop between dispatches") {
    Rig rig;
    std::unique_ptr<Sniffer> sniffer;
    std::vector<Status> results;
    rig.source.PushPackets(Packets(0, 2));
    rig.source.PushIdle([&] {
      sniffer->RequestFilter("udp port 53", [&](const Status& st) { results.push_back(st); });
      CHECK(rig.source.filter_calls().empty());  // queued, not applied inside a dispatch
    });
    rig.source.PushPackets(Packets(2, 2));
    sniffer = std::make_unique<Sniffer>(rig.source, *rig.writer, rig.clock);
    REQUIRE(sniffer->Run().ok());
    const auto calls = rig.source.filter_calls();
    REQUIRE(calls.size() == 1);
    CHECK(calls[0].expr == "udp port 53");
    CHECK(calls[0].after_dispatch == 2);
    CHECK(calls[0].thread == std::this_thread::get_id());
    REQUIRE(results.size() == 1);
    CHECK(results[0].ok());
    CHECK(sniffer->Stats().filter_changes == 1);
    CHECK(sniffer->Stats().packets == 4);  // capture went on across the change
  }

  TEST_CASE("a stop drains what the ring has received but not yet delivered") {
    for (const bool drain : {true, false}) {
      CAPTURE(drain);
      Rig rig;
      std::unique_ptr<Sniffer> sniffer;
      rig.source.PushPackets(Packets(0, 2));
      rig.source.PushIdle([&] {
        // Three more packets sit in a ring block that has not retired yet.
        rig.source.set_stats({5, 0, 0});
        sniffer->RequestStop();
      });
      rig.source.PushPackets(Packets(2, 3));
      SnifferOptions o;
      o.ring_drain = drain ? Millis(500) : Millis(0);
      sniffer = std::make_unique<Sniffer>(rig.source, *rig.writer, rig.clock, o);
      REQUIRE(sniffer->Run().ok());
      CHECK(sniffer->Stats().packets == (drain ? 5u : 2u));
      CHECK(rig.ReadAllSealed().size() == (drain ? 5u : 2u));
    }
  }

  TEST_CASE("a hand-over drains the ring only past the successor's start") {
    for (const bool handover : {true, false}) {
      CAPTURE(handover);
      Rig rig;
      std::unique_ptr<Sniffer> sniffer;
      rig.source.PushPackets({MakePacket(1000, 60), MakePacket(2000, 60)});
      rig.source.PushIdle([&] {
        rig.source.set_stats({10, 0, 0});  // more waiting in the ring, and more arriving
        if (handover) sniffer->RequestHandOver(2500);  // the successor captures since 2500 us
        else sniffer->RequestStop();
      });
      rig.source.PushPackets({MakePacket(3000, 60)});
      // 3600 is past 2500 + 1 ms: it and all after it in the ring are the
      // successor's, even one stamped earlier on another CPU.
      rig.source.PushPackets({MakePacket(3600, 60), MakePacket(3400, 60)});
      rig.source.PushPackets({MakePacket(5000, 60)});
      SnifferOptions o;
      o.ring_drain = Millis(500);
      sniffer = std::make_unique<Sniffer>(rig.source, *rig.writer, rig.clock, o);
      REQUIRE(sniffer->Run().ok());
      CHECK(sniffer->Stats().packets == (handover ? 3u : 6u));
      CHECK(sniffer->Cut()->ts_us == (handover ? 3000 : 5000));
      CHECK(rig.ReadAllSealed().size() == (handover ? 3u : 6u));
    }
  }

  TEST_CASE("a filter change first delivers what the ring holds under the old filter") {
    Rig rig;
    std::unique_ptr<Sniffer> sniffer;
    rig.source.PushPackets(Packets(0, 2));
    rig.source.PushIdle([&] {
      rig.source.set_stats({4, 0, 0});  // two received, waiting in the ring
      sniffer->RequestFilter("udp port 53");
    });
    rig.source.PushPackets(Packets(2, 2));  // delivered by the drain, before the change
    rig.source.PushPackets(Packets(4, 1));
    SnifferOptions o;
    o.ring_drain = Millis(500);
    sniffer = std::make_unique<Sniffer>(rig.source, *rig.writer, rig.clock, o);
    REQUIRE(sniffer->Run().ok());
    const auto calls = rig.source.filter_calls();
    REQUIRE(calls.size() == 1);
    CHECK(calls[0].after_dispatch == 3);  // the drain's dispatch came first
    CHECK(sniffer->Stats().packets == 5);
  }

  TEST_CASE("make-before-break: the successor keeps exactly what its predecessor did not take") {
    // Both handles see the same packets with the same kernel timestamps while they overlap.
    auto at = [](std::int64_t ts_us, int id) { return MakePacket(ts_us, 60, static_cast<std::uint8_t>(id)); };
    Rig before;
    // A timestamp going back (another CPU) does not move the cut; two packets share 3000 us.
    before.source.PushPackets({at(1000, 1), at(3000, 2), at(2500, 3), at(3000, 4)});
    Sniffer old_capture(before.source, *before.writer, before.clock);
    CHECK_FALSE(old_capture.Cut().has_value());
    REQUIRE(old_capture.Run().ok());
    REQUIRE(old_capture.Cut().has_value());
    CHECK(*old_capture.Cut() == CaptureCut{3000, 2});

    Rig after;
    // Its ring opened at 2500: the overlap, then a third packet at 3000 the old one never took,
    // then later a wall clock stepped back (kept: skipping ended at the first packet after the cut).
    const std::vector<StoredPacket> kept{at(3000, 5), at(4000, 6), at(1500, 7), at(3000, 8)};
    after.source.PushPackets({at(2500, 3), at(3000, 2), at(3000, 4)});
    after.source.PushPackets(kept);
    SnifferOptions o;
    o.skip_through = old_capture.Cut();
    Sniffer new_capture(after.source, *after.writer, after.clock, o);
    REQUIRE(new_capture.Run().ok());
    CHECK(after.ReadAllSealed() == kept);
    CHECK(new_capture.Stats().overlap_skipped == 3);
    CHECK(new_capture.Stats().packets == 4);
    CHECK(*new_capture.Cut() == CaptureCut{4000, 1});

    // Without a cut nothing is skipped.
    Rig plain;
    plain.source.PushPackets({at(1000, 1), at(1000, 2)});
    Sniffer first(plain.source, *plain.writer, plain.clock);
    REQUIRE(first.Run().ok());
    CHECK(first.Stats().overlap_skipped == 0);
    CHECK(plain.ReadAllSealed().size() == 2);
  }

  TEST_CASE("a source that cuts over exactly gets the filter at once, with no drain") {
    Rig rig;
    rig.source.set_exact_filter_switch(true);
    std::unique_ptr<Sniffer> sniffer;
    std::vector<Status> results;
    rig.source.PushPackets(Packets(0, 2));
    rig.source.PushIdle([&] {
      rig.source.set_stats({4, 0, 0});  // two received under the old filter, still queued
      sniffer->RequestFilter("udp port 53", [&](const Status& st) { results.push_back(st); });
    });
    rig.source.PushPackets(Packets(2, 2));  // the queued two, delivered after the change
    rig.source.PushPackets(Packets(4, 1));
    SnifferOptions o;
    o.ring_drain = Millis(500);
    sniffer = std::make_unique<Sniffer>(rig.source, *rig.writer, rig.clock, o);
    REQUIRE(sniffer->Run().ok());
    const auto calls = rig.source.filter_calls();
    REQUIRE(calls.size() == 1);
    CHECK(calls[0].after_dispatch == 2);  // applied before any further dispatch
    REQUIRE(results.size() == 1);
    CHECK(results[0].ok());
    CHECK(sniffer->Stats().packets == 5);
    CHECK(rig.ReadAllSealed().size() == 5);  // each once
  }

  TEST_CASE("a refused filter is reported and the capture goes on") {
    Rig rig;
    std::unique_ptr<Sniffer> sniffer;
    std::vector<Status> results;
    rig.source.set_filter_result(
        Status::InvalidArgument("bad BPF filter \"tcp port\": syntax error"));
    rig.source.PushIdle([&] {
      sniffer->RequestFilter("tcp port", [&](const Status& st) { results.push_back(st); });
    });
    rig.source.PushPackets(Packets(0, 2));
    sniffer = std::make_unique<Sniffer>(rig.source, *rig.writer, rig.clock);
    REQUIRE(sniffer->Run().ok());
    REQUIRE(results.size() == 1);
    CHECK(results[0].code() == StatusCode::kInvalidArgument);
    CHECK(sniffer->Stats().filter_changes == 0);
    CHECK(sniffer->Stats().packets == 2);
  }

  TEST_CASE("a newer filter request replaces an unapplied one, which is Cancelled") {
    Rig rig;
    std::unique_ptr<Sniffer> sniffer;
    std::vector<std::pair<std::string, Status>> results;
    rig.source.PushIdle([&] {
      sniffer->RequestFilter("tcp", [&](const Status& st) { results.emplace_back("tcp", st); });
      sniffer->RequestFilter("udp", [&](const Status& st) { results.emplace_back("udp", st); });
    });
    rig.source.PushIdle();
    sniffer = std::make_unique<Sniffer>(rig.source, *rig.writer, rig.clock);
    REQUIRE(sniffer->Run().ok());
    REQUIRE(results.size() == 2);
    CHECK(results[0].first == "tcp");
    CHECK(results[0].second.code() == StatusCode::kCancelled);
    CHECK(results[1].first == "udp");
    CHECK(results[1].second.ok());
    REQUIRE(rig.source.filter_calls().size() == 1);
    CHECK(rig.source.filter_calls()[0].expr == "udp");
    // After Run: cancelled at once, never applied.
    Status late;
    sniffer->RequestFilter("icmp", [&](const Status& st) { late = st; });
    CHECK(late.code() == StatusCode::kCancelled);
  }

  TEST_CASE("from another thread: a filter request and a stop wake a blocked loop") {
    Rig rig;
    rig.source.set_block_when_empty(true);  // a quiet live link
    Sniffer sniffer(rig.source, *rig.writer, rig.clock);
    std::promise<Status> run_result;
    std::thread loop([&] { run_result.set_value(sniffer.Run()); });
    const std::thread::id loop_id = loop.get_id();

    std::promise<Status> applied;
    sniffer.RequestFilter("icmp", [&](const Status& st) { applied.set_value(st); });
    auto applied_future = applied.get_future();
    // A bound on a hang, not a synchronisation: the promise is what we wait for.
    REQUIRE(applied_future.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
    CHECK(applied_future.get().ok());

    rig.source.PushPackets(Packets(0, 3));
    sniffer.RequestStop();
    loop.join();
    CHECK(run_result.get_future().get().ok());
    const auto calls = rig.source.filter_calls();
    REQUIRE(calls.size() == 1);
    CHECK(calls[0].thread == loop_id);
    // The packets may or may not have been read before the stop; all read ones are sealed.
    std::uint64_t sealed_packets = 0;
    for (const SealedChunk& c : rig.sealed) sealed_packets += c.packets;
    CHECK(sealed_packets == sniffer.Stats().packets);
  }

  TEST_CASE("write errors: packets are dropped and counted until the retry, then chunks resume") {
    int seq_calls = 0;
    Rig rig({}, [&](std::uint64_t) -> Result<std::int64_t> {
      if (++seq_calls == 1) return Status::ResourceExhausted("disk budget exhausted");
      return std::int64_t{seq_calls};
    });
    rig.source.PushPackets(Packets(0, 3));  // the first fails; two more are dropped unwritten
    rig.source.PushIdle([&] { rig.clock.Advance(Millis(999)); });
    rig.source.PushPackets(Packets(3, 1));  // still inside write_retry: dropped
    rig.source.PushIdle([&] { rig.clock.Advance(Millis(1)); });
    const auto kept = Packets(4, 2);
    rig.source.PushPackets(kept);
    Sniffer sniffer(rig.source, *rig.writer, rig.clock);
    REQUIRE(sniffer.Run().ok());

    const SnifferStats s = sniffer.Stats();
    CHECK(s.packets == 6);
    CHECK(s.write_errors == 1);
    CHECK(s.lost_packets == 4);
    CHECK(seq_calls == 2);  // no retry storm: one attempt per write_retry
    REQUIRE(rig.sealed.size() == 1);
    CHECK(rig.sealed[0].packets == 2);
    CHECK(rig.sealed[0].lost_packets == 4);
    CHECK(rig.ReadAllSealed() == kept);
  }

  TEST_CASE("stop_on_write_error hands the write error back to the caller") {
    Rig rig({}, [](std::uint64_t) -> Result<std::int64_t> {
      return Status::ResourceExhausted("disk budget exhausted");
    });
    rig.source.PushPackets(Packets(0, 3));
    rig.source.PushPackets(Packets(3, 3));
    SnifferOptions options;
    options.stop_on_write_error = true;
    Sniffer sniffer(rig.source, *rig.writer, rig.clock, options);
    Status st = sniffer.Run();
    CHECK(st.code() == StatusCode::kResourceExhausted);
    CHECK(rig.source.dispatch_calls() == 1);
    CHECK(sniffer.Stats().lost_packets == 3);
  }
}

}  // namespace picket::capture
