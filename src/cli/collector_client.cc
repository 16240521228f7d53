#include "cli/collector_client.h"

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>

#include "picket/common/c_handle.h"
#include "picket/common/json_limits.h"
#include "picket/common/wire.h"

namespace picket::cli {

namespace {

using CurlEasy = CHandle<CURL, curl_easy_cleanup>;
using CurlHeaders = CHandle<curl_slist, curl_slist_free_all>;

constexpr std::size_t kMaxErrorBody = 64 * 1024;

struct TransferState {
  CURL* easy = nullptr;
  CollectorTransfer* result = nullptr;
  const std::function<bool(std::string_view)>* on_data = nullptr;
  const CollectorGetOptions* options = nullptr;
};

// The status is known once the header block ends: a stream with nothing
// stored yet sends no body bytes for a while, but it is open.
void NoteStatus(TransferState* st) {
  if (st->result->status != 0) return;
  curl_easy_getinfo(st->easy, CURLINFO_RESPONSE_CODE, &st->result->status);
  if (st->result->status == wire::kHttpOk) {
    st->result->got_200 = true;
    if (st->options->on_connected) st->options->on_connected();
  }
}

extern "C" size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* st = static_cast<TransferState*>(user);
  const size_t n = size * count;
  std::string_view line(data, n);
  if (line == "\r\n" || line == "\n") {
    try {
      NoteStatus(st);
    } catch (...) {
      return 0;  // no exception crosses into libcurl
    }
  }
  return n;
}

extern "C" size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* st = static_cast<TransferState*>(user);
  const size_t n = size * count;
  try {
    NoteStatus(st);
    if (st->result->status != wire::kHttpOk) {
      if (st->result->error_body.size() < kMaxErrorBody) st->result->error_body.append(data, n);
      return n;
    }
    return (*st->on_data)(std::string_view(data, n)) ? n : 0;
  } catch (...) {
    return 0;
  }
}

extern "C" int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* st = static_cast<TransferState*>(user);
  return st->options->cancel != nullptr && st->options->cancel->load() ? 1 : 0;
}

}  // namespace

CollectorTransfer CollectorGet(const CollectorAccess& collector, const std::string& path,
                               const std::function<bool(std::string_view)>& on_data,
                               const CollectorGetOptions& options) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  CollectorTransfer result;
  CurlEasy easy(curl_easy_init());
  if (!easy) {
    result.code = CURLE_FAILED_INIT;
    result.curl_error = "curl_easy_init failed";
    return result;
  }
  CURL* h = easy.get();
  std::vector<std::string> lines = options.headers;
  if (!collector.token.empty()) lines.push_back(wire::BearerHeaderLine(collector.token));
  CurlHeaders list;
  for (const auto& line : lines) {
    curl_slist* next = curl_slist_append(list.get(), line.c_str());
    if (next == nullptr) {
      result.code = CURLE_OUT_OF_MEMORY;
      result.curl_error = "curl_slist_append failed";
      return result;
    }
    (void)list.release();
    list.reset(next);
  }
  const std::string url = collector.base_url + path;
  TransferState state{h, &result, &on_data, &options};
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, list.get());
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &state);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &state);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, &OnProgress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &state);
  SetCommonCurlOptions(h, error);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  // A big listing or pcap may take long; a stalled one may not. The
  // collector sends an event-stream comment every 15 s.
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, options.stream ? 45L : 60L);
  result.code = curl_easy_perform(h);
  if (result.code != CURLE_OK) {
    result.curl_error = std::string(curl_easy_strerror(result.code)) +
                        (error[0] != '\0' ? std::string(": ") + error : std::string());
  }
  if (result.status == 0) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &result.status);
  curl_off_t retry_after = 0;
  if (curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK) {
    result.retry_after_s = static_cast<long>(std::min<curl_off_t>(retry_after, 300));
  }
  return result;
}

std::string ErrorFromBody(long status, const std::string& body) {
  auto j = ParseJsonBounded(body, kMaxJsonAnswerDepth);
  std::string message = j.is_object() && j.contains("error") && j["error"].is_string()
                            ? j["error"].get<std::string>()
                            : body.substr(0, 300);
  return "HTTP " + std::to_string(status) + (message.empty() ? "" : ": " + message);
}

std::string TransferError(const CollectorAccess& collector, const std::string& path,
                          const CollectorTransfer& t) {
  if (t.status != 0 && t.status != wire::kHttpOk) {
    return collector.base_url + path + ": " + ErrorFromBody(t.status, t.error_body);
  }
  if (t.code != CURLE_OK) return collector.base_url + path + ": " + t.curl_error;
  return {};
}

Status DownloadToFile(const CollectorAccess& collector, const std::string& path,
                      const std::string& output,
                      const std::function<void(std::string_view)>& on_data) {
  const std::string temp = output + ".part";
  std::FILE* file = std::fopen(temp.c_str(), "wb");
  if (file == nullptr) return Status::IoError(temp + ": cannot create");
  bool write_failed = false;
  CollectorTransfer t = CollectorGet(collector, path, [&](std::string_view data) {
    if (on_data) on_data(data);
    write_failed = std::fwrite(data.data(), 1, data.size(), file) != data.size();
    return !write_failed;
  });
  const bool closed = std::fclose(file) == 0;
  if (std::string why = TransferError(collector, path, t); !why.empty()) {
    std::remove(temp.c_str());
    return Status::Unavailable(why);
  }
  if (write_failed || !closed || std::rename(temp.c_str(), output.c_str()) != 0) {
    std::remove(temp.c_str());
    return Status::IoError(output + ": cannot write");
  }
  return Status::Ok();
}

}  // namespace picket::cli
