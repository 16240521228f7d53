#include "picket/common/rendezvous.h"

#include <algorithm>
#include <cstdint>

#include "picket/common/digest.h"

namespace picket {

namespace {

// The first 8 bytes of SHA-256(key NUL url): a weight independent for every
// pair (a fast non-cryptographic hash of similar strings can correlate; the
// list is ranked once per collector change, so the cost does not matter).
std::uint64_t Weight(std::string_view key, std::string_view url) {
  std::string pair;
  pair.reserve(key.size() + 1 + url.size());
  pair.append(key).push_back('\0');
  pair.append(url);
  const auto digest = Sha256Of(pair);
  std::uint64_t w = 0;
  for (int i = 0; i < 8; ++i) w = (w << 8) | digest[static_cast<std::size_t>(i)];
  return w;
}

}  // namespace

std::vector<std::string> RendezvousOrder(std::string_view key, std::vector<std::string> urls) {
  std::vector<std::pair<std::uint64_t, std::string>> ranked;
  ranked.reserve(urls.size());
  for (auto& url : urls) ranked.emplace_back(Weight(key, url), std::move(url));
  std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::vector<std::string> out;
  out.reserve(ranked.size());
  for (auto& [weight, url] : ranked) out.push_back(std::move(url));
  return out;
}

}  // namespace picket
