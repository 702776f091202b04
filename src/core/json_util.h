// Small helpers for reading untrusted JSON (Kubernetes objects, webhook bodies) without throwing:
// every accessor says which field was missing or of the wrong type.
#pragma once

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

}  // namespace ocpvdr
