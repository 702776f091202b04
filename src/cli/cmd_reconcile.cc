// Command group placeholder: registers nothing until its module lands.
#include "cli/commands.h"

namespace ocpvdr::cli {

void registerReconcile(CLI::App& /*app*/, GlobalOptions& /*g*/, Outcome& /*out*/) {}

}  // namespace ocpvdr::cli
