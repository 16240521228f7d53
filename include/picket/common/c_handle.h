// RAII for C library handles: CHandle<pcap_t, pcap_close> frees the handle on
// every path. The deleter is a template argument, so the handle stays one
// pointer wide. Each module defines its own alias next to the code that uses it
// (PcapHandle in capture, CurlEasy in upload, ...), keeping C types out of
// include/.
#pragma once

#include <memory>
#include <utility>

namespace picket {

template <auto Deleter>
struct CDeleter {
  template <typename T>
  void operator()(T* p) const {
    if (p) Deleter(p);
  }
};

template <typename T, auto Deleter>
using CHandle = std::unique_ptr<T, CDeleter<Deleter>>;

// An owned file descriptor; closes on destruction, movable, not copyable.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) Reset(std::exchange(other.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() { return std::exchange(fd_, -1); }
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

}  // namespace picket
