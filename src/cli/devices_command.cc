#include "cli/devices_command.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/operator_support.h"
#include "picket/zk/zk_session.h"
#include "picket/zk/znode_layout.h"

namespace picket::cli {

namespace {

using nlohmann::json;

std::string OrDash(const std::string& s) { return s.empty() ? "-" : s; }

template <typename T>
std::string OrDash(const std::optional<T>& v) {
  return v ? std::to_string(*v) : "-";
}

}  // namespace

std::string FormatDevicesTable(const std::vector<DeviceView>& devices) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& d : devices) {
    rows.push_back({d.id, OrDash(d.group), d.alive ? "yes" : "no",
                    OrDash(d.applied_version) + "/" + OrDash(d.desired_version),
                    OrDash(d.bytes_pending), OrDash(d.worker_state), OrDash(d.last_error)});
  }
  return FormatTable({"DEVICE", "GROUP", "ALIVE", "CONFIG(applied/desired)", "PENDING_BYTES",
                      "WORKER", "LAST_ERROR"},
                     rows);
}

std::string FormatDevicesJson(const std::vector<DeviceView>& devices) {
  json out = json::array();
  for (const auto& d : devices) {
    json j = {{"id", d.id},
              {"group", d.group.empty() ? json() : json(d.group)},
              {"alive", d.alive},
              {"applied_version", d.applied_version ? json(*d.applied_version) : json()},
              {"desired_version", d.desired_version ? json(*d.desired_version) : json()},
              {"last_error", d.last_error.empty() ? json() : json(d.last_error)},
              {"bytes_pending", d.bytes_pending ? json(*d.bytes_pending) : json()},
              {"worker_state", d.worker_state.empty() ? json() : json(d.worker_state)}};
    out.push_back(std::move(j));
  }
  return out.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

int RunDevicesCommand(std::span<char* const> args) {
  constexpr std::string_view kName = "devices";
  FlagParser flags({"zk", "zk-root", "zk-user", "zk-password-file"}, {"json", "zk-open-acl"});
  if (auto st = flags.Parse(args); !st.ok()) return Fail(kName, st.message(), 2);
  int exit_code = 0;
  auto connection = OpenZkOrFail(kName, flags, &exit_code);
  if (!connection) return exit_code;
  const zk::ZnodeLayout layout(connection->address.root);
  zk::ZkSession& zk = *connection->session;

  auto ids = ChildrenIfExists(zk, layout.Devices());
  if (!ids.ok()) return Fail(kName, ids.status().ToString(), 1);
  std::vector<DeviceView> views;
  for (const std::string& id : *ids) {
    std::optional<std::string> nodes[3];
    const std::string paths[3] = {layout.DeviceConfig(id), layout.DeviceStatus(id),
                                  layout.DeviceSyncError(id)};
    for (int i = 0; i < 3; ++i) {
      auto data = GetIfExists(zk, paths[i]);
      if (!data.ok()) return Fail(kName, data.status().ToString(), 1);
      nodes[i] = *data;
    }
    views.push_back(BuildDeviceView(id, nodes[0], nodes[1], nodes[2]));
  }
  const std::string text = flags.Has("json") ? FormatDevicesJson(views) : FormatDevicesTable(views);
  std::fputs(text.c_str(), stdout);
  return 0;
}

}  // namespace picket::cli
