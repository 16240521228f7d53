// The little-endian byte codec of SaveState: fixed-width integers and
// length-prefixed strings. The reader never reads past the blob and refuses
// lengths beyond what is left, so a hostile blob fails cleanly.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace picket::analysis {

class StateWriter {
 public:
  explicit StateWriter(std::string& out) : out_(out) {}
  void U8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U16(std::uint16_t v) { Le(v, 2); }
  void U32(std::uint32_t v) { Le(v, 4); }
  void U64(std::uint64_t v) { Le(v, 8); }
  void I64(std::int64_t v) { Le(static_cast<std::uint64_t>(v), 8); }
  void Bytes(const void* data, std::size_t size) { out_.append(static_cast<const char*>(data), size); }
  void Str(std::string_view s) {
    U32(static_cast<std::uint32_t>(s.size()));
    out_.append(s);
  }

 private:
  void Le(std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out_.push_back(static_cast<char>(v >> (8 * i)));
  }
  std::string& out_;
};

class StateReader {
 public:
  explicit StateReader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  std::size_t remaining() const { return in_.size() - pos_; }
  std::size_t position() const { return pos_; }
  void Fail() { ok_ = false; }

  std::uint8_t U8() { return static_cast<std::uint8_t>(Le(1)); }
  std::uint16_t U16() { return static_cast<std::uint16_t>(Le(2)); }
  std::uint32_t U32() { return static_cast<std::uint32_t>(Le(4)); }
  std::uint64_t U64() { return Le(8); }
  std::int64_t I64() { return static_cast<std::int64_t>(Le(8)); }
  bool Bool() {
    const std::uint8_t v = U8();
    if (v > 1) ok_ = false;
    return v == 1;
  }
  void Bytes(void* data, std::size_t size) {
    if (!ok_ || remaining() < size) {
      ok_ = false;
      std::memset(data, 0, size);
      return;
    }
    std::memcpy(data, in_.data() + pos_, size);
    pos_ += size;
  }
  std::string Str(std::size_t max_size) {
    const std::uint32_t size = U32();
    if (!ok_ || size > max_size || size > remaining()) {
      ok_ = false;
      return {};
    }
    std::string s(in_.substr(pos_, size));
    pos_ += size;
    return s;
  }
  // A count of items of at least `min_item_size` bytes each: refused when the
  // blob cannot hold that many.
  std::size_t Count(std::size_t min_item_size) {
    const std::uint64_t n = U64();
    if (!ok_ || (min_item_size > 0 && n > remaining() / min_item_size)) {
      ok_ = false;
      return 0;
    }
    return static_cast<std::size_t>(n);
  }

 private:
  std::uint64_t Le(int bytes) {
    if (!ok_ || remaining() < static_cast<std::size_t>(bytes)) {
      ok_ = false;
      return 0;
    }
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) {
      v |= std::uint64_t{static_cast<std::uint8_t>(in_[pos_ + i])} << (8 * i);
    }
    pos_ += bytes;
    return v;
  }
  std::string_view in_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace picket::analysis
