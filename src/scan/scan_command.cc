#include "picket/scan/scan_command.h"

#include <signal.h>

#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <random>
#include <string>

#include "picket/capture/privileges.h"
#include "picket/capture/syscall_filter.h"
#include "picket/common/command_line.h"
#include "picket/common/file_io.h"
#include "picket/common/log.h"
#include "picket/common/units.h"
#include "picket/scan/scanner.h"
#include "scan/checkpoint.h"
#include "scan/scan_space.h"

namespace picket::scan {

namespace {

std::atomic<Scanner*> g_scanner{nullptr};
std::atomic<bool> g_interrupted{false};

extern "C" void OnStopSignal(int) {
  g_interrupted.store(true);
  if (Scanner* s = g_scanner.load()) s->RequestStop();
}

int BadFlag(const std::string& message) {
  std::fprintf(stderr, "picketd scan: %s\n", message.c_str());
  return 2;
}

bool ParseU64(std::string_view s, std::uint64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::string Trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}

// Which flag a CreateScanner refusal is about, from the message's leading word.
std::string FlagOfSpecError(const std::string& m) {
  auto starts = [&](std::string_view p) { return m.rfind(p, 0) == 0; };
  if (starts("rate")) return "--rate";
  if (starts("retries")) return "--retries";
  if (starts("wait")) return "--wait";
  if (starts("shard")) return "--shard";
  if (starts("start_index")) return "--resume";
  if (starts("ports")) return "--ports";
  if (starts("send_path")) return "--send-path";
  if (m.find("max_probes") != std::string::npos) return "--targets/--ports";
  return "--targets";
}

Result<std::vector<AddressRange>> ReadExcludeFile(const std::string& path) {
  auto text = ReadWholeFile(path, 16 << 20);
  if (!text.ok()) return text.status();
  std::vector<AddressRange> out;
  std::string_view rest = *text;
  for (int line_no = 1; !rest.empty(); ++line_no) {
    const std::size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    if (const std::size_t hash = line.find('#'); hash != std::string_view::npos) {
      line = line.substr(0, hash);
    }
    const std::string item = Trim(line);
    if (item.empty()) continue;
    auto ranges = ParseTargetList(item);
    if (!ranges.ok()) {
      return Status::InvalidArgument(path + ":" + std::to_string(line_no) + ": " +
                                     ranges.status().message());
    }
    out.insert(out.end(), ranges->begin(), ranges->end());
  }
  return out;
}

std::string FormatEta(double s) {
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%dh%02dm", static_cast<int>(s / 3600),
                  static_cast<int>(s / 60) % 60);
  } else if (s >= 60) {
    std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s / 60), static_cast<int>(s) % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%.1fs", s);
  }
  return buf;
}

// CAP_NET_RAW is kept for the raw socket and captures Run opens; the checkpoint
// is written after the switch, so its directory must be writable by the user.
Status Confine(const capture::RunAsUser& user, bool no_seccomp,
               const std::optional<std::string>& resume_path) {
  PICKET_RETURN_IF_ERROR(capture::SwitchToUser(user));
  if (resume_path) {
    std::string dir = std::filesystem::path(*resume_path).parent_path().string();
    if (dir.empty()) dir = ".";
    if (::access(dir.c_str(), W_OK) != 0) {
      return Status::PermissionDenied("--resume '" + *resume_path + "': directory '" + dir +
                                      "' is not writable by user " + user.name +
                                      " (--user); use a directory that user can write");
    }
  }
  return capture::ConfineSyscalls(!no_seccomp, "--no-seccomp");
}

}  // namespace

int RunScanCommand(std::span<char* const> args) {
  FlagParser flags({"targets", "ports", "rate", "retries", "wait", "exclude", "exclude-file",
                    "shard", "format", "seed", "resume", "user", "send-path"},
                   {"connect", "banners", "quiet", "no-seccomp"});
  if (auto st = flags.Parse(args); !st.ok()) return BadFlag(st.message());

  ScanSpec spec;
  const auto targets_text = flags.Value("targets");
  if (!targets_text) return BadFlag("--targets is required");
  auto targets = ParseTargetList(*targets_text);
  if (!targets.ok())
    return BadFlag("--targets '" + *targets_text + "': " + targets.status().message());
  spec.targets = std::move(*targets);

  const auto ports_text = flags.Value("ports");
  if (!ports_text) return BadFlag("--ports is required");
  auto ports = ParsePortList(*ports_text);
  if (!ports.ok()) return BadFlag("--ports '" + *ports_text + "': " + ports.status().message());
  spec.ports = std::move(*ports);

  if (auto v = flags.Value("rate")) {
    if (!ParseU64(*v, &spec.rate_pps) || spec.rate_pps == 0) {
      return BadFlag("--rate '" + *v +
                     "': must be a whole number of packets per second, at least 1");
    }
  }
  if (auto v = flags.Value("retries")) {
    std::uint64_t n = 0;
    if (!ParseU64(*v, &n) || n > 10) return BadFlag("--retries '" + *v + "': must be 0..10");
    spec.retries = static_cast<int>(n);
  }
  if (auto v = flags.Value("wait")) {
    auto d = ParseDuration(*v);
    if (!d.ok()) return BadFlag("--wait '" + *v + "': " + d.status().message());
    spec.wait = *d;
  }
  if (auto v = flags.Value("send-path")) {
    if (*v == "packet") spec.send_path = SendPath::kPacket;
    else if (*v != "raw") return BadFlag("--send-path '" + *v + "': must be raw or packet");
  }
  if (auto v = flags.Value("exclude")) {
    auto ex = ParseTargetList(*v);
    if (!ex.ok()) return BadFlag("--exclude '" + *v + "': " + ex.status().message());
    spec.exclude = std::move(*ex);
  }
  if (auto v = flags.Value("exclude-file")) {
    auto ex = ReadExcludeFile(*v);
    if (!ex.ok()) return BadFlag("--exclude-file '" + *v + "': " + ex.status().message());
    spec.exclude.insert(spec.exclude.end(), ex->begin(), ex->end());
  }
  if (auto v = flags.Value("shard")) {
    const std::size_t slash = v->find('/');
    std::uint64_t i = 0, n = 0;
    if (slash == std::string::npos || !ParseU64(std::string_view(*v).substr(0, slash), &i) ||
        !ParseU64(std::string_view(*v).substr(slash + 1), &n) || n == 0 || n > 65536 || i >= n) {
      return BadFlag("--shard '" + *v + "': must be I/N with 0 <= I < N <= 65536 (0-based)");
    }
    spec.shard_index = static_cast<std::uint32_t>(i);
    spec.shard_count = static_cast<std::uint32_t>(n);
  }
  bool json = true;
  if (auto v = flags.Value("format")) {
    if (*v == "list") {
      json = false;
    } else if (*v != "json") {
      return BadFlag("--format '" + *v + "': must be json or list");
    }
  }
  std::optional<std::uint64_t> seed;
  if (auto v = flags.Value("seed")) {
    std::uint64_t s = 0;
    if (!ParseU64(*v, &s)) return BadFlag("--seed '" + *v + "': must be a whole number");
    seed = s;
  }
  spec.mode = flags.Has("connect") ? ScanMode::kConnect : ScanMode::kSyn;
  spec.banners = flags.Has("banners");
  const bool quiet = flags.Has("quiet");
  if (quiet) log::SetLevel(log::Level::kWarn);

  // The space fingerprint ties a checkpoint to the targets/ports/excludes it was made for.
  auto space = TargetSpace::Build(spec.targets, spec.exclude, spec.ports, spec.max_probes);
  if (!space.ok()) {
    return BadFlag(FlagOfSpecError(space.status().message()) + ": " + space.status().message());
  }
  const std::string fingerprint = SpaceFingerprint(space->Canonical());
  const ShardView shard{space->size(), spec.shard_index, spec.shard_count};

  const auto resume_path = flags.Value("resume");
  if (resume_path) {
    auto text = ReadWholeFile(*resume_path, 64 << 10);
    if (text.ok()) {
      auto state = ResumeState::Parse(*text, *resume_path);
      if (!state.ok()) return BadFlag("--resume: " + state.status().message());
      if (seed && *seed != state->seed) {
        return BadFlag("--seed '" + std::to_string(*seed) + "' differs from seed " +
                       std::to_string(state->seed) + " in --resume '" + *resume_path + "'");
      }
      if (state->shard_index != spec.shard_index || state->shard_count != spec.shard_count) {
        return BadFlag("--resume '" + *resume_path + "': checkpoint is for shard " +
                       std::to_string(state->shard_index) + "/" +
                       std::to_string(state->shard_count));
      }
      if (state->space != fingerprint || state->total != shard.size()) {
        return BadFlag("--resume '" + *resume_path +
                       "': checkpoint is for a different target/port/exclude space");
      }
      seed = state->seed;
      spec.start_index = state->next;
    } else if (text.status().code() != StatusCode::kNotFound) {
      return BadFlag("--resume '" + *resume_path + "': " + text.status().message());
    }
  }
  if (!seed) {
    if (spec.shard_count > 1) {
      return BadFlag("--shard '" + *flags.Value("shard") +
                     "': needs --seed so that all shards walk the same permutation");
    }
    std::random_device rd;
    seed = (std::uint64_t{rd()} << 32) | rd();
  }
  spec.seed = *seed;

  ResumeState resume{spec.seed,   spec.shard_index, spec.shard_count,
                     fingerprint, spec.start_index, shard.size()};
  std::uint64_t saved_checkpoint = ~std::uint64_t{0};
  const auto save = [&](std::uint64_t checkpoint) {
    if (!resume_path || checkpoint == saved_checkpoint) return;
    resume.next = checkpoint;
    if (auto st = WriteFileAtomically(*resume_path, resume.Serialize()); !st.ok()) {
      PICKET_LOG(kWarn, "scan", "cannot write the checkpoint", {"error", st});
      return;
    }
    saved_checkpoint = checkpoint;
  };
  if (spec.start_index >= shard.size() && resume_path) {
    std::fprintf(stderr,
                 "picketd scan: %s: already complete (%" PRIu64 "/%" PRIu64 "), nothing to do\n",
                 resume_path->c_str(), spec.start_index, shard.size());
    return 0;
  }

  // Root switches to --user before the first probe, as the worker does; the user must exist.
  auto run_as = capture::LookUpUser(flags.Value("user").value_or("picketd"), "--user");
  if (!run_as.ok()) return BadFlag(run_as.status().message());

  auto scanner = CreateScanner(spec);
  if (!scanner.ok()) {
    const Status& st = scanner.status();
    if (st.code() == StatusCode::kInvalidArgument) {
      return BadFlag(FlagOfSpecError(st.message()) + ": " + st.message());
    }
    std::fprintf(stderr, "picketd scan: %s\n", st.message().c_str());
    return 1;
  }
  if (Status st = Confine(*run_as, flags.Has("no-seccomp"), resume_path); !st.ok()) {
    std::fprintf(stderr, "picketd scan: %s\n", st.message().c_str());
    return 1;
  }
  save(spec.start_index);

  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  struct sigaction old_int {
  }, old_term{};
  g_scanner.store(scanner->get());
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);

  std::string line;
  const auto on_result = [&](const ScanResult& r) {
    line = json ? r.ToJson() : "open tcp " + std::to_string(r.port) + " " + r.ip.ToString();
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stdout);
  };
  const auto on_progress = [&](const ScanProgress& p) {
    std::fflush(stdout);
    save(p.checkpoint);
    if (quiet || p.done >= p.total) return;
    const double pct =
        p.total ? 100.0 * static_cast<double>(p.done) / static_cast<double>(p.total) : 100;
    std::fprintf(stderr,
                 "picketd scan: %5.1f%% %" PRIu64 "/%" PRIu64 " sent=%" PRIu64
                 " rate=%.0f pps "
                 "replies=%" PRIu64 " open=%" PRIu64 " eta=%s\n",
                 pct, p.done, p.total, p.sent, p.pps, p.replies, p.open,
                 FormatEta(p.eta_s).c_str());
  };
  const Status run = (*scanner)->Run(on_result, on_progress);
  g_scanner.store(nullptr);
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  std::fflush(stdout);

  const ScanSummary s = (*scanner)->Summary();
  std::fprintf(
      stderr,
      "picketd scan: %s sent=%" PRIu64 " replies=%" PRIu64 " open=%" PRIu64
      " pps=%.1f seconds=%.3f seed=%" PRIu64 " capture_drops=%" PRIu64 " send_errors=%" PRIu64 "\n",
      run.ok()                               ? "done"
      : run.code() == StatusCode::kCancelled ? "stopped"
                                             : "failed",
      s.sent, s.replies, s.open, s.pps, s.seconds, spec.seed, s.capture_drops, s.send_errors);
  if (run.code() == StatusCode::kCancelled) return g_interrupted.load() ? 130 : 1;
  if (!run.ok()) {
    std::fprintf(stderr, "picketd scan: %s\n", run.message().c_str());
    return 1;
  }
  return 0;
}

}  // namespace picket::scan
