// Request bodies arrive gzip-compressed; the size cap applies to the
// decompressed bytes and is enforced while inflating, so a zip bomb costs at
// most `max_output` bytes of memory, never its claimed size.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "picket/common/status.h"

namespace picket::collector {

// Inflates one or more concatenated gzip members.
// ResourceExhausted when the output would exceed max_output bytes;
// InvalidArgument for a corrupt or truncated stream or trailing garbage.
Result<std::string> GunzipCapped(std::string_view compressed, std::size_t max_output);

// Compresses with gzip framing (tests and tools; the collector never compresses).
Result<std::string> GzipCompress(std::string_view data);

}  // namespace picket::collector
