// libFuzzer target for every JSON document picket reads from ZooKeeper
// (issue 13): any device or a compromised operator account can write these
// nodes, so each reader must refuse or ignore bad data, never crash.
// First byte: the low 4 bits pick the document (kReaders below); bit 7
// inflates the rest before use, so small inputs can stand for the deep or
// long documents a 1 MiB znode can hold (see Inflate).
// Documents that come in pairs or triples are split at NUL bytes.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "collector/fleet_zk_view.h"
#include "picket/common/config_check.h"
#include "picket/common/json_limits.h"
#include "picket/common/shared_job.h"
#include "picket/zk/collector_directory.h"
#include "picket/zk/config_watcher.h"
#include "picket/zk/fleet_views.h"
#include "supervisor/incoming_config.h"
#include "supervisor/shard_coordinator.h"

namespace {

using namespace picket;

constexpr std::size_t kZnodeMax = 1 << 20;
constexpr std::string_view kJobText =
    R"({"targets":"192.0.2.0/28","ports":"22,80","shards":4,"rate_pps":100,"mode":"connect"})";

// The part of `text` before the n-th NUL (0-based); nullopt when there are fewer parts.
std::optional<std::string> Part(std::string_view text, int n) {
  for (int i = 0; i < n; ++i) {
    auto nul = text.find('\0');
    if (nul == std::string_view::npos) return std::nullopt;
    text.remove_prefix(nul + 1);
  }
  return std::string(text.substr(0, text.find('\0')));
}

// [count][plen][prefix][slen][suffix][middle] -> prefix x N, middle, suffix x N
// with N = count * 1024, cut at kZnodeMax: "[" and "]" make a deep document.
std::string Inflate(std::string_view rest) {
  auto take = [&rest](std::size_t n) {
    n = std::min(n, rest.size());
    std::string_view piece = rest.substr(0, n);
    rest.remove_prefix(n);
    return piece;
  };
  auto byte = [&take] {
    std::string_view b = take(1);
    return b.empty() ? std::size_t{0} : std::size_t{static_cast<std::uint8_t>(b[0])};
  };
  const std::size_t count = byte() * 1024;
  const std::string_view prefix = take(byte());
  const std::string_view suffix = take(byte());
  const std::string_view middle = rest;
  std::string out;
  for (std::size_t i = 0; i < count && out.size() + prefix.size() <= kZnodeMax; ++i) out += prefix;
  out += middle;
  for (std::size_t i = 0; i < count && out.size() + suffix.size() <= kZnodeMax; ++i) out += suffix;
  if (out.size() > kZnodeMax) out.resize(kZnodeMax);
  return out;
}

const DaemonConfig& LocalConfig() {
  static const DaemonConfig config = EmbeddedDefaultConfig().config;
  return config;
}

const SharedJobSpec& FixedJob() {
  static const SharedJobSpec spec = ParseSharedJobSpec("lab-job", kJobText).value();
  return spec;
}

zk::WatchEvent Node(std::string data, std::int32_t version) {
  zk::WatchEvent e;
  e.path = "/picket/fuzz";
  e.exists = true;
  e.data = std::move(data);
  e.version = version;
  return e;
}

// <root>/devices/<id>/config, alone and over a group document (the watcher's
// merge), then checked as the supervisor applies it.
void DeviceConfig(const std::string& text) {
  std::string effective;
  (void)supervisor::CheckZooKeeperConfig(LocalConfig(), text, 7, &effective);
  auto [merged, version] = zk::ConfigWatcher::Merge(std::nullopt, Node(text, 3));
  (void)supervisor::CheckZooKeeperConfig(LocalConfig(), merged, version, nullptr);
}

void GroupAndDevice(const std::string& text) {
  const std::string group = *Part(text, 0);
  const std::optional<std::string> device = Part(text, 1);
  auto [merged, version] = zk::ConfigWatcher::Merge(
      Node(group, 1), device ? std::optional(Node(*device, 2)) : std::nullopt);
  (void)supervisor::CheckZooKeeperConfig(LocalConfig(), merged, version, nullptr);
}

// <root>/jobs/<id>: the spec as devices, the collector and the CLI read it.
void Job(const std::string& text) {
  auto spec = ParseSharedJobSpec("fuzz-job", text);
  if (!spec.ok()) return;
  zk::JobNodes nodes;
  nodes.claims[0] = R"({"device":"gw-1","session":5})";
  const zk::JobStatusView view = zk::BuildJobStatus(*spec, nodes, std::chrono::milliseconds(500));
  (void)collector::ScanJobJson(*spec, ParseJsonBounded(text), view).dump();
  (void)ParseSharedJobSpec("fuzz-job", SharedJobSpecToJson(*spec)).value();  // must round-trip
}

// claims/<n>, progress/<n>, done/<n> of a job, and a claimer's status node
// (the shard sizes): what the coordinator and the status views read.
void ShardNode(int which, const std::string& text) {
  zk::JobNodes nodes;
  const std::uint32_t shard = text.empty() ? 0 : static_cast<std::uint8_t>(text[0]) % 5;
  if (which == 0) {
    (void)supervisor::ClaimSessionOf(text);
    (void)supervisor::ClaimDeviceOf(text);
    const supervisor::MemberLoad load = supervisor::MemberLoadOf(text);  // members/<device>
    if (load.held > supervisor::kUnknownLoad || !(load.pps >= 0)) std::abort();
    nodes.claims[shard] = text;
  } else if (which == 1) {
    (void)supervisor::ProgressCheckpointOf(text);
    nodes.claims[shard] = R"({"device":"gw-1"})";
    nodes.progress[shard] = text;
  } else {
    nodes.done[shard] = text;
  }
  const zk::JobStatusView view = zk::BuildJobStatus(FixedJob(), nodes, std::chrono::seconds(1));
  (void)collector::ScanJobJson(FixedJob(), ParseJsonBounded(kJobText), view).dump();
}

// <root>/devices/<id>/status, .../config and .../sync as the fleet views read them.
void DeviceView(const std::string& text, int layout) {
  std::optional<std::string> config, status, sync;
  if (layout == 0) status = text;
  if (layout == 1) sync = text;
  if (layout == 2) {
    config = Part(text, 0);
    status = Part(text, 1);
    sync = Part(text, 2);
  }
  zk::DeviceView view = zk::BuildDeviceView("gw-1", config, status, sync);
  // The group's nodes (<root>/groups/<group>/config and /sync) are read the same way.
  zk::AddGroupView(view, config, sync);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t knob = data[0];
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::string text = (knob & 0x80) ? Inflate(rest) : std::string(rest);
  switch (knob & 0x0F) {
    case 0: DeviceConfig(text); break;
    case 1: GroupAndDevice(text); break;
    case 2: Job(text); break;
    case 3: ShardNode(0, text); break;
    case 4: ShardNode(1, text); break;
    case 5: ShardNode(2, text); break;
    case 6: DeviceView(text, 0); break;
    case 7: (void)zk::CollectorUrlFromNode(text); break;
    case 8: DeviceView(text, 1); break;
    case 9: DeviceView(text, 2); break;
    default: break;
  }
  return 0;
}
