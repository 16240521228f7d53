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

  TEST_CASE("a parse error's text drops nlohmann's tag and escapes the input it quotes") {
    const auto error_of = [](std::string_view text) {
      try {
        const nlohmann::json parsed = nlohmann::json::parse(text);
        FAIL("parsed: " << parsed.dump());
      } catch (const nlohmann::json::exception& e) {
        return JsonParseErrorText(e);
      }
      return std::string();
    };
    const std::string text = error_of("{\"a\": \"ok\xff\xfe\"}");
    CHECK(text.rfind("parse error at line 1, column ", 0) == 0);
    CHECK(text.find("[json.exception") == std::string::npos);
    CHECK(text.find('\xff') == std::string::npos);
    CHECK(text.find("ok\\xff") != std::string::npos);
    for (const unsigned char c : text) CHECK((c >= 0x20 && c < 0x7f));
  }
}

}  // namespace picket
