// Reads the config_changes hint table without falling into the commit-order
// trap: AUTO_INCREMENT values are assigned at INSERT time but become visible
// at COMMIT, so seq 4 can appear after seq 5 was already read. A plain
// "max seq seen" cursor would skip 4 forever.
//
// The cursor keeps `low_water` at the last *contiguous* seq seen and every
// seq seen above it. Each poll asks for seq > low_water again; only unseen
// seqs are returned. A hole below a seen seq is waited for up to `gap_grace`
// (a rolled-back transaction leaves a hole forever); after that the cursor
// moves past it and the periodic full reconcile is the safety net.
// Not thread-safe: owned by the sync loop.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

#include "picket/common/clock.h"

namespace picket::sync {

class ChangeCursor {
 public:
  explicit ChangeCursor(std::chrono::milliseconds gap_grace = std::chrono::seconds(60))
      : gap_grace_(gap_grace) {}

  // After a full reconcile that started reading rows after the hint table
  // showed `visible` (all seqs in (low_water, max] visible at that moment):
  // those are covered; holes among them are still waited for.
  void Reset(std::uint64_t low_water, const std::vector<std::uint64_t>& visible, MonoTime now);

  // Seqs returned by "seq > low_water()" (any order). Returns the ones not seen
  // before, which the caller must process, then advances low_water.
  std::vector<std::uint64_t> Accept(const std::vector<std::uint64_t>& seqs, MonoTime now);

  std::uint64_t low_water() const { return low_water_; }
  // Seqs seen above a hole still waited for.
  std::size_t seen_above_gap() const { return seen_.size(); }
  // Holes given up on since construction (logged by the caller).
  std::uint64_t skipped_gaps() const { return skipped_gaps_; }

 private:
  void Advance(MonoTime now);

  std::chrono::milliseconds gap_grace_;
  std::uint64_t low_water_ = 0;
  std::map<std::uint64_t, MonoTime> seen_;  // all > low_water_ + 1, with when first seen
  std::uint64_t skipped_gaps_ = 0;
};

}  // namespace picket::sync
