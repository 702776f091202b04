// The test build's hooks, read from the environment (see test_hooks.h). Linked only into
// ocpv-dr-testhooks.
#include <cstdlib>

#include "cli/test_hooks.h"

namespace ocpvdr::cli {
namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

}  // namespace

const TestHooks& testHooks() {
  static const TestHooks hooks{true, env("OCPVDR_FAKE_NOW"), env("OCPVDR_FAILOVER_CRASH"),
                               env("OCPVDR_EXTENT_PAUSE"), env("OCPVDR_EXTENT_PAUSE_FILE")};
  return hooks;
}

}  // namespace ocpvdr::cli
