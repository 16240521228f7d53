#include "collector/http_server.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <algorithm>
#include <thread>
#include <vector>

#include "collector/http_session.h"
#include "picket/common/log.h"

namespace picket::collector {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using boost::system::error_code;

struct HttpServer::Impl {
  explicit Impl(const HttpServerOptions& o)
      : options(o),
        shared(o.max_inflight, o.caps),
        acceptor(ioc),
        signals(ioc),
        drain_timer(ioc),
        accept_retry(ioc) {}

  // Sessions refer to `shared` and `tls`: declared first, destroyed last.
  HttpServerOptions options;
  ServerShared shared;
  std::optional<ssl::context> tls;
  net::io_context ioc;
  tcp::acceptor acceptor;
  net::signal_set signals;
  std::optional<net::signal_set> reload_signals;  // SIGHUP, with options.on_reload
  net::steady_timer drain_timer;
  net::steady_timer accept_retry;
  tcp::endpoint bound;

  // accept() failures (EMFILE, ENFILE, ENOBUFS): back off, doubling up to 1 s,
  // and log the first one and then at most one line every 10 s with a count.
  std::chrono::milliseconds accept_backoff{0};
  // Connections taken per accept handler beyond the first (see Accept).
  static constexpr int kAcceptBatch = 64;
  std::chrono::steady_clock::time_point accept_error_logged{};
  std::uint64_t accept_errors_unlogged = 0;
  std::chrono::steady_clock::time_point refusal_logged{};
  std::uint64_t refusals_unlogged = 0;

  void OnAcceptError(const error_code& ec) {
    accept_backoff = std::clamp(accept_backoff * 2, std::chrono::milliseconds(10),
                                std::chrono::milliseconds(1000));
    ++accept_errors_unlogged;
    const auto now = std::chrono::steady_clock::now();
    if (now - accept_error_logged >= std::chrono::seconds(10)) {
      PICKET_LOG(kWarn, "collector", "accept failed", {"error", ec.message()},
                 {"times", accept_errors_unlogged},
                 {"open_connections", static_cast<std::uint64_t>(shared.limits.open())},
                 {"retry_ms", static_cast<std::int64_t>(accept_backoff.count())});
      accept_error_logged = now;
      accept_errors_unlogged = 0;
    }
    accept_retry.expires_after(accept_backoff);
    accept_retry.async_wait([this](error_code) {
      if (!shared.stopping.load()) Accept();
    });
  }

  void OnRefused(const std::string& address) {
    ++refusals_unlogged;
    const auto now = std::chrono::steady_clock::now();
    if (now - refusal_logged >= std::chrono::seconds(10)) {
      PICKET_LOG(kWarn, "collector", "connections refused: per-address cap reached",
                 {"address", address}, {"times", refusals_unlogged},
                 {"max_per_address", static_cast<std::uint64_t>(options.caps.max_per_address)});
      refusal_logged = now;
      refusals_unlogged = 0;
    }
  }

  void Accept() {
    acceptor.async_accept(net::make_strand(ioc), [this](error_code ec, tcp::socket socket) {
      if (shared.stopping.load()) return;
      if (ec) return OnAcceptError(ec);
      accept_backoff = std::chrono::milliseconds(0);
      Admit(std::move(socket));
      // Under load the I/O threads run this handler once per round of every connection's
      // handlers, so accepting one connection per round let the listen queue grow behind
      // devices that reconnect after a 429: an operator's new connection waited up to 1.2 s
      // there (ingest_bench, 1 MiB x 1,000 devices) for a 20 ms answer. What else waits is
      // taken now (the acceptor is non-blocking: an empty queue ends the loop).
      for (int i = 0; i < kAcceptBatch && !shared.stopping.load(); ++i) {
        error_code more_ec;
        tcp::socket more = acceptor.accept(net::make_strand(ioc), more_ec);
        if (more_ec) break;  // would_block; any other error: the next async_accept has it
        Admit(std::move(more));
      }
      Accept();
    });
  }

  // Places an accepted connection under the caps and starts its session, or closes it.
  void Admit(tcp::socket socket) {
    error_code peer_ec;
    const std::string address = socket.remote_endpoint(peer_ec).address().to_string();
    if (peer_ec) return;  // already gone
    std::unique_ptr<ConnectionLimits::Ticket> ticket;
    switch (shared.limits.Open(address, &ticket)) {
      case ConnectionLimits::Verdict::kRefuseAddress:
        OnRefused(address);
        socket.close(peer_ec);  // a reset, before any byte is read
        break;
      case ConnectionLimits::Verdict::kAdmitAfterEvicting:
        // At the cap, a waiting connection makes room for one that arrives
        // (nginx reuses keep-alive connections the same way); when none is
        // idle, the new one is closed instead.
        if (shared.registry.CloseOldestIdle()) {
          StartSession(std::move(socket), shared, std::move(ticket));
        } else {
          socket.close(peer_ec);
        }
        break;
      case ConnectionLimits::Verdict::kAdmit:
        StartSession(std::move(socket), shared, std::move(ticket));
        break;
    }
  }

  // Runs on the io_context; idempotent.
  // One SIGHUP at a time, each handled on an I/O thread, until shutdown cancels the wait.
  void WaitForReload() {
    reload_signals->async_wait([this](error_code ec, int) {
      if (ec || shared.stopping) return;
      options.on_reload();
      WaitForReload();
    });
  }

  void BeginShutdown(std::string_view reason) {
    if (shared.stopping.exchange(true)) return;
    PICKET_LOG(kInfo, "collector", "shutting down: finishing requests in flight",
               {"reason", reason},
               {"drain_timeout_s", static_cast<std::int64_t>(options.drain_timeout.count())});
    error_code ec;
    acceptor.close(ec);
    signals.cancel(ec);
    if (reload_signals) reload_signals->cancel(ec);
    accept_retry.cancel();
    drain_timer.expires_after(options.drain_timeout);
    drain_timer.async_wait([this](error_code wait_ec) {
      if (wait_ec) return;  // cancelled: everything finished in time
      PICKET_LOG(kWarn, "collector", "drain timeout: closing remaining connections");
      shared.registry.CloseAll();
    });
    shared.registry.Drain([this] { net::post(ioc, [this] { drain_timer.cancel(); }); });
  }
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() = default;

Result<std::unique_ptr<HttpServer>> HttpServer::Create(const HttpServerOptions& options,
                                                       ApiHandler* handler) {
  auto impl = std::make_unique<Impl>(options);
  impl->shared.handler = handler;

  if (options.client_ca && !options.tls_cert) {
    return Status::InvalidArgument("--client-ca needs --tls-cert and --tls-key");
  }
  if (options.tls_cert || options.tls_key) {
    if (!options.tls_cert || !options.tls_key) {
      return Status::InvalidArgument("--tls-cert and --tls-key must be given together");
    }
    impl->tls.emplace(ssl::context::tls_server);
    auto& ctx = *impl->tls;
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    error_code ec;
    ctx.use_certificate_chain_file(*options.tls_cert, ec);
    if (ec) return Status::InvalidArgument("--tls-cert " + *options.tls_cert + ": " + ec.message());
    ctx.use_private_key_file(*options.tls_key, ssl::context::pem, ec);
    if (ec) return Status::InvalidArgument("--tls-key " + *options.tls_key + ": " + ec.message());
    if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
      return Status::InvalidArgument("--tls-key " + *options.tls_key +
                                     " does not match the certificate in " + *options.tls_cert);
    }
    if (options.client_ca) {
      const std::string& ca = *options.client_ca;
      ctx.load_verify_file(ca, ec);
      if (ec) return Status::InvalidArgument("--client-ca " + ca + ": " + ec.message());
      // Named in the CertificateRequest, so a client with several certificates picks ours.
      STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(ca.c_str());
      if (names == nullptr) {
        return Status::InvalidArgument("--client-ca " + ca + ": no CA certificate in the file");
      }
      SSL_CTX_set_client_CA_list(ctx.native_handle(), names);
      // Optional: operators and token-holding devices connect without one; a
      // certificate that is sent must verify, or the handshake fails.
      ctx.set_verify_mode(ssl::verify_peer, ec);
      if (ec) return Status::Internal("--client-ca: " + ec.message());
    }
    impl->shared.tls = &ctx;
  }

  const std::string where = "--listen " + options.host + ":" + std::to_string(options.port);
  error_code ec;
  auto address = net::ip::make_address(options.host, ec);
  if (ec) return Status::InvalidArgument(where + ": not an IP address");
  tcp::endpoint endpoint(address, options.port);
  auto& acc = impl->acceptor;
  if (acc.open(endpoint.protocol(), ec); ec)
    return Status::IoError(where + ": socket: " + ec.message());
  if (acc.set_option(net::socket_base::reuse_address(true), ec); ec) {
    return Status::IoError(where + ": SO_REUSEADDR: " + ec.message());
  }
  if (acc.bind(endpoint, ec); ec)
    return Status::Unavailable(where + ": cannot bind: " + ec.message());
  if (acc.listen(net::socket_base::max_listen_connections, ec); ec) {
    return Status::Unavailable(where + ": cannot listen: " + ec.message());
  }
  if (acc.non_blocking(true, ec); ec) {  // Accept() drains the queue without blocking
    return Status::IoError(where + ": non-blocking: " + ec.message());
  }
  impl->bound = acc.local_endpoint(ec);
  if (ec) return Status::IoError(where + ": local address: " + ec.message());
  // Caught from now on, so a SIGTERM right after the ready file appears is
  // already a graceful shutdown, not the default action.
  impl->signals.add(SIGTERM, ec);
  if (!ec) impl->signals.add(SIGINT, ec);
  if (ec) return Status::Internal("cannot handle SIGTERM/SIGINT: " + ec.message());
  if (impl->options.on_reload) {
    impl->reload_signals.emplace(impl->ioc);
    impl->reload_signals->add(SIGHUP, ec);
    if (ec) return Status::Internal("cannot handle SIGHUP: " + ec.message());
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

std::string HttpServer::BoundAddress() const {
  const auto& ep = impl_->bound;
  std::string host = ep.address().to_string();
  if (ep.address().is_v6()) host = "[" + host + "]";
  return host + ":" + std::to_string(ep.port());
}

std::string HttpServer::BaseUrl() const {
  const auto& ep = impl_->bound;
  std::string host;
  if (ep.address().is_unspecified()) {
    host = ep.address().is_v6() ? "[::1]" : "127.0.0.1";
  } else {
    host = ep.address().to_string();
    if (ep.address().is_v6()) host = "[" + host + "]";
  }
  return std::string(impl_->tls ? "https" : "http") + "://" + host + ":" +
         std::to_string(ep.port());
}

void HttpServer::Run() {
  Impl& s = *impl_;
  s.signals.async_wait([&s](error_code ec, int signal_number) {
    if (ec) return;
    s.BeginShutdown(signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
  });
  if (s.reload_signals) s.WaitForReload();
  s.Accept();
  // A handler that throws is a bug; log it and keep serving the other connections.
  auto serve = [&s] {
    while (true) {
      try {
        s.ioc.run();
        return;
      } catch (const std::exception& e) {
        PICKET_LOG(kError, "collector", "unexpected exception in an I/O handler",
                   {"what", e.what()});
      }
    }
  };
  std::vector<std::thread> extra;
  for (int i = 1; i < s.options.threads; ++i) extra.emplace_back(serve);
  serve();
  for (auto& t : extra) t.join();
}

void HttpServer::Stop() {
  net::post(impl_->ioc, [this] { impl_->BeginShutdown("stop requested"); });
}

}  // namespace picket::collector
