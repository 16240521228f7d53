// Drives the real `picket collector` binary over loopback HTTP(S): the device
// upload contract (common/wire.h), tokens, limits, idempotency, the operator
// reads, startup errors and graceful shutdown.
#include <doctest/doctest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "collector/gunzip.h"
#include "picket/buffer/buffer_store.h"
#include "picket/upload/http_uploader.h"
#include "picket/common/digest.h"
#include "picket/common/file_io.h"
#include "support/collector_process.h"
#include "support/http_client.h"
#include "support/require_server.h"

namespace picket::testing {

namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const std::string kTokens =
    "# device tokens for the integration tests\n"
    "gw-1 tok-gw-1-0123456789\n"
    "gw-2 tok-gw-2-0123456789\n"
    "@operator tok-operator-0123456789\n";
const std::string kDevice1 = "Authorization: Bearer tok-gw-1-0123456789";
const std::string kDevice2 = "Authorization: Bearer tok-gw-2-0123456789";
const std::string kOperator = "Authorization: Bearer tok-operator-0123456789";

// A classic little-endian pcap with one Ethernet-sized packet of `fill` bytes.
std::string Pcap(char fill, std::size_t payload = 60) {
  auto le32 = [](std::uint32_t v) {
    std::string s(4, '\0');
    for (int i = 0; i < 4; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
    return s;
  };
  std::string p = le32(0xa1b2c3d4) + std::string("\x02\x00\x04\x00", 4) + le32(0) + le32(0) +
                  le32(65535) + le32(1);
  p += le32(1'700'000'000) + le32(0) + le32(static_cast<std::uint32_t>(payload)) +
       le32(static_cast<std::uint32_t>(payload));
  p += std::string(payload, fill);
  return p;
}

std::string DigestHeader(std::string_view body) {
  Sha256 h;
  h.Update(body);
  auto d = h.Finish();
  return "Digest: sha-256=" + Base64Encode(d.data(), d.size());
}

std::unique_ptr<CollectorProcess> StartCollector(CollectorConfig config = {kTokens, {}}) {
  auto c = CollectorProcess::Start(config);
  if (!c.ok()) FAIL("collector did not start: " << c.status().ToString());
  return std::move(c).value();
}

HttpResponse Call(HttpRequest request) {
  auto r = Perform(request);
  if (!r.ok()) FAIL(r.status().ToString());
  return *r;
}

HttpResponse PutChunk(const CollectorProcess& c, const std::string& device, std::uint64_t seq,
                      const std::string& body, std::vector<std::string> headers) {
  return Call({"PUT", c.url() + "/v1/devices/" + device + "/chunks/" + std::to_string(seq),
               std::move(headers), body});
}

HttpResponse Get(const CollectorProcess& c, const std::string& path,
                 const std::string& auth = kOperator) {
  return Call({"GET", c.url() + path, {auth}, ""});
}

std::string ErrorOf(const HttpResponse& r) {
  auto j = json::parse(r.body, nullptr, false);
  return j.is_object() && j.contains("error") ? j["error"].get<std::string>() : r.body;
}

// The head of a PUT whose body the test sends later, by hand.
std::string PutHead(const std::string& device, std::uint64_t seq, const std::string& body) {
  return "PUT /v1/devices/" + device + "/chunks/" + std::to_string(seq) +
         " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + kDevice1 + "\r\n" + DigestHeader(body) +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
}

// Two PUTs stall half-way through their bodies while --max-inflight is 1:
// the collector must refuse exactly one of them with 429, which also proves
// that the other one holds the only slot. Returns the holder.
struct StalledPair {
  std::optional<RawConnection> first, second;
  RawConnection* holder = nullptr;
  std::string holder_body;
  std::string refused_response;
};

void StallTwoPuts(const CollectorProcess& c, StalledPair& pair, std::uint64_t seq) {
  const std::string body_a = Pcap('a', 500), body_b = Pcap('b', 500);
  auto a = RawConnection::Connect(c.host(), c.port());
  auto b = RawConnection::Connect(c.host(), c.port());
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  pair.first.emplace(std::move(*a));
  pair.second.emplace(std::move(*b));
  REQUIRE(pair.first->Send(PutHead("gw-1", seq, body_a) + body_a.substr(0, 100)).ok());
  REQUIRE(pair.second->Send(PutHead("gw-1", seq + 1, body_b) + body_b.substr(0, 100)).ok());
  auto which = RawConnection::FirstReadable({&*pair.first, &*pair.second}, After(10s));
  REQUIRE_MESSAGE(which.ok(), which.status().ToString() << "\n" << c.Log());
  RawConnection& refused = *which == 0 ? *pair.first : *pair.second;
  pair.holder = *which == 0 ? &*pair.second : &*pair.first;
  pair.holder_body = *which == 0 ? body_b : body_a;
  auto status = refused.ReadResponse(After(10s), &pair.refused_response);
  REQUIRE(status.ok());
  REQUIRE_MESSAGE(*status == 429, pair.refused_response);
}

}  // namespace

TEST_SUITE("integration.collector") {
  TEST_CASE(
      "PUT chunk: 201, 200 on an identical retry, 409 on other bytes, list and bytes round-trip") {
    auto c = StartCollector();
    const std::string a = Pcap('a'), b = Pcap('b');
    auto created = PutChunk(
        *c, "gw-1", 1, a,
        {kDevice1, DigestHeader(a), "X-Picket-Packets: 1", "X-Picket-First-Ts-Us: 1700000000000000",
         "X-Picket-Last-Ts-Us: 1700000000000000", "X-Picket-Kernel-Drops: 3",
         "X-Picket-Interface-Drops: 0", "X-Picket-Gap-Before-Ms: 250", "X-Picket-Interface: eth0",
         "X-Picket-Evicted-Chunks: 4", "X-Picket-Evicted-Bytes: 4096"});
    CHECK_MESSAGE(created.status == 201, created.body);
    auto retry = PutChunk(*c, "gw-1", 1, a, {kDevice1, DigestHeader(a)});
    CHECK_MESSAGE(retry.status == 200, retry.body);
    auto conflict = PutChunk(*c, "gw-1", 1, b, {kDevice1, DigestHeader(b)});
    CHECK(conflict.status == 409);
    CHECK(ErrorOf(conflict).find(Sha256Hex(a)) != std::string::npos);
    CHECK(PutChunk(*c, "gw-1", 2, b, {kDevice1, DigestHeader(b)}).status == 201);

    // The chunk file is where the design says, with the first body's bytes.
    auto on_disk = ReadWholeFile(c->data_dir() + "/chunks/gw-1/000000000001.pcap");
    REQUIRE(on_disk.ok());
    CHECK(*on_disk == a);
    // Captured traffic and the database are the collector's user's only.
    namespace fs = std::filesystem;
    auto mode = [](const std::string& path) {
      return fs::status(path).permissions() & fs::perms::mask;
    };
    CHECK(mode(c->data_dir()) == fs::perms::owner_all);
    CHECK(mode(c->data_dir() + "/chunks/gw-1") == fs::perms::owner_all);
    CHECK(mode(c->data_dir() + "/chunks/gw-1/000000000001.pcap") ==
          (fs::perms::owner_read | fs::perms::owner_write));
    CHECK(mode(c->data_dir() + "/collector.db") ==
          (fs::perms::owner_read | fs::perms::owner_write));

    auto list = Get(*c, "/v1/devices/gw-1/chunks");
    REQUIRE(list.status == 200);
    auto chunks = json::parse(list.body);
    REQUIRE(chunks.size() == 2);
    CHECK(chunks[0]["seq"] == 1);
    CHECK(chunks[0]["sha256"] == Sha256Hex(a));
    CHECK(chunks[0]["bytes"] == a.size());
    CHECK(chunks[0]["packets"] == 1);
    CHECK(chunks[0]["kernel_drops"] == 3);
    CHECK(chunks[0]["gap_before_ms"] == 250);
    CHECK(chunks[0]["interface"] == "eth0");
    CHECK(chunks[1]["seq"] == 2);

    auto bytes = Get(*c, "/v1/devices/gw-1/chunks/1");
    CHECK(bytes.status == 200);
    CHECK(bytes.Header("Content-Type") == "application/vnd.tcpdump.pcap");
    CHECK(bytes.body == a);
    CHECK(Get(*c, "/v1/devices/gw-1/chunks/9").status == 404);

    auto devices = json::parse(Get(*c, "/v1/devices").body);
    REQUIRE(devices.size() == 1);
    CHECK(devices[0]["id"] == "gw-1");
    CHECK(devices[0]["chunks"] == 2);
    CHECK(devices[0]["evicted_chunks"] == 4);
    CHECK(devices[0]["evicted_bytes"] == 4096);
  }

  TEST_CASE("PUT chunk: 400 for a bad or missing digest and for a body that is not a pcap") {
    auto c = StartCollector();
    const std::string a = Pcap('a');
    auto wrong = PutChunk(*c, "gw-1", 1, a, {kDevice1, DigestHeader("something else")});
    CHECK(wrong.status == 400);
    CHECK(ErrorOf(wrong).find("Digest mismatch") != std::string::npos);
    auto missing = PutChunk(*c, "gw-1", 1, a, {kDevice1});
    CHECK(missing.status == 400);
    CHECK(ErrorOf(missing).find("Digest") != std::string::npos);
    const std::string text = "GET / HTTP/1.1 is not a capture file, whatever its digest says";
    auto not_pcap = PutChunk(*c, "gw-1", 1, text, {kDevice1, DigestHeader(text)});
    CHECK(not_pcap.status == 400);
    CHECK(ErrorOf(not_pcap).find("not a pcap") != std::string::npos);
    CHECK(PutChunk(*c, "gw-1", 1, a, {kDevice1, DigestHeader(a), "X-Picket-Packets: -4"}).status ==
          400);
    auto bad_switch =
        PutChunk(*c, "gw-1", 1, a, {kDevice1, DigestHeader(a), "X-Picket-Switched-At-Us: 17x"});
    CHECK(bad_switch.status == 400);
    CHECK(ErrorOf(bad_switch).find("X-Picket-Switched-At-Us") != std::string::npos);
    CHECK(PutChunk(*c, "gw-1", 1, a, {kDevice1, DigestHeader(a)}).status ==
          201);  // nothing was stored before
  }

  TEST_CASE("gzip bodies are accepted, oversized bodies and zip bombs get 413") {
    auto c = StartCollector({kTokens, {"--max-body", "1MiB"}});
    const std::string a = Pcap('z', 1000);
    auto gz = collector::GzipCompress(a);
    REQUIRE(gz.ok());
    auto created =
        PutChunk(*c, "gw-1", 1, *gz, {kDevice1, DigestHeader(a), "Content-Encoding: gzip"});
    CHECK_MESSAGE(created.status == 201, created.body);
    CHECK(Get(*c, "/v1/devices/gw-1/chunks/1").body == a);  // stored decompressed

    const std::string big = Pcap('x', (1u << 20) + 1);
    auto oversized = PutChunk(*c, "gw-1", 2, big, {kDevice1, DigestHeader(big)});
    CHECK(oversized.status == 413);
    CHECK(ErrorOf(oversized).find("1048576") != std::string::npos);

    // 64 MiB of zeros behind a pcap header: ~64 KiB on the wire.
    const std::string zeros = Pcap('\0', 64u << 20);
    auto bomb = collector::GzipCompress(zeros);
    REQUIRE(bomb.ok());
    CHECK(bomb->size() < (1u << 20));
    auto refused =
        PutChunk(*c, "gw-1", 3, *bomb, {kDevice1, DigestHeader(zeros), "Content-Encoding: gzip"});
    CHECK(refused.status == 413);

    // Results and logs have the same cap.
    std::string lines;
    while (lines.size() <= (1u << 20)) lines += "{\"msg\":\"" + std::string(100, 'm') + "\"}\n";
    auto many = Call(
        {"POST", c->url() + "/v1/devices/gw-1/logs", {kDevice1, "Idempotency-Key: big"}, lines});
    CHECK(many.status == 413);
    // The collector is still healthy afterwards.
    CHECK(Get(*c, "/v1/devices").status == 200);
  }

  TEST_CASE("Expect: 100-continue is answered, and chunked bodies count against the cap") {
    auto c = StartCollector({kTokens, {"--max-body", "1MiB"}});
    auto conn = RawConnection::Connect(c->host(), c->port());
    REQUIRE(conn.ok());
    const std::string a = Pcap('e', 2000);
    std::string head = PutHead("gw-1", 1, a);
    head.insert(head.size() - 2, "Expect: 100-continue\r\n");
    REQUIRE(conn->Send(head).ok());
    CHECK(*conn->ReadResponse(After(10s)) == 100);
    REQUIRE(conn->Send(a).ok());
    CHECK(*conn->ReadResponse(After(10s)) == 201);

    // Refused before the body: the client never has to send it.
    const std::string big = Pcap('b', 2u << 20);
    std::string big_head = PutHead("gw-1", 2, big);
    big_head.insert(big_head.size() - 2, "Expect: 100-continue\r\n");
    REQUIRE(conn->Send(big_head).ok());
    CHECK(*conn->ReadResponse(After(10s)) == 413);

    auto chunked_put = [&](std::uint64_t seq, const std::string& body) -> int {
      auto raw = RawConnection::Connect(c->host(), c->port());
      REQUIRE(raw.ok());
      std::string request = "PUT /v1/devices/gw-1/chunks/" + std::to_string(seq) +
                            " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + kDevice1 + "\r\n" +
                            DigestHeader(body) + "\r\nTransfer-Encoding: chunked\r\n\r\n";
      for (std::size_t off = 0; off < body.size(); off += 256 * 1024) {
        std::string piece = body.substr(off, 256 * 1024);
        char size[32];
        std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
        request += size + piece + "\r\n";
      }
      request += "0\r\n\r\n";
      REQUIRE(raw->Send(request).ok());
      auto status = raw->ReadResponse(After(10s));
      REQUIRE(status.ok());
      return *status;
    };
    CHECK(chunked_put(3, Pcap('c', 600 * 1024)) == 201);
    CHECK(chunked_put(4, Pcap('c', 1536 * 1024)) == 413);
    CHECK(Get(*c, "/v1/devices/gw-1/chunks/3").body == Pcap('c', 600 * 1024));
  }

  TEST_CASE("a chunk body goes to its file as it arrives: memory stays flat, an abort leaves nothing") {
    auto c = StartCollector({kTokens, {"--max-body", "256MiB"}});
    const std::string device_dir = c->data_dir() + "/chunks/gw-1";
    auto kib_of = [&](const char* field) -> std::int64_t {  // VmRSS / VmHWM of the collector
      std::ifstream status("/proc/" + std::to_string(c->process().pid()) + "/status");
      std::string line;
      while (std::getline(status, line)) {
        if (line.rfind(field, 0) == 0) return std::atoll(line.c_str() + std::strlen(field));
      }
      return -1;
    };
    auto temp_file_bytes = [&]() -> std::int64_t {  // the one PendingFile temp, -1 if none
      std::error_code ec;
      for (const auto& f : std::filesystem::directory_iterator(device_dir, ec)) {
        if (IsPendingFileName(f.path().filename().string()))
          return static_cast<std::int64_t>(f.file_size(ec));
      }
      return -1;
    };
    // A warm-up chunk creates the device's directory and the database's pages.
    const std::string small = Pcap('w', 1000);
    REQUIRE(PutChunk(*c, "gw-1", 1, small, {kDevice1, DigestHeader(small)}).status == 201);
    const std::int64_t hwm_before = kib_of("VmHWM:");
    REQUIRE(hwm_before > 0);

    // 96 MiB in 1,536 records of 64 KiB: half of it sent, then the test waits.
    std::string big = Pcap('B', 65536);
    const std::string record = big.substr(24);
    big.reserve(24 + 1536 * record.size());
    for (int i = 1; i < 1536; ++i) big += record;
    std::optional<RawConnection> conn;
    {
      auto connected = RawConnection::Connect(c->host(), c->port());
      REQUIRE(connected.ok());
      conn.emplace(std::move(*connected));
    }
    REQUIRE(conn->Send(PutHead("gw-1", 2, big) + big.substr(0, big.size() / 2)).ok());
    const std::int64_t half = static_cast<std::int64_t>(big.size() / 2);
    REQUIRE_MESSAGE(WaitFor([&] { return temp_file_bytes() >= half - (1 << 20); }, After(20s)),
                    "the temp file holds " << temp_file_bytes() << " of the " << half
                                           << " bytes sent\n" << c->Log());
    const std::int64_t rss_mid = kib_of("VmRSS:");
    MESSAGE("48 MiB of the body on disk: collector RSS " << rss_mid << " KiB, peak before "
                                                         << hwm_before << " KiB");
    CHECK(rss_mid < hwm_before + 16 * 1024);  // a buffered body would add 48 MiB

    // The client goes away: its temp file goes with it, nothing is stored.
    conn.reset();
    CHECK_MESSAGE(WaitFor([&] { return temp_file_bytes() < 0; }, After(10s)), c->Log());
    CHECK(Get(*c, "/v1/devices/gw-1/chunks/2").status == 404);

    // Whole, raw and gzip: stored byte for byte, peak memory still far below the body.
    auto raw = PutChunk(*c, "gw-1", 2, big, {kDevice1, DigestHeader(big)});
    CHECK_MESSAGE(raw.status == 201, raw.body);
    auto gz = collector::GzipCompress(big);
    REQUIRE(gz.ok());
    auto zipped = PutChunk(*c, "gw-1", 3, *gz, {kDevice1, DigestHeader(big), "Content-Encoding: gzip"});
    CHECK_MESSAGE(zipped.status == 201, zipped.body);
    const std::int64_t hwm_after = kib_of("VmHWM:");
    MESSAGE("peak RSS after two 96 MiB chunks: " << hwm_after << " KiB (before " << hwm_before
                                                 << " KiB)");
    CHECK(hwm_after < hwm_before + 24 * 1024);
    for (std::uint64_t seq : {2u, 3u}) {
      std::ifstream stored(c->data_dir() + "/chunks/gw-1/00000000000" + std::to_string(seq) +
                               ".pcap",
                           std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(stored)), std::istreambuf_iterator<char>());
      CHECK(bytes.size() == big.size());
      CHECK(Sha256Hex(bytes) == Sha256Hex(big));
    }
    auto listed = json::parse(Get(*c, "/v1/devices/gw-1/chunks").body);
    REQUIRE(listed.size() == 3);
    CHECK(listed[1]["packets"] == 1536);
    CHECK(temp_file_bytes() < 0);
  }

  TEST_CASE("a disk that fills while a chunk arrives is a 503 to retry, never a 413, and leaves no file") {
    if (geteuid() != 0) {
      if (InCi()) FAIL("mounting a small tmpfs needs root (CI=true)");
      MESSAGE("skipped: mounting a small tmpfs needs root");
      return;
    }
    auto c = StartCollector();
    const std::string small = Pcap('s', 1000);
    REQUIRE(PutChunk(*c, "gw-1", 1, small, {kDevice1, DigestHeader(small)}).status == 201);
    // The device's chunk directory becomes a 1 MiB file system; a 2 MiB chunk cannot fit.
    const std::string device_dir = c->data_dir() + "/chunks/gw-1";
    REQUIRE(std::system(("mount -t tmpfs -o size=1m,mode=0700 picket-test-full " + device_dir).c_str()) == 0);
    struct Mounted {
      std::string dir;
      bool on = true;
      void Unmount() {
        if (std::exchange(on, false)) (void)std::system(("umount " + dir).c_str());
      }
      ~Mounted() { Unmount(); }
    } mounted{device_dir};
    const std::string big = Pcap('F', 2u << 20);
    auto full = PutChunk(*c, "gw-1", 2, big, {kDevice1, DigestHeader(big)});
    CHECK_MESSAGE(full.status == 503, full.body);
    CHECK(full.body.find("write chunk file") != std::string::npos);
    CHECK(full.Header("retry-after") == "5");
    std::error_code ec;
    CHECK(std::filesystem::is_empty(device_dir, ec));  // the temp file went with the refusal
    CHECK(Get(*c, "/v1/devices/gw-1/chunks/2").status == 404);
    // Room again: the retry is stored.
    mounted.Unmount();
    auto retry = PutChunk(*c, "gw-1", 2, big, {kDevice1, DigestHeader(big)});
    CHECK_MESSAGE(retry.status == 201, retry.body);
  }

  TEST_CASE("picketd's uploader: a large chunk waits for 100 Continue, so a refusal costs no body") {
    auto c = StartCollector();
    upload::InitHttpGlobals();
    TempDir dir;
    std::string big = Pcap('L', 60000);
    for (int i = 1; i < 40; ++i) big += Pcap('L', 60000).substr(24);  // ~2.3 MiB, 40 packets
    buffer::ChunkMeta chunk;
    chunk.seq = 7;
    chunk.file = dir.Write("chunk.pcap", big);
    chunk.bytes = big.size();
    chunk.packets = 40;
    chunk.interface = "lo";
    auto refused = upload::MakeCurlUploader({"gw-1", "not-a-token", "", false});
    const upload::UploadResult no = refused->PutChunk(c->url(), chunk, {});
    CHECK(no.http_status == 401);
    CHECK(no.bytes_sent < 64 * 1024);  // the body never left (it would be 2.3 MiB)
    auto device = upload::MakeCurlUploader({"gw-1", "tok-gw-1-0123456789", "", false});
    const upload::UploadResult yes = device->PutChunk(c->url(), chunk, {});
    CHECK(yes.http_status == 201);
    CHECK(yes.bytes_sent == big.size());
    CHECK(Get(*c, "/v1/devices/gw-1/chunks/7").body == big);
  }

  TEST_CASE("picketd's uploader sends zstd by default, and gzip to a collector that refuses zstd") {
    auto c = StartCollector();
    upload::InitHttpGlobals();
    TempDir dir;
    std::string pcap = Pcap('Z', 1400);
    for (int i = 1; i < 300; ++i) pcap += Pcap(static_cast<char>('a' + i % 7), 1400).substr(24);
    buffer::ChunkMeta chunk;
    chunk.seq = 5;
    chunk.file = dir.Write("chunk.pcap", pcap);
    chunk.bytes = pcap.size();
    chunk.packets = 300;
    chunk.interface = "lo";
    auto device = upload::MakeCurlUploader({"gw-1", "tok-gw-1-0123456789"});  // defaults: zstd
    const upload::UploadResult sent = device->PutChunk(c->url(), chunk, {});
    CHECK_MESSAGE(sent.http_status == 201, sent.error);
    CHECK(sent.bytes_sent < pcap.size() / 4);  // compressed on the wire
    CHECK(Get(*c, "/v1/devices/gw-1/chunks/5").body == pcap);  // stored as captured

    // A collector from before zstd: 415 for a zstd body, 201 for anything else.
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listener >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listener, 4) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    std::vector<std::string> encodings;
    std::thread old_collector([&] {
      for (int n = 0; n < 2; ++n) {
        pollfd p{listener, POLLIN, 0};
        if (::poll(&p, 1, 10000) != 1) return;
        const int conn = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (conn < 0) return;
        timeval tv{10, 0};
        ::setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        std::string got;
        char buf[65536];
        // Head, then a chunked body up to its last chunk (picketd streams compressed bodies).
        while (got.find("\r\n0\r\n\r\n") == std::string::npos) {
          const ssize_t r = ::recv(conn, buf, sizeof buf, 0);
          if (r <= 0) break;
          got.append(buf, static_cast<std::size_t>(r));
        }
        const bool zstd = got.find("Content-Encoding: zstd") != std::string::npos;
        encodings.push_back(zstd ? "zstd" : got.find("Content-Encoding: gzip") != std::string::npos ? "gzip" : "none");
        const std::string body = zstd ? R"j({"error":"Content-Encoding 'zstd' is not supported (use gzip)"})j"
                                      : R"({"stored":true})";
        const std::string answer = std::string("HTTP/1.1 ") + (zstd ? "415 Unsupported Media Type" : "201 Created") +
                                   "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
                                   std::to_string(body.size()) + "\r\n\r\n" + body;
        (void)::send(conn, answer.data(), answer.size(), MSG_NOSIGNAL);
        ::close(conn);
      }
    });
    auto to_old = upload::MakeCurlUploader({"gw-1", "tok"});
    const std::string old_url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
    const upload::UploadResult fallback = to_old->PutChunk(old_url, chunk, {});
    old_collector.join();
    ::close(listener);
    CHECK_MESSAGE(fallback.http_status == 201, fallback.error);
    REQUIRE(encodings.size() == 2);
    CHECK(encodings[0] == "zstd");
    CHECK(encodings[1] == "gzip");
  }

  TEST_CASE("tokens: 401 without or with an unknown token, 403 for another device's id") {
    auto c = StartCollector();
    const std::string a = Pcap('a');
    auto none = PutChunk(*c, "gw-1", 1, a, {DigestHeader(a)});
    CHECK(none.status == 401);
    CHECK(none.Header("WWW-Authenticate") == "Bearer");
    CHECK(PutChunk(*c, "gw-1", 1, a, {"Authorization: Bearer nope", DigestHeader(a)}).status ==
          401);
    auto other = PutChunk(*c, "gw-1", 1, a, {kDevice2, DigestHeader(a)});
    CHECK(other.status == 403);
    CHECK(ErrorOf(other).find("gw-2") != std::string::npos);
    CHECK(PutChunk(*c, "gw-1", 1, a, {kOperator, DigestHeader(a)}).status == 403);
    CHECK(
        Call({"POST", c->url() + "/v1/devices/gw-1/logs", {kDevice2, "Idempotency-Key: k"}, "{}\n"})
            .status == 403);
    CHECK(Get(*c, "/v1/devices", kDevice1).status == 403);
    CHECK(Get(*c, "/v1/devices", "Authorization: Bearer nope").status == 401);
    CHECK(json::parse(Get(*c, "/v1/devices").body).empty());  // nothing got in
  }

  TEST_CASE("results and logs: stored once per Idempotency-Key") {
    auto c = StartCollector();
    auto post = [&](const std::string& kind, const std::string& key, const std::string& body,
                    std::vector<std::string> extra = {}) {
      extra.push_back(kDevice1);
      if (!key.empty()) extra.push_back("Idempotency-Key: " + key);
      extra.push_back("Content-Type: application/x-ndjson");
      return Call({"POST", c->url() + "/v1/devices/gw-1/" + kind, extra, body});
    };
    const std::string results =
        "{\"job\":\"j1\",\"ip\":\"10.0.0.1\",\"port\":22,\"proto\":\"tcp\",\"state\":\"open\"}\n"
        "{\"job\":\"j1\",\"ip\":\"10.0.0.2\",\"port\":80,\"proto\":\"tcp\",\"state\":\"open\"}\n";
    auto first = post("results", "batch-1", results);
    CHECK(first.status == 200);
    CHECK(json::parse(first.body) == json{{"accepted", 2}, {"duplicate", false}});
    auto replay = post("results", "batch-1", results);
    CHECK(replay.status == 200);
    CHECK(json::parse(replay.body) == json{{"accepted", 0}, {"duplicate", true}});
    // A new batch that finds the same open port refreshes it instead of adding a row.
    auto gz = collector::GzipCompress(results.substr(0, results.find('\n') + 1));
    REQUIRE(gz.ok());
    CHECK(json::parse(
              post("results", "batch-2", *gz, {"Content-Encoding: gzip"}).body)["accepted"] == 1);
    auto rows = json::parse(Get(*c, "/v1/results?device=gw-1&job=j1").body);
    REQUIRE(rows.size() == 2);
    CHECK(rows[0]["ip"] == "10.0.0.1");
    CHECK(rows[0]["seen"] == 2);
    CHECK(rows[0]["result"]["state"] == "open");

    auto missing_key = post("logs", "", "{\"msg\":\"x\"}\n");
    CHECK(missing_key.status == 400);
    CHECK(ErrorOf(missing_key).find("Idempotency-Key") != std::string::npos);
    auto bad_line = post("logs", "l-0", "{\"msg\":\"ok\"}\n\"just a string\"\n");
    CHECK(bad_line.status == 400);
    CHECK(ErrorOf(bad_line).find("line 2") != std::string::npos);

    const std::string logs =
        "{\"level\":\"info\",\"msg\":\"one\"}\n{\"level\":\"warn\",\"msg\":\"two\"}\n";
    CHECK(json::parse(post("logs", "l-1", logs).body)["accepted"] == 2);
    CHECK(json::parse(post("logs", "l-1", logs).body)["duplicate"] == true);
    auto stored = json::parse(Get(*c, "/v1/logs?device=gw-1").body);
    REQUIRE(stored.size() == 2);
    CHECK(stored[1]["line"]["msg"] == "two");
    auto after = json::parse(
        Get(*c, "/v1/logs?device=gw-1&since=" + std::to_string(stored[0]["id"].get<int>())).body);
    CHECK(after.size() == 1);
  }

  TEST_CASE("unknown paths 404, wrong methods 405, bad ids 400") {
    auto c = StartCollector();
    CHECK(Get(*c, "/v1/nothing").status == 404);
    CHECK(Get(*c, "/").status == 200);  // the page (config/API.md "The page")
    CHECK(Get(*c, "/nothing").status == 404);
    auto del = Call({"DELETE", c->url() + "/v1/devices/gw-1/chunks/1", {kOperator}, ""});
    CHECK(del.status == 405);
    CHECK(del.Header("Allow") == "GET, PUT");
    CHECK(Call({"POST", c->url() + "/v1/devices", {kOperator}, "{}"}).status == 405);
    CHECK(Get(*c, "/v1/devices/bad%2Fid/chunks").status == 400);
    const std::string a = Pcap('a');
    CHECK(PutChunk(*c, "gw-1", 1, a, {kDevice1, DigestHeader(a)}).status == 201);
    auto bad_seq =
        Call({"PUT", c->url() + "/v1/devices/gw-1/chunks/-1", {kDevice1, DigestHeader(a)}, a});
    CHECK(bad_seq.status == 400);
  }

  TEST_CASE("429 with Retry-After beyond --max-inflight uploads, reads and heartbeats apart") {
    auto c = StartCollector({kTokens, {"--max-inflight", "1"}});
    StalledPair pair;
    StallTwoPuts(*c, pair, 1);
    CHECK(pair.refused_response.find("Retry-After: 1\r\n") != std::string::npos);
    CHECK(pair.refused_response.find("in flight") != std::string::npos);
    // Operator reads and heartbeats have their own slots: never 429 behind stalled uploads.
    CHECK(Get(*c, "/v1/devices").status == 200);
    // The read's own slot (one here) is given back just after its response is
    // out: the heartbeat may find it still taken for a moment, never for long.
    CHECK(WaitFor([&] {
      return Call({"POST", c->url() + "/v1/devices/gw-1/status",
                   {kDevice1, "Content-Type: application/json"}, R"({"device":"gw-1"})"})
                 .status != 429;
    }, After(5s)));

    const std::string& body = pair.holder_body;
    REQUIRE(pair.holder->Send(body.substr(100)).ok());
    auto status = pair.holder->ReadResponse(After(10s));
    REQUIRE(status.ok());
    CHECK(*status == 201);
    // The slot is free again once that response is out.
    CHECK(WaitFor([&] { return Get(*c, "/v1/devices").status == 200; }, After(10s)));
  }

  TEST_CASE(
      "SIGTERM: stop accepting, close idle connections, finish the request in flight, exit 0") {
    auto c = StartCollector({kTokens, {"--max-inflight", "1"}});
    auto idle = RawConnection::Connect(c->host(), c->port());
    REQUIRE(idle.ok());
    StalledPair pair;
    StallTwoPuts(*c, pair, 7);

    REQUIRE(c->process().Signal(SIGTERM).ok());
    CHECK(WaitFor([&] { return !RawConnection::Connect(c->host(), c->port()).ok(); }, After(10s)));
    auto closed = idle->ClosedByPeer(After(10s));
    REQUIRE(closed.ok());
    CHECK(*closed);

    const std::string& body = pair.holder_body;
    REQUIRE(pair.holder->Send(body.substr(100)).ok());
    std::string raw;
    auto status = pair.holder->ReadResponse(After(10s), &raw);
    REQUIRE_MESSAGE(status.ok(), status.status().ToString() << "\n" << c->Log());
    CHECK(*status == 201);
    CHECK(raw.find("Connection: close") != std::string::npos);

    auto code = c->process().WaitForExit(After(15s));
    REQUIRE_MESSAGE(code.ok(), c->Log());
    CHECK_MESSAGE(*code == 0, c->Log());
    const std::string seq = pair.holder == &*pair.first ? "7" : "8";
    CHECK(ReadWholeFile(c->data_dir() + "/chunks/gw-1/00000000000" + seq + ".pcap").value() ==
          body);
    CHECK(c->Log().find("shutting down") != std::string::npos);
  }

  TEST_CASE("every request is logged in one line") {
    auto c = StartCollector();
    const std::string a = Pcap('a');
    REQUIRE(PutChunk(*c, "gw-1", 3, a, {kDevice1, DigestHeader(a)}).status == 201);
    const std::string expected =
        "request method=PUT path=/v1/devices/gw-1/chunks/3 device=gw-1 status=201 bytes=" +
        std::to_string(a.size());
    CHECK(WaitFor([&] { return c->Log().find(expected) != std::string::npos; }, After(10s)));
    CHECK(c->Log().find("listening address=127.0.0.1:" + std::to_string(c->port())) !=
          std::string::npos);
  }

  TEST_CASE("startup errors: one line naming the problem and a non-zero exit") {
    TempDir dir;
    const std::string tokens = dir.path() + "/tokens", bad_tokens = dir.path() + "/bad-tokens",
                      plain_tokens = dir.path() + "/plain-tokens";
    REQUIRE(WriteWholeFile(tokens, HashTokenLines(kTokens)).ok());
    REQUIRE(WriteWholeFile(bad_tokens, HashTokenLines("gw-1 tok\ngw/2 tok2\n")).ok());
    REQUIRE(WriteWholeFile(plain_tokens, "# old\ngw-1 plaintext-token\n").ok());
    REQUIRE(WriteWholeFile(dir.path() + "/a-file", "x").ok());
    auto running = StartCollector();
    const std::string data = dir.path() + "/data";

    struct Case {
      std::vector<std::string> args;
      int exit_code;
      std::string mentions;
    };
    const Case cases[] = {
        {{"--listen", "127.0.0.1:0", "--data", data, "--tokens", tokens, "--bogus"}, 2, "--bogus"},
        {{"--listen", "127.0.0.1:0", "--data", data}, 2, "--insecure-no-auth"},
        {{"--listen", "nowhere:0", "--data", data, "--tokens", tokens}, 2, "--listen"},
        {{"--listen", "127.0.0.1:0", "--data", data, "--tokens", dir.path() + "/none"},
         1,
         dir.path() + "/none"},
        {{"--listen", "127.0.0.1:0", "--data", data, "--tokens", bad_tokens}, 1, bad_tokens + ":2"},
        {{"--listen", "127.0.0.1:0", "--data", data, "--tokens", plain_tokens},
         1,
         plain_tokens + ":2: the token of 'gw-1' is not 'sha256:<64 hex digits>'"},
        {{"--listen", "127.0.0.1:0", "--data", dir.path() + "/a-file", "--tokens", tokens},
         1,
         "--data"},
        {{"--listen", running->host() + ":" + std::to_string(running->port()), "--data", data,
          "--tokens", tokens},
         1,
         "--listen"},
        {{"--listen", "127.0.0.1:0", "--data", data, "--tokens", tokens, "--tls-cert",
          dir.path() + "/a-file", "--tls-key", dir.path() + "/a-file"},
         1,
         "--tls-cert"},
    };
    int n = 0;
    for (const Case& k : cases) {
      std::vector<std::string> argv = {PicketBinary(), "collector"};
      argv.insert(argv.end(), k.args.begin(), k.args.end());
      const std::string log = dir.path() + "/out" + std::to_string(n++);
      auto child = ChildProcess::Spawn(argv, log);
      REQUIRE(child.ok());
      auto code = child->WaitForExit(After(15s));
      REQUIRE(code.ok());
      std::string out = ReadWholeFile(log).value();
      CAPTURE(out);
      CHECK(*code == k.exit_code);
      CHECK(out.find(k.mentions) != std::string::npos);
      CHECK(std::count(out.begin(), out.end(), '\n') == 1);
    }
  }

  TEST_CASE("TLS with a self-signed certificate") {
    TempDir dir;
    const std::string cert = dir.path() + "/cert.pem", key = dir.path() + "/key.pem";
    const char* openssl = "/usr/bin/openssl";
    if (!std::filesystem::exists(openssl)) {
      const char* ci = std::getenv("CI");
      if (ci != nullptr && std::string(ci) == "true") FAIL("openssl is missing");
      MESSAGE("skipped: no " << openssl);
      return;
    }
    auto gen = ChildProcess::Spawn(
        {openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
         "subjectAltName=IP:127.0.0.1"},
        dir.path() + "/openssl.log");
    REQUIRE(gen.ok());
    auto made = gen->WaitForExit(After(30s));
    REQUIRE(made.ok());
    REQUIRE_MESSAGE(*made == 0, ReadWholeFile(dir.path() + "/openssl.log").value());

    auto c = StartCollector({kTokens, {"--tls-cert", cert, "--tls-key", key}});
    REQUIRE(c->url().rfind("https://127.0.0.1:", 0) == 0);
    const std::string a = Pcap('a');
    auto put =
        Call({"PUT", c->url() + "/v1/devices/gw-1/chunks/1", {kDevice1, DigestHeader(a)}, a, cert});
    CHECK(put.status == 201);
    auto back = Call({"GET", c->url() + "/v1/devices/gw-1/chunks/1", {kOperator}, "", cert});
    CHECK(back.body == a);
    // Without trusting the certificate, or in plain HTTP, nothing gets through.
    CHECK_FALSE(Perform({"GET", c->url() + "/v1/devices", {kOperator}, ""}).ok());
    auto plain = Perform(
        {"GET", "http://127.0.0.1:" + std::to_string(c->port()) + "/v1/devices", {kOperator}, ""});
    CHECK((!plain.ok() || plain->status != 200));
  }
}

}  // namespace picket::testing
