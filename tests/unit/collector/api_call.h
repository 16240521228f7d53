// The collector unit tests' one way to send a request through ApiHandler
// without a socket: Admit, then Handle, and a streamed answer read to its end
// as the transport would send it.
#pragma once

#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "collector/api_handler.h"

namespace picket::testing {

inline collector::Reply CallApi(collector::ApiHandler& api, std::string method,
                                std::string target,
                                const std::vector<std::pair<std::string, std::string>>& headers,
                                std::string body = {}) {
  collector::RequestHead head;
  head.method = std::move(method);
  head.target = std::move(target);
  for (const auto& [k, v] : headers) head.headers.Add(k, v);
  if (!body.empty()) head.content_length = body.size();
  collector::Admission a = api.Admit(head);
  collector::Reply r = api.Handle(std::move(a), std::move(body));
  while (r.stream) {
    auto piece = r.stream();
    REQUIRE(piece.ok());
    if (piece->empty()) r.stream = nullptr;
    r.body += *piece;
  }
  return r;
}

}  // namespace picket::testing
