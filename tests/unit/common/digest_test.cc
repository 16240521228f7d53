#include "picket/common/digest.h"

#include <doctest/doctest.h>

namespace picket {

TEST_SUITE("common.digest") {
  TEST_CASE("SHA-256 matches the FIPS 180-2 test vectors, incrementally too") {
    CHECK(Sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(Sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    Sha256 h;
    const std::string part = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    h.Update(part.substr(0, 10));
    h.Update(part.substr(10));
    auto d = h.Finish();
    CHECK(HexEncode(d.data(), d.size()) ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    auto again = h.Finish();  // reset after Finish: hash of ""
    CHECK(HexEncode(again.data(), again.size()) ==
          "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  }

  TEST_CASE("base64 for the Digest header") {
    const std::uint8_t bytes[] = {'f', 'o', 'o', 'b', 'a', 'r'};
    CHECK(Base64Encode(bytes, 0) == "");
    CHECK(Base64Encode(bytes, 1) == "Zg==");
    CHECK(Base64Encode(bytes, 2) == "Zm8=");
    CHECK(Base64Encode(bytes, 3) == "Zm9v");
    CHECK(Base64Encode(bytes, 6) == "Zm9vYmFy");
  }

  TEST_CASE("hashing a missing file names the path") {
    auto r = Sha256File("/nonexistent/chunk.pcap");
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message().find("/nonexistent/chunk.pcap") != std::string::npos);
  }
}

}  // namespace picket
