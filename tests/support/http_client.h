// HTTP for integration tests: libcurl for ordinary requests (as the device
// uploader uses it) and a raw TCP connection for requests that must stall
// half-way (in-flight limits, graceful shutdown). Loopback only.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "picket/common/status.h"
#include "support/process_harness.h"

namespace picket::testing {

// Call once from main before any thread starts.
void GlobalHttpInit();

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;
  std::string ca_file;  // for https with a self-signed certificate
};

struct HttpResponse {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string Header(std::string_view name) const;
};

// Transport failures (refused, reset, TLS) are Unavailable naming the URL.
Result<HttpResponse> Perform(const HttpRequest& request);

// A plain TCP connection to 127.0.0.1 or ::1 that writes exactly what it is given.
class RawConnection {
 public:
  static Result<RawConnection> Connect(const std::string& host, std::uint16_t port);
  RawConnection(RawConnection&& other) noexcept;
  RawConnection& operator=(RawConnection&&) = delete;
  ~RawConnection();

  Status Send(std::string_view bytes);
  // Reads one HTTP/1.1 response (headers + Content-Length body); returns its status code.
  Result<int> ReadResponse(Deadline deadline, std::string* raw = nullptr);
  // True once the server has closed the connection (EOF or reset).
  Result<bool> ClosedByPeer(Deadline deadline);

  // Index of the first connection with bytes to read (or closed), waiting
  // until the deadline; DeadlineExceeded if none.
  static Result<std::size_t> FirstReadable(const std::vector<RawConnection*>& connections,
                                           Deadline deadline);

 private:
  explicit RawConnection(int fd) : fd_(fd) {}
  int fd_ = -1;
  std::string pending_;
};

// "http://127.0.0.1:41234" → host "127.0.0.1", port 41234.
Status SplitBaseUrl(const std::string& url, std::string* host, std::uint16_t* port);

}  // namespace picket::testing
