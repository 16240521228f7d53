// Tests write tokens files as '<owner> <token>' lines for readability; the
// collector takes only hashes, so HashedTokens turns each into its
// '<owner> sha256:<hex>' line (comments and blank lines dropped).
#pragma once

#include <sstream>
#include <string>
#include <string_view>

#include "collector/token_table.h"

namespace picket::testing {

inline std::string HashedTokens(std::string_view plaintext) {
  std::istringstream in{std::string(plaintext)};
  std::string owner, token, out;
  while (in >> owner >> token) out += collector::TokenFileLine(owner, token) + "\n";
  return out;
}

}  // namespace picket::testing
