// Checks for single configuration values (one scalar each), shared by the config parser.
//
// Each check returns std::nullopt when the value is acceptable, or the whole message for the
// issue in the form "expected <what>, got <value>" (the caller prefixes the key path). Checks
// that normalise (paths) take the value by reference and rewrite it. None of them throws.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace ocpvdr::config::rules {

using Message = std::optional<std::string>;

// `"text"` with quotes, backslashes and control characters escaped; long values are cut.
std::string quoted(std::string_view text);

// Levenshtein distance (for "did you mean" suggestions on unknown keys and enum values).
std::size_t editDistance(std::string_view a, std::string_view b);

// Absolute path, lexically normalised in place (core/paths.h rules: no "..", no NUL).
Message absolutePath(std::string& value);
// A relative directory name used below a destination (rsync --partial-dir): no "/" at the
// start, no ".." component.
Message relativeDir(std::string_view value);
// A program name looked up in PATH, or an absolute path to one.
Message program(std::string& value);
// Host name or IP address (what ssh and NFS take): letters, digits, '.', '-', '_', ':'; never
// starting with '-' so it cannot be read as an ssh option.
Message hostName(std::string_view value);
// A POSIX user name for ssh (never starting with '-').
Message userName(std::string_view value);
// http:// or https:// URL with a host and no user:password part (secrets are never inline).
Message httpUrl(std::string_view value);
// smtp:// or smtps:// URL: a host, an optional port, no user:password part and no path.
Message smtpUrl(std::string_view value);
// A mail address (core/mail.h plausibleMailAddress): "user@example.com", no display name.
Message mailAddress(std::string_view value);
// host:port to listen on, port 0..65535 (0: any free port); IPv6 hosts in brackets.
Message listenAddress(std::string_view value);
// IANA time zone name that exists as a file under `zoneinfoDir`; "UTC" is always accepted.
Message timeZone(std::string_view value, std::string_view zoneinfoDir = "/usr/share/zoneinfo");
// Five whitespace-separated cron fields (minute hour day-of-month month day-of-week), each a
// list of *, n, a-b, with optional /step, numbers in range; month and weekday names allowed.
// Checked with the scheduler's parser (core/cron.h), so an expression that never runs is refused.
Message cronExpression(std::string_view value);
// Kubernetes label selector: comma-separated requirements, none of them empty.
Message labelSelector(std::string_view value);
// Kubernetes namespace name (DNS-1123 label: lower-case alphanumerics and '-', at most 63).
Message namespaceName(std::string_view value);
// Kubernetes object name (DNS-1123 subdomain: lower-case alphanumerics, '-', '.', at most 253).
Message objectName(std::string_view value);
// Environment variable name ([A-Za-z_][A-Za-z0-9_]*).
Message envVarName(std::string_view value);
// S3 bucket name (3..63 of lower-case letters, digits, '.', '-'); empty is accepted (unset).
Message bucketName(std::string_view value);
// Object key prefix: no leading '/', no empty or ".." components.
Message objectPrefix(std::string_view value);

}  // namespace ocpvdr::config::rules
