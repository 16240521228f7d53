// pcap chunk files under <data>/chunks/<device>/<seq, 12 digits>.pcap.
// A chunk is first written to a temp file, and becomes visible only when
// published (rename), which CollectorDb::PutChunk does inside the transaction
// that inserts its row; before that commit, one SyncPublished (syncfs of the
// chunk filesystem) makes the whole batch's files and names durable: one
// flush for many chunks instead of a file and a directory fsync for each.
// Device directories must be on the chunk root's filesystem (no mounts
// below <data>/chunks: syncfs would not reach them).
// A crash after that rename and before the commit leaves a file without a
// row (never acknowledged, so the device still holds the chunk and resends
// it): SweepOrphans removes such files at startup.
// Thread-safe: methods touch only the paths they are given.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>

#include "collector/collector_db.h"
#include "picket/common/c_handle.h"
#include "picket/common/file_io.h"
#include "picket/common/status.h"

namespace picket::collector {

class ChunkStore final : public CollectorDb::PublishedFileSync {
 public:
  // Creates <data_dir>/chunks if needed and removes temp files left by a crash.
  static Result<ChunkStore> Open(const std::string& data_dir);
  // kShared: a directory many collectors write (--store --chunks): another
  // collector's temp file or just-published chunk may be in flight, so only
  // files unchanged for kSharedMinAge are ever taken for a crash's leftovers.
  enum class Sharing { kOwn, kShared };
  static constexpr std::chrono::seconds kSharedMinAge{3600};
  static Result<ChunkStore> OpenRoot(const std::string& root, Sharing sharing);

  std::string PathFor(std::string_view device, std::uint64_t seq) const;
  std::string DirectoryOf(std::string_view device) const { return root_ + "/" + std::string(device); }

  // Opens an empty temp file for the chunk in its device directory (created
  // on demand), for a body written as it arrives (ChunkIntake); the intake
  // closes it unsynced: SyncPublished makes it durable with its batch. The file is
  // direct I/O where the filesystem allows it (PendingFile::Mode::kDirect).
  Result<PendingFile> Create(std::string_view device, std::uint64_t seq) const;
  // A whole chunk at once (tests, tools): Create + Append; Publish seals it.
  Result<PendingFile> Prepare(std::string_view device, std::uint64_t seq,
                              std::string_view data) const;

  struct SweepResult {
    std::uint64_t files = 0, bytes = 0;  // orphans removed
  };
  // Removes every <device>/<seq>.pcap whose seq is not in seqs_on_record(device)
  // (called before the server accepts uploads; shared: only files older than
  // kSharedMinAge). Other names are left alone.
  Result<SweepResult> SweepOrphans(
      const std::function<Result<std::unordered_set<std::uint64_t>>(const std::string& device)>&
          seqs_on_record) const;

  // Reads a whole chunk file; NotFound when missing.
  static Result<std::string> Read(const std::string& path);

  const std::string& root() const { return root_; }

  // syncfs of the chunk filesystem: every file written and renamed under the
  // root so far is on disk when it returns. Reports a writeback error that
  // happened anywhere on that filesystem since the previous call (the root
  // descriptor stays open for that: syncfs checks errors per descriptor), so
  // a chunk whose background writeback failed is never acknowledged.
  Status SyncPublished() const override;

  // Whether `path` is on an ext4 without a journal (/sys/fs/ext4/<dev>/journal_task
  // reads "<none>"). Such an ext4 will not reuse an inode freed in the last 60 s
  // and looks each one up on every create: with retention deleting chunks, a
  // new chunk file costs more (measured: 30% of the collector's CPU right after
  // 10^4 deletions). Unknown (no sysfs, not ext4): false.
  static bool OnExt4WithoutJournal(const std::string& path);

 private:
  ChunkStore(std::string root, UniqueFd root_fd)
      : root_(std::move(root)), root_fd_(std::make_shared<UniqueFd>(std::move(root_fd))) {}
  Status EnsureDeviceDir(const std::string& dir) const;

  std::string root_;  // <data>/chunks
  std::shared_ptr<UniqueFd> root_fd_;  // open for the store's life (SyncPublished)
  std::chrono::seconds shared_min_age_{0};  // kShared: kSharedMinAge
};

}  // namespace picket::collector
