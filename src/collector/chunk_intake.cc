#include "collector/chunk_intake.h"

#include <utility>

namespace picket::collector {

namespace {

// Enough to tell pcap (24-byte header) from pcapng (28-byte section header).
constexpr std::size_t kHeadBytes = 28;
constexpr std::size_t kWriteBytes = 128 * 1024;

}  // namespace

ChunkIntake::ChunkIntake(BodyEncoding encoding, std::uint64_t max_bytes,
                         std::optional<PendingFile> file)
    : decoder_(MakeBodyDecoder(encoding, max_bytes,
                               [this](std::string_view piece) { return TakeDecoded(piece); })),
      max_bytes_(max_bytes),
      file_(std::move(file)) {
  if (file_) write_buffer_.reserve(kWriteBytes);
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
  hasher_.Update(piece);
  counter_.Feed(piece);
  if (!file_) return Status::Ok();
  if (write_buffer_.size() + piece.size() > kWriteBytes) {
    PICKET_RETURN_IF_ERROR(Flush());
    if (piece.size() >= kWriteBytes) return Stored(file_->Append(piece));
  }
  write_buffer_.append(piece);
  return Status::Ok();
}

Status ChunkIntake::Stored(Status st) {
  if (!st.ok()) storage_failed_ = true;
  return st;
}

Status ChunkIntake::Flush() {
  if (write_buffer_.empty()) return Status::Ok();
  Status st = file_->Append(write_buffer_);
  write_buffer_.clear();
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
  if (file_) {
    if (Status st = Flush(); !st.ok()) return fail(std::move(st));
    if (Status st = Stored(file_->Close()); !st.ok()) return fail(std::move(st));
    staged.file = std::move(file_);
    file_.reset();
  }
  staged.sha256 = hasher_.Finish();
  staged.bytes = bytes_;
  staged.packets = counter_.Count();
  return staged;
}

}  // namespace picket::collector
