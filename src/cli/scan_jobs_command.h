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
    "submit a shared scan job, follow it, list results";

inline constexpr std::string_view kScanUsage =
    "scan submit --targets T --ports P --rate PPS --shards N [--mode syn|connect]\n"
    "            [--group G | --devices a,b] [--id ID] [--max-parallel N] [--db URL]\n"
    "     scan status JOB [--json] [--zk HOSTS] [--zk-root PATH]\n"
    "                     [--zk-user USER --zk-password-file FILE | --zk-open-acl]\n"
    "     scan results JOB [--json] [--limit N] [--collector URL] [--token-file FILE]\n"
    "     scan cancel JOB [--db URL]\n\n"
    "submit validates the job with the devices' own parser and inserts a scan_jobs row\n"
    "(picket sync mirrors it to <root>/jobs/<id>); prints the job id (default\n"
    "scan-<yyyymmdd-hhmmss>-<4 hex>, UTC). --rate is the rate of each shard (probes/s);\n"
    "a device scanning several shards or jobs at once is capped in total by its own\n"
    "scan_max_pps (device config), whatever the jobs' rates add up to.\n"
    "status prints every shard: done (by whom, results), claimed (by whom, checkpoint,\n"
    "of the shard's size when the claimer reports it) or waiting, a summary line, an\n"
    "estimate of the time left (from the shards running now, at the job's rate each)\n"
    "and the shards each device finished or holds, with the probes/s each claimer\n"
    "sends over all its scans (the sum scan_max_pps caps).\n"
    "results lists what the collector stored for the job: ip, port, proto, device,\n"
    "shard, ts (--limit, default 1000).\n"
    "cancel sets the job's row to state 'cancelled': picket sync deletes <root>/jobs/<id>\n"
    "and the devices stop its shards; results already at the collector stay.\n\n"
    "  --zk HOSTS, --zk-root PATH, --zk-user USER, --zk-password-file FILE, --db URL,\n"
    "  --collector URL, --token-file FILE default to \"zookeeper\", \"zk_root\", \"zk_user\",\n"
    "  \"zk_password_file\", \"db\", \"collector\", \"token_file\" in the CLI config.\n"
    "  PICKET_DB_PASSWORD overrides the database password. status needs the ZooKeeper\n"
    "  credentials, or --zk-open-acl (\"zk_open_acl\": true) for an unsafe open tree.\n\n"
    "Exit codes: 0 done, 1 invalid job, unknown job or server error, 2 bad flag or config.\n";

int RunScanJobsCommand(std::span<char* const> args);

}  // namespace picket::cli
