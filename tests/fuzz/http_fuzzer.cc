// libFuzzer target for the collector's HTTP request path (issue 13): the
// input is what a client sends on one connection. Beast's request parser
// reads it with the collector's header limit (as http_session.cc does), the
// head goes to ApiHandler::Admit (routing, tokens, sizes, required headers),
// an admitted body is read under the admitted limit and goes to Handle
// (chunks, NDJSON, heartbeats, fleet, sessions, logs, login, web), and a
// streamed answer is read to its end. Up to kMaxRequests requests per input
// (keep-alive); the handler works on SQLite files and chunk files in a
// scratch directory, fresh every kInputsPerFixture inputs.
// First byte: bit 0 runs without tokens (--insecure-no-auth), bit 1 sets a
// per-device quota, bits 2-3 pick the body cap (256 B to 128 KiB).
#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "collector/api_handler.h"
#include "collector/chunk_store.h"
#include "collector/collector_db.h"
#include "collector/device_quota.h"
#include "collector/fleet_api.h"
#include "collector/fleet_state.h"
#include "collector/fleet_store.h"
#include "collector/probes.h"
#include "collector/session_store.h"
#include "collector/token_table.h"
#include "fuzz_support.h"

namespace {

namespace http = boost::beast::http;
using namespace picket::collector;

constexpr int kMaxRequests = 4;
constexpr int kInputsPerFixture = 1000;
constexpr int kMaxStreamPieces = 64;          // a streamed answer is read this far
constexpr std::uint32_t kHeaderLimit = 16 * 1024;  // http_session.cc's

class FixedClock final : public picket::Clock {
 public:
  picket::MonoTime MonotonicNow() const override { return picket::MonoTime(); }
  std::int64_t WallMillis() const override { return 1'700'000'000'000; }
};

// One collector's worth of state: the objects the collector command wires up.
struct Collector {
  picket::fuzz::ScratchDir dir;
  FixedClock clock;
  // The tokens file holds hashes; the inputs present the tokens themselves.
  TokenTable tokens = TokenTable::Parse(picket::collector::TokenFileLine("gw-1", "device-token-1") + "\n" +
                                            picket::collector::TokenFileLine("gw-2", "device-token-2") + "\n" +
                                            picket::collector::TokenFileLine("@operator", "operator-token-1") +
                                            "\n",
                                        "fuzz")
                          .value();
  std::unique_ptr<CollectorDb> db = CollectorDb::Open(dir.path() + "/collector.db").value();
  ChunkStore store = ChunkStore::Open(dir.path()).value();
  std::unique_ptr<SessionStore> sessions = SessionStore::Open(dir.path() + "/sessions.db").value();
  std::unique_ptr<FleetStore> fleet_store =
      FleetStore::Open(dir.path() + "/fleet.db", std::chrono::hours(24)).value();
  FleetState fleet_state{fleet_store.get(), &clock};
  FleetServices fleet;
  std::optional<DeviceQuota> quota;  // fresh per input: the clock never moves

  std::unique_ptr<ApiHandler> Handler(bool no_auth, bool quota_on, std::uint64_t max_body) {
    auto api = std::make_unique<ApiHandler>(no_auth ? nullptr : &tokens, db.get(), &store,
                                            max_body, &clock);
    api->EnableSessions(sessions.get());
    fleet.state = &fleet_state;
    fleet.store = fleet_store.get();
    fleet.data_dir = dir.path();
    fleet.min_free_disk = ParseDiskThreshold("0").value();
    api->EnableFleet(&fleet);
    api->EnableWeb(/*tls=*/false, /*actions=*/nullptr);
    if (quota_on) api->EnableQuota(&quota.emplace(DeviceQuotaLimits{4096, 20}, &clock));
    return api;
  }
};

Collector& Fixture() {
  static std::unique_ptr<Collector> collector;
  static int uses = 0;
  if (!collector || ++uses % kInputsPerFixture == 0) {
    collector.reset();
    collector = std::make_unique<Collector>();
  }
  return *collector;
}

// Feeds `rest` to the parser until done() holds; false when the input ends
// first (the session would wait for more, then time out) or on a parse error.
template <class Done>
bool Feed(http::request_parser<http::string_body>& parser, std::string_view& rest,
          boost::beast::error_code& ec, Done done) {
  while (!done()) {
    if (rest.empty()) return false;
    const std::size_t used = parser.put(boost::asio::buffer(rest.data(), rest.size()), ec);
    rest.remove_prefix(used);
    if (ec == http::error::need_more) {
      ec = {};
      if (used == 0) return false;
      continue;
    }
    if (ec) return false;
  }
  return true;
}

std::string_view View(boost::beast::string_view s) { return {s.data(), s.size()}; }

void ReadToEnd(Reply& reply) {
  for (int i = 0; reply.stream && i < kMaxStreamPieces; ++i) {
    auto piece = reply.stream();
    if (!piece.ok() || piece->empty()) break;
  }
}

// One request; false when the connection would close after it.
bool OneRequest(ApiHandler& api, std::string_view& rest) {
  http::request_parser<http::string_body> parser;
  parser.header_limit(kHeaderLimit);
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  parser.eager(false);
  boost::beast::error_code ec;
  if (!Feed(parser, rest, ec, [&] { return parser.is_header_done(); })) return false;

  const auto& req = parser.get();
  RequestHead head;
  head.method = std::string(View(req.method_string()));
  head.target = std::string(View(req.target()));
  for (const auto& field : req) head.headers.Add(View(field.name_string()), View(field.value()));
  if (auto length = parser.content_length()) head.content_length = *length;
  const bool body_unread = !parser.is_done();
  Admission admission = api.Admit(head);
  if (admission.reject) return !body_unread;

  parser.body_limit(admission.body_limit);
  parser.eager(true);
  if (!Feed(parser, rest, ec, [&] { return parser.is_done(); })) return false;
  const bool keep_alive = parser.get().keep_alive();
  if (admission.follow) {
    auto cursor = api.StartCursor(*admission.follow);
    if (cursor.ok()) (void)api.NextLogEvents(*admission.follow, *cursor);
    return false;  // a follower's connection streams until it closes
  }
  Reply reply = api.Handle(std::move(admission), std::move(parser.get().body()));
  ReadToEnd(reply);
  return keep_alive;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t knob = data[0];
  const std::uint64_t max_body = std::uint64_t{256} << (3 * ((knob >> 2) & 3));
  Collector& collector = Fixture();
  std::unique_ptr<ApiHandler> api = collector.Handler(knob & 1, knob & 2, max_body);
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  for (int i = 0; i < kMaxRequests && !rest.empty(); ++i) {
    if (!OneRequest(*api, rest)) break;
  }
  return 0;
}
