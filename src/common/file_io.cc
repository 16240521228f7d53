#include "picket/common/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <utility>

#include "picket/common/c_handle.h"

namespace picket {

namespace {

constexpr std::string_view kTempMarker = ".tmp.";

std::string BaseName(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Unique within the process (counter) and across processes (pid), also those
// of other machines writing one shared directory (a random tag per process).
std::string TempPathFor(const std::string& final_path) {
  static std::atomic<std::uint64_t> counter{0};
  static const std::string process_tag =
      std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}() & 0xffffff);
  return DirName(final_path) + "/." + BaseName(final_path) + std::string(kTempMarker) +
         process_tag + "." + std::to_string(counter.fetch_add(1));
}

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return FromErrno("write " + path, errno);
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return Status::Ok();
}

}  // namespace

std::string DirName(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Result<PendingFile> PendingFile::Create(const std::string& final_path, Mode mode) {
  std::string temp = TempPathFor(final_path);
  constexpr int kFlags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;
  if (mode == Mode::kDirect) {
    int fd = ::open(temp.c_str(), kFlags | O_DIRECT, 0600);
    if (fd >= 0) return PendingFile(std::move(temp), final_path, fd, true);
    if (errno != EINVAL) return FromErrno("create " + temp, errno);
    // This filesystem has no direct I/O (tmpfs before 6.6, data=journal ext4): buffered. The
    // kernel refuses O_DIRECT after creating the file; the name is ours alone (TempPathFor).
    ::unlink(temp.c_str());
  }
  int fd = ::open(temp.c_str(), kFlags, 0600);
  if (fd < 0) return FromErrno("create " + temp, errno);
  return PendingFile(std::move(temp), final_path, fd, false);  // removes the temp file on error
}

Status PendingFile::StopDirect() {
  if (!direct_) return Status::Ok();
  const int flags = ::fcntl(fd_, F_GETFL);
  if (flags < 0 || ::fcntl(fd_, F_SETFL, flags & ~O_DIRECT) != 0) {
    return FromErrno("fcntl(O_DIRECT off) " + temp_path_, errno);
  }
  direct_ = false;
  return Status::Ok();
}

Status PendingFile::Append(std::string_view data) {
  if (fd_ < 0) return Status::FailedPrecondition("append to " + final_path_ + ": file is sealed");
  // Direct: the aligned whole blocks at the front (a file's last piece: all but its tail).
  while (direct_ && reinterpret_cast<std::uintptr_t>(data.data()) % kDirectAlignment == 0) {
    const std::size_t blocks = data.size() - data.size() % kDirectAlignment;
    if (blocks == 0) break;
    ssize_t n = ::write(fd_, data.data(), blocks);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EINVAL) return FromErrno("write " + temp_path_, errno);
    if (n < 0) break;  // a block size above kDirectAlignment: buffered from here on
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  if (direct_ && !data.empty()) PICKET_RETURN_IF_ERROR(StopDirect());
  return WriteAll(fd_, data, temp_path_);
}

Status PendingFile::Close() {
  if (fd_ < 0) return Status::Ok();
  if (::close(std::exchange(fd_, -1)) != 0) return FromErrno("close " + temp_path_, errno);
  return Status::Ok();
}

void PendingFile::RemoveName() const {
  if (!temp_path_.empty()) ::unlink(temp_path_.c_str());
}

Status PendingFile::Seal() {
  if (fd_ < 0) return Status::Ok();
  if (::fsync(fd_) != 0) return FromErrno("fsync " + temp_path_, errno);
  return Close();
}

Result<PendingFile> PendingFile::Write(const std::string& final_path, std::string_view data) {
  auto pending = Create(final_path);
  if (!pending.ok()) return pending.status();
  PICKET_RETURN_IF_ERROR(pending->Append(data));
  PICKET_RETURN_IF_ERROR(pending->Seal());
  return pending;
}

void PendingFile::CloseQuietly() {
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
}

PendingFile::PendingFile(PendingFile&& other) noexcept
    : temp_path_(std::exchange(other.temp_path_, {})),
      final_path_(std::move(other.final_path_)),
      fd_(std::exchange(other.fd_, -1)),
      direct_(std::exchange(other.direct_, false)) {}

PendingFile& PendingFile::operator=(PendingFile&& other) noexcept {
  if (this != &other) {
    CloseQuietly();
    if (!temp_path_.empty()) ::unlink(temp_path_.c_str());
    temp_path_ = std::exchange(other.temp_path_, {});
    final_path_ = std::move(other.final_path_);
    fd_ = std::exchange(other.fd_, -1);
    direct_ = std::exchange(other.direct_, false);
  }
  return *this;
}

PendingFile::~PendingFile() {
  CloseQuietly();
  if (!temp_path_.empty()) ::unlink(temp_path_.c_str());
}

Status PendingFile::Publish(bool sync_directory) {
  if (temp_path_.empty())
    return Status::FailedPrecondition("publish " + final_path_ + ": no temp file");
  PICKET_RETURN_IF_ERROR(Seal());
  if (::rename(temp_path_.c_str(), final_path_.c_str()) != 0) {
    return FromErrno("rename " + temp_path_ + " to " + final_path_, errno);
  }
  temp_path_.clear();
  return sync_directory ? SyncDirectory(DirName(final_path_)) : Status::Ok();
}

Status WriteFileAtomically(const std::string& path, std::string_view data) {
  auto pending = PendingFile::Write(path, data);
  if (!pending.ok()) return pending.status();
  return pending->Publish();
}

Status SyncDirectory(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return FromErrno("open directory " + dir, errno);
  if (::fsync(fd.get()) != 0) return FromErrno("fsync directory " + dir, errno);
  return Status::Ok();
}

bool IsPendingFileName(std::string_view file_name) {
  return !file_name.empty() && file_name[0] == '.' &&
         file_name.find(kTempMarker) != std::string_view::npos;
}

Result<std::string> ReadWholeFile(const std::string& path, std::size_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return FromErrno("open " + path, errno);
  std::string data;
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FromErrno("read " + path, errno);
    if (n == 0) break;
    if (data.size() + static_cast<std::size_t>(n) > max_bytes) {
      return Status::ResourceExhausted(path + " is larger than " + std::to_string(max_bytes) +
                                       " bytes");
    }
    data.append(buf, static_cast<std::size_t>(n));
  }
  return data;
}

Result<std::string> ReadPrivateFile(const std::string& path, std::string_view where,
                                    std::size_t max_bytes) {
  const std::string what = std::string(where) + " " + path;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return FromErrno(what, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return FromErrno(what, errno);
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Status::PermissionDenied(what + ": group or others can access it (mode " + mode +
                                    "); a secret must be its owner's only: chmod 600 " + path);
  }
  std::string data;
  char buf[16 * 1024];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FromErrno(what + ": read", errno);
    if (n == 0) return data;
    if (data.size() + static_cast<std::size_t>(n) > max_bytes) {
      return Status::ResourceExhausted(what + " is larger than " + std::to_string(max_bytes) +
                                       " bytes");
    }
    data.append(buf, static_cast<std::size_t>(n));
  }
}

Result<std::string> ReadSecretFile(const std::string& path, std::string_view where) {
  auto read = ReadPrivateFile(path, where, 64 * 1024);
  if (!read.ok()) return read.status();
  const std::string& all = *read;
  const std::size_t start = all.find_first_not_of(" \t\r\n");
  if (start == std::string::npos) {
    return Status::InvalidArgument(std::string(where) + " " + path + ": empty");
  }
  const std::size_t end = all.find_last_not_of(" \t\r\n");
  std::string secret = all.substr(start, end - start + 1);
  if (secret.find_first_of(" \t\r\n") != std::string::npos) {
    return Status::InvalidArgument(std::string(where) + " " + path +
                                   ": expected one word on one line");
  }
  return secret;
}

}  // namespace picket
