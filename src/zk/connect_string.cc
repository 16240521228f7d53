#include "picket/zk/connect_string.h"

#include <charconv>
#include <string_view>

namespace picket::zk {

Status CheckZkHosts(const std::string& text) {
  auto bad = [&](std::string_view why) {
    return Status::InvalidArgument("--zk " + text + ": " + std::string(why) +
                                   " (expected HOST:PORT[,HOST:PORT...][/chroot])");
  };
  std::string_view hosts = text;
  if (std::size_t slash = hosts.find('/'); slash != std::string_view::npos) {
    hosts = hosts.substr(0, slash);
  }
  if (hosts.empty()) return bad("no host");
  while (true) {
    std::size_t comma = hosts.find(',');
    std::string_view one = hosts.substr(0, comma);
    std::size_t colon = one.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return bad("'" + std::string(one) + "'");
    std::string_view p = one.substr(colon + 1);
    unsigned port = 0;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
    if (p.empty() || ec != std::errc() || end != p.data() + p.size() || port == 0 || port > 65535) {
      return bad("bad port in '" + std::string(one) + "'");
    }
    if (comma == std::string_view::npos) return Status::Ok();
    hosts.remove_prefix(comma + 1);
  }
}

}  // namespace picket::zk
