#include "picket/collector/library_info.h"

#include <boost/beast/version.hpp>

#include <string>

#include "picket/sqlite/library_info.h"
#include "picket/zk/library_info.h"

namespace picket::collector {

std::vector<LibraryVersion> CentralLibraryVersions() {
  std::vector<LibraryVersion> out;
  out.push_back({"boost.beast", std::to_string(BOOST_BEAST_VERSION)});
  out.push_back(sqlite::SqliteLibraryVersion());
  out.push_back(zk::ZooKeeperLibraryVersion());
  for (auto& v : CommonLibraryVersions()) out.push_back(std::move(v));
  return out;
}

}  // namespace picket::collector
