// `picket sessions` against the collector (GET /v1/sessions, /v1/sessions/{id},
// /v1/sessions/{id}/pcap). The offline `--read FILE` path and the argument
// dispatch live in sessions_command.cc; these run the online forms.
#pragma once

#include <span>

namespace picket::cli {

// picket sessions [--device D] [--since DURATION] [filters...] [--json] [--limit N]
int RunSessionsList(std::span<char* const> args);
// picket sessions show ID [--json]
int RunSessionsShow(std::span<char* const> args);
// picket sessions pcap ID -o FILE
int RunSessionsPcap(std::span<char* const> args);

}  // namespace picket::cli
