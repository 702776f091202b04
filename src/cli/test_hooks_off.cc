// The product binary's test hooks: none (see test_hooks.h).
#include "cli/test_hooks.h"

namespace ocpvdr::cli {

const TestHooks& testHooks() {
  static const TestHooks none;
  return none;
}

}  // namespace ocpvdr::cli
