// Connect mode: ordinary kernel connect()s driven by Boost.Asio on Run's
// thread, IPv4 and IPv6, no privileges. A probe is one connect bounded by
// connect_timeout; "open" is an accepted connection, "refused" a reply, a
// timeout is retried up to `retries` times (a refusal never is). Launches take
// tokens from the same TokenBucket as SYN mode and never exceed
// connect_concurrency sockets (capped by RLIMIT_NOFILE). Sockets close with
// SO_LINGER 0, so a scan leaves no TIME_WAIT behind. `wait` does not apply: every
// outcome is known when its connect (and banner read) completes.
//
// GrabBanners reuses the same per-connection code after a SYN scan.
#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <mutex>
#include <unordered_map>

#include "picket/common/clock.h"
#include "picket/common/log.h"
#include "scan/checkpoint.h"
#include "scan/scanner_internal.h"
#include "scan/token_bucket.h"

namespace picket::scan {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using std::chrono::duration;
using std::chrono::milliseconds;

enum class Outcome { kOpen, kRefused, kTimeout, kUnreachable, kAborted };

struct Attempt {
  explicit Attempt(asio::io_context& io) : sock(io), timer(io) {}
  tcp::socket sock;
  asio::steady_timer timer;
  tcp::endpoint endpoint;
  IpAddress ip;
  std::uint16_t port = 0;
  std::uint64_t id = 0;  // local index (scan) or result index (banners)
  int tries_left = 0;
  bool timed_out = false;
  bool finished = false;
  std::string banner_bytes;
  std::array<std::uint8_t, kBannerBytes> buf{};
};

using AttemptPtr = std::shared_ptr<Attempt>;
using DoneFn = std::function<void(const AttemptPtr&, Outcome)>;

tcp::endpoint EndpointOf(const IpAddress& ip, std::uint16_t port) {
  if (ip.v6) {
    asio::ip::address_v6::bytes_type b;
    std::copy(ip.bytes.begin(), ip.bytes.end(), b.begin());
    return {asio::ip::address_v6(b), port};
  }
  return {asio::ip::address_v4(ip.V4HostOrder()), port};
}

void Finish(const AttemptPtr& a, Outcome outcome, const DoneFn& done) {
  if (a->finished) return;
  a->finished = true;
  boost::system::error_code ignored;
  a->timer.cancel();
  if (a->sock.is_open()) {
    a->sock.set_option(asio::socket_base::linger(true, 0), ignored);  // RST: no TIME_WAIT
    a->sock.close(ignored);
  }
  done(a, outcome);
}

void ReadBanner(const AttemptPtr& a, const DoneFn& done) {
  const std::size_t have = a->banner_bytes.size();
  a->sock.async_read_some(asio::buffer(a->buf.data(), kBannerBytes - have),
                          [a, done](const boost::system::error_code& ec, std::size_t n) {
                            a->banner_bytes.append(reinterpret_cast<const char*>(a->buf.data()), n);
                            if (!ec && a->banner_bytes.size() < kBannerBytes) {
                              ReadBanner(a, done);
                              return;
                            }
                            Finish(a, Outcome::kOpen,
                                   done);  // eof, timeout (socket closed) or full
                          });
}

// One connect, then optionally a banner read. `done` runs exactly once.
void StartAttempt(const AttemptPtr& a, milliseconds connect_timeout, bool read_banner,
                  milliseconds banner_timeout, DoneFn done) {
  boost::system::error_code ec;
  a->timed_out = false;
  a->sock.open(a->endpoint.protocol(), ec);
  if (ec) {
    Finish(a, Outcome::kUnreachable, done);
    return;
  }
  a->timer.expires_after(connect_timeout);
  a->timer.async_wait([a](const boost::system::error_code& e) {
    if (e) return;  // cancelled: the connect finished first
    a->timed_out = true;
    boost::system::error_code ignored;
    a->sock.close(ignored);
  });
  a->sock.async_connect(
      a->endpoint, [a, read_banner, banner_timeout, done](const boost::system::error_code& e) {
        if (a->finished) return;
        if (!e) {
          a->timer.cancel();
          if (!read_banner) {
            Finish(a, Outcome::kOpen, done);
            return;
          }
          a->timer.expires_after(banner_timeout);
          a->timer.async_wait([a](const boost::system::error_code& te) {
            if (te) return;
            boost::system::error_code ignored;
            a->sock.close(ignored);
          });
          ReadBanner(a, done);
          return;
        }
        a->timer.cancel();
        if (e == asio::error::connection_refused || e == asio::error::connection_reset) {
          Finish(a, Outcome::kRefused, done);
        } else if (a->timed_out || e == asio::error::timed_out) {
          Finish(a, Outcome::kTimeout, done);
        } else if (e == asio::error::operation_aborted) {
          Finish(a, Outcome::kAborted, done);
        } else {
          Finish(a, Outcome::kUnreachable, done);
        }
      });
}

class ConnectScanner final : public Scanner {
 public:
  explicit ConnectScanner(PreparedScan scan)
      : scan_(std::move(scan)),
        perm_(scan_.space.size(), scan_.spec.seed),
        window_(scan_.spec.start_index) {}

  Status Run(const std::function<void(const ScanResult&)>& on_result,
             const std::function<void(const ScanProgress&)>& on_progress) override;
  void RequestStop() noexcept override { stop_.store(true, std::memory_order_relaxed); }
  ScanSummary Summary() const override {
    std::lock_guard<std::mutex> lock(summary_mu_);
    return summary_;
  }

 private:
  void Launch();
  void Start(const AttemptPtr& a);
  void OnDone(const AttemptPtr& a, Outcome outcome);
  void Tick();
  void StopAll();
  bool AllDone() const {
    return window_.next() >= scan_.shard.size() && active_.empty() && retry_queue_.empty();
  }
  ScanProgress MakeProgress(MonoTime now, bool finished);

  PreparedScan scan_;
  Permutation perm_;
  std::atomic<bool> stop_{false};
  ScanCounters counters_;

  // Everything below lives on the io thread (Run's thread).
  asio::io_context io_;
  std::unique_ptr<TokenBucket> bucket_;
  std::unique_ptr<asio::steady_timer> launch_timer_, tick_timer_;
  bool launch_armed_ = false;
  bool stopping_ = false;
  std::optional<std::uint64_t> stop_checkpoint_;
  InFlightWindow window_;
  std::unordered_map<Attempt*, AttemptPtr> active_;
  std::deque<AttemptPtr> retry_queue_;
  std::size_t concurrency_ = 1;
  const std::function<void(const ScanResult&)>* on_result_ = nullptr;
  const std::function<void(const ScanProgress&)>* on_progress_ = nullptr;
  MonoTime started_{}, next_progress_{}, last_progress_time_{}, first_send_{}, last_send_{};
  std::uint64_t last_progress_sent_ = 0;
  bool any_sent_ = false;

  mutable std::mutex summary_mu_;
  ScanSummary summary_;
};

void ConnectScanner::Start(const AttemptPtr& a) {
  active_.emplace(a.get(), a);
  a->finished = false;
  a->sock = tcp::socket(io_);
  counters_.sent.fetch_add(1, std::memory_order_relaxed);
  const MonoTime now = SystemClock::Instance().MonotonicNow();
  if (!any_sent_) {
    first_send_ = now;
    any_sent_ = true;
  }
  last_send_ = now;
  StartAttempt(a, scan_.spec.connect_timeout, scan_.spec.banners, scan_.spec.banner_timeout,
               [this](const AttemptPtr& done, Outcome o) { OnDone(done, o); });
}

void ConnectScanner::Launch() {
  if (stopping_) return;
  const MonoTime now = SystemClock::Instance().MonotonicNow();
  const std::uint64_t end = scan_.shard.size();
  while (active_.size() < concurrency_ && (!retry_queue_.empty() || window_.next() < end)) {
    const std::uint64_t want = std::min<std::uint64_t>(64, concurrency_ - active_.size());
    const std::uint64_t grant =
        TakeWithBudget(*bucket_, scan_.spec.device_budget.get(), now, want);
    if (grant == 0) {
      if (!launch_armed_) {
        launch_armed_ = true;
        launch_timer_->expires_after(
            std::min<std::chrono::nanoseconds>(
                TimeUntilBoth(*bucket_, scan_.spec.device_budget.get(), now), milliseconds(2)));
        launch_timer_->async_wait([this](const boost::system::error_code&) {
          launch_armed_ = false;
          Launch();
        });
      }
      return;
    }
    for (std::uint64_t i = 0; i < grant; ++i) {
      AttemptPtr a;
      if (!retry_queue_.empty()) {
        a = std::move(retry_queue_.front());
        retry_queue_.pop_front();
      } else if (window_.next() < end) {
        a = std::make_shared<Attempt>(io_);
        a->id = window_.Launch();
        const TargetSpace::Probe p = scan_.space.At(perm_.At(scan_.shard.Global(a->id)));
        a->ip = p.ip;
        a->port = p.port;
        a->endpoint = EndpointOf(p.ip, p.port);
        a->tries_left = scan_.spec.retries;
      } else {
        break;
      }
      Start(a);
    }
  }
}

void ConnectScanner::OnDone(const AttemptPtr& a, Outcome outcome) {
  active_.erase(a.get());
  switch (outcome) {
    case Outcome::kOpen: {
      counters_.replies.fetch_add(1, std::memory_order_relaxed);
      counters_.open.fetch_add(1, std::memory_order_relaxed);
      ScanResult r;
      r.ip = a->ip;
      r.port = a->port;
      r.ts_ms = WallNowMs();
      r.banner = EscapeBanner(reinterpret_cast<const std::uint8_t*>(a->banner_bytes.data()),
                              a->banner_bytes.size());
      r.job_id = scan_.spec.job_id;
      r.shard = scan_.spec.shard_index;
      if (*on_result_) (*on_result_)(r);
      break;
    }
    case Outcome::kRefused:
      counters_.replies.fetch_add(1, std::memory_order_relaxed);
      break;
    case Outcome::kTimeout:
      if (a->tries_left > 0 && !stopping_) {
        --a->tries_left;
        retry_queue_.push_back(a);
        Launch();
        return;  // stays in flight for the checkpoint
      }
      break;
    case Outcome::kUnreachable:
      counters_.send_errors.fetch_add(1, std::memory_order_relaxed);
      break;
    case Outcome::kAborted:
      break;
  }
  window_.Complete(a->id);
  if (!stopping_) Launch();
}

void ConnectScanner::StopAll() {
  stopping_ = true;
  stop_checkpoint_ = window_.Checkpoint();  // before aborted attempts leave the window
  launch_timer_->cancel();
  retry_queue_.clear();
  std::vector<AttemptPtr> live;
  for (auto& [raw, a] : active_) live.push_back(a);
  for (auto& a : live) {
    boost::system::error_code ignored;
    a->timer.cancel();
    a->sock.close(ignored);
  }
}

void ConnectScanner::Tick() {
  const MonoTime now = SystemClock::Instance().MonotonicNow();
  if (stop_.load(std::memory_order_relaxed) && !stopping_) StopAll();
  if (stopping_ && active_.empty()) return;  // nothing left; let io.run() return
  if (!stopping_ && AllDone()) return;
  if (now >= next_progress_) {
    if (*on_progress_) (*on_progress_)(MakeProgress(now, false));
    next_progress_ += std::chrono::seconds(1);
    if (next_progress_ < now) next_progress_ = now + std::chrono::seconds(1);
  }
  tick_timer_->expires_after(milliseconds(50));
  tick_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (!ec) Tick();
  });
}

ScanProgress ConnectScanner::MakeProgress(MonoTime now, bool finished) {
  ScanProgress p;
  p.total = scan_.shard.size();
  p.checkpoint = finished ? p.total : stop_checkpoint_.value_or(window_.Checkpoint());
  p.done = finished ? p.total : window_.next();
  p.sent = counters_.sent.load();
  p.replies = counters_.replies.load();
  p.open = counters_.open.load();
  const double dt = duration<double>(now - last_progress_time_).count();
  p.pps = dt > 0 ? static_cast<double>(p.sent - last_progress_sent_) / dt : 0;
  last_progress_time_ = now;
  last_progress_sent_ = p.sent;
  p.elapsed_s = duration<double>(now - started_).count();
  p.eta_s = finished ? 0
                     : static_cast<double>(p.total - std::min(p.total, p.done)) /
                               static_cast<double>(scan_.spec.rate_pps) +
                           duration<double>(scan_.spec.connect_timeout).count();
  return p;
}

Status ConnectScanner::Run(const std::function<void(const ScanResult&)>& on_result,
                           const std::function<void(const ScanProgress&)>& on_progress) {
  on_result_ = &on_result;
  on_progress_ = &on_progress;
  const MonoTime now = SystemClock::Instance().MonotonicNow();
  started_ = last_progress_time_ = now;
  next_progress_ = now + std::chrono::seconds(1);
  const std::uint64_t fd_limit = RaiseOpenFileLimit();
  concurrency_ = static_cast<std::size_t>(
      std::max<std::int64_t>(1, std::min<std::int64_t>(scan_.spec.connect_concurrency,
                                                       static_cast<std::int64_t>(fd_limit) - 64)));
  const double rate = static_cast<double>(scan_.spec.rate_pps);
  bucket_ = std::make_unique<TokenBucket>(rate, DefaultBurst(rate), now);
  launch_timer_ = std::make_unique<asio::steady_timer>(io_);
  tick_timer_ = std::make_unique<asio::steady_timer>(io_);
  PICKET_LOG(kInfo, "scan", "connect scan starting",
             {"probes", scan_.shard.size() - scan_.spec.start_index}, {"space", scan_.space.size()},
             {"rate", scan_.spec.rate_pps}, {"concurrency", concurrency_},
             {"seed", scan_.spec.seed});
  asio::post(io_, [this] {
    Launch();
    Tick();
  });
  try {
    io_.run();
  } catch (const std::exception& e) {
    return Status::Internal(std::string("connect scan: ") + e.what());
  }
  const MonoTime end = SystemClock::Instance().MonotonicNow();
  const bool completed = !stopping_ && AllDone();
  {
    std::lock_guard<std::mutex> lock(summary_mu_);
    summary_.sent = counters_.sent.load();
    summary_.replies = counters_.replies.load();
    summary_.open = counters_.open.load();
    summary_.send_errors = counters_.send_errors.load();
    summary_.seconds = duration<double>(end - started_).count();
    const double span = duration<double>(last_send_ - first_send_).count();
    summary_.pps = span > 0 ? static_cast<double>(summary_.sent - 1) / span
                            : static_cast<double>(summary_.sent);
  }
  if (on_progress) on_progress(MakeProgress(end, completed));
  if (!completed) return Status(StatusCode::kCancelled, "scan stopped before the end");
  return Status::Ok();
}

}  // namespace

std::unique_ptr<Scanner> MakeConnectScanner(PreparedScan scan) {
  return std::make_unique<ConnectScanner>(std::move(scan));
}

void GrabBanners(std::vector<ScanResult>& results, int concurrency, milliseconds connect_timeout,
                 milliseconds banner_timeout, const std::atomic<bool>& stop) {
  asio::io_context io;
  std::size_t next = 0, active = 0;
  const std::size_t limit = static_cast<std::size_t>(std::max(1, concurrency));
  std::function<void()> launch;
  const DoneFn done = [&](const AttemptPtr& a, Outcome o) {
    --active;
    if (o == Outcome::kOpen) {
      results[a->id].banner = EscapeBanner(
          reinterpret_cast<const std::uint8_t*>(a->banner_bytes.data()), a->banner_bytes.size());
    }
    launch();
  };
  launch = [&] {
    while (active < limit && next < results.size() && !stop.load(std::memory_order_relaxed)) {
      auto a = std::make_shared<Attempt>(io);
      a->id = next++;
      a->endpoint = EndpointOf(results[a->id].ip, results[a->id].port);
      ++active;
      StartAttempt(a, connect_timeout, true, banner_timeout, done);
    }
  };
  asio::post(io, launch);
  // Every attempt ends within connect_timeout + banner_timeout, so run() returns.
  try {
    io.run();
  } catch (const std::exception& e) {
    PICKET_LOG(kWarn, "scan", "banner grab failed", {"error", e.what()});
  }
}

}  // namespace picket::scan
