// Velero restore resource modifiers, as kube-sim's Velero controller applies them.
//
// Modelled on Velero's internal/resourcemodifiers/ (resource_modifiers.go: the ConfigMap with
// exactly one data key, strict decoding, rule matching and applying;
// resource_modifiers_validator.go: version v1, at least one rule, groupResource set, JSON patch
// operations; json_patch.go, json_merge_patch.go, strategic_merge_patch.go: the three patch kinds)
// and the restore controller's validation (pkg/controller/restore_controller.go: a Restore naming a
// missing or invalid modifier ConfigMap fails validation).
//
// Document (YAML or JSON):
//   version: v1
//   resourceModifierRules:
//   - conditions: {groupResource, resourceNameRegex, namespaces: [...], labelSelector:
//                  {matchLabels, matchExpressions}, matches: [{path, value}]}
//     patches: [{operation, path, value, from}]      # RFC 6902 JSON patch
//     mergePatches: [{patchData}]                    # RFC 7386 JSON merge patch
//     strategicPatches: [{patchData}]                # strategic merge patch
// Matching, as upstream: a rule's namespaces (globs; empty or "*" = all) apply to namespaced
// objects only; groupResource is a glob whose "*" does not cross "."; resourceNameRegex is an
// (ECMAScript here, RE2 upstream) regex searched in the name; labelSelector as metav1; matches
// are JSON-patch "test" operations, all of which must pass. Every rule is matched against the
// object as it was before any rule changed it. A rule applies its patches of the first kind it
// has (JSON, else merge, else strategic). A JSON patch whose "test" fails leaves the object
// unchanged without an error. JSON patch values are strings that become JSON the way Velero's
// addQuotes decides (null, booleans, numbers, {...} and [...] unquoted; "\"x\"" the string x).
//
// Simplifications: strategic merge patches merge maps like a merge patch and merge lists of
// objects by their "name" key (the patch strategy of containers, volumes, disks, interfaces,
// ...), other lists are replaced; $patch directives are not supported. As upstream, a strategic
// patch of a custom resource fails (Velero's scheme knows only built-in types).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api_error.h"

namespace kubesim {

using Json = nlohmann::json;

struct ResourceModifierRule {
  std::string groupResource;
  std::string resourceNameRegex;
  std::vector<std::string> namespaces;
  Json labelSelector;  // null: none
  Json matches;        // array of {path, value}
  Json patches = Json::array();
  std::vector<Json> mergePatches, strategicPatches;  // parsed patchData
};

class ResourceModifiers {
 public:
  // From the ConfigMap object; a 400-style error with Velero's wording when it is not usable.
  static ApiResult<ResourceModifiers> fromConfigMap(const Json& configMap);
  // From the document text (YAML or JSON).
  static ApiResult<ResourceModifiers> parse(const std::string& text);

  // Applies every matching rule to `obj` (a full object with apiVersion/kind/metadata) of
  // `groupResource` ("virtualmachines.kubevirt.io"). `custom`: a CRD-served type. Returns one
  // message per rule that failed; the object keeps what the other rules did.
  std::vector<std::string> apply(Json& obj, const std::string& groupResource, bool custom) const;

  const std::vector<ResourceModifierRule>& rules() const { return rules_; }

 private:
  std::vector<ResourceModifierRule> rules_;
};

// Exposed for tests.
bool globMatch(const std::string& pattern, const std::string& s, char separator);
Json strategicMerge(const Json& target, const Json& patch);

}  // namespace kubesim
