#include "analysis/flow_table.h"

#include <algorithm>

namespace picket::analysis {

FlowTable::FlowTable(std::size_t expected_flows) {
  // A small start, grown as flows come: the collector loads and evicts analysers of many
  // devices all the time, and 65,536 buckets up front zeroed 512 KiB on every load (64 KiB
  // chunks from 1,000 devices: collector peak RSS 105-123 MiB before, 79-90 MiB after).
  index_.reserve(std::min<std::size_t>(expected_flows, kInitialBuckets));
  std::fill(std::begin(head_), std::end(head_), kNoFlow);
  std::fill(std::begin(tail_), std::end(tail_), kNoFlow);
}

std::uint32_t FlowTable::Find(const FlowKey& key) const {
  auto it = index_.find(key);
  return it == index_.end() ? kNoFlow : it->second;
}

std::uint32_t FlowTable::Insert(const FlowKey& key) {
  std::uint32_t index;
  if (!free_.empty()) {
    index = free_.back();
    free_.pop_back();
  } else {
    index = static_cast<std::uint32_t>(flows_.size());
    flows_.emplace_back();
  }
  Flow& flow = flows_[index];
  flow = Flow{};
  flow.key = key;
  flow.in_use = true;
  index_.emplace(key, index);
  return index;
}

void FlowTable::Erase(std::uint32_t index) {
  Flow& flow = flows_[index];
  if (flow.prev != kNoFlow || flow.next != kNoFlow || head_[flow.timer] == index) Unlink(index);
  index_.erase(flow.key);
  flow = Flow{};  // frees refs, features, the nDPI struct
  free_.push_back(index);
}

void FlowTable::Unlink(std::uint32_t index) {
  Flow& flow = flows_[index];
  if (flow.prev != kNoFlow) {
    flows_[flow.prev].next = flow.next;
  } else if (head_[flow.timer] == index) {
    head_[flow.timer] = flow.next;
  }
  if (flow.next != kNoFlow) {
    flows_[flow.next].prev = flow.prev;
  } else if (tail_[flow.timer] == index) {
    tail_[flow.timer] = flow.prev;
  }
  flow.prev = flow.next = kNoFlow;
}

void FlowTable::Touch(std::uint32_t index, TimerClass timer) {
  Flow& flow = flows_[index];
  const bool linked = flow.prev != kNoFlow || flow.next != kNoFlow || head_[flow.timer] == index;
  if (linked) {
    if (flow.timer == timer && tail_[timer] == index) return;
    Unlink(index);
  }
  flow.timer = timer;
  flow.prev = tail_[timer];
  flow.next = kNoFlow;
  if (tail_[timer] != kNoFlow) {
    flows_[tail_[timer]].next = index;
  } else {
    head_[timer] = index;
  }
  tail_[timer] = index;
}

void FlowTable::Clear() {
  flows_.clear();
  free_.clear();
  index_.clear();
  std::fill(std::begin(head_), std::end(head_), kNoFlow);
  std::fill(std::begin(tail_), std::end(tail_), kNoFlow);
}

}  // namespace picket::analysis
