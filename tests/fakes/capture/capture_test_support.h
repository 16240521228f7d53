// Helpers for the capture tests: packets built in code, pcap files written and
// read with libpcap itself (an oracle independent of ChunkWriter).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <sys/resource.h>

#include <csignal>

#include "picket/capture/chunk_writer.h"
#include "picket/capture/packet_source.h"
#include "picket/common/status.h"
#include "support/temp_dir.h"

namespace picket::capture::testing {

struct StoredPacket {
  std::int64_t ts_us = 0;
  std::uint32_t len = 0;  // on the wire; caplen is data.size()
  std::vector<std::uint8_t> data;

  bool operator==(const StoredPacket&) const = default;
  // A view for PacketSource handlers / ChunkWriter::Write; valid while *this lives.
  Packet View() const;
};

struct PcapContents {
  int link_type = 0;  // DLT_*
  int snaplen = 0;
  std::vector<StoredPacket> packets;
};

// Reads a whole file with pcap_open_offline.
Result<PcapContents> ReadPcapFile(const std::string& path);
// Writes a file with pcap_dump (test input only).
Status WritePcapFile(const std::string& path, int link_type, int snaplen,
                     const std::vector<StoredPacket>& packets);

// Ethernet + IPv4 frames; addresses in host order (0x7f000001 = 127.0.0.1).
std::vector<std::uint8_t> UdpFrame(std::uint32_t src, std::uint32_t dst, std::uint16_t sport,
                                   std::uint16_t dport, std::string_view payload);
std::vector<std::uint8_t> TcpFrame(std::uint32_t src, std::uint32_t dst, std::uint16_t sport,
                                   std::uint16_t dport, std::string_view payload);
// A packet at `ts_us` whose bytes are a UDP frame padded to `size` bytes.
StoredPacket MakePacket(std::int64_t ts_us, std::size_t size, std::uint8_t fill = 0);

// Every packet of the sealed chunks, in chunk order, read back with libpcap.
std::vector<StoredPacket> ReadSealedPackets(const std::vector<SealedChunk>& sealed);

// Limits file sizes for this process (RLIMIT_FSIZE) while it lives, with SIGXFSZ
// ignored so writes fail with EFBIG instead of killing the test. Process-wide:
// it binds every thread, a chunk writer's included.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes);
  ~FileSizeLimit();
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit saved_{};
  sighandler_t old_handler_ = SIG_DFL;
};

// Keeps log lines off stderr for a test's lifetime.
class QuietLogs {
 public:
  QuietLogs();
  ~QuietLogs();
};

// Scratch directories are the shared one.
using ::picket::testing::TempDir;

}  // namespace picket::capture::testing
