#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <mutex>
#include <optional>

#include "chunk_body.h"
#include "gzip.h"
#include "picket/common/c_handle.h"
#include "picket/common/digest.h"
#include "picket/common/log.h"
#include "picket/common/wire.h"
#include "picket/upload/http_uploader.h"
#include "tls_ip_names.h"

namespace picket::upload {

namespace {

using CurlEasy = CHandle<CURL, curl_easy_cleanup>;
// Bodies from this size on ask "Expect: 100-continue" (libcurl's own threshold).
constexpr std::size_t kExpectContinueBytes = 1 << 20;
using CurlHeaders = CHandle<curl_slist, curl_slist_free_all>;

// The digest the worker recorded while writing the chunk, if the row has one.
std::optional<std::array<std::uint8_t, 32>> RecordedDigest(const std::string& hex) {
  std::array<std::uint8_t, 32> out{};
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  if (hex.size() != 64) return std::nullopt;
  for (std::size_t i = 0; i < 32; ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return out;
}

bool WorthCompressing(Compression c, const std::string& body) {
  const std::size_t from = body.size() / 2 - std::min(body.size(), kGzipSampleBytes) / 2;
  return CompressionPays(c, std::string_view(body).substr(from, kGzipSampleBytes), body.size());
}

// libcurl pulls a streamed body through these; an error aborts the transfer (retried later).
struct StreamState {
  ChunkBody* body;
  std::string error;
};

size_t ReadBody(char* out, size_t size, size_t n, void* p) {
  auto* state = static_cast<StreamState*>(p);
  auto got = state->body->Read(out, size * n);
  if (!got.ok()) {
    state->error = got.status().message();
    return CURL_READFUNC_ABORT;
  }
  return *got;
}

int SeekBody(void* p, curl_off_t offset, int origin) {
  auto* state = static_cast<StreamState*>(p);
  if (offset != 0 || origin != SEEK_SET) return CURL_SEEKFUNC_CANTSEEK;
  return state->body->Rewind().ok() ? CURL_SEEKFUNC_OK : CURL_SEEKFUNC_FAIL;
}

size_t KeepBody(char* data, size_t size, size_t n, void* sink) {
  auto* body = static_cast<std::string*>(sink);
  if (body->size() < 2048) body->append(data, std::min<size_t>(size * n, 2048 - body->size()));
  return size * n;
}

class CurlUploader final : public ChunkUploader {
 public:
  explicit CurlUploader(UploadSettings settings) : settings_(std::move(settings)) {}

  UploadResult PutChunk(const std::string& base_url, const buffer::ChunkMeta& chunk,
                        const DeviceCounters& counters) override {
    // Chunks are capped at 1 GiB by the config validator. The file is streamed:
    // no whole chunk in memory per upload thread.
    ChunkBody body;
    if (Status st = body.Open(chunk.file, std::uint64_t{1} << 30); !st.ok()) {
      // A vanished file cannot come back: dead. EMFILE, EIO and the like may pass: retry.
      const Outcome outcome = st.code() == StatusCode::kNotFound ? Outcome::kDead : Outcome::kRetry;
      return {outcome, 0, std::chrono::milliseconds(0), st.message(), 0};
    }
    // The worker hashed the chunk while writing it; sending that digest (not a
    // fresh one) also makes the collector refuse a file damaged on the flash.
    auto recorded = RecordedDigest(chunk.sha256_hex);
    std::array<std::uint8_t, 32> digest{};
    if (recorded) {
      digest = *recorded;
    } else {  // rows written before digests were recorded: hash the file
      auto hashed = body.HashFile();
      if (!hashed.ok()) return {Outcome::kRetry, 0, {}, hashed.status().message(), 0};
      digest = *hashed;
    }
    std::vector<std::string> headers = {
        wire::HeaderLine(wire::kDigestHeader,
                         "sha-256=" + Base64Encode(digest.data(), digest.size())),
        wire::HeaderLine(wire::kContentTypeHeader, wire::kPcapContentType),
        Header(wire::kPacketsHeader, chunk.packets),
        Header(wire::kFirstTsHeader, chunk.first_ts_us),
        Header(wire::kLastTsHeader, chunk.last_ts_us),
        Header(wire::kKernelDropsHeader, chunk.kernel_drops),
        Header(wire::kInterfaceDropsHeader, chunk.interface_drops),
        Header(wire::kLostPacketsHeader, chunk.lost_packets),
        Header(wire::kGapBeforeHeader, chunk.gap_before_ms),
        Header(wire::kTsBackwardsHeader, chunk.ts_backwards),
        wire::HeaderLine(wire::kInterfaceHeader, chunk.interface),
    };
    if (chunk.switched_at_us > 0) headers.push_back(Header(wire::kSwitchedAtHeader, chunk.switched_at_us));
    const std::string url = base_url + wire::ChunkPath(settings_.device_id, chunk.seq);
    const Compression c = Encoding();
    if (settings_.gzip && body.file_size() > 256 && body.WorthCompressing(c)) {
      if (Status st = body.Use(c); !st.ok()) return {Outcome::kRetry, 0, {}, st.message(), 0};
      auto with_encoding = headers;
      with_encoding.push_back(wire::HeaderLine(wire::kContentEncodingHeader, ContentEncodingOf(c)));
      UploadResult r = Send("PUT", url, std::string(), std::move(with_encoding), counters,
                            std::chrono::milliseconds(0), &body);
      if (!RefusedZstd(c, r)) return r;
      if (Status st = body.UseGzip(); !st.ok()) return {Outcome::kRetry, 0, {}, st.message(), 0};
      headers.push_back(wire::HeaderLine(wire::kContentEncodingHeader, wire::kGzipEncoding));
    }
    return Send("PUT", url, std::string(), std::move(headers), counters,
                std::chrono::milliseconds(0), &body);
  }

  UploadResult PostBatch(const std::string& base_url, const buffer::Batch& batch,
                         const DeviceCounters& counters) override {
    std::vector<std::string> headers = {
        wire::HeaderLine(wire::kIdempotencyKeyHeader, batch.idempotency_key),
        wire::HeaderLine(wire::kContentTypeHeader, wire::kNdjsonContentType),
    };
    const std::string url = base_url + (batch.kind == buffer::BatchKind::kResults
                                            ? wire::DeviceResultsPath(settings_.device_id)
                                            : wire::DeviceLogsPath(settings_.device_id));
    return Send("POST", url, batch.body, std::move(headers), counters);
  }

  UploadResult PostStatus(const std::string& base_url, const std::string& body) override {
    std::vector<std::string> headers = {
        wire::HeaderLine(wire::kContentTypeHeader, wire::kJsonContentType),
    };
    const std::string url = base_url + wire::DeviceStatusPath(settings_.device_id);
    return Send("POST", url, body, std::move(headers), std::nullopt,
                settings_.connect_timeout + kStatusTransferTime);
  }

 private:
  template <typename T>
  static std::string Header(std::string_view name, T value) {
    return wire::HeaderLine(name, std::to_string(value));
  }

  Compression Encoding() const {
    return settings_.zstd && !zstd_refused_ ? Compression::kZstd : Compression::kGzip;
  }

  // A collector from before zstd answers 415: this uploader sends gzip from
  // then on (until picketd restarts), and the caller re-sends at once.
  bool RefusedZstd(Compression c, const UploadResult& r) {
    if (c != Compression::kZstd || r.http_status != 415) return false;
    zstd_refused_ = true;
    PICKET_LOG(kWarn, "upload", "the collector refuses zstd bodies (415); sending gzip instead",
               {"error", r.error});
    return true;
  }

  // `counters`: the X-Picket-Evicted-* headers (chunks and batches only);
  // `total_time`: a bound on the whole transfer (0: only the low-speed limit).
  // `stream`: the body comes from a chunk file (already set to gzip or not), not `body`.
  // `compressed`: `body` is already compressed (its Content-Encoding is in `headers`).
  UploadResult Send(const char* method, const std::string& url, std::string body,
                    std::vector<std::string> headers, std::optional<DeviceCounters> counters,
                    std::chrono::milliseconds total_time = std::chrono::milliseconds(0),
                    ChunkBody* stream = nullptr, bool compressed = false) {
    UploadResult result;
    const Compression c = Encoding();
    if (!stream && !compressed && settings_.gzip && body.size() > 256 && WorthCompressing(c, body)) {
      auto packed = Compress(c, body);
      if (packed.ok()) {
        auto with_encoding = headers;
        with_encoding.push_back(wire::HeaderLine(wire::kContentEncodingHeader, ContentEncodingOf(c)));
        UploadResult r = Send(method, url, std::move(*packed), std::move(with_encoding), counters,
                              total_time, /*stream=*/nullptr, /*compressed=*/true);
        if (!RefusedZstd(c, r)) return r;
        return Send(method, url, std::move(body), std::move(headers), counters, total_time);
      }
    }
    if (counters) {
      headers.push_back(Header(wire::kEvictedChunksHeader, counters->evicted_chunks));
      headers.push_back(Header(wire::kEvictedBytesHeader, counters->evicted_bytes));
    }
    if (!settings_.token.empty()) headers.push_back(wire::BearerHeaderLine(settings_.token));
    // A large body waits for the collector's "100 Continue": a refusal (token,
    // quota, 429 when busy) then costs a round trip, not the body. Small ones go
    // at once (no round trip on loopback and LAN).
    const std::uint64_t size = stream ? stream->file_size() : body.size();
    headers.push_back(size >= kExpectContinueBytes ? "Expect: 100-continue" : "Expect:");

    if (!easy_) {
      easy_.reset(curl_easy_init());
      if (!easy_) return {Outcome::kRetry, 0, {}, "curl_easy_init failed", 0};
    }
    CURL* h = easy_.get();
    curl_easy_reset(h);  // keeps the connection cache: keep-alive survives
    CurlHeaders list;
    for (const auto& line : headers) {
      curl_slist* next = curl_slist_append(list.get(), line.c_str());
      if (!next) return {Outcome::kRetry, 0, {}, "out of memory building headers", 0};
      (void)list.release();
      list.reset(next);
    }
    std::string response;
    char error[CURL_ERROR_SIZE] = {};
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    StreamState streamed{stream, {}};
    if (stream) {
      curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(h, CURLOPT_READFUNCTION, &ReadBody);
      curl_easy_setopt(h, CURLOPT_READDATA, &streamed);
      curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, &SeekBody);
      curl_easy_setopt(h, CURLOPT_SEEKDATA, &streamed);
      // 512 KiB, not curl's 64 KiB: a fifth less CPU per uploaded GB (capture_bench drain, A/B
      // 0.77/0.66 -> 0.61/0.51 CPU s per GB; curl's CLI on the same files 0.55/0.46).
      curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 512L * 1024);
      // A body compressed on the fly has no length yet: chunked transfer encoding.
      if (!stream->compressed()) {
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(stream->file_size()));
      }
    } else {
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list.get());
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &KeepBody);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &response);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(settings_.connect_timeout.count()));
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, static_cast<long>(settings_.low_speed_bytes));
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME,
                     static_cast<long>(std::max<std::int64_t>(1, settings_.low_speed_time.count() / 1000)));
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    if (!settings_.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, settings_.ca_file.c_str());
    const TlsIpName ip_name = IpNameOf(url);  // lives through curl_easy_perform below
    AcceptIpSubjectAltName(h, &ip_name);
    if (!settings_.client_cert.empty()) {
      curl_easy_setopt(h, CURLOPT_SSLCERT, settings_.client_cert.c_str());
      curl_easy_setopt(h, CURLOPT_SSLKEY, settings_.client_key.c_str());
    }
    if (total_time.count() > 0) {
      curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(total_time.count()));
    }

    // A collector that never answers 100 gets the body after this (libcurl's default).
    curl_easy_setopt(h, CURLOPT_EXPECT_100_TIMEOUT_MS, 1000L);
    CURLcode rc = curl_easy_perform(h);
    curl_off_t uploaded = 0;  // what went on the wire: 0 of a body refused before it was sent
    curl_easy_getinfo(h, CURLINFO_SIZE_UPLOAD_T, &uploaded);
    result.bytes_sent = static_cast<std::uint64_t>(std::max<curl_off_t>(uploaded, 0));
    if (rc != CURLE_OK) {
      result.outcome = Outcome::kRetry;
      result.error = std::string(curl_easy_strerror(rc)) + (error[0] ? std::string(": ") + error : "");
      if (!streamed.error.empty()) result.error += ": " + streamed.error;
      return result;
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_off_t retry_after = 0;
    curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &retry_after);
    result.http_status = static_cast<int>(status);
    result.retry_after = std::chrono::seconds(std::min<curl_off_t>(retry_after, 3600));
    result.outcome = ClassifyHttpStatus(result.http_status);
    if (result.outcome != Outcome::kDone) {
      result.error = "HTTP " + std::to_string(status) + " from " + url + ": " + response.substr(0, 200);
    }
    return result;
  }

  UploadSettings settings_;
  CurlEasy easy_;
  bool zstd_refused_ = false;
};

}  // namespace

Outcome ClassifyHttpStatus(int status) {
  if (status >= wire::kHttpOk && status < 300) return Outcome::kDone;
  // 408 comes from proxies; the collector never sends it.
  if (status == 408 || status == wire::kHttpTooManyRequests || status >= wire::kHttpInternalError)
    return Outcome::kRetry;
  // Our token, not the item.
  if (status == wire::kHttpUnauthorized || status == wire::kHttpForbidden) return Outcome::kRetry;
  return Outcome::kDead;
}

std::unique_ptr<ChunkUploader> MakeCurlUploader(const UploadSettings& settings) {
  return std::make_unique<CurlUploader>(settings);
}

void InitHttpGlobals() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace picket::upload
