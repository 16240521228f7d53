#include "picket/common/status.h"

#include <doctest/doctest.h>

#include <cerrno>

namespace picket {

TEST_SUITE("common") {
  TEST_CASE("Status carries code, message and context") {
    Status ok;
    CHECK(ok.ok());
    CHECK(ok.ToString() == "OK");
    Status bad = Status::InvalidArgument("snaplen too big").WithContext("/capture/snaplen");
    CHECK_FALSE(bad.ok());
    CHECK(bad.code() == StatusCode::kInvalidArgument);
    CHECK(bad.message() == "/capture/snaplen: snaplen too big");
    CHECK(bad.ToString() == "InvalidArgument: /capture/snaplen: snaplen too big");
  }

  TEST_CASE("FromErrno maps errno to retryable and final codes") {
    CHECK(FromErrno("open /x", ENOENT).code() == StatusCode::kNotFound);
    CHECK(FromErrno("open /x", EACCES).code() == StatusCode::kPermissionDenied);
    CHECK(FromErrno("write /x", ENOSPC).code() == StatusCode::kResourceExhausted);
    CHECK(FromErrno("connect", ECONNREFUSED).code() == StatusCode::kUnavailable);
    CHECK(FromErrno("read", EIO).code() == StatusCode::kIoError);
    CHECK(FromErrno("open /x", ENOENT).message() == "open /x: No such file or directory");
  }

  TEST_CASE("Result holds a value or an error, never an OK status") {
    Result<int> v = 42;
    REQUIRE(v.ok());
    CHECK(*v == 42);
    Result<int> e = Status::NotFound("no chunk 7");
    CHECK_FALSE(e.ok());
    CHECK(e.status().code() == StatusCode::kNotFound);
    Result<int> misuse = Status::Ok();
    CHECK_FALSE(misuse.ok());
    CHECK(misuse.status().code() == StatusCode::kInternal);
  }

  TEST_CASE("PICKET_RETURN_IF_ERROR stops at the first failure") {
    int calls = 0;
    auto step = [&](bool fail) {
      ++calls;
      return fail ? Status::IoError("disk") : Status::Ok();
    };
    auto run = [&]() -> Status {
      PICKET_RETURN_IF_ERROR(step(false));
      PICKET_RETURN_IF_ERROR(step(true));
      PICKET_RETURN_IF_ERROR(step(false));
      return Status::Ok();
    };
    CHECK(run().code() == StatusCode::kIoError);
    CHECK(calls == 2);
  }
}

}  // namespace picket
