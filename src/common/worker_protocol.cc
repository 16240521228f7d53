#include "picket/common/worker_protocol.h"

#include <limits>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "json_reader.h"

namespace picket::worker_protocol {

namespace {

using nlohmann::json;
using config_internal::Describe;

// Messages are flat objects; anything deeper is not ours.
constexpr int kMaxNesting = 4;
constexpr std::size_t kMaxStringBytes = 64 * 1024;  // a spec or an error message

constexpr const char* kShardKinds[] = {"progress", "finished", "stopped", "failed"};

template <class>
inline constexpr bool kAlwaysFalse = false;

std::string Dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Reads the fields of one message; the first problem wins and names the
// message, the field and the value.
class FieldReader {
 public:
  FieldReader(const json& object, std::string what) : object_(object), what_(std::move(what)) {}

  const Status& status() const { return status_; }

  void String(const char* key, std::string* out, bool required = true) {
    const json* v = Find(key, required);
    if (!v) return;
    if (!v->is_string()) return Fail(key, "must be a string, got " + Describe(*v));
    const auto& s = v->get_ref<const std::string&>();
    if (s.size() > kMaxStringBytes) {
      return Fail(key, "is longer than " + std::to_string(kMaxStringBytes) + " bytes");
    }
    *out = s;
  }

  void Bool(const char* key, bool* out) {
    const json* v = Find(key, true);
    if (!v) return;
    if (!v->is_boolean()) return Fail(key, "must be true or false, got " + Describe(*v));
    *out = v->get<bool>();
  }

  template <class T>
  void Integer(const char* key, T* out, bool required = true) {
    static_assert(std::is_integral_v<T>);
    const json* v = Find(key, required);
    if (!v) return;
    if (v->is_number_unsigned()) {
      const auto u = v->get<std::uint64_t>();
      if (u <= static_cast<std::uint64_t>(std::numeric_limits<T>::max())) {
        *out = static_cast<T>(u);
        return;
      }
    } else if (v->is_number_integer()) {
      const auto i = v->get<std::int64_t>();
      if (std::is_signed_v<T> && i >= static_cast<std::int64_t>(std::numeric_limits<T>::min())) {
        *out = static_cast<T>(i);
        return;
      }
    }
    Fail(key, std::string("must be an integer in ") +
                  std::to_string(std::numeric_limits<T>::min()) + ".." +
                  std::to_string(std::numeric_limits<T>::max()) + ", got " + Describe(*v));
  }

  void Fail(const char* key, std::string message) {
    if (status_.ok()) {
      status_ = Status::InvalidArgument(what_ + ": field \"" + key + "\" " + std::move(message));
    }
  }

 private:
  const json* Find(const char* key, bool required) {
    if (!status_.ok()) return nullptr;
    auto it = object_.find(key);
    if (it == object_.end()) {
      if (required) Fail(key, "is missing");
      return nullptr;
    }
    return &*it;
  }

  const json& object_;
  std::string what_;
  Status status_;
};

// The line as a JSON object, and the value of its tag key ("op" or "event").
Result<json> ParseObject(std::string_view line, const char* direction) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (line.size() > kMaxLineBytes) {
    return Status::InvalidArgument(std::string(direction) + ": line of " +
                                   std::to_string(line.size()) + " bytes is over the limit of " +
                                   std::to_string(kMaxLineBytes));
  }
  if (!config_internal::JsonNestingWithin(line, kMaxNesting)) {
    return Status::InvalidArgument(std::string(direction) + ": nested deeper than " +
                                   std::to_string(kMaxNesting));
  }
  json j = json::parse(line, nullptr, false);
  if (j.is_discarded()) return Status::InvalidArgument(std::string(direction) + ": not JSON");
  if (!j.is_object()) {
    return Status::InvalidArgument(std::string(direction) + ": must be an object, got " +
                                   Describe(j));
  }
  return j;
}

Result<std::string> Tag(const json& j, const char* direction, const char* key) {
  FieldReader r(j, direction);
  std::string tag;
  r.String(key, &tag);
  if (!r.status().ok()) return r.status();
  return tag;
}

template <class T>
Result<T> Finish(const FieldReader& r, T value) {
  if (!r.status().ok()) return r.status();
  return value;
}

}  // namespace

std::string_view ShardKindName(ShardEvent::Kind kind) {
  const auto i = static_cast<std::size_t>(kind);
  return i < std::size(kShardKinds) ? kShardKinds[i] : "unknown";
}

std::string EncodeCommand(const Command& command) {
  return Dump(std::visit(
      [](const auto& c) -> json {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, FilterCommand>) {
          return {{"op", "filter"}, {"filter", c.filter}, {"version", c.version}};
        } else if constexpr (std::is_same_v<T, AssignShard>) {
          return {{"op", "assign"},
                  {"job", c.job},
                  {"shard", c.shard},
                  {"spec", c.spec},
                  {"start_index", c.start_index}};
        } else if constexpr (std::is_same_v<T, ReleaseShard>) {
          return {{"op", "release"}, {"job", c.job}, {"shard", c.shard}};
        } else if constexpr (std::is_same_v<T, HandOver>) {
          return {{"op", "hand_over"},
                  {"successor_pid", c.successor_pid},
                  {"successor_since_us", c.successor_since_us}};
        } else if constexpr (std::is_same_v<T, ReleaseAll>) {
          return {{"op", "release_all"}};
        } else {
          static_assert(kAlwaysFalse<T>, "every command is encoded");
        }
      },
      command));
}

std::string EncodeEvent(const Event& event) {
  return Dump(std::visit(
      [](const auto& e) -> json {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, Ready>) {
          return {{"event", "ready"}, {"version", e.version}, {"capture", e.capture}};
        } else if constexpr (std::is_same_v<T, Armed>) {
          return {{"event", "armed"},
                  {"version", e.version},
                  {"capturing_since_us", e.capturing_since_us}};
        } else if constexpr (std::is_same_v<T, FilterAck>) {
          json j = {{"event", "filter"}, {"version", e.version}, {"ok", e.ok}};
          if (!e.error.empty()) j["error"] = e.error;
          return j;
        } else if constexpr (std::is_same_v<T, ShardEvent>) {
          json j = {{"event", "shard"},           {"kind", ShardKindName(e.kind)},
                    {"job", e.job},               {"shard", e.shard},
                    {"checkpoint", e.checkpoint}, {"done", e.done},
                    {"total", e.total},           {"results", e.results}};
          if (!e.error.empty()) j["error"] = e.error;
          return j;
        } else if constexpr (std::is_same_v<T, Stats>) {
          json j = {{"event", "stats"},
                    {"packets", e.packets},
                    {"lost_packets", e.lost_packets},
                    {"filter_changes", e.filter_changes},
                    {"kernel_drops", e.kernel_drops},
                    {"if_drops", e.if_drops},
                    {"bytes_captured", e.bytes_captured}};
          if (!e.degraded.empty()) j["degraded"] = e.degraded;
          return j;
        } else if constexpr (std::is_same_v<T, Failed>) {
          return {{"event", "failed"},
                  {"what", e.what.substr(0, kMaxFailureBytes)},
                  {"error", e.error.substr(0, kMaxFailureBytes)}};
        } else {
          static_assert(kAlwaysFalse<T>, "every event is encoded");
        }
      },
      event));
}

Result<Command> ParseCommand(std::string_view line) {
  auto j = ParseObject(line, "worker command");
  if (!j.ok()) return j.status();
  auto op = Tag(*j, "worker command", "op");
  if (!op.ok()) return op.status();
  FieldReader r(*j, "worker command \"" + *op + "\"");
  if (*op == "filter") {
    FilterCommand c;
    r.String("filter", &c.filter);
    r.Integer("version", &c.version);
    return Finish<Command>(r, std::move(c));
  }
  if (*op == "assign") {
    AssignShard c;
    r.String("job", &c.job);
    r.Integer("shard", &c.shard);
    r.String("spec", &c.spec);
    r.Integer("start_index", &c.start_index, false);
    return Finish<Command>(r, std::move(c));
  }
  if (*op == "release") {
    ReleaseShard c;
    r.String("job", &c.job);
    r.Integer("shard", &c.shard);
    return Finish<Command>(r, std::move(c));
  }
  if (*op == "release_all") return Command(ReleaseAll{});
  if (*op == "hand_over") {
    HandOver c;
    r.Integer("successor_pid", &c.successor_pid);
    r.Integer("successor_since_us", &c.successor_since_us, false);
    if (r.status().ok() && c.successor_since_us < 0) {
      r.Fail("successor_since_us", "must be 0 or a time in µs, got " + std::to_string(c.successor_since_us));
    }
    if (r.status().ok() && c.successor_pid <= 0) {
      r.Fail("successor_pid", "must be a process id above 0, got " + std::to_string(c.successor_pid));
    }
    return Finish<Command>(r, c);
  }
  return Status::InvalidArgument("worker command: field \"op\" has an unknown value " +
                                 Describe(json(*op)));
}

Result<Event> ParseEvent(std::string_view line) {
  auto j = ParseObject(line, "worker event");
  if (!j.ok()) return j.status();
  auto tag = Tag(*j, "worker event", "event");
  if (!tag.ok()) return tag.status();
  FieldReader r(*j, "worker event \"" + *tag + "\"");
  if (*tag == "ready") {
    Ready e;
    r.Integer("version", &e.version);
    r.Bool("capture", &e.capture);
    return Finish<Event>(r, e);
  }
  if (*tag == "armed") {
    Armed e;
    r.Integer("version", &e.version);
    r.Integer("capturing_since_us", &e.capturing_since_us, false);
    if (r.status().ok() && e.capturing_since_us < 0) {
      r.Fail("capturing_since_us", "must be 0 or a time in µs, got " + std::to_string(e.capturing_since_us));
    }
    return Finish<Event>(r, e);
  }
  if (*tag == "filter") {
    FilterAck e;
    r.Integer("version", &e.version);
    r.Bool("ok", &e.ok);
    r.String("error", &e.error, false);
    return Finish<Event>(r, std::move(e));
  }
  if (*tag == "shard") {
    ShardEvent e;
    std::string kind;
    r.String("kind", &kind);
    if (r.status().ok()) {
      bool known = false;
      for (std::size_t i = 0; i < std::size(kShardKinds); ++i) {
        if (kind == kShardKinds[i]) {
          e.kind = static_cast<ShardEvent::Kind>(i);
          known = true;
        }
      }
      if (!known) r.Fail("kind", "has an unknown value " + Describe(json(kind)));
    }
    r.String("job", &e.job);
    r.Integer("shard", &e.shard);
    r.Integer("checkpoint", &e.checkpoint, false);
    r.Integer("done", &e.done, false);
    r.Integer("total", &e.total, false);
    r.Integer("results", &e.results, false);
    r.String("error", &e.error, false);
    return Finish<Event>(r, std::move(e));
  }
  if (*tag == "stats") {
    Stats e;
    r.Integer("packets", &e.packets, false);
    r.Integer("lost_packets", &e.lost_packets, false);
    r.Integer("filter_changes", &e.filter_changes, false);
    r.Integer("kernel_drops", &e.kernel_drops, false);  // absent from older workers
    r.Integer("if_drops", &e.if_drops, false);
    r.Integer("bytes_captured", &e.bytes_captured, false);
    r.String("degraded", &e.degraded, false);
    return Finish<Event>(r, e);
  }
  if (*tag == "failed") {
    Failed e;
    r.String("what", &e.what);
    r.String("error", &e.error);
    // Shown in the status node: a longer text is cut, not refused.
    if (e.what.size() > kMaxFailureBytes) e.what.resize(kMaxFailureBytes);
    if (e.error.size() > kMaxFailureBytes) e.error.resize(kMaxFailureBytes);
    return Finish<Event>(r, std::move(e));
  }
  return Status::InvalidArgument("worker event: field \"event\" has an unknown value " +
                                 Describe(json(*tag)));
}

}  // namespace picket::worker_protocol
