// The session record's names, JSON form (picket.session.v1) and table row.
#include "picket/analysis/session.h"

#include "picket/common/clock.h"

#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <map>

namespace picket::analysis {
namespace {

constexpr EndReason kAllReasons[] = {EndReason::kFin,   EndReason::kRst,    EndReason::kIdle,
                                     EndReason::kEndOfData, EndReason::kGap, EndReason::kReused,
                                     EndReason::kResources};

std::string FormatMicros(std::int64_t unix_us) { return FormatRfc3339Micros(unix_us); }

bool ParseMicros(const std::string& text, std::int64_t& unix_us) {
  auto parsed = ParseRfc3339Micros(text);
  if (parsed) unix_us = *parsed;
  return parsed.has_value();
}

std::string ProtoName(std::uint8_t proto) {
  switch (proto) {
    case 1: return "icmp";
    case 6: return "tcp";
    case 17: return "udp";
    case 58: return "icmp6";
    case 132: return "sctp";
    default: return std::to_string(proto);
  }
}

std::string Endpoint(const std::string& ip, std::uint16_t port) {
  if (ip.find(':') != std::string::npos) return "[" + ip + "]:" + std::to_string(port);
  return ip + ":" + std::to_string(port);
}

// Field readers for FromJson: each error names the field.
template <typename T>
Status Get(const nlohmann::json& json, const char* name, T& out) {
  auto it = json.find(name);
  if (it == json.end()) return Status::InvalidArgument(std::string("session: missing field ") + name);
  try {
    out = it->template get<T>();
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(std::string("session: field ") + name + ": " + e.what());
  }
  return Status::Ok();
}

template <typename T>
Status GetUnsigned(const nlohmann::json& json, const char* name, T& out) {
  auto it = json.find(name);
  if (it == json.end()) return Status::InvalidArgument(std::string("session: missing field ") + name);
  if (!it->is_number_unsigned() && !(it->is_number_integer() && it->template get<std::int64_t>() >= 0)) {
    return Status::InvalidArgument(std::string("session: field ") + name + " is not a non-negative integer");
  }
  const std::uint64_t v = it->template get<std::uint64_t>();
  if (v > std::numeric_limits<T>::max()) {
    return Status::InvalidArgument(std::string("session: field ") + name + " out of range");
  }
  out = static_cast<T>(v);
  return Status::Ok();
}

}  // namespace

std::string_view EndReasonName(EndReason reason) {
  switch (reason) {
    case EndReason::kFin: return "fin";
    case EndReason::kRst: return "rst";
    case EndReason::kIdle: return "idle";
    case EndReason::kEndOfData: return "end_of_data";
    case EndReason::kGap: return "gap";
    case EndReason::kReused: return "reused";
    case EndReason::kResources: return "resources";
  }
  return "unknown";
}

std::optional<EndReason> ParseEndReason(std::string_view name) {
  for (EndReason reason : kAllReasons) {
    if (EndReasonName(reason) == name) return reason;
  }
  return std::nullopt;
}

nlohmann::json ToJson(const Session& s, bool with_packets) {
  nlohmann::json j;
  j["uid"] = s.uid;
  j["community_id"] = s.community_id;
  j["proto"] = s.proto;
  j["src_ip"] = s.src_ip;
  j["src_port"] = s.src_port;
  j["dst_ip"] = s.dst_ip;
  j["dst_port"] = s.dst_port;
  j["orig_pkts"] = s.orig_pkts;
  j["orig_bytes"] = s.orig_bytes;
  j["resp_pkts"] = s.resp_pkts;
  j["resp_bytes"] = s.resp_bytes;
  j["orig_payload_bytes"] = s.orig_payload_bytes;
  j["resp_payload_bytes"] = s.resp_payload_bytes;
  j["first_ts"] = FormatMicros(s.first_ts_us);
  j["last_ts"] = FormatMicros(s.last_ts_us);
  j["duration"] = static_cast<double>(s.last_ts_us - s.first_ts_us) / 1e6;
  j["state"] = s.state;
  j["history"] = s.history;
  j["end_reason"] = std::string(EndReasonName(s.end_reason));
  j["app"] = s.app;
  j["category"] = s.category;
  j["risks"] = s.risks;
  j["risk_score"] = s.risk_score;
  j["server_name"] = s.server_name;
  j["device"] = s.device;
  if (with_packets) {
    nlohmann::json groups = nlohmann::json::array();
    for (std::size_t i = 0; i < s.packets.size();) {
      const std::uint64_t chunk = s.packets[i].chunk_seq;
      nlohmann::json offsets = nlohmann::json::array();
      for (; i < s.packets.size() && s.packets[i].chunk_seq == chunk; ++i) {
        offsets.push_back(s.packets[i].offset);
      }
      groups.push_back({{"chunk", chunk}, {"offsets", std::move(offsets)}});
    }
    j["packets"] = std::move(groups);
  }
  if (!s.features.empty()) {
    nlohmann::json direction = nlohmann::json::array(), wire = nlohmann::json::array(),
                   payload = nlohmann::json::array(), iat = nlohmann::json::array(),
                   flags = nlohmann::json::array();
    for (const PacketFeature& f : s.features) {
      direction.push_back(f.from_originator ? 1 : -1);
      wire.push_back(f.wire_len);
      payload.push_back(f.payload_len);
      iat.push_back(f.iat_us);
      flags.push_back(f.tcp_flags);
    }
    j["features"] = {{"direction", std::move(direction)}, {"wire_len", std::move(wire)},
                     {"payload_len", std::move(payload)}, {"iat_us", std::move(iat)},
                     {"tcp_flags", std::move(flags)}};
  }
  return j;
}

Result<Session> FromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Status::InvalidArgument("session: not a JSON object");
  Session s;
  PICKET_RETURN_IF_ERROR(GetUnsigned(j, "uid", s.uid));
  PICKET_RETURN_IF_ERROR(Get(j, "community_id", s.community_id));
  PICKET_RETURN_IF_ERROR(GetUnsigned(j, "proto", s.proto));
  PICKET_RETURN_IF_ERROR(Get(j, "src_ip", s.src_ip));
  PICKET_RETURN_IF_ERROR(GetUnsigned(j, "src_port", s.src_port));
  PICKET_RETURN_IF_ERROR(Get(j, "dst_ip", s.dst_ip));
  PICKET_RETURN_IF_ERROR(GetUnsigned(j, "dst_port", s.dst_port));
  PICKET_RETURN_IF_ERROR(GetUnsigned(j, "orig_pkts", s.orig_pkts));
  PICKET_RETURN_IF_ERROR(GetUnsigned(j, "orig_bytes", s.orig_bytes));
  PICKET_RETURN_IF_ERROR(GetUnsigned(j, "resp_pkts", s.resp_pkts));
  PICKET_RETURN_IF_ERROR(GetUnsigned(j, "resp_bytes", s.resp_bytes));
  PICKET_RETURN_IF_ERROR(GetUnsigned(j, "orig_payload_bytes", s.orig_payload_bytes));
  PICKET_RETURN_IF_ERROR(GetUnsigned(j, "resp_payload_bytes", s.resp_payload_bytes));
  std::string first_ts, last_ts, end_reason;
  PICKET_RETURN_IF_ERROR(Get(j, "first_ts", first_ts));
  PICKET_RETURN_IF_ERROR(Get(j, "last_ts", last_ts));
  if (!ParseMicros(first_ts, s.first_ts_us)) {
    return Status::InvalidArgument("session: field first_ts is not an RFC 3339 UTC time");
  }
  if (!ParseMicros(last_ts, s.last_ts_us)) {
    return Status::InvalidArgument("session: field last_ts is not an RFC 3339 UTC time");
  }
  PICKET_RETURN_IF_ERROR(Get(j, "state", s.state));
  PICKET_RETURN_IF_ERROR(Get(j, "history", s.history));
  PICKET_RETURN_IF_ERROR(Get(j, "end_reason", end_reason));
  auto reason = ParseEndReason(end_reason);
  if (!reason) return Status::InvalidArgument("session: field end_reason: unknown value " + end_reason);
  s.end_reason = *reason;
  PICKET_RETURN_IF_ERROR(Get(j, "app", s.app));
  PICKET_RETURN_IF_ERROR(Get(j, "category", s.category));
  PICKET_RETURN_IF_ERROR(Get(j, "risks", s.risks));
  PICKET_RETURN_IF_ERROR(GetUnsigned(j, "risk_score", s.risk_score));
  PICKET_RETURN_IF_ERROR(Get(j, "server_name", s.server_name));
  if (j.contains("device")) PICKET_RETURN_IF_ERROR(Get(j, "device", s.device));
  if (auto it = j.find("packets"); it != j.end()) {
    if (!it->is_array()) return Status::InvalidArgument("session: field packets is not an array");
    for (const auto& group : *it) {
      std::uint64_t chunk = 0;
      std::vector<std::uint64_t> offsets;
      if (!group.is_object()) return Status::InvalidArgument("session: field packets: not an object");
      PICKET_RETURN_IF_ERROR(GetUnsigned(group, "chunk", chunk).WithContext("packets"));
      PICKET_RETURN_IF_ERROR(Get(group, "offsets", offsets).WithContext("packets"));
      for (std::uint64_t offset : offsets) s.packets.push_back({chunk, offset});
    }
  }
  if (auto it = j.find("features"); it != j.end()) {
    std::vector<int> direction;
    std::vector<std::uint32_t> wire, payload;
    std::vector<std::int64_t> iat;
    std::vector<std::uint8_t> flags;
    PICKET_RETURN_IF_ERROR(Get(*it, "direction", direction).WithContext("features"));
    PICKET_RETURN_IF_ERROR(Get(*it, "wire_len", wire).WithContext("features"));
    PICKET_RETURN_IF_ERROR(Get(*it, "payload_len", payload).WithContext("features"));
    PICKET_RETURN_IF_ERROR(Get(*it, "iat_us", iat).WithContext("features"));
    PICKET_RETURN_IF_ERROR(Get(*it, "tcp_flags", flags).WithContext("features"));
    const std::size_t n = direction.size();
    if (wire.size() != n || payload.size() != n || iat.size() != n || flags.size() != n) {
      return Status::InvalidArgument("session: field features: arrays of different lengths");
    }
    for (std::size_t i = 0; i < n; ++i) {
      s.features.push_back({direction[i] >= 0, wire[i], payload[i], iat[i], flags[i]});
    }
  }
  return s;
}

std::string TableHeader() {
  char line[256];
  std::snprintf(line, sizeof(line), "%-27s %-5s %-47s %7s %10s %7s %10s %-6s %-22s %s", "FIRST_TS",
                "PROTO", "ORIGINATOR -> RESPONDER", "O_PKTS", "O_BYTES", "R_PKTS", "R_BYTES", "STATE",
                "APP", "SERVER_NAME");
  return line;
}

// The columns of TableHeader, without printf (see FormatMicros).
void AppendLeft(std::string& out, std::string_view text, std::size_t width) {
  out += text;
  if (text.size() < width) out.append(width - text.size(), ' ');
  out += ' ';
}

void AppendRight(std::string& out, std::uint64_t value, std::size_t width) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof(digits), value).ptr;
  const std::size_t n = static_cast<std::size_t>(end - digits);
  if (n < width) out.append(width - n, ' ');
  out.append(digits, n);
  out += ' ';
}

std::string TableRow(const Session& s) {
  std::string endpoints = Endpoint(s.src_ip, s.src_port);
  endpoints += " -> ";
  endpoints += Endpoint(s.dst_ip, s.dst_port);
  std::string line;
  line.reserve(160 + s.server_name.size());
  AppendLeft(line, FormatMicros(s.first_ts_us), 27);
  AppendLeft(line, ProtoName(s.proto), 5);
  AppendLeft(line, endpoints, 47);
  AppendRight(line, s.orig_pkts, 7);
  AppendRight(line, s.orig_bytes, 10);
  AppendRight(line, s.resp_pkts, 7);
  AppendRight(line, s.resp_bytes, 10);
  AppendLeft(line, s.state, 6);
  AppendLeft(line, s.app.empty() ? std::string_view("-") : std::string_view(s.app), 22);
  line += s.server_name;
  return line;
}

}  // namespace picket::analysis
