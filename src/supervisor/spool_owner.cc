#include "spool_owner.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>

namespace picket::supervisor {

namespace {

Status Hand(const std::string& path, uid_t uid, gid_t gid) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return FromErrno("lstat " + path, errno);
  if (::fchownat(AT_FDCWD, path.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0) {
    return FromErrno("chown " + path, errno);
  }
  if (S_ISLNK(st.st_mode)) return Status::Ok();
  const mode_t want = S_ISDIR(st.st_mode) ? 0700 : (st.st_mode & 0700);
  if ((st.st_mode & 07777) != want && ::chmod(path.c_str(), want) != 0) {
    return FromErrno("chmod " + path, errno);
  }
  return Status::Ok();
}

}  // namespace

Status CheckReachable(const std::string& dir, uid_t uid, gid_t gid, const std::string& user) {
  std::error_code ec;
  const std::filesystem::path full = std::filesystem::absolute(dir, ec);
  if (ec) return Status::IoError("buffer.dir '" + dir + "': " + ec.message());
  for (std::filesystem::path p = full.parent_path();; p = p.parent_path()) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return FromErrno("stat " + p.string(), errno);
    const bool may = st.st_uid == uid   ? (st.st_mode & S_IXUSR) != 0
                     : st.st_gid == gid ? (st.st_mode & S_IXGRP) != 0
                                        : (st.st_mode & S_IXOTH) != 0;
    if (!may) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
      return Status::FailedPrecondition(
          "buffer.dir '" + dir + "': user " + user + " (security.user) cannot reach it: '" +
          p.string() + "' has mode " + mode + "; let it search the directory (chmod o+x) or " +
          "move the buffer (default /var/lib/picketd)");
    }
    if (p == p.root_path() || p.parent_path() == p) break;
  }
  return Status::Ok();
}

Status GiveSpoolTo(const std::string& dir, uid_t uid, gid_t gid) {
  PICKET_RETURN_IF_ERROR(Hand(dir, uid, gid));
  std::error_code ec;
  for (std::filesystem::recursive_directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    PICKET_RETURN_IF_ERROR(Hand(it->path().string(), uid, gid));
  }
  if (ec) return Status::IoError("walk " + dir + ": " + ec.message());
  return Status::Ok();
}

}  // namespace picket::supervisor
