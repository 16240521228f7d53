#include "cli/scan_progress.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/operator_support.h"
#include "picket/common/clock.h"
#include "picket/common/net_address.h"

namespace picket::cli {

namespace {

using nlohmann::json;

// "850", "1.2k", "3.4M"
std::string Short(double v) {
  char buf[32];
  if (v < 1000) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else if (v < 1e6) {
    std::snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.1fM", v / 1e6);
  }
  return buf;
}

// "0:01:23", "27:46:40"
std::string HoursMinutesSeconds(double seconds) {
  const auto s = static_cast<std::uint64_t>(std::ceil(std::max(0.0, seconds)));
  char buf[48];
  std::snprintf(buf, sizeof buf, "%llu:%02u:%02u", static_cast<unsigned long long>(s / 3600),
                static_cast<unsigned>(s / 60 % 60), static_cast<unsigned>(s % 60));
  return buf;
}

json Tenths(const std::optional<double>& v) {
  return v ? json(std::round(*v * 10) / 10) : json();  // / 10, not * 0.1: prints as 0.6, not 0.6000000000000001
}

std::string Shorten(const std::string& text, std::size_t max) {
  return text.size() <= max ? text : text.substr(0, max - 3) + "...";
}

}  // namespace

void AddLiveDone(std::string_view status_json, std::string_view job, LiveDone& out) {
  const json status = json::parse(status_json, nullptr, false);
  if (!status.is_object() || !status.contains("scan") || !status["scan"].is_array()) return;
  for (const json& e : status["scan"]) {
    if (!e.is_object() || !e.contains("job") || e["job"] != job) continue;
    if (!e.contains("shard") || !e["shard"].is_number_unsigned() || !e.contains("done") ||
        !e["done"].is_number_unsigned()) {
      continue;
    }
    const auto shard = e["shard"].get<std::uint64_t>();
    if (shard > UINT32_MAX) continue;
    out[static_cast<std::uint32_t>(shard)] = e["done"].get<std::uint64_t>();
  }
}

double JobFraction(const zk::JobStatusView& view, const LiveDone& live) {
  if (view.shards == 0) return 0;
  double sum = 0;
  for (const auto& r : view.rows) {
    if (r.state == "done") {
      sum += 1;
    } else if (r.state == "claimed" && r.total && *r.total > 0) {
      std::uint64_t at = r.checkpoint.value_or(0);
      if (auto it = live.find(r.shard); it != live.end()) at = std::max(at, it->second);
      sum += static_cast<double>(std::min(*r.total, at)) / static_cast<double>(*r.total);
    }
  }
  return std::clamp(sum / view.shards, 0.0, 1.0);
}

std::uint64_t JobPairs(const zk::JobStatusView& view, const SharedJobSpec& spec) {
  for (const auto& r : view.rows) {
    if (r.total && *r.total > 0) return *r.total * view.shards;  // shard sizes differ by <= 1
  }
  auto targets = ParseTargetList(spec.targets);
  auto ports = ParsePortList(spec.ports);
  if (!targets.ok() || !ports.ok()) return 0;
  const std::uint64_t a = CountAddresses(*targets), p = CountPorts(*ports);
  return a != 0 && p > UINT64_MAX / a ? UINT64_MAX : a * p;
}

void ProgressSmoother::Add(double t_s, double fraction) {
  if (last_t_ && t_s <= *last_t_) return;  // out of order or the same instant
  if (last_t_) {
    const double dt = t_s - *last_t_;
    if (started_ && fraction <= *last_fraction_ && dt < hold_s_ && fraction < 1) {
      return;  // no new count yet: the next one covers this time too
    }
    const double sample = std::max(0.0, fraction - *last_fraction_) / dt;
    // Nothing moved yet (the job waits for a claim): no rate rather than a rate of 0.
    started_ = started_ || sample > 0;
    if (started_) {
      const double alpha = 1 - std::exp(-dt / tau_s_);
      if (!rate_) {
        rate_ = sample;
      } else {
        const double next = *rate_ + alpha * (sample - *rate_);
        rate_ = std::clamp(next, *rate_ / kMaxStep, *rate_ * kMaxStep);
      }
    }
  }
  last_t_ = t_s;
  last_fraction_ = fraction;
}

std::optional<double> ProgressSmoother::EtaSeconds() const {
  if (last_fraction_ && *last_fraction_ >= 1) return 0.0;
  if (!rate_ || *rate_ <= 0 || !last_fraction_) return std::nullopt;
  return (1 - *last_fraction_) / *rate_;
}

std::string FormatWatchLine(const WatchSample& s) {
  char pct[16];
  std::snprintf(pct, sizeof pct, "%.2f%%", std::floor(s.fraction * 10000) / 100);
  std::string line = s.job + ": " + pct + " done";
  line += ", rate " + (s.pairs_per_s ? Short(*s.pairs_per_s) + "/s" : std::string("-"));
  line += ", found " + std::to_string(s.found);
  line += ", shards " + std::to_string(s.done) + "/" + std::to_string(s.shards) + " done";
  if (s.claimed) line += " " + std::to_string(s.claimed) + " running";
  if (s.state == "finished") {
    line += ", finished";
  } else if (s.state == "cancelled") {
    line += ", cancelled";
  } else {
    line += ", ETA " + (s.eta_s ? HoursMinutesSeconds(*s.eta_s) : std::string("-"));
  }
  return line;
}

std::string WatchEventJson(const WatchSample& s) {
  json j = {{"job", s.job},
            {"state", s.state},
            {"percent", std::floor(s.fraction * 10000) / 100},
            {"rate", Tenths(s.pairs_per_s)},
            {"found", s.found},
            {"shards", s.shards},
            {"done", s.done},
            {"claimed", s.claimed},
            {"waiting", s.waiting},
            {"eta_s", Tenths(s.eta_s)},
            {"ts_ms", s.ts_ms}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string FormatJobListTable(const std::vector<JobListEntry>& entries) {
  std::vector<std::vector<std::string>> rows;
  std::string refusals;
  for (const auto& e : entries) {
    const auto& r = e.row;
    std::string progress = "-";
    if (e.fraction) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "%.1f%%", std::floor(*e.fraction * 1000) / 10);
      progress = buf;
    }
    std::string devices;
    for (const auto& d : e.devices) devices += (devices.empty() ? "" : ",") + d;
    if (devices.empty()) devices = r.devices.empty() ? (r.group.empty() ? "-" : "group " + r.group)
                                                     : r.devices;
    std::string scope = r.targets + (r.exclude.empty() ? "" : " -" + r.exclude) + " : " + r.ports;
    rows.push_back({r.id, e.refused.empty() ? r.state : r.state + " (refused)",
                    Shorten(scope, 48), r.mode.empty() ? "-" : r.mode,
                    r.shards ? std::to_string(e.shards_done) + "/" + std::to_string(*r.shards)
                             : "-",
                    progress, std::to_string(e.found), Shorten(devices, 32),
                    r.created_ms ? FormatRfc3339Seconds(*r.created_ms) : "-"});
    if (!e.refused.empty()) refusals += "job " + r.id + " refused by picket sync: " + e.refused + "\n";
  }
  return FormatTable({"ID", "STATE", "TARGETS : PORTS", "MODE", "SHARDS", "PROGRESS", "FOUND",
                      "DEVICES", "CREATED"},
                     rows) +
         refusals;
}

std::string FormatJobListJson(const std::vector<JobListEntry>& entries) {
  json out = json::array();
  auto opt = [](const auto& v) { return v ? json(*v) : json(); };
  for (const auto& e : entries) {
    const auto& r = e.row;
    out.push_back({{"id", r.id},
                   {"state", r.state},
                   {"targets", r.targets},
                   {"exclude", r.exclude},
                   {"ports", r.ports},
                   {"mode", r.mode},
                   {"group", r.group},
                   {"shards", opt(r.shards)},
                   {"rate_pps", opt(r.rate_pps)},
                   {"shards_done", e.shards_done},
                   {"percent", e.fraction ? json(std::floor(*e.fraction * 1000) / 10) : json()},
                   {"found", e.found},
                   {"devices", e.devices},
                   {"refused", e.refused.empty() ? json() : json(e.refused)},
                   {"created_ms", opt(r.created_ms)},
                   {"finished_ms", opt(r.finished_ms)},
                   {"version", r.version}});
  }
  return out.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace picket::cli
