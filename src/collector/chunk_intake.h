// A chunk upload taken in as it arrives: inflated when gzip or zstd, its capture
// header checked on the first bytes, hashed, its records counted and written
// to a temp file beside its final name, so no chunk is ever whole in memory
// (~200 KiB per upload, zstd up to ~1.4 MiB, whatever its size; with WriteOffThread up to
// kMaxQueuedBytes more while the disk lags). Finish seals the file; the handler
// publishes it inside the transaction that inserts the chunk's row.
// Not thread-safe: one upload, one owner. With WriteOffThread the file writes, and
// the hashing and record counting of what is written, run on another thread (in
// order), so the owner (an I/O thread) only reads and inflates; everything else
// stays with the owner.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "collector/capture_format.h"
#include "collector/body_decoder.h"
#include "picket/common/digest.h"
#include "picket/common/file_io.h"
#include "picket/common/status.h"

namespace picket::collector {

class ChunkIntake {
 public:
  // `max_bytes` caps the chunk after decompression. `file` receives the bytes;
  // without one the body is only hashed (a retry of a chunk already stored:
  // answering it needs its hash, not a second copy on disk).
  ChunkIntake(BodyEncoding encoding, std::uint64_t max_bytes, std::optional<PendingFile> file);
  ChunkIntake(const ChunkIntake&) = delete;
  ChunkIntake& operator=(const ChunkIntake&) = delete;

  ~ChunkIntake();

  // Hands the file writes to `post`, which runs a task on another thread: the caller then never
  // blocks in write() while the disk is busy (an I/O thread serving other connections). Up to
  // kMaxQueuedBytes wait in memory; past that (a body that inflates within one read) Write
  // waits for the writer. Call before the first Write.
  using Post = std::function<void(std::function<void()>)>;
  void WriteOffThread(Post post);
  // True when kPauseBytes or more wait for the writer: then `resume` is called (on the writer's
  // thread) once fewer do, and the caller reads no more meanwhile. False: go on at once.
  bool PauseReading(std::function<void()> resume);
  static constexpr std::size_t kPauseBytes = 256 << 10;
  static constexpr std::size_t kMaxQueuedBytes = 1 << 20;

  // Bytes as they came off the wire. After an error every call fails with it:
  // ResourceExhausted (over max_bytes), InvalidArgument (corrupt gzip, not a
  // capture), or the file's error.
  Status Write(std::string_view received);

  struct Staged {
    std::array<std::uint8_t, 32> sha256{};
    std::uint64_t bytes = 0;                 // the chunk, decompressed
    std::optional<std::uint64_t> packets;    // classic pcap records; nullopt for pcapng
    std::optional<PendingFile> file;         // sealed (fsynced), not yet published
  };
  // Ends the body: checks it is complete, seals the file. Call once. With WriteOffThread it
  // waits for the queued writes: call it where blocking is allowed (not an I/O thread).
  Result<Staged> Finish();

  std::uint64_t received_bytes() const { return received_; }
  const Status& error() const { return error_; }
  // The error came from writing the file (a full disk is ResourceExhausted
  // too), not from the body: the device must retry, not drop the chunk.
  bool storage_failed() const { return storage_failed_; }

 private:
  Status TakeDecoded(std::string_view chunk_bytes);
  Status Flush();
  Status Stored(Status st);  // a file operation's result; marks storage_failed_
  Status FlushOffThread();
  struct Writer;  // the file and its queue while writes run off this thread

  std::unique_ptr<BodyDecoder> decoder_;  // null for an uncompressed body
  const std::uint64_t max_bytes_;
  std::optional<PendingFile> file_;  // moves into writer_ with WriteOffThread
  bool has_file_ = false;
  std::shared_ptr<Writer> writer_;
  std::string head_;       // the first bytes, until the capture header is checked
  bool head_checked_ = false;
  // Coalesces small network reads into large writes: kWriteBytes at
  // PendingFile::kDirectAlignment, so that every full block goes to the disk from here,
  // without a copy into the page cache (direct I/O); the last one is buffered (Finish).
  struct Block {
    struct Recycle {  // back to a process-wide pool of spare blocks (chunk_intake.cc)
      void operator()(char* bytes) const;
    };
    std::unique_ptr<char, Recycle> data;
    std::size_t size = 0;
    static Block Allocate();
    std::string_view view() const { return {data.get(), size}; }
  };
  Block block_;
  // What the stored bytes hash and count to. Fed where the bytes go to the file (the
  // writer's thread, with WriteOffThread), in order; at once when there is no file.
  struct Digest {
    Sha256 hasher;
    PcapRecordCounter counter;
    void Take(std::string_view piece) {
      hasher.Update(piece);
      counter.Feed(piece);
    }
  };
  Digest digest_;  // moves into writer_ with WriteOffThread, back in Finish
  std::uint64_t bytes_ = 0, received_ = 0;
  Status error_;
  bool storage_failed_ = false;
};

}  // namespace picket::collector
