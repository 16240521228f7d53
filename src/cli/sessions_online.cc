// Placeholder until the collector serves /v1/sessions.
#include "cli/sessions_online.h"

#include <cstdio>

namespace picket::cli {

static int NotYet() {
  std::fputs("picket sessions: the collector's session API is not built yet\n", stderr);
  return 1;
}
int RunSessionsList(std::span<char* const>) { return NotYet(); }
int RunSessionsShow(std::span<char* const>) { return NotYet(); }
int RunSessionsPcap(std::span<char* const>) { return NotYet(); }

}  // namespace picket::cli
