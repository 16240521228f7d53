#include "picket/common/json_limits.h"

#include <doctest/doctest.h>

#include <string>

namespace picket {

TEST_SUITE("common.json_limits") {
  TEST_CASE("bounded parsing refuses deep nesting before the parser recurses") {
    const std::string deep = std::string(1'000'000, '[') + std::string(1'000'000, ']');
    CHECK(ParseJsonBounded(deep).is_discarded());
    CHECK_FALSE(JsonNestingWithin(deep));
    const std::string at_limit = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
    CHECK_FALSE(ParseJsonBounded(at_limit).is_discarded());
    const std::string over = "[" + at_limit + "]";
    CHECK(ParseJsonBounded(over).is_discarded());
    CHECK_FALSE(ParseJsonBounded(over, kMaxJsonAnswerDepth).is_discarded());
    // Brackets inside strings (escaped quotes included) do not count.
    CHECK(ParseJsonBounded(R"({"s":"[[[[\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["})")["s"]
              .get<std::string>()
              .size() == 44);
    CHECK(ParseJsonBounded("{not json").is_discarded());
  }
}

}  // namespace picket
