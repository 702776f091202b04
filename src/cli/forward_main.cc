// ocpv-dr-forward: the event forwarder alone, for the container image (deploy/forwarder). The
// same process as `ocpv-dr forward` (forward_run.cc), linked without the modules and libraries
// only the other commands use (libcurl, libarchive, rsync and failover code): the forwarder runs
// for months next to the API server, and its resident memory is most of what it costs.
#include <csignal>
#include <exception>
#include <iostream>

#include "cli/commands.h"
#include "cli/forward_run.h"
#include "cli/parse_args.h"

int main(int argc, char** argv) {
  using namespace ocpvdr;
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{
      "ocpv-dr-forward: watch PersistentVolumes and VolumeSnapshots and POST every change to a\n"
      "webhook (EDA or `ocpv-dr serve`). The same as `ocpv-dr forward`.",
      "ocpv-dr-forward"};
  cli::GlobalOptions g;
  std::string readyFile;
  cli::addGlobalOptions(app, g);
  app.add_option("--ready-file", readyFile,
                 "Write the health/metrics URL to this file once listening");
  app.set_version_flag("--version", std::string("ocpv-dr-forward ") + OCPVDR_VERSION);
  if (auto code = cli::parseArgs(app, argc, argv)) return *code;
  try {
    return cli::runForward(g.configPath, readyFile);
  } catch (const std::exception& e) {
    std::cerr << "ocpv-dr-forward: internal error: " << e.what() << "\n";
    return 1;
  }
}
