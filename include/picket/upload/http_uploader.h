// One upload attempt over HTTP(S): a chunk PUT, an NDJSON batch POST or a
// heartbeat POST to one collector, classified into Done / Retry / Dead. Blocking; a ChunkUploader
// holds one reusable connection (keep-alive) and is used by one thread at a
// time — the supervisor gives each libuv pool thread its own.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "picket/buffer/buffer_store.h"

namespace picket::upload {

struct UploadSettings {
  std::string device_id;
  std::string token;                 // bearer token; empty: no Authorization header
  std::string ca_file;               // empty: system bundle
  bool gzip = true;  // compress bodies that shrink (upload.gzip)
  bool zstd = true;  // with zstd, else gzip (upload.encoding); gzip for a collector that refuses zstd
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds low_speed_time{20000};
  std::uint64_t low_speed_bytes = 1024;
  std::string client_cert, client_key;  // PEM files for mTLS; empty: none
};

enum class Outcome { kDone, kRetry, kDead };

struct UploadResult {
  Outcome outcome = Outcome::kRetry;
  int http_status = 0;                       // 0: no HTTP response (network error)
  std::chrono::milliseconds retry_after{0};  // server's Retry-After, 0 when absent
  std::string error;                         // for logs and the buffer row
  std::uint64_t bytes_sent = 0;             // body bytes on the wire (after compression)
};

// Device counters sent along with every upload (wire.h X-Picket-Evicted-*).
struct DeviceCounters {
  std::uint64_t evicted_chunks = 0;
  std::uint64_t evicted_bytes = 0;
};

// 2xx → Done; 408, 429, 5xx → Retry; 401 and 403 → Retry too: they judge the
// device's token, not the item, so the item waits (and fails over) until the
// token or the collector is fixed; any other status → Dead (kept aside).
Outcome ClassifyHttpStatus(int status);

class ChunkUploader {
 public:
  virtual ~ChunkUploader() = default;
  // base_url: a collector URL from the config or ZooKeeper, e.g. http://127.0.0.1:8750
  virtual UploadResult PutChunk(const std::string& base_url, const buffer::ChunkMeta& chunk,
                                const DeviceCounters& counters) = 0;
  virtual UploadResult PostBatch(const std::string& base_url, const buffer::Batch& batch,
                                 const DeviceCounters& counters) = 0;
  // One heartbeat: the status document (JSON) to wire::DeviceStatusPath, no
  // Idempotency-Key (the newest replaces the previous one), the whole
  // transfer bounded by connect_timeout + kStatusTransferTime.
  virtual UploadResult PostStatus(const std::string& base_url, const std::string& body) = 0;
};

// A heartbeat that cannot be delivered in this time is stale anyway.
inline constexpr std::chrono::milliseconds kStatusTransferTime{10'000};

std::unique_ptr<ChunkUploader> MakeCurlUploader(const UploadSettings& settings);

// Call once per process before threads start (curl_global_init).
void InitHttpGlobals();

}  // namespace picket::upload
