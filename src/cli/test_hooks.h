// Test hooks of the ocpv-dr command line: settings from the environment that let the tests pin
// the clock and crash a failover at a chosen step.
//
// They exist only in the test build of the binary, ocpv-dr-testhooks (built with the tests,
// never installed or packaged): the same command objects are linked once with test_hooks_on.cc
// (reads the environment) and once, as the product ocpv-dr, with test_hooks_off.cc (returns
// nothing). So a stray OCPVDR_FAKE_NOW or OCPVDR_FAILOVER_CRASH in a service's environment
// cannot change what the product does, and the product's binary does not even contain the
// variable names (tests/engine/serve_guard_test.cc checks both).
#pragma once

#include <string>

namespace ocpvdr::cli {

struct TestHooks {
  bool enabled = false;       // this binary is the test build
  std::string fakeNow;        // OCPVDR_FAKE_NOW: RFC 3339; pins the clock of the verbs
  std::string failoverCrash;  // OCPVDR_FAILOVER_CRASH: crash points (cmd_failover.cc)
  // OCPVDR_EXTENT_PAUSE: a phase of an extent cycle (replication::SyncOptions::extentApplyHook)
  // where `pv sync` writes its pid into OCPVDR_EXTENT_PAUSE_FILE and waits to be killed.
  std::string extentPause, extentPauseFile;
};

// Read once; empty in the product binary.
const TestHooks& testHooks();

// The pinned "now" for openHandlerEnv: the --now option when given, else OCPVDR_FAKE_NOW in
// the test build, else "" (the real clock).
inline std::string pinnedNow(const std::string& nowOption) {
  return nowOption.empty() ? testHooks().fakeNow : nowOption;
}

}  // namespace ocpvdr::cli
