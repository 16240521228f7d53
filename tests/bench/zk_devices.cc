// picket_bench_zk_devices: many simulated devices on a real ZooKeeper, for
// tests/bench/zk_fleet_bench.py --live (issue #18, acceptance 3).
//
// Each device is the supervisor's own FleetAgent (its session, config and
// child watches, ACL learning, status node and its write cadence), so what
// ZooKeeper sees is what a fleet of picketd would cause; only the worker and
// the uploads are left out. Like the daemon, every device refreshes its
// counters every 2 s without urging a write (they ride the 5 s periodic one)
// and publishes a newly applied config version at once (SetStatusNow).
// A merged config holding "bench_written_ms" (the wall time the bench wrote
// it) is reported as {"applied":...,"latency_ms":...} on stdout.
//
// usage: picket_bench_zk_devices --hosts H --root R --user U --password-file F
//          [--devices N] [--first K] [--groups G] [--seconds S] [--start-every-us U]
//          [--prefix gw-] [--log-level warn]
// Devices are <prefix><K..K+N-1> (5 digits) in groups g0..g<G-1> (i % G).
// Every second one JSON line: devices started, connected, with a config
// applied, configs applied in all. Ends after --seconds (bounded, 3600 at
// most) or at SIGTERM/SIGINT; every agent is stopped (its status node removed).
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "picket/common/clock.h"
#include "picket/common/log.h"
#include "picket/common/version.h"
#include "supervisor/fleet_agent.h"

namespace {

using nlohmann::json;
using picket::supervisor::FleetAgent;

struct Options {
  std::string hosts, root = "/picket", user, password_file, prefix = "gw-", log_level = "warn";
  int devices = 100, first = 0, groups = 10, seconds = 600, start_every_us = 1000;
};

struct Device {
  std::unique_ptr<FleetAgent> agent;
  std::atomic<std::int64_t> applied{-1};
  std::uint64_t packets = 0;
};

std::atomic<std::uint64_t> g_configs{0};

[[noreturn]] void Usage(const std::string& why) {
  std::fprintf(stderr,
               "picket_bench_zk_devices: %s\nusage: picket_bench_zk_devices --hosts H --root R "
               "--user U --password-file F [--devices N] [--first K] [--groups G] [--seconds S] "
               "[--start-every-us U] [--prefix P] [--log-level warn]\n",
               why.c_str());
  std::exit(2);
}

int Number(const std::string& flag, const char* text, int lo, int hi) {
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (!*text || *end || v < lo || v > hi) {
    Usage(flag + " must be a number in [" + std::to_string(lo) + ", " + std::to_string(hi) +
          "], got '" + text + "'");
  }
  return static_cast<int>(v);
}

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) Usage(flag + " needs a value");
    const char* v = argv[++i];
    if (flag == "--hosts") o.hosts = v;
    else if (flag == "--root") o.root = v;
    else if (flag == "--user") o.user = v;
    else if (flag == "--password-file") o.password_file = v;
    else if (flag == "--prefix") o.prefix = v;
    else if (flag == "--log-level") o.log_level = v;
    else if (flag == "--devices") o.devices = Number(flag, v, 1, 20000);
    else if (flag == "--first") o.first = Number(flag, v, 0, 99999);
    else if (flag == "--groups") o.groups = Number(flag, v, 1, 1000);
    else if (flag == "--seconds") o.seconds = Number(flag, v, 1, 3600);
    else if (flag == "--start-every-us") o.start_every_us = Number(flag, v, 0, 1000000);
    else Usage("unknown flag " + flag);
  }
  if (o.hosts.empty() || o.user.empty() || o.password_file.empty()) {
    Usage("--hosts, --user and --password-file are required");
  }
  if (o.first + o.devices > 100000) Usage("--first + --devices must stay below 100000");
  return o;
}

std::string ReadPassword(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line) || line.empty()) Usage("cannot read --password-file " + path);
  return line;
}

// The keys the daemon sets before its first write (daemon.cc), with a running worker.
void SeedStatus(FleetAgent& agent) {
  agent.SetStatus("picketd", std::string(picket::PicketVersion()), false);
  agent.SetStatus("pid", ::getpid(), false);
  agent.SetStatus("started_at_ms", picket::SystemClock::Instance().WallMillis(), false);
  agent.SetStatus("config", json::object(), false);
  agent.SetStatus("worker", {{"state", "running"}, {"pid", ::getpid()}, {"starts", 1},
                             {"unexpected_exits", 0}, {"crash_loop", false}, {"seccomp_kills", 0}},
                  false);
  agent.SetStatus("last_error", nullptr, false);
}

json Counters(std::uint64_t packets) {
  return {{"packets", packets}, {"drops", 0}, {"chunks_sealed", packets / 1000},
          {"chunks_pending", 0}, {"bytes_pending", 0}, {"batches_pending", 0},
          {"chunks_evicted", 0}, {"bytes_evicted", 0}, {"uploads_ok", packets / 1000},
          {"uploads_failed", 0}, {"bytes_uploaded", packets * 200}, {"oldest_pending_age_s", 0}};
}

void OnConfig(Device& device, const std::string& id, const std::string& document,
              std::int64_t version, std::int64_t group_version) {
  device.applied = version;
  ++g_configs;
  device.agent->SetStatusNow("config", {{"applied_version", version},
                                        {"desired_version", version},
                                        {"applied_group_version", group_version}});
  const json doc = json::parse(document, nullptr, false);
  if (doc.is_object() && doc.contains("bench_written_ms") && doc["bench_written_ms"].is_number()) {
    const std::int64_t latency =
        picket::SystemClock::Instance().WallMillis() - doc["bench_written_ms"].get<std::int64_t>();
    std::printf("{\"applied\":\"%s\",\"version\":%lld,\"latency_ms\":%lld}\n", id.c_str(),
                static_cast<long long>(version), static_cast<long long>(latency));
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = Parse(argc, argv);
  const std::string password = ReadPassword(o.password_file);
  auto level = picket::log::ParseLevel(o.log_level);
  if (!level.ok()) Usage("--log-level: " + level.status().message());
  picket::log::SetLevel(*level);
  // Signals are taken by sigtimedwait below; blocked before any thread starts.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::vector<std::unique_ptr<Device>> devices;
  devices.reserve(static_cast<std::size_t>(o.devices));
  char id_text[32];
  for (int i = 0; i < o.devices; ++i) {
    const int n = o.first + i;
    std::snprintf(id_text, sizeof id_text, "%05d", n);
    const std::string id = o.prefix + id_text;
    auto device = std::make_unique<Device>();
    Device* raw = device.get();
    picket::supervisor::FleetAgentOptions fo;
    fo.zk.hosts = o.hosts;
    fo.zk.session_timeout_ms = 10000;
    fo.zk.auth_user = o.user;
    fo.zk.auth_password = password;
    fo.root = o.root;
    fo.device_id = id;
    fo.group = "g" + std::to_string(n % o.groups);
    picket::supervisor::FleetAgentHooks hooks;
    hooks.on_config = [raw, id](std::string document, std::int64_t version, std::int64_t gv) {
      OnConfig(*raw, id, document, version, gv);
    };
    hooks.on_collectors = [](std::vector<std::string>) {};
    hooks.to_worker = [](picket::worker_protocol::Command) {};
    hooks.on_session = [](bool) {};
    device->agent = std::make_unique<FleetAgent>(std::move(fo), std::move(hooks));
    SeedStatus(*device->agent);
    if (auto st = device->agent->Start(); !st.ok()) {
      std::fprintf(stderr, "picket_bench_zk_devices: %s: %s\n", id.c_str(),
                   st.message().c_str());
      return 1;
    }
    devices.push_back(std::move(device));
    // A fleet does not connect in one instant; nor does the bench's.
    if (o.start_every_us > 0) {
      const timespec gap{0, static_cast<long>(o.start_every_us) * 1000};
      nanosleep(&gap, nullptr);
    }
  }

  // The daemon's counters timer: every 2 s, never urgent.
  const timespec tick{1, 0};
  for (int second = 0; second < o.seconds; ++second) {
    if (second % 2 == 0) {
      for (auto& d : devices) {
        d->packets += 1000 + static_cast<std::uint64_t>(second);
        d->agent->SetStatus("counters", Counters(d->packets), false);
      }
    }
    int connected = 0, applied = 0;
    for (const auto& d : devices) {
      connected += d->agent->connected() ? 1 : 0;
      applied += d->applied >= 0 ? 1 : 0;
    }
    std::printf("{\"t\":%d,\"devices\":%zu,\"connected\":%d,\"applied\":%d,\"configs\":%llu}\n",
                second, devices.size(), connected, applied,
                static_cast<unsigned long long>(g_configs.load()));
    std::fflush(stdout);
    if (sigtimedwait(&stop_signals, nullptr, &tick) > 0) break;
  }
  for (auto& d : devices) d->agent->Stop();
  std::printf("{\"stopped\":%zu}\n", devices.size());
  return 0;
}
