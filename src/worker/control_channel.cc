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

void WorkerControl::ReadLoop() {
  std::string partial;
  char buf[16 * 1024];
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
    ssize_t n = ::read(in_fd_, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return;  // EOF: the supervisor closed the channel
    partial.append(buf, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (std::size_t nl; (nl = partial.find('\n', start)) != std::string::npos; start = nl + 1) {
      auto command = worker_protocol::ParseCommand(std::string_view(partial).substr(start, nl - start));
      if (!command.ok()) {
        PICKET_LOG(kWarn, "worker", "unreadable control command ignored",
                   {"bytes", nl - start}, {"error", command.status()});
        continue;
      }
      on_command_(*command);
    }
    partial.erase(0, start);
    if (partial.size() > worker_protocol::kMaxLineBytes) partial.clear();  // a runaway line
  }
}

}  // namespace picket::worker
