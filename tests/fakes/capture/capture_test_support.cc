#include "fakes/capture/capture_test_support.h"

#include <doctest/doctest.h>
#include <pcap/pcap.h>
#include <stdlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "picket/common/c_handle.h"
#include "picket/common/log.h"

namespace picket::capture::testing {

namespace {

using PcapHandle = CHandle<pcap_t, pcap_close>;

void Put16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}
void Put32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  Put16(out, static_cast<std::uint16_t>(v >> 16));
  Put16(out, static_cast<std::uint16_t>(v));
}

std::vector<std::uint8_t> Ipv4Frame(std::uint8_t protocol, std::uint32_t src, std::uint32_t dst,
                                    const std::vector<std::uint8_t>& l4) {
  std::vector<std::uint8_t> f = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01};  // dst, src MAC
  Put16(f, 0x0800);
  f.push_back(0x45);  // IPv4, 20-byte header
  f.push_back(0);
  Put16(f, static_cast<std::uint16_t>(20 + l4.size()));
  Put32(f, 0);  // id, flags, fragment offset
  f.push_back(64);
  f.push_back(protocol);
  Put16(f, 0);  // checksum: BPF does not look at it
  Put32(f, src);
  Put32(f, dst);
  f.insert(f.end(), l4.begin(), l4.end());
  return f;
}

}  // namespace

Packet StoredPacket::View() const {
  Packet p;
  p.ts.tv_sec = ts_us / 1'000'000;
  p.ts.tv_usec = ts_us % 1'000'000;
  p.caplen = static_cast<std::uint32_t>(data.size());
  p.len = len;
  p.data = data.data();
  return p;
}

Result<PcapContents> ReadPcapFile(const std::string& path) {
  char errbuf[PCAP_ERRBUF_SIZE] = "";
  PcapHandle p(pcap_open_offline(path.c_str(), errbuf));
  if (!p) return Status::IoError(path + ": " + errbuf);
  PcapContents out;
  out.link_type = pcap_datalink(p.get());
  out.snaplen = pcap_snapshot(p.get());
  pcap_pkthdr* header = nullptr;
  const u_char* bytes = nullptr;
  int rc;
  while ((rc = pcap_next_ex(p.get(), &header, &bytes)) == 1) {
    StoredPacket s;
    s.ts_us = static_cast<std::int64_t>(header->ts.tv_sec) * 1'000'000 + header->ts.tv_usec;
    s.len = header->len;
    s.data.assign(bytes, bytes + header->caplen);
    out.packets.push_back(std::move(s));
  }
  if (rc != PCAP_ERROR_BREAK) return Status::Corruption(path + ": " + pcap_geterr(p.get()));
  return out;
}

Status WritePcapFile(const std::string& path, int link_type, int snaplen,
                     const std::vector<StoredPacket>& packets) {
  PcapHandle dead(pcap_open_dead(link_type, snaplen));
  pcap_dumper_t* d = pcap_dump_open(dead.get(), path.c_str());
  if (d == nullptr) return Status::IoError(path + ": " + pcap_geterr(dead.get()));
  for (const StoredPacket& s : packets) {
    pcap_pkthdr h{};
    h.ts.tv_sec = s.ts_us / 1'000'000;
    h.ts.tv_usec = s.ts_us % 1'000'000;
    h.caplen = static_cast<bpf_u_int32>(s.data.size());
    h.len = s.len;
    pcap_dump(reinterpret_cast<u_char*>(d), &h, s.data.data());
  }
  pcap_dump_close(d);
  return Status::Ok();
}

std::vector<std::uint8_t> UdpFrame(std::uint32_t src, std::uint32_t dst, std::uint16_t sport,
                                   std::uint16_t dport, std::string_view payload) {
  std::vector<std::uint8_t> l4;
  Put16(l4, sport);
  Put16(l4, dport);
  Put16(l4, static_cast<std::uint16_t>(8 + payload.size()));
  Put16(l4, 0);
  l4.insert(l4.end(), payload.begin(), payload.end());
  return Ipv4Frame(17, src, dst, l4);
}

std::vector<std::uint8_t> TcpFrame(std::uint32_t src, std::uint32_t dst, std::uint16_t sport,
                                   std::uint16_t dport, std::string_view payload) {
  std::vector<std::uint8_t> l4;
  Put16(l4, sport);
  Put16(l4, dport);
  Put32(l4, 1);       // seq
  Put32(l4, 0);       // ack
  Put16(l4, 0x5018);  // data offset 5, PSH+ACK
  Put16(l4, 65535);   // window
  Put32(l4, 0);       // checksum, urgent
  l4.insert(l4.end(), payload.begin(), payload.end());
  return Ipv4Frame(6, src, dst, l4);
}

StoredPacket MakePacket(std::int64_t ts_us, std::size_t size, std::uint8_t fill) {
  StoredPacket s;
  s.ts_us = ts_us;
  s.data = UdpFrame(0x0a000001, 0x7f000001, 40000, 9, "");  // 42 bytes of headers
  s.data.resize(size);
  for (std::size_t i = 42; i < size; ++i) {
    s.data[i] = static_cast<std::uint8_t>(fill + i);  // every packet distinguishable
  }
  s.len = static_cast<std::uint32_t>(size);
  return s;
}

QuietLogs::QuietLogs() { log::EnableStderr(false); }
QuietLogs::~QuietLogs() { log::EnableStderr(true); }

std::vector<StoredPacket> ReadSealedPackets(const std::vector<SealedChunk>& sealed) {
  std::vector<StoredPacket> all;
  for (const SealedChunk& c : sealed) {
    auto read = ReadPcapFile(c.path);
    REQUIRE(read.ok());
    all.insert(all.end(), read->packets.begin(), read->packets.end());
  }
  return all;
}

FileSizeLimit::FileSizeLimit(rlim_t bytes) {
  REQUIRE(getrlimit(RLIMIT_FSIZE, &saved_) == 0);
  old_handler_ = signal(SIGXFSZ, SIG_IGN);  // EFBIG instead of a core dump
  rlimit limited = saved_;
  limited.rlim_cur = bytes;
  REQUIRE(setrlimit(RLIMIT_FSIZE, &limited) == 0);
}

FileSizeLimit::~FileSizeLimit() {
  setrlimit(RLIMIT_FSIZE, &saved_);
  signal(SIGXFSZ, old_handler_);
}

}  // namespace picket::capture::testing
