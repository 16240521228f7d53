// Which bodies the collector accepts as pcap chunks: classic libpcap files
// (micro- or nanosecond, either byte order) and pcapng. Only the file header
// is checked; the splitter that reads packets later copes with damage inside.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "picket/common/status.h"

namespace picket::collector {

// OK for a body that starts with a pcap/pcapng file header; InvalidArgument
// naming the magic found otherwise.
Status CheckCaptureHeader(std::string_view body);

// Number of packet records in a classic pcap body (walking the 16-byte record
// headers); nullopt for pcapng or when the last record is cut short.
std::optional<std::uint64_t> CountPcapPackets(std::string_view body);

}  // namespace picket::collector
