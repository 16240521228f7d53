// GET /v1/sessions, /v1/sessions/{id}, /v1/sessions/{id}/pcap (config/API.md).
// Listings and pcaps are streamed: a page of rows, or one chunk's packets, at
// a time, so no answer is ever held whole in memory.
#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "collector/api_handler.h"
#include "collector/chunk_store.h"
#include "collector/session_query.h"
#include "picket/analysis/analyzer.h"
#include "picket/common/log.h"

namespace picket::collector {

namespace {

using nlohmann::json;

constexpr std::uint64_t kRowsPerPiece = 500;
constexpr std::uint32_t kPcapSnaplen = 262144;

Reply SessionsOff() {
  Reply r = JsonError(wire::kHttpUnavailable, "this collector has no session store");
  r.headers.emplace_back(wire::kRetryAfterHeader, "5");
  return r;
}

json SessionJson(const StoredSession& s, bool with_packets) {
  json row = analysis::ToJson(s.session, with_packets);
  row["id"] = s.id;
  row["device"] = s.session.device;
  return row;
}

void PutU32(std::string& out, std::uint32_t v) {
  char bytes[4];
  std::memcpy(bytes, &v, 4);  // native order, as the magic number says
  out.append(bytes, 4);
}

void PutU16(std::string& out, std::uint16_t v) {
  char bytes[2];
  std::memcpy(bytes, &v, 2);
  out.append(bytes, 2);
}

void PcapHeader(std::string& out, int link_type) {
  PutU32(out, 0xa1b2c3d4);  // µs timestamps
  PutU16(out, 2);
  PutU16(out, 4);
  PutU32(out, 0);  // thiszone
  PutU32(out, 0);  // sigfigs
  PutU32(out, kPcapSnaplen);
  PutU32(out, static_cast<std::uint32_t>(link_type));
}

void PcapRecord(std::string& out, const analysis::RawPacket& p) {
  const std::int64_t ts = std::max<std::int64_t>(p.ts_us, 0);
  PutU32(out, static_cast<std::uint32_t>(ts / 1'000'000));
  PutU32(out, static_cast<std::uint32_t>(ts % 1'000'000));
  PutU32(out, static_cast<std::uint32_t>(p.data.size()));
  PutU32(out, p.wire_len);
  out.append(reinterpret_cast<const char*>(p.data.data()), p.data.size());
}

// The pcap of one session, one chunk file per piece.
struct PcapStream {
  std::string device;
  std::uint64_t session_id = 0;
  std::vector<std::pair<std::string, std::vector<std::uint64_t>>> chunks;  // path, offsets
  std::unique_ptr<ChunkPins::Lease> pinned;  // until the answer ends
  std::size_t next = 0;
  std::optional<int> link_type;
  bool done = false;

  Result<std::string> Next() {
    std::string out;
    if (done) return out;
    if (next == chunks.size()) {
      done = true;
      if (!link_type) PcapHeader(out, 1);  // no packets: an empty Ethernet capture
      return out;
    }
    const auto& [path, offsets] = chunks[next++];
    auto bytes = ChunkStore::Read(path);
    if (!bytes.ok()) return bytes.status();
    for (std::uint64_t offset : offsets) {
      analysis::RawPacket packet;
      Status st = analysis::PacketAt(*bytes, offset, packet);
      if (!st.ok()) return st.WithContext(path + " offset " + std::to_string(offset));
      if (!link_type) {
        link_type = packet.link_type;
        PcapHeader(out, packet.link_type);
      }
      if (packet.link_type != *link_type) {
        PICKET_LOG(kWarn, "collector", "session pcap: packet of another link type left out",
                   {"session", session_id}, {"path", path}, {"offset", offset});
        continue;
      }
      PcapRecord(out, packet);
    }
    if (out.empty()) return Next();  // never "" before the end
    return out;
  }
};

}  // namespace

Reply ApiHandler::ListSessions(const wire::Route& route) {
  if (sessions_ == nullptr) return SessionsOff();
  auto query = ParseSessionQuery(route, clock_->WallMillis());
  if (!query.ok()) return JsonError(wire::kHttpBadRequest, query.status().message());
  struct Listing {
    SessionStore* store;
    SessionFilter filter;
    std::uint64_t remaining;
    bool done = false;
  };
  auto state = std::make_shared<Listing>(Listing{sessions_, query->filter, query->limit});
  Reply r;
  r.content_type = std::string(wire::kNdjsonContentType);
  r.stream = [state]() -> Result<std::string> {
    std::string out;
    if (state->done || state->remaining == 0) return out;
    const std::uint64_t want = std::min(kRowsPerPiece, state->remaining);
    auto rows = state->store->List(state->filter, want);
    if (!rows.ok()) return rows.status();
    for (const StoredSession& s : *rows) {
      out += SessionJson(s, false).dump(-1, ' ', false, json::error_handler_t::replace);
      out += '\n';
      state->filter.after = s.id;
    }
    state->remaining -= rows->size();
    if (rows->size() < want) state->done = true;
    return out;
  };
  return r;
}

Reply ApiHandler::GetSession(const wire::Route& route) {
  if (sessions_ == nullptr) return SessionsOff();
  auto found = sessions_->Get(route.session_id, /*with_packets=*/true);
  if (!found.ok()) return StorageError(found.status(), "read session");
  if (!*found) {
    return JsonError(wire::kHttpNotFound, "no session " + std::to_string(route.session_id));
  }
  return JsonReply(wire::kHttpOk, SessionJson(**found, true));
}

Reply ApiHandler::GetSessionPcap(const wire::Route& route) {
  if (sessions_ == nullptr) return SessionsOff();
  auto found = sessions_->Get(route.session_id, /*with_packets=*/true);
  if (!found.ok()) return StorageError(found.status(), "read session");
  if (!*found) {
    return JsonError(wire::kHttpNotFound, "no session " + std::to_string(route.session_id));
  }
  auto stream = std::make_shared<PcapStream>();
  stream->device = (*found)->session.device;
  stream->session_id = route.session_id;
  // Pinned before the lookups: retention either deleted a chunk already (its
  // row is gone: 404 below) or keeps it until this answer ends.
  std::vector<ChunkPins::Key> keys;
  for (const analysis::PacketRef& ref : (*found)->session.packets) {
    if (keys.empty() || keys.back().second != ref.chunk_seq) {
      keys.emplace_back(stream->device, ref.chunk_seq);
    }
  }
  stream->pinned = std::make_unique<ChunkPins::Lease>(pins_, std::move(keys));
  // Every chunk is looked up before the 200 goes out: a chunk that is gone is
  // an error the client can read, not a short pcap.
  std::optional<std::uint64_t> current;
  for (const analysis::PacketRef& ref : (*found)->session.packets) {
    if (!current || *current != ref.chunk_seq) {
      auto path = db_->ChunkPath(stream->device, ref.chunk_seq);
      if (!path.ok()) return StorageError(path.status(), "look up chunk");
      if (!*path) {
        return JsonError(wire::kHttpNotFound, "chunk " + std::to_string(ref.chunk_seq) +
                                                  " of device " + stream->device +
                                                  " holding packets of session " +
                                                  std::to_string(route.session_id) + " is gone");
      }
      stream->chunks.emplace_back(std::move(**path), std::vector<std::uint64_t>());
      current = ref.chunk_seq;
    }
    stream->chunks.back().second.push_back(ref.offset);
  }
  Reply r;
  r.content_type = std::string(wire::kPcapContentType);
  r.headers.emplace_back("Content-Disposition", "attachment; filename=\"session-" +
                                                    std::to_string(route.session_id) + ".pcap\"");
  r.stream = [stream]() { return stream->Next(); };
  return r;
}

}  // namespace picket::collector
