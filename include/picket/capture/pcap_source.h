// PacketSources backed by libpcap: a live interface and a pcap file. The pcap_t
// stays in src/capture; these classes only hold a pointer to it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "picket/capture/capture_filter.h"
#include "picket/capture/packet_source.h"
#include "picket/common/daemon_config.h"
#include "picket/common/status.h"

namespace picket::capture {

struct LiveCaptureOptions {
  std::string interface = "lo";
  int snaplen = 262144;
  int buffer_mib =
      32;  // kernel ring (pcap_set_buffer_size); ≥ 32 MiB avoids the 2 MiB-default drops
  int timeout_ms = 150;  // TPACKET_V3 block retire timeout and our poll timeout
  bool promiscuous = false;
  std::string filter;                      // the operator's BPF; may be empty
  std::vector<ExcludedEndpoint> excluded;  // always applied, also after SetFilter

  static LiveCaptureOptions FromConfig(const CaptureSection& capture,
                                       std::vector<ExcludedEndpoint> excluded);
};

// pcap_create + buffer/snaplen/timeout, never immediate mode (it falls back to
// TPACKET_V2 and drops most of a burst), non-blocking reads behind our own
// poll() so an idle link still returns every timeout_ms (TPACKET_V3 alone would
// block forever: the kernel never retires an empty block).
class PcapLiveSource final : public PacketSource {
 public:
  // Errors name the interface: "capture on eth9: No such device exists".
  // Activation warnings (e.g. promiscuous mode unsupported) are logged.
  static Result<std::unique_ptr<PcapLiveSource>> Open(const LiveCaptureOptions& options);
  ~PcapLiveSource() override;

  Result<DispatchResult> Dispatch(int max_packets, const PacketHandler& handler) override;
  Result<CaptureStats> Stats() override;
  // `expr` is the operator's filter; the exclusion clause is added again.
  // On a handle that is not cooked (every interface but "any") the program is
  // attached to the socket directly, replacing the old one in one step: the
  // change is exact and needs no drain (FilterSwitchIsExact). Packets that
  // reached the ring before the first filter was attached are judged by it in
  // userland (a "vlan" filter rejects those few: no VLAN tag metadata there).
  // Cooked handles, and a capture whose first program the kernel refused
  // (libpcap then filters in userland), go through pcap_setfilter, which
  // filters the queued blocks again with the new program: the caller drains
  // first. A later program the kernel refuses is an error; the old one stays.
  Status SetFilter(std::string_view expr) override;
  bool FilterSwitchIsExact() const override;
  // Startup packets the first filter rejected in userland (see SetFilter).
  std::uint64_t StartupRefiltered() const;
  void Interrupt() noexcept override;
  int LinkType() const override;
  int Snaplen() const override;
  const std::string& Name() const override;
  int SelectableFd() const override;

  const std::string& InstalledFilter() const;  // the composed expression in the kernel

 private:
  struct Impl;
  explicit PcapLiveSource(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// pcap_open_offline: replays a file (tests, `picketd capture --read`).
// Stats() are zero; Dispatch reports end_of_input at the end of the file.
class PcapFileSource final : public PacketSource {
 public:
  static Result<std::unique_ptr<PcapFileSource>> Open(const std::string& path);
  ~PcapFileSource() override;

  Result<DispatchResult> Dispatch(int max_packets, const PacketHandler& handler) override;
  Result<CaptureStats> Stats() override;
  Status SetFilter(std::string_view expr) override;
  int LinkType() const override;
  int Snaplen() const override;
  const std::string& Name() const override;

 private:
  struct Impl;
  explicit PcapFileSource(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace picket::capture
