// Whole-file reads with a size cap, and durable file publication: a reader
// sees either no file or the whole file, also after a crash or power loss
// (temp file → fsync → rename → fsync(dir)).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "picket/common/status.h"

namespace picket {

// A file written under a temporary name in the final directory and fsynced,
// not yet visible under its final name. Removes the temp file on destruction
// unless Publish() succeeded. Not thread-safe; one owner.
class PendingFile {
 public:
  // Writes `data` to "<dir>/.<name>.tmp.<unique>" and fsyncs it. Errors name the path.
  static Result<PendingFile> Write(const std::string& final_path, std::string_view data);

  // The same in steps, for data that arrives in pieces (a streamed upload):
  // Create the empty temp file (mode 0600), Append pieces, Seal (fsync, close).
  // kDirect opens it O_DIRECT where the filesystem allows (else it is buffered): pieces at
  // kDirectAlignment-aligned addresses then go from the caller's memory to the disk in whole
  // blocks, without a copy into the page cache, which costs a streamed upload more CPU than
  // anything else (measured: 2.2 s of system time per 2 GB buffered, 0.3 s direct). A piece's
  // tail under one block, or a piece at another address, turns the file buffered for good.
  // Durability is unchanged: the data may sit in the disk's cache until Seal or syncfs.
  enum class Mode { kBuffered, kDirect };
  static Result<PendingFile> Create(const std::string& final_path, Mode mode = Mode::kBuffered);
  static constexpr std::size_t kDirectAlignment = 4096;  // any logical block size up to a page
  Status Append(std::string_view data);
  bool direct() const { return direct_; }
  // The rest through the page cache (a small last piece: a buffered write and the caller's
  // syncfs beat one more synchronous request to the disk).
  Status StopDirect();
  Status Seal();
  // Closes without fsync: for a caller that makes many files durable at once
  // (syncfs) before it relies on them.
  Status Close();
  // Removes the temp file's name now, while another thread may still Append through the open
  // descriptor (it closes with this object): an abandoned upload leaves no file behind at once.
  void RemoveName() const;

  PendingFile(PendingFile&& other) noexcept;
  PendingFile& operator=(PendingFile&& other) noexcept;
  PendingFile(const PendingFile&) = delete;
  PendingFile& operator=(const PendingFile&) = delete;
  ~PendingFile();

  // rename(temp, final) then fsync of the directory; replaces an existing file.
  // Seals first if that was not done. sync_directory false: the caller fsyncs
  // the directory (once for many files) before it relies on the name.
  Status Publish(bool sync_directory = true);

  const std::string& final_path() const { return final_path_; }

 private:
  PendingFile(std::string temp_path, std::string final_path, int fd, bool direct)
      : temp_path_(std::move(temp_path)),
        final_path_(std::move(final_path)),
        fd_(fd),
        direct_(direct) {}
  void CloseQuietly();

  std::string temp_path_;  // empty once published or moved from
  std::string final_path_;
  int fd_ = -1;  // open until sealed
  bool direct_ = false;  // fd_ has O_DIRECT
};

// Convenience for small files (the --ready-file): Write + Publish.
Status WriteFileAtomically(const std::string& path, std::string_view data);

// The directory part of a path: "." without a slash, "/" for one at the start.
std::string DirName(const std::string& path);

// fsync of a directory, so a rename or create inside it is durable.
Status SyncDirectory(const std::string& dir);

// Reads all of `path`; refuses files over `max_bytes` (ResourceExhausted). Errors name the path.
Result<std::string> ReadWholeFile(const std::string& path, std::size_t max_bytes);

// True for names PendingFile uses for its temp files (startup cleanup).
bool IsPendingFileName(std::string_view file_name);

// A file holding secrets (tokens, passwords), read whole (at most max_bytes):
// refused with PermissionDenied, naming `where`, the path, its mode and the
// chmod that fixes it, when group or others have any access to it.
Result<std::string> ReadPrivateFile(const std::string& path, std::string_view where,
                                    std::size_t max_bytes = 1 << 20);

// A secret kept in a file (a bearer token, a ZooKeeper password): one word on
// one line, surrounding blanks ignored, the file private (ReadPrivateFile).
// Errors start with `where` (the flag or config key) and the path, never with
// the secret.
Result<std::string> ReadSecretFile(const std::string& path, std::string_view where);

}  // namespace picket
