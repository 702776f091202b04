// Plumbing shared by the command groups (see commands.h).
#include <iostream>

#include "cli/commands.h"

namespace ocpvdr::cli {

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
