// SHA-256 for chunk digests (the collector's idempotency key is seq + hash).
// Incremental, so a chunk is hashed while it is written, never read back.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "picket/common/status.h"

namespace picket {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;

  void Update(const void* data, std::size_t size);
  void Update(std::string_view data) { Update(data.data(), data.size()); }
  // Finishes the hash; the object is reset and can be reused.
  std::array<std::uint8_t, 32> Finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

std::string HexEncode(const std::uint8_t* data, std::size_t size);
std::string Base64Encode(const std::uint8_t* data, std::size_t size);
std::string Sha256Hex(std::string_view data);
std::array<std::uint8_t, 32> Sha256Of(std::string_view data);
// SHA-1 where a protocol fixes it (ZooKeeper digest ids, Community ID), never for integrity.
std::array<std::uint8_t, 20> Sha1Of(std::string_view data);
// Hashes a whole file; errors name the path.
Result<std::array<std::uint8_t, 32>> Sha256File(const std::string& path);

}  // namespace picket
