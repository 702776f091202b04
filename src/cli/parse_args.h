// The command-line parse every ocpv-dr program ends its main() with (ocpv-dr, ocpv-dr-forward and
// the demo harness ocpv-dr-demo): CLI11's exits become exit codes — 0 for --help and --version, 2
// (invalid input) for a usage error — and an exception escaping the parse (a command runs inside
// it) is reported as an internal error (1). Header-only, so a harness uses it without linking cli.
#pragma once

#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>
#include <optional>

namespace ocpvdr::cli {

// Parses argv into `app` (running the chosen subcommand's callback). nullopt: parsed; otherwise
// the exit code main() returns.
inline std::optional<int> parseArgs(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  } catch (const std::exception& e) {
    std::cerr << app.get_name() << ": internal error: " << e.what() << "\n";
    return 1;
  }
  return std::nullopt;
}

}  // namespace ocpvdr::cli
