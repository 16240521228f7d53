#include "collector/routes.h"

#include <charconv>
#include <vector>

#include "collector/token_table.h"

namespace picket::collector {

namespace {

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> out;
  // path starts with '/'; "/v1/devices" → {"v1", "devices"}; "/a//b" keeps the empty segment.
  std::size_t pos = 1;
  while (pos <= path.size()) {
    std::size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    out.push_back(path.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> PercentDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out += ' ';
    } else if (in[i] == '%') {
      if (i + 2 >= in.size()) {
        return Status::InvalidArgument("bad percent-escape in query");
      }
      int hi = HexValue(in[i + 1]), lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return Status::InvalidArgument("bad percent-escape in query");
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

Status ParseQuery(std::string_view query, Route& route) {
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (item.empty()) continue;
    std::size_t eq = item.find('=');
    auto key = PercentDecode(item.substr(0, eq));
    if (!key.ok()) return key.status();
    auto value =
        PercentDecode(eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1));
    if (!value.ok()) return value.status();
    if (route.query.count(*key)) {
      return Status::InvalidArgument("query parameter '" + *key + "' given twice");
    }
    route.query.emplace(std::move(*key), std::move(*value));
  }
  return Status::Ok();
}

RouteMatch Fail(int status, std::string error, std::string allow = {}) {
  RouteMatch m;
  m.http_status = status;
  m.error = std::move(error);
  m.allow = std::move(allow);
  return m;
}

// Resolves the method against the methods a path pattern allows.
struct Allowed {
  std::string_view method;
  Endpoint endpoint;
};

template <std::size_t N>
RouteMatch PickMethod(std::string_view method, const Allowed (&allowed)[N], Route route) {
  std::string allow;
  for (const Allowed& a : allowed) {
    if (a.method == method) {
      route.endpoint = a.endpoint;
      RouteMatch m;
      m.route = std::move(route);
      return m;
    }
    if (!allow.empty()) allow += ", ";
    allow += a.method;
  }
  return Fail(405, "method " + std::string(method) + " not allowed here (allowed: " + allow + ")",
              allow);
}

}  // namespace

bool IsDeviceWrite(Endpoint endpoint) {
  return endpoint == Endpoint::kPutChunk || endpoint == Endpoint::kPostResults ||
         endpoint == Endpoint::kPostLogs;
}

std::string_view EndpointName(Endpoint endpoint) {
  switch (endpoint) {
    case Endpoint::kPutChunk:
      return "put_chunk";
    case Endpoint::kGetChunk:
      return "get_chunk";
    case Endpoint::kListChunks:
      return "list_chunks";
    case Endpoint::kPostResults:
      return "post_results";
    case Endpoint::kPostLogs:
      return "post_logs";
    case Endpoint::kListDevices:
      return "list_devices";
    case Endpoint::kListResults:
      return "list_results";
    case Endpoint::kListLogs:
      return "list_logs";
  }
  return "unknown";
}

Result<std::uint64_t> ParseChunkSeq(std::string_view text) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() ||
      value > kMaxChunkSeq) {
    return Status::InvalidArgument("bad chunk seq '" + std::string(text) +
                                   "' (expected an integer 0.." + std::to_string(kMaxChunkSeq) +
                                   ")");
  }
  return value;
}

RouteMatch MatchRoute(std::string_view method, std::string_view target) {
  std::string_view path = target, query;
  if (std::size_t q = target.find('?'); q != std::string_view::npos) {
    path = target.substr(0, q);
    query = target.substr(q + 1);
  }
  if (path.empty() || path[0] != '/') return Fail(404, "no such path");
  auto seg = SplitPath(path);
  if (seg.size() < 2 || seg[0] != "v1") return Fail(404, "no such path");

  Route route;
  if (auto st = ParseQuery(query, route); !st.ok()) return Fail(400, st.message());

  if (seg.size() == 2) {
    if (seg[1] == "devices") {
      return PickMethod(method, {{"GET", Endpoint::kListDevices}}, std::move(route));
    }
    if (seg[1] == "results") {
      return PickMethod(method, {{"GET", Endpoint::kListResults}}, std::move(route));
    }
    if (seg[1] == "logs")
      return PickMethod(method, {{"GET", Endpoint::kListLogs}}, std::move(route));
    return Fail(404, "no such path");
  }
  if (seg[1] != "devices" || seg.size() < 4 || seg.size() > 5) return Fail(404, "no such path");

  const std::string_view kind = seg[3];
  RouteMatch m;
  if (seg.size() == 4 && kind == "chunks") {
    m = PickMethod(method, {{"GET", Endpoint::kListChunks}}, std::move(route));
  } else if (seg.size() == 5 && kind == "chunks") {
    m = PickMethod(method, {{"GET", Endpoint::kGetChunk}, {"PUT", Endpoint::kPutChunk}},
                   std::move(route));
  } else if (seg.size() == 4 && kind == "results") {
    m = PickMethod(method, {{"POST", Endpoint::kPostResults}}, std::move(route));
  } else if (seg.size() == 4 && kind == "logs") {
    m = PickMethod(method, {{"POST", Endpoint::kPostLogs}}, std::move(route));
  } else {
    return Fail(404, "no such path");
  }
  if (!m.matched()) return m;

  if (!IsValidDeviceId(seg[2])) {
    return Fail(400, "bad device id '" + std::string(seg[2]) + "' (expected [A-Za-z0-9._-]{1,64})");
  }
  m.route.device = std::string(seg[2]);
  if (seg.size() == 5) {
    auto seq = ParseChunkSeq(seg[4]);
    if (!seq.ok()) return Fail(400, seq.status().message());
    m.route.seq = *seq;
  }
  return m;
}

Result<std::optional<std::uint64_t>> QueryNumber(const Route& route, std::string_view name) {
  auto it = route.query.find(name);
  if (it == route.query.end()) return std::optional<std::uint64_t>();
  std::uint64_t value = 0;
  const std::string& text = it->second;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return Status::InvalidArgument("query parameter '" + std::string(name) +
                                   "' must be a non-negative integer, got '" + text + "'");
  }
  return std::optional<std::uint64_t>(value);
}

std::optional<std::string> QueryText(const Route& route, std::string_view name) {
  auto it = route.query.find(name);
  if (it == route.query.end()) return std::nullopt;
  return it->second;
}

}  // namespace picket::collector
