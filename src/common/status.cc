#include "picket/common/status.h"

#include <cerrno>
#include <cstring>

namespace picket {

std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "OK";
    case StatusCode::kInvalidArgument: return "InvalidArgument";
    case StatusCode::kNotFound: return "NotFound";
    case StatusCode::kAlreadyExists: return "AlreadyExists";
    case StatusCode::kConflict: return "Conflict";
    case StatusCode::kUnavailable: return "Unavailable";
    case StatusCode::kResourceExhausted: return "ResourceExhausted";
    case StatusCode::kPermissionDenied: return "PermissionDenied";
    case StatusCode::kIoError: return "IoError";
    case StatusCode::kCorruption: return "Corruption";
    case StatusCode::kFailedPrecondition: return "FailedPrecondition";
    case StatusCode::kDeadlineExceeded: return "DeadlineExceeded";
    case StatusCode::kCancelled: return "Cancelled";
    case StatusCode::kInternal: return "Internal";
  }
  return "Unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string out(StatusCodeName(code_));
  out += ": ";
  out += message_;
  return out;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  std::string m(context);
  m += ": ";
  m += message_;
  return Status(code_, std::move(m));
}

Status FromErrno(std::string_view context, int error_number) {
  std::string m(context);
  m += ": ";
  m += std::strerror(error_number);
  switch (error_number) {
    case ENOENT: return Status::NotFound(std::move(m));
    case EEXIST: return Status::AlreadyExists(std::move(m));
    case EACCES:
    case EPERM: return Status::PermissionDenied(std::move(m));
    case ENOSPC:
    case EDQUOT: return Status::ResourceExhausted(std::move(m));
    case EAGAIN:
    case ECONNREFUSED:
    case ECONNRESET:
    case ETIMEDOUT:
    case EHOSTUNREACH:
    case ENETUNREACH: return Status::Unavailable(std::move(m));
    case EINVAL: return Status::InvalidArgument(std::move(m));
    default: return Status::IoError(std::move(m));
  }
}

}  // namespace picket
