// Request bodies: JSON, or YAML (YAML 1.2 core schema, via yaml-cpp) converted to JSON.
//
// Server-side apply bodies are `application/apply-patch+yaml`, which may be YAML or JSON (JSON is
// valid YAML); create/update bodies may be `application/yaml`. Plain scalars resolve the way
// Kubernetes' YAML decoder does: null/~, true/false, integers and floats become JSON values;
// quoted scalars stay strings.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "api_error.h"

namespace kubesim {

// Parses a body as JSON; on failure, and when `allowYaml`, as one YAML document. The error is a
// 400 BadRequest naming the parser's complaint.
ApiResult<Json> parseBody(std::string_view body, bool allowYaml);

// YAML text (one document) to JSON; exposed for tests.
ApiResult<Json> yamlToJson(std::string_view text);

}  // namespace kubesim
