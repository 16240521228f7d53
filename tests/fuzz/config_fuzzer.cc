// libFuzzer target for the device config validator (issue 13): the text a
// device reads from ZooKeeper (<root>/devices/<id>/config merged over its
// group's) or from --config goes through CheckDaemonConfigText, which must
// refuse it with named errors or accept it, never crash. An accepted config
// must survive its own serialization: DaemonConfigToJson's output is
// accepted again and serializes to the same text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <string>
#include <string_view>

#include "picket/common/config_check.h"
#include "picket/common/daemon_config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const picket::ConfigCheck check = picket::CheckDaemonConfigText(text);
  (void)picket::FormatConfigErrors("fuzz input", check);
  if (!check.ok()) return 0;
  const std::string once = picket::DaemonConfigToJson(check.config);
  const picket::ConfigCheck again = picket::CheckDaemonConfigText(once);
  if (!again.ok()) {
    std::fprintf(stderr, "accepted config refused after its own serialization:\n%s\n%s\n",
                 once.c_str(), picket::FormatConfigErrors("serialized", again).c_str());
    std::abort();
  }
  if (picket::DaemonConfigToJson(again.config) != once) {
    std::fprintf(stderr, "serialization not stable:\n%s\n", once.c_str());
    std::abort();
  }
  return 0;
}
