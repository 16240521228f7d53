// Placeholder until the analyser lands (session record JSON and table).
#include "picket/analysis/session.h"

namespace picket::analysis {

std::string_view EndReasonName(EndReason reason) {
  switch (reason) {
    case EndReason::kFin: return "fin";
    case EndReason::kRst: return "rst";
    case EndReason::kIdle: return "idle";
    case EndReason::kEndOfData: return "end_of_data";
    case EndReason::kGap: return "gap";
    case EndReason::kReused: return "reused";
    case EndReason::kResources: return "resources";
  }
  return "unknown";
}

}  // namespace picket::analysis
