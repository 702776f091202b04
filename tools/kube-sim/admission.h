// What the real API server (and, for KubeVirt, its validating webhook) does to an object before
// storing it: name validation, per-kind defaults and required fields.
//
// Only checks that matter to this project's scenarios are modelled (see docs/kube-sim.md); every
// failure is a 422 Invalid Status with details.causes, as the server reports it.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "api_error.h"
#include "resource_table.h"

namespace kubesim {

using Json = nlohmann::json;

// DNS-1123 subdomain (most names) or label (namespace names); nullopt when valid, else the
// cause message ("Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must ...").
std::optional<std::string> checkDns1123Subdomain(const std::string& name);
std::optional<std::string> checkDns1123Label(const std::string& name);

// Validates `object` about to be stored (old == nullptr on create). Returns the 422 to send.
std::optional<ApiError> validateObject(const ResourceType& type, const Json& object,
                                       const Json* old);

// Server-side defaults applied on create (PV/PVC phase Pending, namespace phase Active, ...).
void applyCreateDefaults(const ResourceType& type, Json& object, const std::string& now);

}  // namespace kubesim
