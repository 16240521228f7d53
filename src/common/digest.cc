#include "picket/common/digest.h"

// OpenSSL's low-level SHA calls, deprecated since 3.0 but kept through 3.x: the EVP interface
// fetches from a provider, and a static link of the default provider costs ~3 MB, half of an
// edge binary (cross/README.md). These run the same CPU-specific code (SHA-NI, ARMv8 crypto).
#define OPENSSL_SUPPRESS_DEPRECATED
#include <fcntl.h>
#include <openssl/sha.h>
#include <unistd.h>

#include <cerrno>

#include "picket/common/c_handle.h"

namespace picket {

struct Sha256::State {
  SHA256_CTX ctx;
  void Init() { SHA256_Init(&ctx); }  // only sets fields: cannot fail
};

Sha256::Sha256() : state_(std::make_unique<State>()) { state_->Init(); }
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::Update(const void* data, std::size_t size) { SHA256_Update(&state_->ctx, data, size); }

std::array<std::uint8_t, 32> Sha256::Finish() {
  std::array<std::uint8_t, 32> out{};
  SHA256_Final(out.data(), &state_->ctx);
  state_->Init();
  return out;
}

std::array<std::uint8_t, 20> Sha1Of(std::string_view data) {
  std::array<std::uint8_t, 20> out{};
  SHA_CTX ctx;
  SHA1_Init(&ctx);
  SHA1_Update(&ctx, data.data(), data.size());
  SHA1_Final(out.data(), &ctx);
  return out;
}

std::string HexEncode(const std::uint8_t* data, std::size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(size * 2, '0');
  for (std::size_t i = 0; i < size; ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 0xf];
  }
  return out;
}

std::string Base64Encode(const std::uint8_t* data, std::size_t size) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  for (std::size_t i = 0; i < size; i += 3) {
    std::uint32_t n = std::uint32_t{data[i]} << 16;
    if (i + 1 < size) n |= std::uint32_t{data[i + 1]} << 8;
    if (i + 2 < size) n |= data[i + 2];
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < size ? kAlphabet[(n >> 6) & 63] : '=';
    out += i + 2 < size ? kAlphabet[n & 63] : '=';
  }
  return out;
}

std::array<std::uint8_t, 32> Sha256Of(std::string_view data) {
  Sha256 h;
  h.Update(data);
  return h.Finish();
}

std::string Sha256Hex(std::string_view data) {
  const auto d = Sha256Of(data);
  return HexEncode(d.data(), d.size());
}

Result<std::array<std::uint8_t, 32>> Sha256File(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return FromErrno("open " + path, errno);
  Sha256 h;
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FromErrno("read " + path, errno);
    if (n == 0) break;
    h.Update(buf, static_cast<std::size_t>(n));
  }
  return h.Finish();
}

}  // namespace picket
