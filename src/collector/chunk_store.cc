#include "collector/chunk_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
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

// Whether the file changed less than min_age ago (0: never young).
bool Younger(const std::filesystem::path& path, std::chrono::seconds min_age) {
  if (min_age.count() == 0) return false;
  std::error_code ec;
  const auto changed = std::filesystem::last_write_time(path, ec);
  if (ec) return true;  // gone or unreadable: leave it
  return std::filesystem::file_time_type::clock::now() - changed < min_age;
}

// Removes PendingFile temps under root/*/ that a crash left behind (in a
// shared directory only old ones: the others may be another collector's).
void RemoveStaleTemps(const std::string& root, std::chrono::seconds min_age) {
  std::error_code ec;
  for (const auto& device_dir : std::filesystem::directory_iterator(root, ec)) {
    if (!device_dir.is_directory(ec)) continue;
    for (const auto& file : std::filesystem::directory_iterator(device_dir.path(), ec)) {
      if (!IsPendingFileName(file.path().filename().string())) continue;
      if (Younger(file.path(), min_age)) continue;
      std::error_code remove_ec;
      std::filesystem::remove(file.path(), remove_ec);
      PICKET_LOG(kInfo, "collector", "removed stale temp file", {"path", file.path().string()},
                 {"ok", !remove_ec});
    }
  }
}

// "000000000042.pcap" → 42; nullopt for any other name.
std::optional<std::uint64_t> ChunkSeqFromName(std::string_view name) {
  constexpr std::string_view kSuffix = ".pcap";
  if (name.size() != 12 + kSuffix.size() || name.substr(12) != kSuffix) return std::nullopt;
  std::uint64_t seq = 0;
  for (char c : name.substr(0, 12)) {
    if (c < '0' || c > '9') return std::nullopt;
    seq = seq * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return seq;
}

}  // namespace

Result<ChunkStore::SweepResult> ChunkStore::SweepOrphans(
    const std::function<Result<std::unordered_set<std::uint64_t>>(const std::string& device)>&
        seqs_on_record) const {
  SweepResult result;
  std::error_code ec;
  std::filesystem::directory_iterator devices(root_, ec);
  if (ec) return Status::IoError("list " + root_ + ": " + ec.message());
  for (const auto& device_dir : devices) {
    if (!device_dir.is_directory(ec)) continue;
    const std::string device = device_dir.path().filename().string();
    auto on_record = seqs_on_record(device);
    if (!on_record.ok())
      return on_record.status().WithContext("sweep " + device_dir.path().string());
    bool removed_any = false;
    for (const auto& file : std::filesystem::directory_iterator(device_dir.path(), ec)) {
      auto seq = ChunkSeqFromName(file.path().filename().string());
      if (!seq || on_record->count(*seq) != 0) continue;
      if (Younger(file.path(), shared_min_age_)) continue;  // perhaps committing elsewhere
      std::error_code size_ec, remove_ec;
      const auto size = std::filesystem::file_size(file.path(), size_ec);
      std::filesystem::remove(file.path(), remove_ec);
      if (remove_ec)
        return Status::IoError("remove " + file.path().string() + ": " + remove_ec.message());
      PICKET_LOG(kWarn, "collector",
                 "removed a chunk file without a database row (a crash before its commit)",
                 {"path", file.path().string()});
      ++result.files;
      result.bytes += size_ec ? 0 : size;
      removed_any = true;
    }
    if (ec) return Status::IoError("list " + device_dir.path().string() + ": " + ec.message());
    if (removed_any) PICKET_RETURN_IF_ERROR(SyncDirectory(device_dir.path().string()));
  }
  return result;
}

Result<ChunkStore> ChunkStore::Open(const std::string& data_dir) {
  return OpenRoot(data_dir + "/chunks", Sharing::kOwn);
}

Result<ChunkStore> ChunkStore::OpenRoot(const std::string& root, Sharing sharing) {
  bool created = false;
  PICKET_RETURN_IF_ERROR(MakeDir(root, &created));
  if (created) PICKET_RETURN_IF_ERROR(SyncDirectory(DirName(root)));
  const auto min_age = sharing == Sharing::kShared ? kSharedMinAge : std::chrono::seconds(0);
  RemoveStaleTemps(root, min_age);
  UniqueFd fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return FromErrno("open " + root, errno);
  ChunkStore store(root, std::move(fd));
  store.shared_min_age_ = min_age;
  return store;
}

Status ChunkStore::SyncPublished() const {
  if (::syncfs(root_fd_->get()) != 0) return FromErrno("syncfs " + root_, errno);
  return Status::Ok();
}

std::string ChunkStore::PathFor(std::string_view device, std::uint64_t seq) const {
  char name[32];
  std::snprintf(name, sizeof name, "%012llu.pcap", static_cast<unsigned long long>(seq));
  return DirectoryOf(device) + "/" + name;
}

Status ChunkStore::EnsureDeviceDir(const std::string& dir) const {
  bool created = false;
  PICKET_RETURN_IF_ERROR(MakeDir(dir, &created));
  // The new directory entry must be durable before a chunk inside it is acknowledged.
  if (created) PICKET_RETURN_IF_ERROR(SyncDirectory(root_));
  return Status::Ok();
}

Result<PendingFile> ChunkStore::Create(std::string_view device, std::uint64_t seq) const {
  // After a device's first chunk its directory is there: the file first (one
  // syscall per chunk), the directory only when the create says it is missing. Direct I/O:
  // the intake writes its full aligned blocks direct, and every chunk is made durable anyway.
  constexpr auto kMode = PendingFile::Mode::kDirect;
  auto file = PendingFile::Create(PathFor(device, seq), kMode);
  if (file.ok() || file.status().code() != StatusCode::kNotFound) return file;
  PICKET_RETURN_IF_ERROR(EnsureDeviceDir(DirectoryOf(device)));
  return PendingFile::Create(PathFor(device, seq), kMode);
}

Result<PendingFile> ChunkStore::Prepare(std::string_view device, std::uint64_t seq,
                                        std::string_view data) const {
  auto file = Create(device, seq);
  if (!file.ok()) return file;
  PICKET_RETURN_IF_ERROR(file->Append(data));
  return file;
}

bool ChunkStore::OnExt4WithoutJournal(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  std::error_code ec;
  const auto device = std::filesystem::canonical(
      "/sys/dev/block/" + std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev)),
      ec);
  if (ec) return false;
  std::ifstream journal("/sys/fs/ext4/" + device.filename().string() + "/journal_task");
  std::string first;
  return journal && std::getline(journal, first) && first == "<none>";
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
