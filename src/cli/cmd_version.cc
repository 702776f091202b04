// `ocpv-dr version`: the version, as text or JSON.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"

namespace ocpvdr::cli {

void registerVersion(CLI::App& app, GlobalOptions& /*g*/, Outcome& out) {
  auto* cmd = app.add_subcommand("version", "Print the version");
  auto json = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json, "Print as JSON");
  cmd->callback([json, &out] {
    if (*json) {
      std::cout << nlohmann::json{{"name", "ocpv-dr"}, {"version", OCPVDR_VERSION}}.dump() << "\n";
    } else {
      std::cout << "ocpv-dr " << OCPVDR_VERSION << "\n";
    }
    out.exitCode = 0;
  });
}

}  // namespace ocpvdr::cli
