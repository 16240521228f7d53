// libFuzzer target for the CLI's server-sent-events parser (`picket logs
// --follow` reads what a collector, or anything on that URL, sends). The
// input is fed whole to one parser and, split at offsets the first bytes
// choose, to a second: both must dispatch the same events and end with the
// same last id (the split must not matter), and nothing may crash.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "cli/sse_parser.h"

using picket::cli::SseEvent;
using picket::cli::SseParser;

namespace {

bool Same(const std::vector<SseEvent>& a, const std::vector<SseEvent>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].id != b[i].id || a[i].event != b[i].event || a[i].data != b[i].data) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t step = data[0];  // piece length pattern for the split feed
  const std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);

  SseParser whole;
  std::vector<SseEvent> whole_events;
  whole.Feed(stream, &whole_events);
  for (std::string_view line : {std::string_view("data: x"), stream.substr(0, 64)}) {
    (void)picket::cli::ParseSseLine(line);
  }

  SseParser split;
  std::vector<SseEvent> split_events;
  std::size_t at = 0, piece = 1;
  while (at < stream.size()) {
    const std::size_t n = std::min(piece, stream.size() - at);
    split.Feed(stream.substr(at, n), &split_events);
    at += n;
    piece = 1 + (piece * 7 + step) % 23;
  }
  if (!Same(whole_events, split_events) || whole.last_event_id() != split.last_event_id()) {
    std::abort();  // the events depend on how the transport cut the stream
  }
  // A reconnect forgets the half line, keeps the id; feeding again must work.
  split.ResetConnection();
  split.Feed(stream, &split_events);
  return 0;
}
