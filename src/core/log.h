// Logging: human-readable lines on a TTY, JSON lines otherwise (for log collectors).
//
// Logs go to stderr; stdout is reserved for the JSON result documents commands print.
// Secrets never reach the output: values registered with addSecret() are masked wherever they
// appear, and fields whose key names a credential (token, password, secret, key material,
// authorization) are masked whatever their value.
// This is the process's one piece of global state (the spdlog default logger); main() sets it up.
#pragma once

#include <iosfwd>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace ocpvdr::log {

enum class Format { Auto, Human, Json };
enum class Level { Debug, Info, Warn, Error };

void setup(Format format = Format::Auto, Level level = Level::Info);
// Same, but writes to `out` instead of stderr (tests capture the lines this way). `out` must
// outlive all logging until the next setup call. Format::Auto means JSON here.
void setupStream(std::ostream& out, Format format = Format::Json, Level level = Level::Info);
Level parseLevel(std::string_view s, Level fallback = Level::Info);
void addSecret(std::string secret);  // ignored when shorter than 4 characters

void debug(std::string_view msg, const nlohmann::json& fields = nlohmann::json::object());
void info(std::string_view msg, const nlohmann::json& fields = nlohmann::json::object());
void warn(std::string_view msg, const nlohmann::json& fields = nlohmann::json::object());
void error(std::string_view msg, const nlohmann::json& fields = nlohmann::json::object());

// Exposed for tests: the redaction applied to every message and field.
std::string redact(std::string_view text);
nlohmann::json redactFields(const nlohmann::json& fields);

}  // namespace ocpvdr::log
