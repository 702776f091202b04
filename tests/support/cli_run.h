// Running a command-line process that prints one JSON document (ocpv-dr's verbs) from a test:
// exit code, both streams and the parsed stdout in one value.
#pragma once

#include <map>
#include <string>

#include "core/json_util.h"
#include "core/process.h"

namespace ocpvdr::testing {

struct CliRun {
  int code = -1;  // exit code, 128 + signal number when killed by a signal
  Json doc;       // stdout parsed as JSON; is_discarded() when it is not JSON
  std::string out, err;
};

// Runs `spec` with a RealProcessRunner. A process that cannot be started is a test failure
// (ADD_FAILURE) and leaves code at -1.
CliRun runCliProcess(const ProcessSpec& spec);

// The ocpv-dr binary for a run with `env`: the test build ocpv-dr-testhooks when `env` sets one
// of its hook variables (OCPVDR_FAKE_NOW, OCPVDR_FAILOVER_CRASH: src/cli/test_hooks.h), else the
// product binary ocpv-dr, which ignores them.
std::string ocpvdrBinaryFor(const std::map<std::string, std::string>& env);

}  // namespace ocpvdr::testing
