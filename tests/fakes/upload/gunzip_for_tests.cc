#include "fakes/upload/gunzip_for_tests.h"

#include <doctest/doctest.h>
#include <zlib.h>

namespace picket::upload {

std::string GunzipForTests(const std::string& packed) {
  z_stream zs{};
  REQUIRE(inflateInit2(&zs, 15 + 16) == Z_OK);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(packed.data()));
  zs.avail_in = static_cast<uInt>(packed.size());
  std::string out;
  int rc = Z_OK;
  while (rc == Z_OK) {
    char piece[65536];
    zs.next_out = reinterpret_cast<Bytef*>(piece);
    zs.avail_out = sizeof piece;
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(piece, sizeof piece - zs.avail_out);
  }
  inflateEnd(&zs);
  CHECK(rc == Z_STREAM_END);
  return out;
}

}  // namespace picket::upload
