#include "log_shipper.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "picket/common/log.h"

namespace picket::supervisor {

namespace {

void Observe(std::string_view line, void* context) {
  static_cast<LogShipper*>(context)->Enqueue(line);
}

}  // namespace

LogShipper::LogShipper(uv_loop_t* loop, buffer::BufferStore* store, std::size_t max_queued_lines)
    : loop_(loop), store_(store), max_lines_(max_queued_lines) {}

LogShipper::~LogShipper() { Stop(); }

void LogShipper::Start() {
  log::SetLineObserver(&Observe, this);
  timer_ = new uv_timer_t;
  uv_timer_init(loop_, timer_);
  timer_->data = this;
  uv_timer_start(timer_, &OnTimer, 1000, 1000);
}

void LogShipper::Stop() {
  if (!timer_) return;
  log::SetLineObserver(nullptr, nullptr);
  timer_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(timer_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  timer_ = nullptr;
  Flush();
}

void LogShipper::OnTimer(uv_timer_t* timer) {
  if (auto* self = static_cast<LogShipper*>(timer->data)) self->Flush();
}

void LogShipper::Enqueue(std::string_view line) {
  std::lock_guard lock(mu_);
  if (queue_.size() >= max_lines_) {
    queue_.pop_front();
    ++dropped_;
  }
  queue_.emplace_back(line);
}

void LogShipper::FeedWorkerOutput(std::string_view bytes) {
  // Passed through unchanged: the worker's lines reach journald/procd as before.
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(STDERR_FILENO, bytes.data() + done, bytes.size() - done);
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  partial_.append(bytes);
  std::size_t start = 0;
  for (std::size_t nl; (nl = partial_.find('\n', start)) != std::string::npos; start = nl + 1) {
    if (nl > start) Enqueue(std::string_view(partial_).substr(start, nl - start));
  }
  partial_.erase(0, start);
  if (partial_.size() > 64 * 1024) {  // a runaway line without newline: ship it cut
    Enqueue(partial_);
    partial_.clear();
  }
}

void LogShipper::Flush() {
  std::deque<std::string> lines;
  std::uint64_t dropped = 0;
  {
    std::lock_guard lock(mu_);
    lines.swap(queue_);
    std::swap(dropped, dropped_);
  }
  if (lines.empty() && dropped == 0) return;
  std::string body;
  for (const auto& line : lines) {
    body += nlohmann::json{{"line", line}}.dump(-1, ' ', false,
                                                nlohmann::json::error_handler_t::replace);
    body += '\n';
  }
  if (dropped > 0) body += nlohmann::json{{"dropped_lines", dropped}}.dump() + "\n";
  const std::uint64_t count = lines.size() + (dropped > 0 ? 1 : 0);
  auto id = store_->AppendBatch(buffer::BatchKind::kLogs, body, count);
  if (!id.ok()) {
    // Not through PICKET_LOG: that would queue another line for a buffer that just failed.
    std::string msg = "log shipping: cannot buffer " + std::to_string(count) +
                      " log lines: " + id.status().ToString() + "\n";
    (void)!::write(STDERR_FILENO, msg.data(), msg.size());
    return;
  }
  shipped_ += lines.size();
}

}  // namespace picket::supervisor
