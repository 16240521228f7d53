#include "collector/chunk_intake.h"

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

namespace picket::collector {

namespace {

// Enough to tell pcap (24-byte header) from pcapng (28-byte section header).
constexpr std::size_t kHeadBytes = 28;
constexpr std::size_t kWriteBytes = 128 * 1024;

// Write blocks are reused: taken from glibc and given back ~5,000 times a second, they
// fragmented its heap (one 96 MiB upload grew the collector by 17 MiB; 8 MiB with mmap'd
// blocks, which cost a page fault per 4 KiB instead). At most kSpareBlocks wait here.
class SpareBlocks {
 public:
  // Never destroyed (a block may come back while the process exits); reachable, so no leak.
  static SpareBlocks& Instance() {
    static auto* pool = new SpareBlocks;
    return *pool;
  }
  char* Take() {
    {
      std::lock_guard lock(mu_);
      if (!spare_.empty()) {
        char* bytes = spare_.back();
        spare_.pop_back();
        return bytes;
      }
    }
    static_assert(kWriteBytes % PendingFile::kDirectAlignment == 0);
    char* bytes = static_cast<char*>(std::aligned_alloc(PendingFile::kDirectAlignment, kWriteBytes));
    if (bytes == nullptr) throw std::bad_alloc();
    return bytes;
  }
  void Give(char* bytes) {
    {
      std::lock_guard lock(mu_);
      if (spare_.size() < kSpareBlocks) return spare_.push_back(bytes);
    }
    std::free(bytes);
  }

 private:
  static constexpr std::size_t kSpareBlocks = 64;  // 8 MiB
  std::mutex mu_;
  std::vector<char*> spare_;
};

}  // namespace

// Shared by the intake and the writer task; the file is the writer's while one runs.
struct ChunkIntake::Writer {
  Post post;
  std::optional<PendingFile> file;
  Digest digest;  // the bytes written, hashed and counted here (off the owner's thread)
  std::mutex mu;
  std::condition_variable written;  // after each write, and when the queue is empty
  std::deque<Block> queue;
  std::size_t queued = 0;           // bytes in queue and in the write under way
  bool running = false;             // a Drain task is posted or running
  bool abandoned = false;           // the intake is gone: write nothing more
  Status error;
  std::function<void()> resume;     // the reader's, while it is paused

  // Writes the queue in order until it is empty; one task at a time.
  static void Drain(const std::shared_ptr<Writer>& w) {
    std::unique_lock lock(w->mu);
    while (!w->queue.empty()) {
      Block piece = std::move(w->queue.front());
      w->queue.pop_front();
      const bool skip = w->abandoned || !w->error.ok();
      lock.unlock();
      Status st = Status::Ok();
      if (!skip) {
        w->digest.Take(piece.view());
        st = w->file->Append(piece.view());
      }
      lock.lock();
      if (!st.ok() && w->error.ok()) w->error = std::move(st);
      w->queued -= piece.size;
      w->written.notify_all();
      if (w->resume && (w->queued < kPauseBytes || !w->error.ok())) {
        auto resume = std::exchange(w->resume, nullptr);
        lock.unlock();
        resume();
        lock.lock();
      }
    }
    w->running = false;
    w->written.notify_all();
  }
};

ChunkIntake::ChunkIntake(BodyEncoding encoding, std::uint64_t max_bytes,
                         std::optional<PendingFile> file)
    : decoder_(MakeBodyDecoder(encoding, max_bytes,
                               [this](std::string_view piece) { return TakeDecoded(piece); })),
      max_bytes_(max_bytes),
      file_(std::move(file)),
      has_file_(file_.has_value()) {
  if (file_) block_ = Block::Allocate();
}

ChunkIntake::Block ChunkIntake::Block::Allocate() {
  Block block;
  block.data.reset(SpareBlocks::Instance().Take());
  return block;
}

void ChunkIntake::Block::Recycle::operator()(char* bytes) const {
  SpareBlocks::Instance().Give(bytes);
}

ChunkIntake::~ChunkIntake() {
  if (!writer_) return;
  // A write under way finishes and the rest is dropped; the temp file's name goes now (a
  // refused upload is answered with no file left), its descriptor with the writer.
  std::lock_guard lock(writer_->mu);
  writer_->abandoned = true;
  writer_->resume = nullptr;  // it holds the reader (a session) alive
  if (writer_->file) writer_->file->RemoveName();
}

void ChunkIntake::WriteOffThread(Post post) {
  if (!file_ || writer_) return;
  writer_ = std::make_shared<Writer>();
  writer_->post = std::move(post);
  writer_->file = std::move(file_);
  writer_->digest = std::move(digest_);
  file_.reset();
}

bool ChunkIntake::PauseReading(std::function<void()> resume) {
  if (!writer_) return false;
  std::lock_guard lock(writer_->mu);
  if (writer_->queued < kPauseBytes || !writer_->error.ok()) return false;
  writer_->resume = std::move(resume);
  return true;
}

Status ChunkIntake::FlushOffThread() {
  Writer& w = *writer_;
  std::unique_lock lock(w.mu);
  if (!w.error.ok()) return Stored(w.error);
  w.queued += block_.size;
  w.queue.push_back(std::exchange(block_, Block::Allocate()));
  if (!w.running) {
    w.running = true;
    lock.unlock();  // `post` may run the task at once (tests)
    w.post([writer = writer_] { Writer::Drain(writer); });
    lock.lock();
  }
  // Only a body that inflates within one network read gets here: wait, bounded in memory.
  w.written.wait(lock, [&] { return w.queued <= kMaxQueuedBytes || !w.error.ok(); });
  return Stored(w.error);
}

Status ChunkIntake::Write(std::string_view received) {
  if (!error_.ok()) return error_;
  received_ += received.size();
  Status st = decoder_ ? decoder_->Feed(received) : TakeDecoded(received);
  if (!st.ok()) error_ = st;
  return st;
}

Status ChunkIntake::TakeDecoded(std::string_view piece) {
  if (piece.size() > max_bytes_ - bytes_) {
    return Status::ResourceExhausted("body exceeds the limit of " + std::to_string(max_bytes_) +
                                     " bytes");
  }
  bytes_ += piece.size();
  if (!head_checked_) {
    const std::size_t n = std::min(kHeadBytes - head_.size(), piece.size());
    head_.append(piece.substr(0, n));
    if (head_.size() == kHeadBytes) {
      PICKET_RETURN_IF_ERROR(CheckCaptureHeader(head_));
      head_checked_ = true;
    }
  }
  if (!has_file_) {
    digest_.Take(piece);
    return Status::Ok();
  }
  while (!piece.empty()) {
    const std::size_t n = std::min(kWriteBytes - block_.size, piece.size());
    std::memcpy(block_.data.get() + block_.size, piece.data(), n);
    block_.size += n;
    piece.remove_prefix(n);
    if (block_.size == kWriteBytes) PICKET_RETURN_IF_ERROR(Flush());
  }
  return Status::Ok();
}

Status ChunkIntake::Stored(Status st) {
  if (!st.ok()) storage_failed_ = true;
  return st;
}

Status ChunkIntake::Flush() {
  if (block_.size == 0) return Status::Ok();
  if (writer_) return FlushOffThread();
  digest_.Take(block_.view());
  Status st = file_->Append(block_.view());
  block_.size = 0;
  return Stored(std::move(st));
}

Result<ChunkIntake::Staged> ChunkIntake::Finish() {
  if (!error_.ok()) return error_;
  auto fail = [&](Status st) {
    error_ = st;
    return st;
  };
  if (decoder_) {
    if (Status st = decoder_->Finish(); !st.ok()) return fail(std::move(st));
  }
  if (!head_checked_) {  // a body shorter than kHeadBytes
    if (Status st = CheckCaptureHeader(head_); !st.ok()) return fail(std::move(st));
  }
  Staged staged;
  if (writer_) {
    // Every queued write done, then the file back: the rest is written here (Finish runs where
    // blocking is allowed), which saves a small chunk's only write a hand-off.
    std::unique_lock lock(writer_->mu);
    writer_->written.wait(lock, [&] { return !writer_->running; });
    if (Status st = Stored(writer_->error); !st.ok()) return fail(std::move(st));
    file_ = std::move(writer_->file);
    writer_->file.reset();
    digest_ = std::move(writer_->digest);
    lock.unlock();
    writer_.reset();
  }
  if (file_) {
    // What is left (at most one block: all of a chunk up to 128 KiB) goes through the page
    // cache: the batch's syncfs writes it with the others, where a direct write would be one
    // more synchronous request per chunk (64 KiB chunks from 1,000 devices: 1,545-1,568
    // chunks/s direct, 1,768-2,599 buffered, alternating runs).
    if (Status st = Stored(file_->StopDirect()); !st.ok()) return fail(std::move(st));
    if (Status st = Flush(); !st.ok()) return fail(std::move(st));
    if (Status st = Stored(file_->Close()); !st.ok()) return fail(std::move(st));
    staged.file = std::move(file_);
    file_.reset();
  }
  staged.sha256 = digest_.hasher.Finish();
  staged.bytes = bytes_;
  staged.packets = digest_.counter.Count();
  return staged;
}

}  // namespace picket::collector
