#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "support/http_client.h"

int main(int argc, char** argv) {
  picket::testing::GlobalHttpInit();  // before any thread
  doctest::Context context(argc, argv);
  return context.run();
}
