// `picket scan submit|status|results`: shared scan jobs (config/README.md
// "Shared scan jobs"). submit writes a scan_jobs row to MariaDB (picket sync
// mirrors it to ZooKeeper), status reads the job's claims/progress/done
// children in ZooKeeper, results asks the collector (GET /v1/results?job=).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "picket/common/shared_job.h"
#include "picket/zk/fleet_views.h"

namespace picket::cli {

// "scan-<yyyymmdd-hhmmss>-<4 hex>" for the given UTC wall time and random bits.
std::string MakeJobId(std::int64_t wall_ms, std::uint16_t random);

// The job view lives in the zk module (the collector's GET /v1/scans builds
// the same one).
using zk::DeviceShards;
using zk::JobStatusView;
using zk::ShardView;

// Pure: zk::BuildJobStatus with the connect scanner's timeout (scan::ScanSpec).
JobStatusView BuildJobStatus(const SharedJobSpec& spec,
                             const std::map<std::uint32_t, std::string>& claims,
                             const std::map<std::uint32_t, std::string>& progress,
                             const std::map<std::uint32_t, std::string>& done,
                             const std::map<std::uint32_t, std::uint64_t>& totals);
std::string FormatJobStatusTable(const JobStatusView& view);
std::string FormatJobStatusJson(const JobStatusView& view);

// Pure: the collector's /v1/results rows as the table ip, port, proto, device, shard, ts.
std::string FormatResultsTable(const std::string& rows_json);

inline constexpr std::string_view kScanSummary =
    "submit, list and follow shared scan jobs, list results";

inline constexpr std::string_view kScanUsage =
    "scan submit --targets T --ports P --rate PPS --shards N [--mode connect|syn]\n"
    "            [--exclude T] [--retries N] [--wait DURATION] [--banners] [--seed N]\n"
    "            [--group G | --devices a,b] [--id ID] [--max-parallel N] [--force] [--db URL]\n"
    "     scan list [--state S] [--limit N] [--json] [--db URL] [--zk HOSTS] [--zk-root PATH]\n"
    "     scan status JOB [--json] [--watch [--interval DURATION]] [--zk HOSTS] [--zk-root PATH]\n"
    "                     [--zk-user USER --zk-password-file FILE | --zk-open-acl]\n"
    "     scan results JOB [--json] [--limit N] [--collector URL] [--token-file FILE]\n"
    "     scan cancel JOB [--db URL]\n\n"
    "submit validates the job with the devices' own parser and inserts a scan_jobs row\n"
    "(picket sync mirrors it to <root>/jobs/<id>); prints the job id (default\n"
    "scan-<yyyymmdd-hhmmss>-<4 hex>, UTC). --rate is the rate of each shard (probes/s);\n"
    "a device scanning several shards or jobs at once is capped in total by its own\n"
    "scan_max_pps (device config), whatever the jobs' rates add up to. --mode defaults to\n"
    "connect (no raw socket needed on the devices); syn is faster and needs CAP_NET_RAW.\n"
    "--exclude takes the targets' grammar, --retries 0..10 (default 1), --wait 0s..60s\n"
    "the longest wait after the last probe (default 2s; less when every probe is answered\n"
    "or the reply times are short), --banners reads what open ports send first,\n"
    "--seed fixes the probe order (default: derived from the id).\n"
    "Warnings (stderr, exit 0, the job is submitted): no eligible device (a listed device\n"
    "without an enabled row in devices, a group without one), and more than 10^9 probes\n"
    "(addresses x ports x (1 + retries)). Over 10^10 probes is refused unless --force;\n"
    "over 2^32 addresses x ports is refused always (no device scans it).\n"
    "list prints the newest jobs (default 50) from the database with their progress in\n"
    "ZooKeeper: id, state, targets : ports, mode, shards done, progress %, open ports\n"
    "found, devices, created; state \"(refused)\" and a line why when picket sync refused\n"
    "the row. States: active, finished (every shard done: picket sync sets it and\n"
    "finished_at), cancelled.\n"
    "status prints every shard: done (by whom, results), claimed (by whom, checkpoint,\n"
    "of the shard's size when the claimer reports it) or waiting, a summary line, an\n"
    "estimate of the time left (from the shards running now, at the job's rate each)\n"
    "and the shards each device finished or holds, with the probes/s each claimer\n"
    "sends over all its scans (the sum scan_max_pps caps). A job sync refused says why.\n"
    "status --watch rewrites one line in place (\\r) every --interval (default 1s): % done,\n"
    "rate (address x port pairs/s), found, shards, ETA; rate and ETA are averaged with\n"
    "a 10 s time constant so they do not jump with each poll. It ends at 100% (exit 0)\n"
    "or when the job leaves ZooKeeper (cancelled: exit 1). With --json it prints one\n"
    "event a line: {\"job\",\"state\",\"percent\",\"rate\",\"found\",\"shards\",\"done\",\n"
    "\"claimed\",\"waiting\",\"eta_s\",\"ts_ms\"}, state running, finished or cancelled.\n"
    "results lists what the collector stored for the job: ip, port, proto, device,\n"
    "shard, ts (--limit, default 1000).\n"
    "cancel sets an active job's row to state 'cancelled': picket sync deletes\n"
    "<root>/jobs/<id> and the devices stop its shards; results already at the collector\n"
    "stay. A finished job is left as it is (its status and results stay).\n\n"
    "  --zk HOSTS, --zk-root PATH, --zk-user USER, --zk-password-file FILE, --db URL,\n"
    "  --collector URL, --token-file FILE default to \"zookeeper\", \"zk_root\", \"zk_user\",\n"
    "  \"zk_password_file\", \"db\", \"collector\", \"token_file\" in the CLI config.\n"
    "  PICKET_DB_PASSWORD overrides the database password. status and list need the\n"
    "  ZooKeeper credentials, or --zk-open-acl (\"zk_open_acl\": true) for an unsafe open tree.\n\n"
    "Exit codes: 0 done, 1 invalid job, unknown job or server error, 2 bad flag or config.\n";

int RunScanJobsCommand(std::span<char* const> args);

}  // namespace picket::cli
