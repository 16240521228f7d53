#include "support/http_client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <memory>

namespace picket::testing {

namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::size_t OnBody(char* data, std::size_t size, std::size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

std::size_t OnHeader(char* data, std::size_t size, std::size_t n, void* user) {
  std::string line(data, size * n);
  auto* headers = static_cast<std::map<std::string, std::string>*>(user);
  if (line.rfind("HTTP/", 0) == 0) headers->clear();  // a new response (after 100 Continue)
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string value = line.substr(colon + 1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.pop_back();
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    (*headers)[Lower(line.substr(0, colon))] = value;
  }
  return size * n;
}

int PollFor(int fd, short events, Deadline deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  pollfd p{fd, events, 0};
  int r = ::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(0, left.count())));
  return r;
}

}  // namespace

void GlobalHttpInit() { curl_global_init(CURL_GLOBAL_DEFAULT); }

std::string HttpResponse::Header(std::string_view name) const {
  auto it = headers.find(Lower(std::string(name)));
  return it == headers.end() ? std::string() : it->second;
}

Result<HttpResponse> Perform(const HttpRequest& request) {
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return Status::Internal("curl_easy_init failed");
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> list(nullptr, curl_slist_free_all);
  for (const auto& h : request.headers) list.reset(curl_slist_append(list.release(), h.c_str()));
  HttpResponse response;
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROXY, "");  // never a proxy from the environment
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  if (request.method == "GET") {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  }
  if (list) curl_easy_setopt(c, CURLOPT_HTTPHEADER, list.get());
  if (!request.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, request.ca_file.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &response.headers);
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    return Status::Unavailable(request.method + " " + request.url + ": " + curl_easy_strerror(rc));
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

Status SplitBaseUrl(const std::string& url, std::string* host, std::uint16_t* port) {
  auto scheme = url.find("://");
  auto colon = url.rfind(':');
  if (scheme == std::string::npos || colon == std::string::npos || colon < scheme + 3) {
    return Status::InvalidArgument("bad base URL '" + url + "'");
  }
  std::string h = url.substr(scheme + 3, colon - scheme - 3);
  if (h.size() >= 2 && h.front() == '[') h = h.substr(1, h.size() - 2);
  *host = h;
  *port = static_cast<std::uint16_t>(std::stoi(url.substr(colon + 1)));
  return Status::Ok();
}

Result<RawConnection> RawConnection::Connect(const std::string& host, std::uint16_t port) {
  sockaddr_storage addr{};
  socklen_t len = 0;
  int family = AF_INET;
  if (host.find(':') != std::string::npos) {
    family = AF_INET6;
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&addr);
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(port);
    if (inet_pton(AF_INET6, host.c_str(), &a6->sin6_addr) != 1)
      return Status::InvalidArgument(host);
    len = sizeof(sockaddr_in6);
  } else {
    auto* a4 = reinterpret_cast<sockaddr_in*>(&addr);
    a4->sin_family = AF_INET;
    a4->sin_port = htons(port);
    if (inet_pton(AF_INET, host.c_str(), &a4->sin_addr) != 1) return Status::InvalidArgument(host);
    len = sizeof(sockaddr_in);
  }
  int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return FromErrno("socket", errno);
  RawConnection conn(fd);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    return FromErrno("connect " + host + ":" + std::to_string(port), errno);
  }
  return conn;
}

RawConnection::RawConnection(RawConnection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), pending_(std::move(other.pending_)) {}

RawConnection::~RawConnection() {
  if (fd_ >= 0) ::close(fd_);
}

Status RawConnection::Send(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FromErrno("send", errno);
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return Status::Ok();
}

Result<int> RawConnection::ReadResponse(Deadline deadline, std::string* raw) {
  while (true) {
    auto end = pending_.find("\r\n\r\n");
    if (end != std::string::npos) {
      std::size_t length = 0;
      std::string head = Lower(pending_.substr(0, end));
      if (auto cl = head.find("\r\ncontent-length:"); cl != std::string::npos) {
        length = std::stoul(head.substr(cl + 17));
      }
      if (pending_.size() >= end + 4 + length) {
        std::string response = pending_.substr(0, end + 4 + length);
        pending_.erase(0, response.size());
        if (raw != nullptr) *raw = response;
        if (response.size() < 12) return Status::Corruption("short status line");
        return std::stoi(response.substr(9, 3));
      }
    }
    if (PollFor(fd_, POLLIN, deadline) <= 0) {
      return Status(StatusCode::kDeadlineExceeded, "no complete response before the deadline");
    }
    char buf[8192];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FromErrno("recv", errno);
    if (n == 0) return Status::Unavailable("connection closed before a complete response");
    pending_.append(buf, static_cast<std::size_t>(n));
  }
}

Result<std::size_t> RawConnection::FirstReadable(const std::vector<RawConnection*>& connections,
                                                 Deadline deadline) {
  for (std::size_t i = 0; i < connections.size(); ++i) {
    if (!connections[i]->pending_.empty()) return i;
  }
  std::vector<pollfd> fds;
  for (auto* c : connections) fds.push_back(pollfd{c->fd_, POLLIN, 0});
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    int r =
        ::poll(fds.data(), fds.size(), static_cast<int>(std::max<std::int64_t>(0, left.count())));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return FromErrno("poll", errno);
    if (r == 0) return Status(StatusCode::kDeadlineExceeded, "no connection became readable");
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents != 0) return i;
    }
  }
}

Result<bool> RawConnection::ClosedByPeer(Deadline deadline) {
  while (true) {
    if (PollFor(fd_, POLLIN, deadline) <= 0) return false;
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0 || (n < 0 && errno == ECONNRESET)) return true;
    if (n < 0) return FromErrno("recv", errno);
    pending_.append(buf, static_cast<std::size_t>(n));
  }
}

}  // namespace picket::testing
