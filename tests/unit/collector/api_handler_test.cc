// The API's decisions without a socket: admission (route, token, size,
// headers) and handling against a real database and chunk store in a temp dir.
#include "collector/api_handler.h"

#include <doctest/doctest.h>
#include <zstd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "collector/gunzip.h"
#include "collector/header_text.h"
#include "picket/common/digest.h"
#include "support/temp_dir.h"
#include "unit/collector/api_call.h"
#include "unit/collector/token_text.h"

namespace picket::collector {

namespace {

class FixedClock final : public Clock {
 public:
  MonoTime MonotonicNow() const override { return MonoTime(); }
  std::int64_t WallMillis() const override { return 1'700'000'000'000; }
};

std::string TinyPcap(char payload) {
  std::string p("\xd4\xc3\xb2\xa1\x02\x00\x04\x00", 8);
  p += std::string(8, '\0');
  p += std::string("\xff\xff\x00\x00\x01\x00\x00\x00", 8);
  p += std::string(8, '\0');                                // ts
  p += std::string("\x01\x00\x00\x00\x01\x00\x00\x00", 8);  // caplen 1, len 1
  p += payload;
  return p;
}

std::string DigestOf(std::string_view body) {
  Sha256 h;
  h.Update(body);
  auto d = h.Finish();
  return "sha-256=" + Base64Encode(d.data(), d.size());
}

struct Fixture {
  testing::TempDir dir;
  TokenTable tokens =
      TokenTable::Parse(picket::testing::HashedTokens("gw-1 tok-1\ngw-2 tok-2\n@operator tok-op\n"),
                        "t")
          .value();
  std::unique_ptr<CollectorDb> db = CollectorDb::Open(dir.path() + "/collector.db").value();
  ChunkStore store = *ChunkStore::Open(dir.path());
  FixedClock clock;
  ApiHandler api{&tokens, db.get(), &store, 4096, &clock};

  Reply Call(std::string method, std::string target,
             std::vector<std::pair<std::string, std::string>> headers, std::string body = {}) {
    return testing::CallApi(api, std::move(method), std::move(target), headers, std::move(body));
  }

  Reply PutChunk(std::string device, int seq, const std::string& body, std::string token,
                 std::vector<std::pair<std::string, std::string>> extra = {}) {
    extra.emplace_back("Authorization", "Bearer " + token);
    return Call("PUT", "/v1/devices/" + device + "/chunks/" + std::to_string(seq), extra, body);
  }
};

nlohmann::json Json(const Reply& r) { return nlohmann::json::parse(r.body); }

}  // namespace

TEST_SUITE("collector.api") {
  TEST_CASE("PUT chunk: 201, 200 on the same bytes, 409 on other bytes, the file is on disk") {
    Fixture f;
    const std::string a = TinyPcap('a'), b = TinyPcap('b');
    auto created = f.PutChunk(
        "gw-1", 7, a, "tok-1",
        {{"Digest", DigestOf(a)}, {"X-Picket-Packets", "1"}, {"X-Picket-Interface", "eth0"}});
    CHECK(created.status == 201);
    CHECK(Json(created)["sha256"] == Sha256Hex(a));
    auto path = f.store.PathFor("gw-1", 7);
    CHECK(path == f.dir.path() + "/chunks/gw-1/000000000007.pcap");
    CHECK(*ChunkStore::Read(path) == a);

    CHECK(f.PutChunk("gw-1", 7, a, "tok-1", {{"Digest", DigestOf(a)}}).status == 200);
    auto conflict = f.PutChunk("gw-1", 7, b, "tok-1", {{"Digest", DigestOf(b)}});
    CHECK(conflict.status == 409);
    CHECK(Json(conflict)["error"].get<std::string>().find(Sha256Hex(a)) != std::string::npos);
    CHECK(*ChunkStore::Read(path) == a);

    // Nothing but the chunk is left in the device directory (no temp files).
    int files = 0;
    for (auto& e : std::filesystem::directory_iterator(f.dir.path() + "/chunks/gw-1")) {
      (void)e;
      ++files;
    }
    CHECK(files == 1);

    const std::string c = TinyPcap('c');
    REQUIRE(f.PutChunk("gw-1", 8, c, "tok-1", {{"Digest", DigestOf(c)}}).status == 201);
    auto list = f.Call("GET", "/v1/devices/gw-1/chunks", {{"Authorization", "Bearer tok-op"}});
    REQUIRE(list.status == 200);
    CHECK(Json(list)[0]["interface"] == "eth0");
    CHECK(Json(list)[1]["packets"] == 1);  // no header: counted in the pcap
    auto bytes = f.Call("GET", "/v1/devices/gw-1/chunks/7", {{"Authorization", "Bearer tok-op"}});
    CHECK(bytes.status == 200);
    CHECK(bytes.content_type == "application/vnd.tcpdump.pcap");
    CHECK(bytes.body == a);
    CHECK(f.Call("GET", "/v1/devices/gw-1/chunks/9", {{"Authorization", "Bearer tok-op"}}).status ==
          404);
  }

  TEST_CASE("disk quota: a device past it gets 429 + Retry-After, others and repeats do not") {
    Fixture f;
    const std::string a = TinyPcap('a'), b = TinyPcap('b'), c = TinyPcap('c');
    f.api.EnableDiskQuota(2 * a.size());  // two tiny chunks
    REQUIRE(f.PutChunk("gw-1", 1, a, "tok-1", {{"Digest", DigestOf(a)}}).status == 201);
    REQUIRE(f.PutChunk("gw-1", 2, b, "tok-1", {{"Digest", DigestOf(b)}}).status == 201);
    auto over = f.PutChunk("gw-1", 3, c, "tok-1", {{"Digest", DigestOf(c)}});
    CHECK(over.status == 429);
    CHECK(Json(over)["error"].get<std::string>().find("--device-disk-quota") != std::string::npos);
    bool retry_after = false;
    for (const auto& [k, v] : over.headers)
      retry_after = retry_after || (k == "Retry-After" && v == "600");
    CHECK(retry_after);
    CHECK_FALSE(std::filesystem::exists(f.store.PathFor("gw-1", 3)));
    // A retry of a stored chunk is still acknowledged; another device stores freely.
    CHECK(f.PutChunk("gw-1", 2, b, "tok-1", {{"Digest", DigestOf(b)}}).status == 200);
    CHECK(f.PutChunk("gw-2", 1, c, "tok-2", {{"Digest", DigestOf(c)}}).status == 201);
    CHECK(f.PutChunk("gw-1", 4, c, "tok-1", {{"Digest", DigestOf(c)}}).status == 429);

    ExpositionWriter out;
    f.api.metrics().Write(out);
    CHECK(out.text().find("picket_quota_refusals_total{quota=\"disk\"} 2\n") != std::string::npos);
    CHECK(out.text().find("picket_quota_refusals_total{quota=\"rows_per_minute\"} 0\n") !=
          std::string::npos);
  }

  TEST_CASE("a verified client certificate authenticates as its device, and as nothing else") {
    Fixture f;
    auto admit = [&](std::string method, std::string target, std::string cert_device,
                     std::string token = {}) {
      RequestHead head;
      head.method = std::move(method);
      head.target = std::move(target);
      head.client_cert_device = std::move(cert_device);
      if (!token.empty()) head.headers.Add("Authorization", "Bearer " + token);
      if (head.method == "PUT") {
        head.headers.Add("Digest", DigestOf(TinyPcap('m')));
        head.content_length = TinyPcap('m').size();
      }
      return f.api.Admit(head);
    };
    auto status = [](const Admission& a) { return a.reject ? a.reject->status : 0; };
    auto own = admit("PUT", "/v1/devices/gw-9/chunks/1", "gw-9");
    CHECK(status(own) == 0);
    REQUIRE(own.principal);
    CHECK(own.principal->device_id == "gw-9");  // a device without a token: the CA vouches
    CHECK(status(admit("PUT", "/v1/devices/gw-1/chunks/1", "gw-9")) == 403);
    CHECK(status(admit("GET", "/v1/fleet", "gw-9")) == 403);
    CHECK(status(admit("PUT", "/v1/devices/gw-9/chunks/1", "")) == 401);
    // A token, when sent, decides: a wrong one is a 401 even with a certificate.
    CHECK(status(admit("PUT", "/v1/devices/gw-9/chunks/1", "gw-9", "nope")) == 401);
    CHECK(status(admit("PUT", "/v1/devices/gw-1/chunks/1", "gw-9", "tok-1")) == 0);
    // Unknown paths stay 401 for strangers, 404 for a certificate holder.
    CHECK(status(admit("GET", "/v1/nowhere", "")) == 401);
    CHECK(status(admit("GET", "/v1/nowhere", "gw-9")) == 404);
  }

  TEST_CASE("PUT chunk: gzip, digest and pcap checks") {
    Fixture f;
    const std::string a = TinyPcap('a');
    auto gz = GzipCompress(a);
    REQUIRE(gz.ok());
    CHECK(
        f.PutChunk("gw-1", 1, *gz, "tok-1", {{"Digest", DigestOf(a)}, {"Content-Encoding", "gzip"}})
            .status == 201);
    auto mismatch = f.PutChunk("gw-1", 2, a, "tok-1", {{"Digest", DigestOf("other")}});
    CHECK(mismatch.status == 400);
    CHECK(Json(mismatch)["error"].get<std::string>().find("Digest mismatch") != std::string::npos);
    auto missing = f.PutChunk("gw-1", 2, a, "tok-1");
    CHECK(missing.status == 400);
    CHECK(Json(missing)["error"].get<std::string>().find("Digest") != std::string::npos);
    const std::string text = "this is not a capture file at all";
    CHECK(f.PutChunk("gw-1", 2, text, "tok-1", {{"Digest", DigestOf(text)}}).status == 400);
    CHECK(f.PutChunk("gw-1", 2, a, "tok-1", {{"Digest", DigestOf(a)}, {"X-Picket-Packets", "many"}})
              .status == 400);
    CHECK(f.PutChunk("gw-1", 2, a, "tok-1", {{"Digest", DigestOf(a)}, {"Content-Encoding", "br"}})
              .status == 415);
    CHECK(f.PutChunk("gw-1", 2, "junk", "tok-1",
                     {{"Digest", DigestOf(a)}, {"Content-Encoding", "gzip"}})
              .status == 400);
    // zstd, picketd's default: stored decompressed; a broken frame is a 400.
    const std::string c = TinyPcap('c');
    std::string z(ZSTD_compressBound(c.size()), '\0');
    z.resize(ZSTD_compress(z.data(), z.size(), c.data(), c.size(), 1));
    CHECK(f.PutChunk("gw-1", 3, z, "tok-1", {{"Digest", DigestOf(c)}, {"Content-Encoding", "zstd"}})
              .status == 201);
    CHECK(f.PutChunk("gw-1", 3, z, "tok-1", {{"Digest", DigestOf(c)}, {"Content-Encoding", "zstd"}})
              .status == 200);
    CHECK(f.PutChunk("gw-1", 4, z.substr(0, z.size() - 2), "tok-1",
                     {{"Digest", DigestOf(c)}, {"Content-Encoding", "zstd"}})
              .status == 400);
  }

  TEST_CASE("device counters stay exact integers: headers over 2^53 - 1 are refused, sums saturate") {
    Fixture f;
    const std::string a = TinyPcap('a'), b = TinyPcap('b');
    auto over = f.PutChunk("gw-1", 1, a, "tok-1",
                           {{"Digest", DigestOf(a)}, {"X-Picket-Kernel-Drops", "9007199254740992"}});
    CHECK(over.status == 400);
    CHECK(Json(over)["error"].get<std::string>().find("X-Picket-Kernel-Drops") != std::string::npos);
    for (auto [seq, body] : {std::pair{1, a}, std::pair{2, b}}) {
      REQUIRE(f.PutChunk("gw-1", seq, body, "tok-1",
                         {{"Digest", DigestOf(body)}, {"X-Picket-Kernel-Drops", "9007199254740991"}})
                  .status == 201);
    }
    auto devices = f.Call("GET", "/v1/devices", {{"Authorization", "Bearer tok-op"}});
    REQUIRE(devices.status == 200);
    auto drops = Json(devices)[0]["kernel_drops"];
    CHECK(drops.is_number_integer());
    CHECK(drops.get<std::int64_t>() == 9007199254740991);
  }

  TEST_CASE("size caps: declared length, raw body and decompressed body") {
    Fixture f;  // max_body 4096
    std::string big = TinyPcap('a') + std::string(5000, 'x');
    RequestHead head;
    head.method = "PUT";
    head.target = "/v1/devices/gw-1/chunks/1";
    head.headers.Add("Authorization", "Bearer tok-1");
    head.headers.Add("Digest", DigestOf(big));
    head.content_length = big.size();
    auto early = f.api.Admit(head);
    REQUIRE(early.reject);
    CHECK(early.reject->status == 413);

    auto bomb = GzipCompress(TinyPcap('a') + std::string(1u << 20, '\0'));
    REQUIRE(bomb.ok());
    CHECK(bomb->size() < 4096);
    CHECK(f.PutChunk("gw-1", 1, *bomb, "tok-1",
                     {{"Digest", DigestOf(big)}, {"Content-Encoding", "gzip"}})
              .status == 413);
  }

  // Found by http_fuzzer: a read was admitted whatever its Content-Length, and
  // the transport's string body reserved that length (2^60: bad_alloc) before
  // the zero body limit applied. Refused at admission, before any body byte.
  TEST_CASE("a read that declares a body is refused at admission") {
    Fixture f;
    for (std::string target : {"/healthz", "/v1/results", "/v1/devices"}) {
      CAPTURE(target);
      RequestHead head;
      head.method = "GET";
      head.target = target;
      head.headers.Add("Authorization", "Bearer tok-op");
      head.content_length = 2125120192330829370ull;
      Admission a = f.api.Admit(head);
      REQUIRE(a.reject.has_value());
      CHECK(a.reject->status == 413);
      CHECK(a.reject->body.find("2125120192330829370") != std::string::npos);
      head.content_length = 0;  // an empty body is no body
      CHECK_FALSE(f.api.Admit(head).reject.has_value());
    }
  }

  TEST_CASE("tokens: 401 without or with a wrong token, 403 for another device or the operator") {
    Fixture f;
    const std::string a = TinyPcap('a');
    auto none = f.Call("PUT", "/v1/devices/gw-1/chunks/1", {{"Digest", DigestOf(a)}}, a);
    CHECK(none.status == 401);
    CHECK(none.headers.size() == 1);
    CHECK(f.PutChunk("gw-1", 1, a, "tok-x", {{"Digest", DigestOf(a)}}).status == 401);
    CHECK(f.PutChunk("gw-1", 1, a, "tok-2", {{"Digest", DigestOf(a)}}).status == 403);
    CHECK(f.PutChunk("gw-1", 1, a, "tok-op", {{"Digest", DigestOf(a)}}).status == 403);
    CHECK(f.Call("GET", "/v1/devices", {{"Authorization", "Bearer tok-1"}}).status == 403);
    CHECK(f.Call("GET", "/v1/devices", {{"Authorization", "bearer tok-op"}}).status == 200);
    CHECK(f.Call("GET", "/v1/devices", {{"Authorization", "Basic dG9rLW9w"}}).status == 401);
  }

  TEST_CASE("route errors only for a known credential: a stranger gets 401 on any path") {
    Fixture f;
    for (const char* path : {"/v1/nothing", "/v1/devices/a%2Fb/chunks", "/v2/x", "/ui/../etc"}) {
      CAPTURE(path);
      CHECK(f.Call("GET", path, {}).status == 401);
      CHECK(f.Call("GET", path, {{"Authorization", "Bearer tok-x"}}).status == 401);
    }
    CHECK(f.Call("GET", "/v1/nothing", {{"Authorization", "Bearer tok-op"}}).status == 404);
    CHECK(f.Call("GET", "/v1/nothing", {{"Authorization", "Bearer tok-1"}}).status == 404);
    CHECK(f.Call("DELETE", "/v1/devices", {{"Authorization", "Bearer tok-op"}}).status == 405);
    CHECK(f.Call("GET", "/", {}).status == 200);  // the page stays public
  }

  TEST_CASE("no token table: everything is allowed") {
    Fixture f;
    ApiHandler open(nullptr, f.db.get(), &f.store, 4096, &f.clock);
    RequestHead head;
    head.method = "GET";
    head.target = "/v1/devices";
    auto a = open.Admit(head);
    CHECK_FALSE(a.reject);
    CHECK(open.Handle(std::move(a), "").status == 200);
  }

  TEST_CASE("results and logs: NDJSON, Idempotency-Key, replay") {
    Fixture f;
    auto post = [&](std::string kind, std::string key, std::string body) {
      std::vector<std::pair<std::string, std::string>> h = {{"Authorization", "Bearer tok-1"}};
      if (!key.empty()) h.emplace_back("Idempotency-Key", key);
      return f.Call("POST", "/v1/devices/gw-1/" + kind, h, body);
    };
    auto ok = post("logs", "k1", "{\"m\":1}\n\n{\"m\":2}\r\n");
    CHECK(ok.status == 200);
    CHECK(Json(ok) == nlohmann::json{{"accepted", 2}, {"duplicate", false}});
    auto replay = post("logs", "k1", "{\"m\":1}\n\n{\"m\":2}\r\n");
    CHECK(Json(replay) == nlohmann::json{{"accepted", 0}, {"duplicate", true}});
    // The same key with another body is the client's bug, not a replay: 422, nothing stored.
    auto reused = post("logs", "k1", "{\"m\":3}\n");
    CHECK(reused.status == 422);
    CHECK(Json(reused)["error"].get<std::string>().find("Idempotency-Key \"k1\"") !=
          std::string::npos);

    CHECK(post("logs", "", "{\"m\":1}\n").status == 400);
    auto bad = post("results", "k2", "{\"ip\":\"10.0.0.1\"}\n[1,2]\n");
    CHECK(bad.status == 400);
    CHECK(Json(bad)["error"].get<std::string>().find("line 2") != std::string::npos);
    auto broken = post("results", "k3", "{\"ip\":\n");
    CHECK(Json(broken)["error"].get<std::string>().find("line 1") != std::string::npos);
    // A refused body does not burn its key.
    CHECK(Json(post("results", "k2", "{\"ip\":\"10.0.0.1\"}\n"))["accepted"] == 1);

    auto logs = f.Call("GET", "/v1/logs?device=gw-1", {{"Authorization", "Bearer tok-op"}});
    REQUIRE(logs.status == 200);
    CHECK(Json(logs).size() == 2);
    CHECK(f.Call("GET", "/v1/logs?since=x", {{"Authorization", "Bearer tok-op"}}).status == 400);
  }

  TEST_CASE("a line nested deeper than 32 levels is refused before parsing, naming the line") {
    Fixture f;
    std::vector<std::pair<std::string, std::string>> h = {{"Authorization", "Bearer tok-1"},
                                                          {"Idempotency-Key", "deep"}};
    // 100,000 [ once crashed the collector when an operator read the logs back (here 1,000:
    // the fixture caps bodies).
    std::string deep = "{\"m\":" + std::string(1000, '[') + std::string(1000, ']') + "}\n";
    auto refused = f.Call("POST", "/v1/devices/gw-1/logs", h, "{\"m\":1}\n" + deep);
    CHECK(refused.status == 400);
    CHECK(Json(refused)["error"].get<std::string>().find("line 2: JSON nesting deeper than 32") !=
          std::string::npos);
    // 32 levels are fine; brackets inside strings do not count.
    std::string ok32 = std::string(31, '[');
    ok32 = "{\"m\":" + ok32 + std::string(31, ']') + ",\"s\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}\n";
    h[1].second = "ok32";
    CHECK(f.Call("POST", "/v1/devices/gw-1/logs", h, ok32).status == 200);
  }

  TEST_CASE("NDJSON bounds: lines per request and bytes per line, 413 naming the limit") {
    using picket::collector::kMaxNdjsonLineBytes;
    using picket::collector::kMaxNdjsonLines;
    using picket::collector::LineKind;
    using picket::collector::ParseNdjson;
    std::string many;
    for (std::size_t i = 0; i <= kMaxNdjsonLines; ++i) many += "{}\n";
    auto too_many = ParseNdjson(many, LineKind::kLogs);
    REQUIRE_FALSE(too_many.ok());
    CHECK(too_many.status().code() == picket::StatusCode::kResourceExhausted);
    CHECK(too_many.status().message().find("more than 100000 lines") != std::string::npos);
    many.resize(many.size() - 3);
    CHECK(ParseNdjson(many, LineKind::kLogs).ok());
    const std::string long_line = "{\"m\":\"" + std::string(kMaxNdjsonLineBytes, 'x') + "\"}\n";
    auto too_long = ParseNdjson("{}\n" + long_line, LineKind::kLogs);
    REQUIRE_FALSE(too_long.ok());
    CHECK(too_long.status().message().find("line 2: ") == 0);
  }

  TEST_CASE("invalid UTF-8 in a path or a stored header still gives a JSON answer") {
    Fixture f;
    auto bad_id =
        f.Call("GET", "/v1/devices/\xff\xfe/chunks", {{"Authorization", "Bearer tok-op"}});
    CHECK(bad_id.status == 400);
    CHECK(Json(bad_id).contains("error"));
    const std::string a = TinyPcap('a');
    REQUIRE(f.PutChunk("gw-1", 1, a, "tok-1",
                       {{"Digest", DigestOf(a)}, {"X-Picket-Interface", "eth\xff"}})
                .status == 201);
    auto list = f.Call("GET", "/v1/devices/gw-1/chunks", {{"Authorization", "Bearer tok-op"}});
    CHECK(list.status == 200);
    // Stored escaped, as on MariaDB (whose utf8mb4 column refuses the raw byte).
    CHECK(Json(list)[0]["interface"] == "eth\\xff");
    const std::string b = TinyPcap('b');
    auto too_long =
        f.PutChunk("gw-1", 2, b, "tok-1",
                   {{"Digest", DigestOf(b)}, {"X-Picket-Interface", std::string(257, 'e')}});
    CHECK(too_long.status == 400);
    CHECK(Json(too_long)["error"] == "X-Picket-Interface of 257 bytes is longer than 256");
  }

  TEST_CASE("header text: valid UTF-8 kept, other bytes, controls and backslash escaped") {
    CHECK(PrintableHeaderText("eth0") == "eth0");
    CHECK(PrintableHeaderText("br-lan.\xc3\xa9t\xc3\xa9") == "br-lan.\xc3\xa9t\xc3\xa9");
    CHECK(PrintableHeaderText("\xc3\xa9\xe2\x82\xac\xf0\x9f\x93\xa1") ==
          "\xc3\xa9\xe2\x82\xac\xf0\x9f\x93\xa1");
    CHECK(PrintableHeaderText("a\\b") == "a\\x5cb");
    CHECK(PrintableHeaderText(std::string("a\x01\x7f", 3)) == "a\\x01\\x7f");
    CHECK(PrintableHeaderText("\xc0\xaf") == "\\xc0\\xaf");                    // overlong '/'
    CHECK(PrintableHeaderText("\xed\xa0\x80") == "\\xed\\xa0\\x80");           // a surrogate
    CHECK(PrintableHeaderText("\xf4\x90\x80\x80") == "\\xf4\\x90\\x80\\x80");  // past U+10FFFF
    CHECK(PrintableHeaderText("\xe2\x82") == "\\xe2\\x82");                    // cut short
    CHECK(PrintableHeaderText(std::string_view("\0x", 2)) == "\\x00x");
  }

  TEST_CASE("Digest header parsing") {
    const std::string b64 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    CHECK(*Sha256FromDigestHeader("sha-256=" + b64) == b64);
    CHECK(*Sha256FromDigestHeader("md5=abc, SHA-256=" + b64) == b64);
    CHECK(*Sha256FromDigestHeader("sha-256=:" + b64 + ":") == b64);
    CHECK_FALSE(Sha256FromDigestHeader("").ok());
    CHECK_FALSE(Sha256FromDigestHeader("md5=abc").ok());
    CHECK_FALSE(Sha256FromDigestHeader("sha-256=short").ok());
  }
}

}  // namespace picket::collector
