#include "collector/api_handler.h"

namespace picket::collector {

Reply ApiHandler::HandleWeb(const Admission& a, std::string body) {
  (void)body;
  return JsonError(501, "not implemented yet: " + std::string(wire::EndpointName(a.route.endpoint)));
}

}  // namespace picket::collector
