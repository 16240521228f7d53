#include "collector/gunzip.h"

#include <doctest/doctest.h>

#include <string>

namespace picket::collector {

namespace {

// Feeds `gz` in pieces of `piece` bytes; the output or the first error.
Result<std::string> InPieces(const std::string& gz, std::size_t piece, std::size_t cap) {
  std::string out;
  GunzipStream stream(cap, [&](std::string_view bytes) {
    CHECK(bytes.size() <= 64 * 1024);
    out.append(bytes);
    return Status::Ok();
  });
  for (std::size_t at = 0; at < gz.size(); at += piece) {
    PICKET_RETURN_IF_ERROR(stream.Feed(std::string_view(gz).substr(at, piece)));
  }
  PICKET_RETURN_IF_ERROR(stream.Finish());
  CHECK(stream.output_bytes() == out.size());
  return out;
}

}  // namespace

TEST_SUITE("collector.gunzip") {
  TEST_CASE("a stream fed in pieces of any size gives the same bytes and the same errors") {
    std::string text;
    for (int i = 0; i < 20000; ++i) text += "record " + std::to_string(i * 7919 % 1000) + ";";
    auto a = GzipCompress(text);
    auto b = GzipCompress("and a second member");
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    const std::string two = *a + *b;
    for (std::size_t piece : {std::size_t{1}, std::size_t{2}, std::size_t{7}, std::size_t{4096},
                              two.size()}) {
      CAPTURE(piece);
      auto out = InPieces(two, piece, 1u << 20);
      REQUIRE(out.ok());
      CHECK(*out == text + "and a second member");
      CHECK(InPieces(two, piece, text.size()).status().code() == StatusCode::kResourceExhausted);
      CHECK(InPieces(*a + "junk", piece, 1u << 20).status().code() ==
            StatusCode::kInvalidArgument);
      CHECK(InPieces(a->substr(0, a->size() - 3), piece, 1u << 20).status().code() ==
            StatusCode::kInvalidArgument);
    }
    CHECK(InPieces("", 1, 100).status().code() == StatusCode::kInvalidArgument);
    // A sink's error ends the stream with that error, and every later call fails.
    GunzipStream refusing(1u << 20, [](std::string_view) { return Status::IoError("disk full"); });
    Status st = refusing.Feed(*a);
    CHECK(st.code() == StatusCode::kIoError);
    CHECK_FALSE(refusing.Feed(*b).ok());
    CHECK_FALSE(refusing.Finish().ok());
  }


  TEST_CASE("round trip, including an empty body") {
    for (std::string text : {std::string(), std::string("hello pcap"), std::string(300000, 'q')}) {
      auto gz = GzipCompress(text);
      REQUIRE(gz.ok());
      auto back = GunzipCapped(*gz, text.size() + 1);
      REQUIRE(back.ok());
      CHECK(*back == text);
    }
  }

  TEST_CASE("exactly at the cap is accepted, one byte over is refused") {
    std::string text(100000, 'a');
    auto gz = GzipCompress(text);
    REQUIRE(gz.ok());
    CHECK(GunzipCapped(*gz, text.size()).ok());
    auto over = GunzipCapped(*gz, text.size() - 1);
    REQUIRE_FALSE(over.ok());
    CHECK(over.status().code() == StatusCode::kResourceExhausted);
  }

  TEST_CASE("a zip bomb stops at the cap") {
    // 64 MiB of zeros compress to ~64 KiB; inflating stops after 1 MiB.
    std::string zeros(64u << 20, '\0');
    auto bomb = GzipCompress(zeros);
    REQUIRE(bomb.ok());
    zeros = std::string();
    CHECK(bomb->size() < (128u << 10));
    auto r = GunzipCapped(*bomb, 1u << 20);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == StatusCode::kResourceExhausted);
    CHECK(r.status().message().find("1048576") != std::string::npos);
  }

  TEST_CASE("concatenated members are one body") {
    auto a = GzipCompress("abc");
    auto b = GzipCompress("def");
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    auto r = GunzipCapped(*a + *b, 100);
    REQUIRE(r.ok());
    CHECK(*r == "abcdef");
    // The cap counts across members.
    CHECK(GunzipCapped(*a + *b, 5).status().code() == StatusCode::kResourceExhausted);
  }

  TEST_CASE("corrupt, truncated and trailing garbage are InvalidArgument") {
    auto gz = GzipCompress(std::string(5000, 'z'));
    REQUIRE(gz.ok());
    CHECK(GunzipCapped("not gzip at all", 100).status().code() == StatusCode::kInvalidArgument);
    CHECK(GunzipCapped("", 100).status().code() == StatusCode::kInvalidArgument);
    CHECK(GunzipCapped(gz->substr(0, gz->size() - 5), 10000).status().code() ==
          StatusCode::kInvalidArgument);
    CHECK(GunzipCapped(*gz + "junk", 10000).status().code() == StatusCode::kInvalidArgument);
    std::string flipped = *gz;
    flipped[flipped.size() - 6] ^= 0x55;  // CRC32 of the member
    CHECK(GunzipCapped(flipped, 10000).status().code() == StatusCode::kInvalidArgument);
  }
}

}  // namespace picket::collector
