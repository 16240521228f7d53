#include "picket/sync/change_cursor.h"

namespace picket::sync {

void ChangeCursor::Reset(std::uint64_t low_water, const std::vector<std::uint64_t>& visible,
                         MonoTime now) {
  low_water_ = low_water;
  seen_.clear();
  for (std::uint64_t seq : visible) {
    if (seq > low_water_) seen_.emplace(seq, now);
  }
  Advance(now);
}

std::vector<std::uint64_t> ChangeCursor::Accept(const std::vector<std::uint64_t>& seqs,
                                                MonoTime now) {
  std::vector<std::uint64_t> fresh;
  for (std::uint64_t seq : seqs) {
    if (seq <= low_water_) continue;
    if (seen_.emplace(seq, now).second) fresh.push_back(seq);
  }
  Advance(now);
  return fresh;
}

void ChangeCursor::Advance(MonoTime now) {
  while (!seen_.empty()) {
    auto first = seen_.begin();
    if (first->first == low_water_ + 1) {
      low_water_ = first->first;
      seen_.erase(first);
      continue;
    }
    // A hole below `first`: an earlier transaction may still commit. Wait for it
    // until `first` has been visible for gap_grace_, then move on.
    if (now - first->second < gap_grace_) return;
    skipped_gaps_ += first->first - low_water_ - 1;
    low_water_ = first->first;
    seen_.erase(first);
  }
}

}  // namespace picket::sync
