// runForward: the forwarder process, for `ocpv-dr forward` and `ocpv-dr-forward`.
#pragma once

#include <string>

#include "config/config.h"
#include "core/clock.h"
#include "core/result.h"
#include "forwarder/secret_source.h"

namespace ocpvdr::cli {

// The webhook's bearer token (forwarder.token_file, or the environment variable
// forwarder.token_env) and HMAC secret (forwarder.hmac_secret_file), each read once to check it
// is there: the forwarder and `ocpv-dr relay` sign alike.
Status readWebhookSecrets(const config::Forwarder& f, Clock& clock, forwarder::SecretSource& token,
                          forwarder::SecretSource& hmac);

// Runs until SIGTERM/SIGINT; returns the process exit code (0 after a clean stop). Writes the
// health/metrics URL to readyFile (when not empty) once listening.
int runForward(const std::string& configPath, const std::string& readyFile);

}  // namespace ocpvdr::cli
