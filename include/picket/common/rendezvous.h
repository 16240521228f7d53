// Rendezvous (highest random weight) hashing: every device ranks the
// collectors by a hash of (device id, URL) and uploads to the first live one.
// Devices spread evenly over the collectors; when one goes, only its devices
// move (each to its own next choice), and they come back when it returns.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace picket {

// `urls` ranked best first for `key` (ties cannot reorder equal URLs; the
// same key and set give the same order on every machine).
std::vector<std::string> RendezvousOrder(std::string_view key, std::vector<std::string> urls);

}  // namespace picket
