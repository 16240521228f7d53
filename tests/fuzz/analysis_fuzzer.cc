// libFuzzer target for the analyser (issue 12, acceptance 6): no input may
// crash it, leak, or trip ASan/UBSan. Three ways in, by the first byte:
//   even: the bytes are a capture file (pcap or pcapng) for ReadCaptureBytes;
//   odd:  a valid pcap header (link type chosen by the first byte) is put in
//         front and the rest is cut into packets, so the decoder itself sees
//         arbitrary frames, not only the file parser;
//   both: options (labels, timeouts, table size, features, refs) come from the
//         second byte; halfway through, the open flows go through SaveState
//         and RestoreState (re-dissecting through PacketAt) into a second
//         Analyzer, and the input is also offered to RestoreState as a blob.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "picket/analysis/analyzer.h"
#include "picket/analysis/session.h"

namespace {

using namespace picket::analysis;

// LINKTYPE_ values as written in files (and the DLT_ aliases some readers use).
constexpr std::uint32_t kLinkTypes[] = {
    1,    // Ethernet
    113,  // Linux cooked v1
    276,  // Linux cooked v2
    101,  // raw IP
    228,  // raw IPv4
    229,  // raw IPv6
    0,    // BSD NULL
    108,  // BSD loopback (network byte order)
    12,   // DLT_RAW on some systems
    14,   // DLT_RAW on others
    147,  // a user link type: not IP
};

void PutLe32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

// A pcap file around arbitrary frames: each frame is [1 byte length][flags byte][bytes].
std::string FramedCapture(const std::uint8_t* data, std::size_t size, std::uint32_t link_type) {
  std::string out;
  PutLe32(out, 0xA1B2C3D4);
  out.append("\x02\x00\x04\x00", 4);
  PutLe32(out, 0);
  PutLe32(out, 0);
  PutLe32(out, 65535);
  PutLe32(out, link_type);
  std::uint32_t sec = 1'700'000'000, usec = 0;
  std::size_t at = 0;
  while (at + 2 <= size) {
    std::size_t len = data[at];
    const std::uint8_t flags = data[at + 1];
    at += 2;
    if (len > size - at) len = size - at;
    // Time moves by up to ~2^flags seconds so idle timers fire; wire length
    // sometimes exceeds the captured length (a snaplen cut).
    sec += (flags & 0x80) ? (1u << (flags & 0x0F)) : 0;
    usec = (usec + 1000 * (flags & 0x0F)) % 1'000'000;
    PutLe32(out, sec);
    PutLe32(out, usec);
    PutLe32(out, static_cast<std::uint32_t>(len));
    PutLe32(out, static_cast<std::uint32_t>(len + ((flags & 0x40) ? 1000 : 0)));
    out.append(reinterpret_cast<const char*>(data + at), len);
    at += len;
  }
  return out;
}

AnalyzerOptions OptionsFrom(std::uint8_t bits) {
  AnalyzerOptions o;
  o.label = !(bits & 0x10);  // labels on, except for one input in 32
  if (bits & 0x01) {         // short timers: idle expiry inside small inputs
    o.tcp_idle_us = 2'000'000;
    o.udp_idle_us = 1'000'000;
    o.icmp_idle_us = 500'000;
    o.other_idle_us = 1'000'000;
  }
  if (bits & 0x02) o.max_open_flows = 3;  // "resources" evictions
  o.features_packets = (bits & 0x04) ? 3 : 0;
  o.refs_in_session = !(bits & 0x08);
  return o;
}

std::vector<Session>* g_sessions = nullptr;  // the current input's sessions

void Consume(Session&& s) {
  nlohmann::json json = ToJson(s, true);
  (void)FromJson(json);
  (void)TableRow(s);
  g_sessions->push_back(std::move(s));
}

// nDPI's set-up costs ~100 ms per Analyzer under ASan, so one pair of
// Analyzers per option set serves every input (as nDPI's own fuzzers keep one
// detection module); CloseAll empties them between inputs. PICKET_FUZZ_FRESH=1
// makes fresh ones per input, to check that a crash reproduces on its own.
struct Pair {
  std::unique_ptr<Analyzer> first, second;
};

Pair& AnalyzersFor(std::uint8_t key, const AnalyzerOptions& options) {
  static Pair pairs[32];
  static const bool fresh = std::getenv("PICKET_FUZZ_FRESH") != nullptr;
  Pair& pair = pairs[key & 31];
  if (fresh || !pair.first) {
    pair.first = std::make_unique<Analyzer>(options, Consume);
    pair.second = std::make_unique<Analyzer>(options, Consume);
  }
  return pair;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t mode = data[0];
  const std::uint8_t key = data[1] & 0x1F;
  const AnalyzerOptions options = OptionsFrom(key);
  std::string capture;
  if (mode & 1) {
    capture = FramedCapture(data + 2, size - 2, kLinkTypes[(mode >> 1) % std::size(kLinkTypes)]);
  } else {
    capture.assign(reinterpret_cast<const char*>(data + 2), size - 2);
  }

  std::vector<Session> sessions;
  g_sessions = &sessions;
  // A packet's bytes live only during the callback (the reader's buffer): keep copies.
  std::vector<RawPacket> packets;
  std::vector<std::string> bytes;
  (void)ReadCaptureBytes(capture, 7, [&](const RawPacket& p) {
    packets.push_back(p);
    bytes.emplace_back(reinterpret_cast<const char*>(p.data.data()), p.data.size());
  });
  for (std::size_t i = 0; i < packets.size(); ++i) {
    packets[i].data = {reinterpret_cast<const std::uint8_t*>(bytes[i].data()), bytes[i].size()};
  }

  const PacketFetcher fetch = [&](const PacketRef& ref, std::string&, RawPacket& packet) {
    if (ref.chunk_seq != 7) return picket::Status::InvalidArgument("fuzzer: unknown chunk");
    return PacketAt(capture, ref.offset, packet);
  };

  Pair& pair = AnalyzersFor(key, options);
  Analyzer& first = *pair.first;
  Analyzer& restored = *pair.second;
  const std::size_t half = packets.size() / 2;
  for (std::size_t i = 0; i < half; ++i) first.Feed(packets[i]);
  const std::string state = first.SaveState();
  if (!options.refs_in_session) (void)first.TakePacketRefs();

  // The second half twice: in the original Analyzer and in one restored from its state.
  (void)restored.RestoreState(state, fetch);
  for (std::size_t i = half; i < packets.size(); ++i) {
    first.Feed(packets[i]);
    restored.Feed(packets[i]);
  }
  first.CloseAll(EndReason::kEndOfData);
  restored.CloseAll(EndReason::kGap);
  (void)first.stats();
  if (!options.refs_in_session) {
    (void)first.TakePacketRefs();
    (void)restored.TakePacketRefs();
  }

  // The raw input as a saved state: must be refused or restored, never crash.
  (void)restored.RestoreState(std::string_view(reinterpret_cast<const char*>(data), size), fetch);
  restored.CloseAll(EndReason::kEndOfData);
  if (!options.refs_in_session) (void)restored.TakePacketRefs();
  g_sessions = nullptr;
  return 0;
}
