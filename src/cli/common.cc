// Plumbing shared by the command groups (see commands.h).
#include <iostream>

#include "cli/commands.h"
#include "core/log.h"

namespace ocpvdr::cli {

void addGlobalOptions(CLI::App& app, GlobalOptions& g) {
  app.add_option("-c,--config", g.configPath, "Configuration file")
      ->envname("OCPVDR_CONFIG")
      ->capture_default_str();
  app.add_option("--log-level", g.logLevel, "debug | info | warn | error")->capture_default_str();
  app.add_option("--log-format", g.logFormat,
                 "auto (human on a TTY, JSON otherwise) | human | json")
      ->capture_default_str();
  app.parse_complete_callback([&g] {
    log::setup(g.logFormat == "json"    ? log::Format::Json
               : g.logFormat == "human" ? log::Format::Human
                                        : log::Format::Auto,
               log::parseLevel(g.logLevel));
  });
}

void reportFailure(const Error& e, bool json, Outcome& out) {
  if (json) {
    nlohmann::json doc{
        {"error", {{"kind", std::string(toString(e.kind))}, {"message", e.message}}}};
    std::cout << doc.dump(2) << "\n";
  }
  std::cerr << "ocpv-dr: " << e.describe() << "\n";
  out.exitCode = exitCodeFor(e.kind);
}

}  // namespace ocpvdr::cli
