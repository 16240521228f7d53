#include "picket/common/filter_check.h"

#include <pcap/pcap.h>

#include <string>

#include "picket/common/c_handle.h"

namespace picket {

namespace {
using PcapHandle = CHandle<pcap_t, pcap_close>;
}

Status CheckFilter(std::string_view filter, int snaplen) {
  PcapHandle dead(pcap_open_dead(DLT_EN10MB, snaplen));
  if (!dead) return Status::Internal("pcap_open_dead failed");
  const std::string text(filter);
  bpf_program program{};
  if (pcap_compile(dead.get(), &program, text.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    return Status::InvalidArgument("bad BPF filter \"" + text + "\": " + pcap_geterr(dead.get()));
  }
  pcap_freecode(&program);
  return Status::Ok();
}

void AddCaptureChecks(ConfigCheck& check) {
  const CaptureSection& c = check.config.capture;
  if (c.filter.empty()) return;
  if (Status st = CheckFilter(c.filter, c.snaplen); !st.ok()) {
    check.errors.push_back({"/capture/filter", st.message()});
  }
}

LibraryVersion PcapLibraryVersion() {
  std::string v = pcap_lib_version();  // "libpcap version 1.10.3 (with TPACKET_V3)"
  const std::string prefix = "libpcap version ";
  if (v.rfind(prefix, 0) == 0) v = v.substr(prefix.size());
  return {"libpcap", v};
}

}  // namespace picket
