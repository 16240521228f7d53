#include "collector/capture_format.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>

namespace picket::collector {

namespace {

constexpr std::size_t kPcapHeaderBytes = 24;        // classic global header
constexpr std::size_t kPcapngMinSectionBytes = 28;  // section header block without options

constexpr std::uint32_t kPcapMicro = 0xa1b2c3d4;
constexpr std::uint32_t kPcapMicroSwapped = 0xd4c3b2a1;
constexpr std::uint32_t kPcapNano = 0xa1b23c4d;
constexpr std::uint32_t kPcapNanoSwapped = 0x4d3cb2a1;
constexpr std::uint32_t kPcapngSection = 0x0a0d0d0a;  // palindromic: same in both byte orders

std::uint32_t FirstWordBigEndian(std::string_view body) {
  auto b = [&](std::size_t i) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(body[i]));
  };
  return b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
}

}  // namespace

Status CheckCaptureHeader(std::string_view body) {
  if (body.size() < 4) {
    return Status::InvalidArgument("body is not a pcap file: only " + std::to_string(body.size()) +
                                   " bytes");
  }
  const std::uint32_t magic = FirstWordBigEndian(body);
  switch (magic) {
    case kPcapMicro:
    case kPcapMicroSwapped:
    case kPcapNano:
    case kPcapNanoSwapped:
      if (body.size() < kPcapHeaderBytes) {
        return Status::InvalidArgument("pcap body is shorter than the 24-byte file header");
      }
      return Status::Ok();
    case kPcapngSection:
      if (body.size() < kPcapngMinSectionBytes) {
        return Status::InvalidArgument("pcapng body is shorter than a section header block");
      }
      return Status::Ok();
    default: {
      char hex[16];
      std::snprintf(hex, sizeof hex, "%08x", magic);
      return Status::InvalidArgument(std::string("body is not a pcap file (magic 0x") + hex + ")");
    }
  }
}

std::optional<std::uint64_t> CountPcapPackets(std::string_view body) {
  if (!CheckCaptureHeader(body).ok()) return std::nullopt;
  PcapRecordCounter counter;
  counter.Feed(body);
  return counter.Count();
}

void PcapRecordCounter::Feed(std::string_view piece) {
  constexpr std::size_t kRecordHeaderBytes = 16;
  while (!piece.empty() && !not_classic_) {
    if (data_left_ > 0) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(data_left_, piece.size()));
      data_left_ -= n;
      piece.remove_prefix(n);
      continue;
    }
    const std::size_t want = in_records_ ? kRecordHeaderBytes : kPcapHeaderBytes;
    const std::size_t n = std::min(want - gathering_.size(), piece.size());
    gathering_.append(piece.substr(0, n));
    piece.remove_prefix(n);
    if (gathering_.size() < want) return;
    if (!in_records_) {
      const std::uint32_t magic = FirstWordBigEndian(gathering_);
      // The magic as written tells the byte order of every other field.
      big_endian_ = magic == kPcapMicro || magic == kPcapNano;
      not_classic_ = !big_endian_ && magic != kPcapMicroSwapped && magic != kPcapNanoSwapped;
      in_records_ = true;
    } else {
      auto b = [&](std::size_t i) {
        return static_cast<std::uint32_t>(static_cast<unsigned char>(gathering_[8 + i]));
      };
      data_left_ = big_endian_ ? (b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3))
                               : (b(3) << 24 | b(2) << 16 | b(1) << 8 | b(0));
      ++records_;
    }
    gathering_.clear();
  }
}

std::optional<std::uint64_t> PcapRecordCounter::Count() const {
  // A record cut short (header or data) makes the body's count unknown.
  if (not_classic_ || !in_records_ || !gathering_.empty() || data_left_ > 0) return std::nullopt;
  return records_;
}

}  // namespace picket::collector
