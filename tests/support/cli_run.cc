// Running a JSON-printing command-line process from a test.
#include "support/cli_run.h"

#include <gtest/gtest.h>

namespace ocpvdr::testing {

CliRun runCliProcess(const ProcessSpec& spec) {
  RealProcessRunner runner;
  auto r = runner.run(spec);
  CliRun out;
  if (!r.ok()) {
    ADD_FAILURE() << r.error().describe();
    return out;
  }
  out.code = r->signaled ? 128 + r->termSignal : r->exitCode;
  out.out = r->out;
  out.err = r->err;
  out.doc = Json::parse(r->out, nullptr, false);
  return out;
}

}  // namespace ocpvdr::testing
