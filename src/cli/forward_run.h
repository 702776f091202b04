// runForward: the forwarder process, for `ocpv-dr forward` and `ocpv-dr-forward`.
#pragma once

#include <string>

namespace ocpvdr::cli {

// Runs until SIGTERM/SIGINT; returns the process exit code (0 after a clean stop). Writes the
// health/metrics URL to readyFile (when not empty) once listening.
int runForward(const std::string& configPath, const std::string& readyFile);

}  // namespace ocpvdr::cli
