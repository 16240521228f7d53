// The CLI's one HTTP GET to the collector (libcurl): the body reaches a
// callback as it arrives once the status is 200, so listings, pcaps and the
// log event stream are never held whole in memory; any other status keeps
// the (bounded) error body for the message. Used by logs, sessions, chunks.
#pragma once

#include <atomic>
#include <curl/curl.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/operator_support.h"

namespace picket::cli {

struct CollectorTransfer {
  CURLcode code = CURLE_OK;
  std::string curl_error;  // libcurl's text when code != CURLE_OK
  long status = 0;         // HTTP status, 0 when none arrived
  std::string error_body;  // the body of a non-200 answer, at most 64 KiB
  long retry_after_s = 0;  // Retry-After of a 429/503, capped at 300
  bool got_200 = false;    // the header block of a 200 arrived (a stream was open)
};

struct CollectorGetOptions {
  std::vector<std::string> headers;  // extra "Name: value" lines
  // A long-lived stream (server-sent events): no total timeout, 45 s of
  // silence ends it, and `cancel` (set from a signal handler) stops it.
  bool stream = false;
  const std::atomic<bool>* cancel = nullptr;
  std::function<void()> on_connected;  // a 200's header block arrived
};

// on_data returning false aborts the transfer (CURLE_WRITE_ERROR).
CollectorTransfer CollectorGet(const CollectorAccess& collector, const std::string& path,
                               const std::function<bool(std::string_view)>& on_data,
                               const CollectorGetOptions& options = {});

// "HTTP 404: no such chunk" from an answer's {"error": ...} body (or its start).
std::string ErrorFromBody(long status, const std::string& body);

// A failed transfer as one message naming the URL; empty when it succeeded.
std::string TransferError(const CollectorAccess& collector, const std::string& path,
                          const CollectorTransfer& t);

// GET path into `output`: written to "<output>.part" and renamed when the
// transfer completed, so a cut download never leaves a file with the final
// name. on_data (optional) also sees every byte (to hash it). Errors name the
// URL or the file.
Status DownloadToFile(const CollectorAccess& collector, const std::string& path,
                      const std::string& output,
                      const std::function<void(std::string_view)>& on_data = {});

}  // namespace picket::cli
