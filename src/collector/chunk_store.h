// pcap chunk files under <data>/chunks/<device>/<seq, 12 digits>.pcap.
// A chunk is first written to a temp file and fsynced (Prepare), and becomes
// visible only when published (rename + fsync of the directory), which
// CollectorDb::PutChunk does inside the transaction that inserts its row.
// A crash after that rename and before the commit leaves a file without a
// row (never acknowledged, so the device still holds the chunk and resends
// it): SweepOrphans removes such files at startup.
// Thread-safe: methods touch only the paths they are given.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_set>

#include "picket/common/file_io.h"
#include "picket/common/status.h"

namespace picket::collector {

class ChunkStore {
 public:
  // Creates <data_dir>/chunks if needed and removes temp files left by a crash.
  static Result<ChunkStore> Open(const std::string& data_dir);

  std::string PathFor(std::string_view device, std::uint64_t seq) const;
  std::string DirectoryOf(std::string_view device) const { return root_ + "/" + std::string(device); }

  // Opens an empty temp file for the chunk in its device directory (created
  // on demand), for a body written as it arrives (ChunkIntake).
  Result<PendingFile> Create(std::string_view device, std::uint64_t seq) const;
  // Writes a whole chunk under a temp name in its device directory and fsyncs it.
  Result<PendingFile> Prepare(std::string_view device, std::uint64_t seq,
                              std::string_view data) const;

  struct SweepResult {
    std::uint64_t files = 0, bytes = 0;  // orphans removed
  };
  // Removes every <device>/<seq>.pcap whose seq is not in seqs_on_record(device)
  // (called before the server accepts uploads). Other names are left alone.
  Result<SweepResult> SweepOrphans(
      const std::function<Result<std::unordered_set<std::uint64_t>>(const std::string& device)>&
          seqs_on_record) const;

  // Reads a whole chunk file; NotFound when missing.
  static Result<std::string> Read(const std::string& path);

  const std::string& root() const { return root_; }

 private:
  explicit ChunkStore(std::string root) : root_(std::move(root)) {}
  Status EnsureDeviceDir(const std::string& dir) const;

  std::string root_;  // <data>/chunks
};

}  // namespace picket::collector
