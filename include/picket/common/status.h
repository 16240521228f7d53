// Status and Result<T>: every fallible call in picket returns one of these.
// C library errors are converted once, at the boundary, with context
// (interface, znode path, URL, file) so callers can decide whether to retry.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace picket {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,    // bad input from a user or a config; not retryable
  kNotFound,
  kAlreadyExists,
  kConflict,           // same key, different content (e.g. chunk seq with another hash)
  kUnavailable,        // network, ZooKeeper, collector: retry with backoff
  kResourceExhausted,  // disk budget, rate limit, in-flight limit
  kPermissionDenied,
  kIoError,            // local disk or OS call failed
  kCorruption,
  kFailedPrecondition,
  kDeadlineExceeded,
  kCancelled,
  kInternal,
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status Conflict(std::string m) { return {StatusCode::kConflict, std::move(m)}; }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status ResourceExhausted(std::string m) {
    return {StatusCode::kResourceExhausted, std::move(m)};
  }
  static Status PermissionDenied(std::string m) {
    return {StatusCode::kPermissionDenied, std::move(m)};
  }
  static Status IoError(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
  static Status Corruption(std::string m) { return {StatusCode::kCorruption, std::move(m)}; }
  static Status FailedPrecondition(std::string m) {
    return {StatusCode::kFailedPrecondition, std::move(m)};
  }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
  static Status Cancelled(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }
  static Status DeadlineExceeded(std::string m) {
    return {StatusCode::kDeadlineExceeded, std::move(m)};
  }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "InvalidArgument: /capture/snaplen: ..." or "OK".
  std::string ToString() const;

  // Prefixes the message with where it happened: "open /var/lib/x: No such file".
  Status WithContext(std::string_view context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Converts errno into a Status once, at the OS boundary: ENOENT → NotFound,
// EACCES/EPERM → PermissionDenied, ENOSPC/EDQUOT → ResourceExhausted, others → IoError.
Status FromErrno(std::string_view context, int error_number);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : value_(std::move(status)) {  // NOLINT
    if (std::get<Status>(value_).ok()) {
      value_ = Status::Internal("Result built from an OK status without a value");
    }
  }

  bool ok() const { return std::holds_alternative<T>(value_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(value_);
  }
  T& value() & { return std::get<T>(value_); }
  const T& value() const& { return std::get<T>(value_); }
  T&& value() && { return std::get<T>(std::move(value_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> value_;
};

}  // namespace picket

// Returns early from the enclosing function when `expr` yields a non-OK Status.
#define PICKET_RETURN_IF_ERROR(expr)          \
  do {                                        \
    ::picket::Status picket_status_ = (expr); \
    if (!picket_status_.ok()) return picket_status_; \
  } while (0)
