#include "picketd/edge_libraries.h"

#include <uv.h>

#include "picket/common/filter_check.h"
#include "picket/scan/library_info.h"
#include "picket/sqlite/library_info.h"
#include "picket/upload/library_info.h"
#include "picket/zk/library_info.h"

namespace picket::picketd {

std::vector<LibraryVersion> EdgeLibraryVersions() {
  std::vector<LibraryVersion> out;
  out.push_back(PcapLibraryVersion());
  out.push_back({"libuv", uv_version_string()});
  for (auto& v : upload::HttpLibraryVersions()) out.push_back(std::move(v));
  out.push_back(sqlite::SqliteLibraryVersion());
  out.push_back(zk::ZooKeeperLibraryVersion());
  out.push_back(scan::AsioLibraryVersion());
  for (auto& v : CommonLibraryVersions()) out.push_back(std::move(v));
  return out;
}

}  // namespace picket::picketd
