// Unpacks a gzip body in a unit test (the upload side only packs; the collector's own gunzip is
// not linked into the edge's tests). Fails the test on a stream that does not end cleanly.
#pragma once

#include <string>

namespace picket::upload {

std::string GunzipForTests(const std::string& packed);

}  // namespace picket::upload
