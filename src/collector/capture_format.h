// Which bodies the collector accepts as pcap chunks: classic libpcap files
// (micro- or nanosecond, either byte order) and pcapng. Only the file header
// is checked; the splitter that reads packets later copes with damage inside.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "picket/common/status.h"

namespace picket::collector {

// OK for a body that starts with a pcap/pcapng file header; InvalidArgument
// naming the magic found otherwise.
Status CheckCaptureHeader(std::string_view body);

// Number of packet records in a classic pcap body (walking the 16-byte record
// headers); nullopt for pcapng or when the last record is cut short.
std::optional<std::uint64_t> CountPcapPackets(std::string_view body);

// The same count over a body that arrives in pieces (a streamed upload).
class PcapRecordCounter {
 public:
  void Feed(std::string_view piece);
  // As CountPcapPackets of all the pieces fed so far, taken as the whole body.
  std::optional<std::uint64_t> Count() const;

 private:
  std::string gathering_;        // the file header, then each record header (< 24 bytes)
  bool in_records_ = false;      // the file header has been read
  bool big_endian_ = false;
  bool not_classic_ = false;     // pcapng or not a capture: no count
  std::uint64_t data_left_ = 0;  // bytes of the current record's data still to come
  std::uint64_t records_ = 0;
};

}  // namespace picket::collector
