// ocpv-dr entry point: parse the command line, set up logging, dispatch to a command group.
// Exceptions are caught only here (startup and programming errors); everything expected is a
// Result whose error kind becomes the exit code.
#include <csignal>

#include "cli/commands.h"
#include "cli/parse_args.h"
#include "core/curl_http.h"

int main(int argc, char** argv) {
  using namespace ocpvdr;
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{
      "ocpv-dr: disaster recovery for OpenShift Virtualization VMs whose disks live on NFS.\n"
      "Replicates PV data to a DR NFS server on events and on a schedule, and fails VMs over to\n"
      "the DR cluster from an OADP (Velero) backup.",
      "ocpv-dr"};
  app.require_subcommand(1);
  app.fallthrough();
  cli::GlobalOptions g;
  cli::Outcome out;
  cli::addGlobalOptions(app, g);

  cli::registerVersion(app, g, out);
  cli::registerConfig(app, g, out);
  cli::registerForward(app, g, out);
  cli::registerServe(app, g, out);
  cli::registerPv(app, g, out);
  cli::registerSnapshot(app, g, out);
  cli::registerTrash(app, g, out);
  cli::registerCatalog(app, g, out);
  cli::registerReconcile(app, g, out);
  cli::registerStatus(app, g, out);
  cli::registerBackup(app, g, out);
  cli::registerFailover(app, g, out);
  cli::registerPoints(app, g, out);
  cli::registerRelay(app, g, out);

  initHttpGlobal();
  if (auto code = cli::parseArgs(app, argc, argv)) return *code;
  return out.exitCode;
}
