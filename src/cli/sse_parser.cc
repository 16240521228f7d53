#include "cli/sse_parser.h"

namespace picket::cli {

SseLine ParseSseLine(std::string_view line) {
  SseLine out;
  if (line.empty()) return out;
  if (line.front() == ':') {
    out.kind = SseLine::Kind::kComment;
    out.value = line.substr(1);
    if (!out.value.empty() && out.value.front() == ' ') out.value.remove_prefix(1);
    return out;
  }
  out.kind = SseLine::Kind::kField;
  std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) {
    out.name = line;  // a field with an empty value
    return out;
  }
  out.name = line.substr(0, colon);
  out.value = line.substr(colon + 1);
  if (!out.value.empty() && out.value.front() == ' ') out.value.remove_prefix(1);
  return out;
}

void SseParser::Feed(std::string_view bytes, std::vector<SseEvent>* out) {
  for (char c : bytes) {
    if (c == '\n' && after_cr_) {
      after_cr_ = false;
      continue;
    }
    after_cr_ = c == '\r';
    if (c == '\r' || c == '\n') {
      Line(partial_, out);
      partial_.clear();
    } else {
      partial_ += c;
    }
  }
}

void SseParser::Line(std::string_view line, std::vector<SseEvent>* out) {
  SseLine parsed = ParseSseLine(line);
  switch (parsed.kind) {
    case SseLine::Kind::kComment:
      return;
    case SseLine::Kind::kBlank:
      if (have_data_) {
        current_.id = last_id_;
        out->push_back(std::move(current_));
      }
      current_ = SseEvent();
      have_data_ = false;
      return;
    case SseLine::Kind::kField:
      break;
  }
  if (parsed.name == "data") {
    if (have_data_) current_.data += '\n';
    current_.data += parsed.value;
    have_data_ = true;
  } else if (parsed.name == "id") {
    if (parsed.value.find('\0') == std::string_view::npos) last_id_ = std::string(parsed.value);
  } else if (parsed.name == "event") {
    current_.event = std::string(parsed.value);
  }
  // "retry" and unknown fields: ignored (the CLI has its own backoff).
}

void SseParser::ResetConnection() {
  partial_.clear();
  after_cr_ = false;
  have_data_ = false;
  current_ = SseEvent();
}

}  // namespace picket::cli
