// `ocpv-dr forward`: the event forwarder (forwarder/forwarder.h); the process is run by
// runForward (forward_run.cc), which the lean ocpv-dr-forward binary shares.
#include "cli/commands.h"
#include "cli/forward_run.h"

namespace ocpvdr::cli {

void registerForward(CLI::App& app, GlobalOptions& g, Outcome& out) {
  auto* cmd = app.add_subcommand(
      "forward",
      "Watch PersistentVolumes and VolumeSnapshots and POST every change to a webhook (EDA)");
  auto readyFile = std::make_shared<std::string>();
  cmd->add_option("--ready-file", *readyFile,
                  "Write the health/metrics URL to this file once listening");
  cmd->callback([&g, &out, readyFile] { out.exitCode = runForward(g.configPath, *readyFile); });
}

}  // namespace ocpvdr::cli
