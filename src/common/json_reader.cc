#include "json_reader.h"

#include <algorithm>

#include "picket/common/units.h"

namespace picket {

bool JsonNestingWithin(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

nlohmann::json ParseJsonBounded(std::string_view text, int max_depth) {
  if (!JsonNestingWithin(text, max_depth)) return nlohmann::json(nlohmann::json::value_t::discarded);
  return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
}

std::string JsonParseErrorText(const nlohmann::json::exception& e) {
  std::string_view what = e.what();
  if (auto tag_end = what.find("] "); tag_end != std::string_view::npos) {
    what.remove_prefix(tag_end + 2);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const unsigned char c : what) {
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

}  // namespace picket

namespace picket::config_internal {

namespace {

std::size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string TypeName(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::boolean: return "a boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "an integer";
    case Json::value_t::number_float: return "a number";
    case Json::value_t::string: return "a string";
    case Json::value_t::array: return "an array";
    case Json::value_t::object: return "an object";
    default: return "an unsupported value";
  }
}

}  // namespace

std::string Describe(const Json& value) {
  std::string text = value.dump(-1, ' ', true, Json::error_handler_t::replace);
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return TypeName(value) + " " + text;
}

std::string JoinPath(const std::string& parent, std::string_view key) {
  // JSON Pointer escaping: '~' → "~0", '/' → "~1".
  std::string out = parent == "/" ? "" : parent;
  out += '/';
  for (char c : key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

JsonObjectReader::JsonObjectReader(const Json& value, std::string path,
                                   std::vector<ConfigError>* errors)
    : path_(std::move(path)), errors_(errors) {
  if (value.is_object()) {
    object_ = &value;
  } else {
    errors_->push_back({path_, "must be an object, got " + Describe(value)});
  }
}

JsonObjectReader::~JsonObjectReader() {
  if (!object_) return;
  for (const auto& [key, unused] : object_->items()) {
    if (known_.count(key)) continue;
    std::string message = "unknown key";
    std::string best;
    std::size_t best_distance = 3;  // suggest only close matches
    for (const auto& candidate : known_) {
      std::size_t d = EditDistance(key, candidate);
      if (d < best_distance) {
        best_distance = d;
        best = candidate;
      }
    }
    if (!best.empty()) message += " (did you mean '" + best + "'?)";
    errors_->push_back({JoinPath(path_, key), message});
  }
}

const Json* JsonObjectReader::Find(std::string_view key) {
  known_.emplace(key);
  if (!object_) return nullptr;
  auto it = object_->find(std::string(key));
  return it == object_->end() ? nullptr : &*it;
}

void JsonObjectReader::Error(std::string_view key, std::string message) {
  errors_->push_back({key.empty() ? path_ : JoinPath(path_, key), std::move(message)});
}

void JsonObjectReader::ErrorBelow(std::string_view suffix, std::string message) {
  errors_->push_back({(path_ == "/" ? "" : path_) + "/" + std::string(suffix), std::move(message)});
}

const Json* JsonObjectReader::Child(std::string_view key) { return Find(key); }

bool JsonObjectReader::Bool(std::string_view key, bool* out) {
  const Json* v = Find(key);
  if (!v) return false;
  if (!v->is_boolean()) {
    Error(key, "must be true or false, got " + Describe(*v));
    return false;
  }
  *out = v->get<bool>();
  return true;
}

bool JsonObjectReader::String(std::string_view key, std::string* out, std::size_t max_len) {
  const Json* v = Find(key);
  if (!v) return false;
  if (!v->is_string()) {
    Error(key, "must be a string, got " + Describe(*v));
    return false;
  }
  const auto& s = v->get_ref<const std::string&>();
  if (s.size() > max_len) {
    Error(key, "is " + std::to_string(s.size()) + " characters, the limit is " +
                   std::to_string(max_len));
    return false;
  }
  *out = s;
  return true;
}

bool JsonObjectReader::Int(std::string_view key, std::int64_t min, std::int64_t max,
                           std::int64_t* out) {
  const Json* v = Find(key);
  if (!v) return false;
  const std::string range = std::to_string(min) + ".." + std::to_string(max);
  bool in_range = false;
  if (v->is_number_unsigned()) {
    auto u = v->get<std::uint64_t>();
    in_range = u <= static_cast<std::uint64_t>(max) && static_cast<std::int64_t>(u) >= min;
  } else if (v->is_number_integer()) {
    auto i = v->get<std::int64_t>();
    in_range = i >= min && i <= max;
  } else {
    Error(key, "must be an integer in " + range + ", got " + Describe(*v));
    return false;
  }
  if (!in_range) {
    Error(key, "must be in " + range + ", got " + v->dump());
    return false;
  }
  *out = v->get<std::int64_t>();
  return true;
}

bool JsonObjectReader::Int(std::string_view key, int min, int max, int* out) {
  std::int64_t wide = 0;
  if (!Int(key, std::int64_t{min}, std::int64_t{max}, &wide)) return false;
  *out = static_cast<int>(wide);
  return true;
}

bool JsonObjectReader::Uint(std::string_view key, std::uint64_t min, std::uint64_t max,
                            std::uint64_t* out) {
  const Json* v = Find(key);
  if (!v) return false;
  const std::string range = std::to_string(min) + ".." + std::to_string(max);
  if (!v->is_number_unsigned() && !(v->is_number_integer())) {
    Error(key, "must be an integer in " + range + ", got " + Describe(*v));
    return false;
  }
  if (v->is_number_integer() && !v->is_number_unsigned()) {  // negative
    Error(key, "must be in " + range + ", got " + v->dump());
    return false;
  }
  auto u = v->get<std::uint64_t>();
  if (u < min || u > max) {
    Error(key, "must be in " + range + ", got " + v->dump());
    return false;
  }
  *out = u;
  return true;
}

bool JsonObjectReader::Duration(std::string_view key, std::chrono::milliseconds min,
                                std::chrono::milliseconds max, std::chrono::milliseconds* out) {
  const Json* v = Find(key);
  if (!v) return false;
  const std::string range = FormatDuration(min) + ".." + FormatDuration(max);
  if (!v->is_string()) {
    Error(key, "must be a duration string like \"10s\" in " + range + ", got " + Describe(*v));
    return false;
  }
  auto d = ParseDuration(v->get_ref<const std::string&>());
  if (!d.ok()) {
    Error(key, d.status().message());
    return false;
  }
  if (*d < min || *d > max) {
    Error(key, "must be in " + range + ", got " + v->dump());
    return false;
  }
  *out = *d;
  return true;
}

bool JsonObjectReader::Size(std::string_view key, std::uint64_t min, std::uint64_t max,
                            std::uint64_t* out) {
  const Json* v = Find(key);
  if (!v) return false;
  const std::string range = FormatSize(min) + ".." + FormatSize(max);
  std::uint64_t bytes = 0;
  if (v->is_number_unsigned()) {
    bytes = v->get<std::uint64_t>();
  } else if (v->is_string()) {
    auto s = ParseSize(v->get_ref<const std::string&>());
    if (!s.ok()) {
      Error(key, s.status().message());
      return false;
    }
    bytes = *s;
  } else {
    Error(key, "must be a size like \"32MiB\" or a byte count in " + range + ", got " +
                   Describe(*v));
    return false;
  }
  if (bytes < min || bytes > max) {
    Error(key, "must be in " + range + ", got " + v->dump());
    return false;
  }
  *out = bytes;
  return true;
}

bool JsonObjectReader::Choice(std::string_view key, std::initializer_list<std::string_view> choices,
                              std::string* out) {
  const Json* v = Find(key);
  if (!v) return false;
  std::string list;
  for (auto c : choices) list += (list.empty() ? "" : ", ") + std::string(c);
  if (v->is_string()) {
    const auto& s = v->get_ref<const std::string&>();
    if (std::find(choices.begin(), choices.end(), s) != choices.end()) {
      *out = s;
      return true;
    }
  }
  Error(key, "must be one of " + list + ", got " + Describe(*v));
  return false;
}

}  // namespace picket::config_internal
