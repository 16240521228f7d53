// BPF filter validation with libpcap's own compiler, so a config with a filter
// the sniffer would reject is refused before any worker restarts.
#pragma once

#include <string_view>
#include <vector>

#include "picket/common/daemon_config.h"
#include "picket/common/status.h"
#include "picket/common/version.h"

namespace picket {

// Compiles `filter` for an Ethernet link with `snaplen`; the error carries pcap's text.
// Thread-safe (libpcap ≥ 1.8 serializes its compiler).
Status CheckFilter(std::string_view filter, int snaplen);

// Adds the checks that need libpcap (the capture filter) to a ConfigCheck.
void AddCaptureChecks(ConfigCheck& check);

LibraryVersion PcapLibraryVersion();

}  // namespace picket
