#include "picket/common/digest.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "picket/common/c_handle.h"

namespace picket {

struct Sha256::State {
  CHandle<EVP_MD_CTX, EVP_MD_CTX_free> ctx{EVP_MD_CTX_new()};
  void Init() {
    // Only fails on allocation failure inside OpenSSL: a broken invariant.
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) std::abort();
  }
};

Sha256::Sha256() : state_(std::make_unique<State>()) { state_->Init(); }
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::Update(const void* data, std::size_t size) {
  EVP_DigestUpdate(state_->ctx.get(), data, size);
}

std::array<std::uint8_t, 32> Sha256::Finish() {
  std::array<std::uint8_t, 32> out{};
  unsigned int len = 0;
  EVP_DigestFinal_ex(state_->ctx.get(), out.data(), &len);
  state_->Init();
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
