// `picket zk`: the fleet's ZooKeeper identities and ACLs (zk/acl_policy.h).
//   zk secure              re-apply every node's ACL under the root
//   zk device add DEVICE   a new password for DEVICE's own identity
//   zk fleet init          a new password for the shared picket-fleet identity
// Passwords are printed once (or written to a 0600 --out file); ZooKeeper
// keeps only their digests, in admin-only nodes under <root>/identities.
#pragma once

#include <span>
#include <string_view>

namespace picket::cli {

inline constexpr std::string_view kZkSummary =
    "ZooKeeper identities and ACLs: secure the tree, add a device's identity";

inline constexpr std::string_view kZkUsage =
    "zk secure [--json] [ZK FLAGS]\n"
    "     zk device add DEVICE [--group GROUP] [--out FILE] [ZK FLAGS]\n"
    "     zk fleet init [--out FILE] [ZK FLAGS]\n\n"
    "Every part of a fleet authenticates to ZooKeeper with a digest identity: the admin\n"
    "(sync, collector, this CLI), each device as itself (user = device id) and, for shared\n"
    "scan jobs, every device also as picket-fleet. config/OPERATOR.md \"ZooKeeper identities\"\n"
    "has the table of who may read and write which node.\n\n"
    "  secure       re-apply the ACL of every node under the root, nodes created before\n"
    "               credentials were turned on (world:anyone) included; prints how many\n"
    "               changed. picket sync does the same after every full reconcile.\n"
    "  device add   generate a password for DEVICE (picketd's zookeeper.auth_user = DEVICE,\n"
    "               auth_password_file), store only its digest in <root>/identities/devices/\n"
    "               DEVICE (admin only) and secure the tree so DEVICE reads its own and its\n"
    "               group's config (the row's group_name) and writes its own status. Run\n"
    "               again to rotate.\n"
    "  fleet init   generate the picket-fleet password (picketd's zookeeper.\n"
    "               fleet_password_file), store its digest in <root>/identities and secure\n"
    "               the tree. Run again to rotate (then give every device the new one).\n"
    "  --out FILE   write the password to FILE (mode 0600, replaced) instead of printing it\n"
    "  --group G    device add: the group whose config DEVICE may read until picket sync\n"
    "               records the devices row's group_name (it does at every full reconcile)\n"
    "  --json       secure: one JSON object {\"root\", \"nodes\", \"changed\", \"devices\",\n"
    "               \"fleet_identity\", \"ms\"}\n"
    "ZK FLAGS: --zk HOSTS, --zk-root PATH, --zk-user USER --zk-password-file FILE (the\n"
    "admin identity; default: \"zookeeper\", \"zk_root\", \"zk_user\", \"zk_password_file\"\n"
    "in the CLI config). Credentials are required.\n\n"
    "Exit codes: 0 done, 1 ZooKeeper error, 2 bad flag, config or device id.\n";

int RunZkCommand(std::span<char* const> args);

}  // namespace picket::cli
