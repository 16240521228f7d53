// Open flows: a slab of Flow records (stable indices), a hash index on the
// canonical bidirectional key, and one intrusive list per timeout class kept
// in order of last activity, so idle expiry only ever looks at list fronts.
#pragma once

#include <cstdint>
#include <cstring>
#include <deque>
#include <unordered_map>
#include <vector>

#include "analysis/ndpi_labeller.h"
#include "analysis/tcp_state.h"
#include "picket/analysis/analyzer.h"

namespace picket::analysis {

// Canonical key: (a, port_a) is the endpoint Community ID puts first.
struct FlowKey {
  std::uint8_t a[16];
  std::uint8_t b[16];
  std::uint16_t port_a;
  std::uint16_t port_b;
  std::uint8_t proto;
  std::uint8_t is_v6;
  std::uint8_t has_ports;
  std::uint8_t one_way;
  friend bool operator==(const FlowKey& x, const FlowKey& y) {
    return std::memcmp(&x, &y, sizeof(FlowKey)) == 0;
  }
};
static_assert(sizeof(FlowKey) == 40, "FlowKey must have no padding (hashed and compared as bytes)");

struct FlowKeyHash {
  std::size_t operator()(const FlowKey& key) const {
    std::uint64_t words[5];
    std::memcpy(words, &key, sizeof(words));
    std::uint64_t h = 0x9e3779b97f4a7c15ull;
    for (std::uint64_t w : words) {
      h ^= w;
      h *= 0xff51afd7ed558ccdull;
      h ^= h >> 32;
    }
    return static_cast<std::size_t>(h);
  }
};

enum TimerClass : std::uint8_t { kTimerTcp, kTimerUdp, kTimerIcmp, kTimerOther, kTimerClosing, kTimerClasses };

inline constexpr std::uint32_t kNoFlow = 0xffffffffu;

struct Flow {
  FlowKey key{};
  std::uint64_t uid = 0;
  bool orig_is_a = true;
  bool closing = false;  // FIN both ways or RST: lingering
  EndReason close_reason = EndReason::kFin;
  TimerClass timer = kTimerTcp;
  std::uint32_t prev = kNoFlow, next = kNoFlow;
  std::int64_t first_ts_us = 0, last_ts_us = 0, prev_packet_us = 0;
  std::int64_t activity_us = 0;  // the analyser's clock when last touched
  std::uint64_t pkts[2] = {0, 0}, bytes[2] = {0, 0}, payload[2] = {0, 0};
  TcpTracker tcp;
  NdpiFlowState ndpi;
  std::vector<PacketRef> refs;
  std::vector<PacketFeature> features;
  bool in_use = false;
};

class FlowTable {
 public:
  explicit FlowTable(std::size_t expected_flows);
  static constexpr std::size_t kInitialBuckets = 256;

  std::uint32_t Find(const FlowKey& key) const;
  // A fresh Flow for `key` (not yet in any timer list).
  std::uint32_t Insert(const FlowKey& key);
  void Erase(std::uint32_t index);
  Flow& at(std::uint32_t index) { return flows_[index]; }
  const Flow& at(std::uint32_t index) const { return flows_[index]; }
  std::size_t size() const { return index_.size(); }

  // Moves the flow to the back of `timer`'s list (its most recent end).
  void Touch(std::uint32_t index, TimerClass timer);
  std::uint32_t Front(TimerClass timer) const { return head_[timer]; }
  std::uint32_t Next(std::uint32_t index) const { return flows_[index].next; }

  // Every open flow's index, in no particular order.
  template <typename F>
  void ForEach(F&& f) const {
    for (const auto& [key, index] : index_) f(index);
  }
  void Clear();

 private:
  void Unlink(std::uint32_t index);

  std::deque<Flow> flows_;
  std::vector<std::uint32_t> free_;
  std::unordered_map<FlowKey, std::uint32_t, FlowKeyHash> index_;
  std::uint32_t head_[kTimerClasses];
  std::uint32_t tail_[kTimerClasses];
};

}  // namespace picket::analysis
