#include "collector/chunk_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "picket/common/c_handle.h"
#include "picket/common/log.h"

namespace picket::collector {

namespace {

Status MakeDir(const std::string& dir, bool* created) {
  *created = false;
  if (::mkdir(dir.c_str(), 0700) == 0) {
    *created = true;
    return Status::Ok();
  }
  if (errno != EEXIST) return FromErrno("mkdir " + dir, errno);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return FromErrno("stat " + dir, errno);
  if (!S_ISDIR(st.st_mode)) return Status::FailedPrecondition(dir + ": not a directory");
  return Status::Ok();
}

// Removes PendingFile temps under root/*/ that a crash left behind.
void RemoveStaleTemps(const std::string& root) {
  std::error_code ec;
  for (const auto& device_dir : std::filesystem::directory_iterator(root, ec)) {
    if (!device_dir.is_directory(ec)) continue;
    for (const auto& file : std::filesystem::directory_iterator(device_dir.path(), ec)) {
      if (!IsPendingFileName(file.path().filename().string())) continue;
      std::error_code remove_ec;
      std::filesystem::remove(file.path(), remove_ec);
      PICKET_LOG(kInfo, "collector", "removed stale temp file", {"path", file.path().string()},
                 {"ok", !remove_ec});
    }
  }
}

}  // namespace

Result<ChunkStore> ChunkStore::Open(const std::string& data_dir) {
  std::string root = data_dir + "/chunks";
  bool created = false;
  PICKET_RETURN_IF_ERROR(MakeDir(root, &created));
  if (created) PICKET_RETURN_IF_ERROR(SyncDirectory(data_dir));
  RemoveStaleTemps(root);
  return ChunkStore(std::move(root));
}

std::string ChunkStore::PathFor(std::string_view device, std::uint64_t seq) const {
  char name[32];
  std::snprintf(name, sizeof name, "%012llu.pcap", static_cast<unsigned long long>(seq));
  return root_ + "/" + std::string(device) + "/" + name;
}

Status ChunkStore::EnsureDeviceDir(const std::string& dir) const {
  bool created = false;
  PICKET_RETURN_IF_ERROR(MakeDir(dir, &created));
  // The new directory entry must be durable before a chunk inside it is acknowledged.
  if (created) PICKET_RETURN_IF_ERROR(SyncDirectory(root_));
  return Status::Ok();
}

Result<PendingFile> ChunkStore::Prepare(std::string_view device, std::uint64_t seq,
                                        std::string_view data) const {
  PICKET_RETURN_IF_ERROR(EnsureDeviceDir(root_ + "/" + std::string(device)));
  return PendingFile::Write(PathFor(device, seq), data);
}

Result<std::string> ChunkStore::Read(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return FromErrno("open " + path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return FromErrno("stat " + path, errno);
  std::string out(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::read(fd.get(), out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FromErrno("read " + path, errno);
    if (n == 0) break;  // shrank underneath us; return what is there
    done += static_cast<std::size_t>(n);
  }
  out.resize(done);
  return out;
}

}  // namespace picket::collector
