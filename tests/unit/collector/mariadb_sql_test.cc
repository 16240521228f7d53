#include "collector/mariadb_sql.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace picket::collector::sql {

TEST_SUITE("collector.mariadb_sql") {
  TEST_CASE("ParseInts reads the named integer columns in order") {
    const sync::SqlRow row{std::string("x"), std::string("42"), std::string("-7"), std::nullopt};
    auto ints = ParseInts(row, {2, 1});
    REQUIRE(ints.ok());
    CHECK((*ints)[0] == -7);
    CHECK((*ints)[1] == 42);
  }

  TEST_CASE("ParseInts names the column that is not an integer, NULL, or missing") {
    const sync::SqlRow row{std::string("1"), std::string("12abc"), std::nullopt};
    auto text = ParseInts(row, {0, 1});
    REQUIRE_FALSE(text.ok());
    CHECK(text.status().code() == StatusCode::kInternal);
    CHECK(text.status().message() == "MariaDB returned \"12abc\" for an integer column (column 1)");

    auto null = ParseInts(row, {2});
    REQUIRE_FALSE(null.ok());
    CHECK(null.status().message() == "MariaDB returned NULL for an integer column (column 2)");

    auto short_row = ParseInts(row, {0, 5});  // a row shorter than the query: an error, no throw
    REQUIRE_FALSE(short_row.ok());
    CHECK(short_row.status().message() == "MariaDB returned a row of 3 columns, without column 5");
  }

  TEST_CASE("ParseInt quotes at most 64 bytes of a value that is not an integer") {
    auto huge = ParseInt(std::string(100000, '9') + "x");
    REQUIRE_FALSE(huge.ok());
    CHECK(huge.status().message() ==
          "MariaDB returned \"" + std::string(64, '9') + "...\" for an integer column");
    auto overflow = ParseInt(std::string("99999999999999999999"));
    CHECK_FALSE(overflow.ok());
    auto empty = ParseInt(std::string());
    CHECK_FALSE(empty.ok());
  }

  TEST_CASE("ParseInt names the column it was given") {
    auto text = ParseInt(std::string("12x"), "collector_chunks.seq");
    REQUIRE_FALSE(text.ok());
    CHECK(text.status().message() ==
          "MariaDB returned \"12x\" for integer column collector_chunks.seq");
    auto null = ParseInt(std::nullopt, "collector_devices.chunk_bytes");
    REQUIRE_FALSE(null.ok());
    CHECK(null.status().message() ==
          "MariaDB returned NULL for integer column collector_devices.chunk_bytes");
  }

  TEST_CASE("Rows refuses a row narrower than the query, so callers may index the rest") {
    using Rows_ = std::vector<sync::SqlRow>;
    const Rows_ two{{std::string("a"), std::nullopt}, {std::string("b"), std::string("1")}};
    auto fits = Rows(Rows_(two), 2);
    REQUIRE(fits.ok());
    CHECK(fits->size() == 2);
    CHECK(Rows(Rows_(two), 1).ok());  // wider than asked is fine
    CHECK(Rows(Rows_{}, 5).ok());     // no row at all

    const Rows_ ragged{{std::string("a"), std::string("1")}, {std::string("b")}};
    auto narrow = Rows(Rows_(ragged), 2);
    REQUIRE_FALSE(narrow.ok());
    CHECK(narrow.status().code() == StatusCode::kInternal);
    CHECK(narrow.status().message() ==
          "MariaDB returned a row of 1 column(s) where the query selects 2");

    auto failed = Rows(Status::Unavailable("gone"), 2);  // a failed query passes through
    REQUIRE_FALSE(failed.ok());
    CHECK(failed.status().code() == StatusCode::kUnavailable);
  }
}

}  // namespace picket::collector::sql
