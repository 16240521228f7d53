// Reading captures: libpcap for whole files (pcap and pcapng), a direct
// parser for PacketAt (one record at a known offset, no libpcap handle).
#include <pcap/pcap.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "picket/analysis/analyzer.h"

namespace picket::analysis {
namespace {

// libpcap closes the FILE* it reads from, but the caller owns `file`: libpcap
// gets a cookie stream over it whose close does nothing. The cookie counts the
// bytes read, so ftell (record offsets) costs no seek on the real file.
struct Cookie {
  std::FILE* file;
  std::int64_t position;
};
ssize_t CookieRead(void* opaque, char* buffer, size_t size) {
  auto* cookie = static_cast<Cookie*>(opaque);
  const size_t n = std::fread(buffer, 1, size, cookie->file);
  if (n == 0 && std::ferror(cookie->file)) return -1;
  cookie->position += static_cast<std::int64_t>(n);
  return static_cast<ssize_t>(n);
}
int CookieSeek(void* opaque, off64_t* offset, int whence) {
  auto* cookie = static_cast<Cookie*>(opaque);
  if (whence == SEEK_CUR && *offset == 0) {
    *offset = cookie->position;
    return 0;
  }
  if (fseeko(cookie->file, *offset, whence) != 0) return -1;
  const off_t position = ftello(cookie->file);
  if (position < 0) return -1;
  cookie->position = position;
  *offset = position;
  return 0;
}
int CookieClose(void*) { return 0; }

struct PcapCloser {
  void operator()(pcap_t* p) const { pcap_close(p); }
};

}  // namespace

Status ReadCapture(std::FILE* file, std::uint64_t chunk_seq,
                   const std::function<void(const RawPacket&)>& on_packet) {
  if (file == nullptr) return Status::InvalidArgument("read capture: no file");
  cookie_io_functions_t io{};
  io.read = CookieRead;
  io.seek = CookieSeek;
  io.close = CookieClose;
  const off_t start = ftello(file);
  Cookie cookie{file, start < 0 ? 0 : static_cast<std::int64_t>(start)};
  std::FILE* stream = fopencookie(&cookie, "rb", io);
  if (stream == nullptr) return FromErrno("read capture: fopencookie", errno);
  char error[PCAP_ERRBUF_SIZE] = {};
  std::unique_ptr<pcap_t, PcapCloser> pcap(
      pcap_fopen_offline_with_tstamp_precision(stream, PCAP_TSTAMP_PRECISION_MICRO, error));
  if (!pcap) {
    std::fclose(stream);
    return Status::InvalidArgument(std::string("not a pcap or pcapng capture: ") + error);
  }
  const int link_type = pcap_datalink(pcap.get());
  for (;;) {
    const long offset = std::ftell(stream);
    pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    const int rc = pcap_next_ex(pcap.get(), &header, &data);
    if (rc == PCAP_ERROR_BREAK) return Status::Ok();  // end of file
    if (rc != 1) {
      return Status::Corruption("capture damaged at byte " + std::to_string(offset) + ": " +
                                pcap_geterr(pcap.get()));
    }
    RawPacket packet;
    // pcapng times are 64-bit: a hostile one would overflow µs; clamp the seconds.
    constexpr std::int64_t kMaxSeconds = INT64_MAX / 1'000'000 - 1;
    const std::int64_t seconds =
        std::clamp<std::int64_t>(header->ts.tv_sec, -kMaxSeconds, kMaxSeconds);
    packet.ts_us = seconds * 1'000'000 + header->ts.tv_usec;
    packet.wire_len = header->len < header->caplen ? header->caplen : header->len;
    packet.link_type = link_type;
    packet.data = std::span<const std::uint8_t>(data, header->caplen);
    packet.ref = PacketRef{chunk_seq, static_cast<std::uint64_t>(offset)};
    on_packet(packet);
  }
}

Status ReadCaptureBytes(std::string_view capture, std::uint64_t chunk_seq,
                        const std::function<void(const RawPacket&)>& on_packet) {
  if (capture.empty()) return Status::InvalidArgument("capture is empty (no file header)");
  std::FILE* file = fmemopen(const_cast<char*>(capture.data()), capture.size(), "rb");
  if (file == nullptr) return FromErrno("read capture: fmemopen", errno);
  Status status = ReadCapture(file, chunk_seq, on_packet);
  std::fclose(file);
  return status;
}

}  // namespace picket::analysis
