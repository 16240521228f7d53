#include "collector/zstd_stream.h"

#include <doctest/doctest.h>
#include <zstd.h>

#include <cstdint>
#include <string>

namespace picket::collector {

namespace {

std::string Zstd(const std::string& data, int level = 1, int window_log = 0) {
  ZSTD_CCtx* c = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level);
  if (window_log > 0) ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, window_log);
  std::string out(ZSTD_compressBound(data.size()), '\0');
  const std::size_t n = ZSTD_compress2(c, out.data(), out.size(), data.data(), data.size());
  ZSTD_freeCCtx(c);
  REQUIRE_FALSE(ZSTD_isError(n));
  out.resize(n);
  return out;
}

Result<std::string> InPieces(const std::string& z, std::size_t piece, std::size_t cap) {
  std::string out;
  ZstdStream stream(cap, [&](std::string_view bytes) {
    out.append(bytes);
    return Status::Ok();
  });
  for (std::size_t at = 0; at < z.size(); at += piece) {
    PICKET_RETURN_IF_ERROR(stream.Feed(std::string_view(z).substr(at, piece)));
  }
  PICKET_RETURN_IF_ERROR(stream.Finish());
  CHECK(stream.output_bytes() == out.size());
  return out;
}

std::string Text(std::size_t n) {
  std::string s;
  for (std::uint64_t i = 0; s.size() < n; ++i) s += "flow " + std::to_string(i * 7919 % 4099) + ";";
  s.resize(n);
  return s;
}

}  // namespace

TEST_SUITE("collector.zstd") {
  TEST_CASE("frames fed in pieces of any size give the same bytes, the cap counting across frames") {
    const std::string a = Text(300000), b = "a second frame";
    const std::string two = Zstd(a) + Zstd(b);
    for (std::size_t piece : {std::size_t{1}, std::size_t{3}, std::size_t{4096}, two.size()}) {
      CAPTURE(piece);
      auto out = InPieces(two, piece, 1u << 20);
      REQUIRE(out.ok());
      CHECK(*out == a + b);
      CHECK(InPieces(two, piece, a.size()).status().code() == StatusCode::kResourceExhausted);
    }
  }

  TEST_CASE("a bomb stops at the cap, and corrupt, truncated, empty or trailing garbage is refused") {
    const std::string zeros(64u << 20, '\0');
    const std::string bomb = Zstd(zeros);
    CHECK(bomb.size() < (64u << 10));
    auto r = InPieces(bomb, 65536, 1u << 20);
    CHECK(r.status().code() == StatusCode::kResourceExhausted);
    CHECK(r.status().message().find("1048576") != std::string::npos);

    const std::string z = Zstd(Text(100000));
    CHECK(InPieces(z.substr(0, z.size() - 4), 100, 1u << 20).status().code() ==
          StatusCode::kInvalidArgument);
    CHECK(InPieces("", 1, 100).status().code() == StatusCode::kInvalidArgument);
    CHECK(InPieces("definitely not zstd", 4, 1000).status().code() == StatusCode::kInvalidArgument);
    CHECK(InPieces(z + "junk", 7, 1u << 20).status().code() == StatusCode::kInvalidArgument);
    std::string flipped = z;
    flipped[flipped.size() / 2] ^= 0x5a;
    CHECK_FALSE(InPieces(flipped, 512, 1u << 20).ok());
  }

  TEST_CASE("a frame that needs a window above 1 MiB is refused, naming the limit") {
    // Level 19 with a 8 MiB window on 4 MiB of text: the frame asks for more than we allow.
    const std::string z = Zstd(Text(4u << 20), 3, 23);
    auto r = InPieces(z, 65536, 8u << 20);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == StatusCode::kInvalidArgument);
    CHECK(r.status().message().find("window") != std::string::npos);
  }
}

}  // namespace picket::collector
