// The collector's HTTP/1.1 server (Boost.Beast over Asio, optionally TLS):
// binds at Create so startup errors surface before anything runs, then
// serves on N I/O threads until SIGTERM/SIGINT or Stop(). Shutdown stops
// accepting, closes idle keep-alive connections and lets requests in flight
// finish (bounded by a drain timeout).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "collector/api_handler.h"
#include <functional>

#include "collector/connection_limits.h"
#include "picket/common/status.h"

namespace picket::collector {

struct HttpServerOptions {
  std::string host = "127.0.0.1";  // an IP literal
  std::uint16_t port = 0;          // 0: any free port
  int threads = 2;
  int max_inflight = 64;
  ConnectionCaps caps;  // connections in total and per address, requests per device
  std::optional<std::string> tls_cert, tls_key;  // PEM files; both or neither
  // PEM CA bundle (needs TLS): client certificates are requested and, when
  // sent, must verify against it; RequestHead::client_cert_device names the device.
  std::optional<std::string> client_ca;
  std::chrono::seconds drain_timeout{30};
  // Called on an I/O thread for every SIGHUP (reload the tokens file); unset: SIGHUP
  // keeps its default action.
  std::function<void()> on_reload;
};

class HttpServer {
 public:
  // Loads the TLS files and binds. Errors name the flag and value at fault.
  static Result<std::unique_ptr<HttpServer>> Create(const HttpServerOptions& options,
                                                    ApiHandler* handler);
  ~HttpServer();

  // "http://127.0.0.1:41234" for the bound port (an unspecified listen
  // address is reported as loopback, where a local client can reach it).
  std::string BaseUrl() const;
  std::string BoundAddress() const;  // "0.0.0.0:41234"

  // Serves until a signal or Stop(), then drains; blocks the calling thread
  // (one of the I/O threads). Returns once every thread has finished.
  void Run();
  // Begins the graceful shutdown. Any thread, not a signal handler.
  void Stop();

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace picket::collector
