// Running a JSON-printing command-line process from a test.
#include "support/cli_run.h"

#include <gtest/gtest.h>

#include "support/temp_dir.h"

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

std::string ocpvdrBinaryFor(const std::map<std::string, std::string>& env) {
  const bool hooks = env.count("OCPVDR_FAKE_NOW") > 0 || env.count("OCPVDR_FAILOVER_CRASH") > 0;
  return binaryPath(hooks ? "src/cli/ocpv-dr-testhooks" : "src/cli/ocpv-dr").string();
}

}  // namespace ocpvdr::testing
