// Every library linked into picketd, for `picketd version`.
#pragma once

#include <vector>

#include "picket/common/version.h"

namespace picket::picketd {

std::vector<LibraryVersion> EdgeLibraryVersions();

}  // namespace picket::picketd
