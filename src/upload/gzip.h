// gzip compression of upload bodies (zlib, gzip wrapper, fastest level).
#pragma once

#include <string>
#include <string_view>

#include "picket/common/status.h"

namespace picket::upload {

Result<std::string> GzipCompress(std::string_view data);

}  // namespace picket::upload
