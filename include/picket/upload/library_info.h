// Versions of the HTTP stack the uploader links: libcurl and its TLS, DNS and zlib backends.
#pragma once

#include <vector>

#include "picket/common/version.h"

namespace picket::upload {

std::vector<LibraryVersion> HttpLibraryVersions();

}  // namespace picket::upload
