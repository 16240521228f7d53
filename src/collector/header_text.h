// Text a device sends in a header, made safe to store on every engine:
// MariaDB's utf8mb4 columns refuse bytes that are not UTF-8 (the statement
// fails, and the device would retry that chunk for ever), SQLite stores them.
// Both must keep the same: every byte that is not part of valid UTF-8, every
// control character and the backslash become \xNN, so the text stays
// printable and the escape stays unambiguous.
#pragma once

#include <string>
#include <string_view>

namespace picket::collector {

std::string PrintableHeaderText(std::string_view bytes);

}  // namespace picket::collector
