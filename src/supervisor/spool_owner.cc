#include "spool_owner.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
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
