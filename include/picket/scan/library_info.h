// Version of Boost.Asio, which drives the connect scan.
#pragma once

#include "picket/common/version.h"

namespace picket::scan {

LibraryVersion AsioLibraryVersion();

}  // namespace picket::scan
