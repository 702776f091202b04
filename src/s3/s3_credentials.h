// S3 credentials: the OADP `cloud-credentials` file and the AWS_* environment variables.
//
// File format (what OADP's `cloud-credentials` Secret holds, the AWS shared credentials file):
// INI sections `[name]` (also `[profile name]`), `key = value` lines, `#`/`;` comment lines,
// blank lines, CRLF tolerated. Keys read: aws_access_key_id, aws_secret_access_key and optional
// aws_session_token; others (region, ...) are ignored. A duplicate section or key, a line that is
// neither, or a key outside any section is an error naming the line number (never its content:
// it may hold a secret).
//
// Preference: the file when backup_store.credentials_file is configured (its profile must exist,
// no silent fallback), otherwise AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN.
// Loaded secrets are registered with log::addSecret so they never reach a log line.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "s3/sigv4.h"

namespace ocpvdr::s3 {

// Looks up an environment variable (main passes getenv; tests pass a map).
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// Parses credentials-file text. `sourceName` names the file in messages.
[[nodiscard]] Result<AwsCredentials> parseCredentialsFile(std::string_view text,
                                                          std::string_view profile,
                                                          std::string_view sourceName);

// Reads the configured file, or the environment when `file` is empty. Invalid when neither
// yields an access key id and a secret; NotFound when the file does not exist.
[[nodiscard]] Result<AwsCredentials> loadCredentials(const std::string& file,
                                                     const std::string& profile,
                                                     const EnvLookup& env);

// The process environment, for main.
EnvLookup processEnv();

}  // namespace ocpvdr::s3
