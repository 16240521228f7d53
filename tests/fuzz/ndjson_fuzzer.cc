// libFuzzer target for the collector's NDJSON ingest (POST /v1/results and
// /v1/logs bodies, after decompression): ParseNdjson splits and checks the
// lines; what it accepts is stored by CollectorDb::IngestLines in a SQLite
// file (a scratch directory) and read back through the list queries the API
// answers, which parse the stored rows again. The first byte picks the kind
// (results or logs) and whether the body is replayed (the duplicate path).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "collector/api_handler.h"
#include "collector/collector_db.h"
#include "fuzz_support.h"

namespace {

using namespace picket::collector;

// A new database every few thousand inputs keeps the file (and every query) small.
constexpr int kInputsPerDatabase = 2000;

CollectorDb& Db() {
  static picket::fuzz::ScratchDir dir;
  static std::unique_ptr<CollectorDb> db;
  static int uses = 0;
  if (!db || ++uses % kInputsPerDatabase == 0) {
    db.reset();
    std::filesystem::remove(dir.path() + "/collector.db");
    std::filesystem::remove(dir.path() + "/collector.db-wal");
    std::filesystem::remove(dir.path() + "/collector.db-shm");
    auto opened = CollectorDb::Open(dir.path() + "/collector.db");
    if (!opened.ok()) std::abort();
    db = std::move(*opened);
  }
  return *db;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  static std::uint64_t input_number = 0;
  ++input_number;
  const std::uint8_t knob = data[0];
  const LineKind kind = (knob & 1) ? LineKind::kLogs : LineKind::kResults;
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);

  auto lines = ParseNdjson(body, kind);
  if (!lines.ok()) return 0;
  const std::string device = "fuzz-dev-" + std::to_string(knob >> 5);
  const std::string key = "key-" + std::to_string(input_number);
  CollectorDb& db = Db();
  DeviceReport report;
  auto stored = db.IngestLines(kind, device, key, *lines, 1'700'000'000'000, report, "abc");
  if (stored.ok() && (knob & 2)) {
    // The same key again: a duplicate with the same digest, a conflict with another.
    (void)db.IngestLines(kind, device, key, *lines, 1'700'000'000'001, report, "abc");
    (void)db.IngestLines(kind, device, key, *lines, 1'700'000'000'002, report, "def");
  }
  ListQuery query;
  query.device = device;
  query.limit = 50;
  auto listed = kind == LineKind::kLogs ? db.ListLogs(query) : db.ListResults(query);
  if (listed.ok()) (void)listed->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return 0;
}
