#include "scan/checkpoint.h"

#include <charconv>
#include <cstdio>

#include "scan/siphash.h"

namespace picket::scan {

void SentWindow::MarkSent(std::uint64_t end, MonoTime at) {
  if (!pending_.empty()) {
    Sent& back = pending_.back();
    if (end <= back.end) return;
    if (at - back.group_start < std::chrono::milliseconds(1)) {
      back.end = end;
      back.at = at;
      return;
    }
  } else if (end <= base_) {
    return;
  }
  pending_.push_back({end, at, at});
}

std::uint64_t SentWindow::Checkpoint(MonoTime now) {
  while (!pending_.empty() && pending_.front().at + wait_ <= now) {
    base_ = pending_.front().end;
    pending_.pop_front();
  }
  return base_;
}

std::string ResumeState::Serialize() const {
  return "# picketd scan checkpoint\nversion=1\nseed=" + std::to_string(seed) +
         "\nshard=" + std::to_string(shard_index) + "/" + std::to_string(shard_count) +
         "\nspace=" + space + "\nnext=" + std::to_string(next) +
         "\ntotal=" + std::to_string(total) + "\n";
}

namespace {

bool ParseU64(std::string_view s, std::uint64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

Result<ResumeState> ResumeState::Parse(std::string_view text, std::string_view file_name) {
  ResumeState st;
  bool have_seed = false, have_shard = false, have_space = false, have_next = false,
       have_total = false, have_version = false;
  int line_no = 0;
  const std::string file(file_name);
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line[0] == '#') continue;
    const std::size_t eq = line.find('=');
    const auto bad = [&](const std::string& why) {
      return Status::InvalidArgument(file + ":" + std::to_string(line_no) + ": " + why + ": '" +
                                     std::string(line) + "'");
    };
    if (eq == std::string_view::npos) return bad("expected key=value");
    const std::string_view key = line.substr(0, eq), value = line.substr(eq + 1);
    std::uint64_t v = 0;
    if (key == "version") {
      if (!ParseU64(value, &v) || v != 1) return bad("unsupported checkpoint version");
      have_version = true;
    } else if (key == "seed") {
      if (!ParseU64(value, &st.seed)) return bad("bad seed");
      have_seed = true;
    } else if (key == "shard") {
      const std::size_t slash = value.find('/');
      std::uint64_t i = 0, n = 0;
      if (slash == std::string_view::npos || !ParseU64(value.substr(0, slash), &i) ||
          !ParseU64(value.substr(slash + 1), &n) || n == 0 || i >= n || n > UINT32_MAX) {
        return bad("bad shard");
      }
      st.shard_index = static_cast<std::uint32_t>(i);
      st.shard_count = static_cast<std::uint32_t>(n);
      have_shard = true;
    } else if (key == "space") {
      st.space = std::string(value);
      have_space = !value.empty();
    } else if (key == "next") {
      if (!ParseU64(value, &st.next)) return bad("bad next index");
      have_next = true;
    } else if (key == "total") {
      if (!ParseU64(value, &st.total)) return bad("bad total");
      have_total = true;
    } else {
      return bad("unknown key");
    }
  }
  if (!(have_version && have_seed && have_shard && have_space && have_next && have_total)) {
    return Status::InvalidArgument(file +
                                   ": incomplete checkpoint (needs version, seed, shard, "
                                   "space, next, total)");
  }
  if (st.next > st.total) {
    return Status::InvalidArgument(file + ": next=" + std::to_string(st.next) +
                                   " is past total=" + std::to_string(st.total));
  }
  return st;
}

std::string SpaceFingerprint(std::string_view canonical) {
  const SipKey key{0x7069636b65742d73ull, 0x63616e2d73706163ull};  // fixed: must match across runs
  const std::uint64_t h =
      SipHash24(key, {reinterpret_cast<const std::uint8_t*>(canonical.data()), canonical.size()});
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace picket::scan
