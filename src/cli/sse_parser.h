// Server-sent events (the text/event-stream format of the WHATWG HTML spec),
// as `GET /v1/logs?follow=1` sends them, read incrementally from whatever
// pieces the transport delivers. Pure: no I/O. Not thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace picket::cli {

// One line of the stream, without its line terminator.
struct SseLine {
  enum class Kind { kBlank, kComment, kField };
  Kind kind = Kind::kBlank;
  std::string_view name;   // kField: "data", "id", "event", "retry", or anything else
  std::string_view value;  // kField: after the colon and one optional space; kComment: after ':'
};
SseLine ParseSseLine(std::string_view line);

struct SseEvent {
  std::string id;     // the stream's last event id when the event was dispatched
  std::string event;  // "" means "message"
  std::string data;   // data lines joined with '\n'
};

class SseParser {
 public:
  // Consumes bytes (any split, CRLF/LF/CR line ends) and appends every event
  // a blank line completed. Comments (": ping") produce nothing.
  void Feed(std::string_view bytes, std::vector<SseEvent>* out);
  // The last id field seen (what Last-Event-ID carries on reconnect).
  const std::string& last_event_id() const { return last_id_; }
  // Forgets a half-received line and event (a new connection), keeps the last id.
  void ResetConnection();

 private:
  void Line(std::string_view line, std::vector<SseEvent>* out);

  std::string partial_;     // the current line so far
  bool after_cr_ = false;   // a '\n' right after a '\r' ends nothing
  bool have_data_ = false;  // at least one data field in this event
  SseEvent current_;
  std::string last_id_;
};

}  // namespace picket::cli
