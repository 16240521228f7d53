#include "worker/control_channel.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "picket/common/log.h"

namespace picket::worker {

WorkerControl::WorkerControl(int in_fd, int out_fd)
    : in_fd_(in_fd), out_fd_(out_fd), wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

WorkerControl::~WorkerControl() {
  Stop();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void WorkerControl::Start(OnCommand on_command, std::function<void()> on_tick,
                          std::chrono::milliseconds tick) {
  on_command_ = std::move(on_command);
  on_tick_ = std::move(on_tick);
  tick_ = tick;
  thread_ = std::thread([this] { ReadLoop(); });
}

void WorkerControl::Stop() {
  stop_.store(true);
  const std::uint64_t one = 1;
  if (wake_fd_ >= 0) [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
}

void WorkerControl::Send(const worker_protocol::Event& event) {
  std::string line = worker_protocol::EncodeEvent(event);
  line.push_back('\n');
  std::lock_guard lock(write_mu_);
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(out_fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the supervisor is gone
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

void WorkerControl::ServeBeforeStart(std::chrono::milliseconds wait, const OnEarlyCommand& early) {
  if (closed_) return;
  pollfd fd{in_fd_, POLLIN, 0};
  if (::poll(&fd, 1, static_cast<int>(wait.count())) <= 0 || !(fd.revents & (POLLIN | POLLHUP))) return;
  closed_ = !ReadLines([&](const worker_protocol::Command& command) {
    if (!early(command)) kept_.push_back(command);
  });
}

bool WorkerControl::ReadLines(const std::function<void(const worker_protocol::Command&)>& each) {
  char buf[16 * 1024];
  ssize_t n = ::read(in_fd_, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  if (n <= 0) return false;
  partial_.append(buf, static_cast<std::size_t>(n));
  std::size_t start = 0;
  for (std::size_t nl; (nl = partial_.find('\n', start)) != std::string::npos; start = nl + 1) {
    auto command = worker_protocol::ParseCommand(std::string_view(partial_).substr(start, nl - start));
    if (!command.ok()) {
      PICKET_LOG(kWarn, "worker", "unreadable control command ignored", {"bytes", nl - start},
                 {"error", command.status()});
      continue;
    }
    each(*command);
  }
  partial_.erase(0, start);
  if (partial_.size() > worker_protocol::kMaxLineBytes) partial_.clear();  // a runaway line
  return true;
}

void WorkerControl::ReadLoop() {
  for (const auto& command : kept_) on_command_(command);
  kept_.clear();
  if (closed_) return;  // EOF: the supervisor closed the channel
  auto next_tick = std::chrono::steady_clock::now() + tick_;
  while (!stop_.load()) {
    if (on_tick_ && std::chrono::steady_clock::now() >= next_tick) {
      next_tick += tick_;
      on_tick_();
    }
    // Wakes up to look at stop_: the thread must end promptly on shutdown.
    pollfd fds[2] = {{in_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    int ready = ::poll(fds, wake_fd_ >= 0 ? 2 : 1, 200);
    if (ready < 0 && errno != EINTR) return;
    if (ready <= 0 || !(fds[0].revents & (POLLIN | POLLHUP))) continue;
    if (!ReadLines(on_command_)) return;  // EOF: the supervisor closed the channel
  }
}

}  // namespace picket::worker
