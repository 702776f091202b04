// Small helpers for reading untrusted JSON (Kubernetes objects, webhook bodies) without throwing:
// every accessor says which field was missing or of the wrong type.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace ocpvdr {

using Json = nlohmann::json;

// Walks a dotted path ("spec.nfs.server"); nullptr when any step is absent or not an object.
const Json* jsonAt(const Json& root, std::string_view dottedPath);

// Typed reads. Missing → NotFound-free Invalid error naming the path; wrong type → Invalid error
// naming the path, the expected type and the actual JSON type.
Result<std::string> jsonString(const Json& root, std::string_view dottedPath);
Result<std::int64_t> jsonInt(const Json& root, std::string_view dottedPath);
Result<bool> jsonBool(const Json& root, std::string_view dottedPath);
// Optional reads: absent/null → std::nullopt; present with the wrong type → error.
Result<std::optional<std::string>> jsonOptString(const Json& root, std::string_view dottedPath);
Result<std::optional<bool>> jsonOptBool(const Json& root, std::string_view dottedPath);

// Parses text as JSON; the error names `what` and the parser's position.
Result<Json> parseJson(std::string_view text, std::string_view what);

// Reads a whole file ("-" = stdin).
Result<std::string> readFileOrStdin(const std::string& path);
Result<std::string> readFile(const std::string& path);
// Writes atomically: temp file in the same directory, fsync, rename, fsync of the directory.
// The file is created with mode 0644; the overload takes another (0600 for credentials).
Status writeFileAtomic(const std::string& path, std::string_view data);
Status writeFileAtomic(const std::string& path, std::string_view data, unsigned mode);

// RFC 3339 / Kubernetes timestamps ("2026-11-24T00:12:21Z").
std::string formatTime(std::chrono::system_clock::time_point t);
// Same with millisecond precision ("2026-11-24T00:12:21.123Z"), for logs and reports.
std::string formatTimeMillis(std::chrono::system_clock::time_point t);
Result<std::chrono::system_clock::time_point> parseTime(std::string_view s);

}  // namespace ocpvdr
