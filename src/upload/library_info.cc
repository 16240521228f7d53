#include "picket/upload/library_info.h"

#include <curl/curl.h>
#include <zlib.h>

namespace picket::upload {

std::vector<LibraryVersion> HttpLibraryVersions() {
  const curl_version_info_data* info = curl_version_info(CURLVERSION_NOW);
  std::vector<LibraryVersion> out;
  out.push_back({"libcurl", info->version});
  out.push_back({"tls", info->ssl_version ? info->ssl_version : "none"});
  out.push_back({"c-ares", info->ares ? info->ares : "none (threaded resolver)"});
  out.push_back({"zlib", zlibVersion()});  // ours (gzip bodies); curl's own is compiled out
  return out;
}

}  // namespace picket::upload
