// The ocpv-dr command groups. Each cmd_<group>.cc registers its subcommands on the CLI11 app and
// does only wiring: build the real implementations (clock, process runner, HTTP client, ...)
// from the configuration and hand them to the module that does the work.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "core/result.h"

namespace ocpvdr::cli {

struct GlobalOptions {
  std::string configPath = "/etc/ocpv-dr/config.yaml";  // -c/--config, or $OCPVDR_CONFIG
  std::string logLevel = "info";
  std::string logFormat = "auto";  // auto | human | json
};

// A command's callback stores its process exit code here (see README "Exit codes").
struct Outcome {
  int exitCode = 0;
};

// -c/--config, --log-level and --log-format, and logging set up once they are parsed (both
// binaries: ocpv-dr and ocpv-dr-forward).
void addGlobalOptions(CLI::App& app, GlobalOptions& g);

// A command that failed: with --json, the error as a JSON document on stdout; always the message
// on stderr; the exit code of its kind.
void reportFailure(const Error& e, bool json, Outcome& out);

void registerVersion(CLI::App& app, GlobalOptions& g, Outcome& out);
void registerConfig(CLI::App& app, GlobalOptions& g, Outcome& out);
void registerForward(CLI::App& app, GlobalOptions& g, Outcome& out);
void registerServe(CLI::App& app, GlobalOptions& g, Outcome& out);
void registerPv(CLI::App& app, GlobalOptions& g, Outcome& out);
void registerSnapshot(CLI::App& app, GlobalOptions& g, Outcome& out);
void registerTrash(CLI::App& app, GlobalOptions& g, Outcome& out);
void registerCatalog(CLI::App& app, GlobalOptions& g, Outcome& out);
void registerReconcile(CLI::App& app, GlobalOptions& g, Outcome& out);
void registerStatus(CLI::App& app, GlobalOptions& g, Outcome& out);
void registerBackup(CLI::App& app, GlobalOptions& g, Outcome& out);
void registerFailover(CLI::App& app, GlobalOptions& g, Outcome& out);
void registerPoints(CLI::App& app, GlobalOptions& g, Outcome& out);
void registerRelay(CLI::App& app, GlobalOptions& g, Outcome& out);

}  // namespace ocpvdr::cli
