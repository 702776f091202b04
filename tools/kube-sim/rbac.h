// RBAC for kube-sim: who a bearer token is, and whether the stored ClusterRoles/Roles and
// (Cluster)RoleBindings let that identity do what a request asks.
//
// Opt-in (kube-sim --rbac): without it every accepted token may do everything, as before. With it,
// tokens named by --token-user TOKEN=USER are that user (a service account when USER is
// system:serviceaccount:<ns>:<name>), and every resource request is authorized like
// kube-apiserver's RBAC authorizer does it. Plain --token / --token-file tokens stay cluster admins
// (group system:masters), so tests arrange state with them while the product runs with a bound
// identity.
//
// Modelled on kubernetes/kubernetes:
//   staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go  (verb/resource of a request)
//   plugin/pkg/auth/authorizer/rbac/rbac.go                           (RuleAllows, subject match)
//   pkg/apis/rbac/v1/evaluation_helpers.go                            (VerbMatches,
//   ResourceMatches,
//                                                                      APIGroupMatches, ...)
//   pkg/registry/rbac/validation/rule.go                             (VisitRulesFor: bindings)
//   staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/errors.go
//                                                                     (forbiddenMessage)
//   plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go        (system:discovery & co.:
//                                                                      non-resource reads for
//                                                                      every authenticated user)
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api_error.h"

namespace kubesim {

class Store;

struct UserInfo {
  std::string name;
  std::vector<std::string> groups;
  bool superuser() const;  // member of system:masters: RBAC is not consulted
};

// The identity behind a --token-user name: system:authenticated always; a service account
// (system:serviceaccount:<ns>:<name>) also gets system:serviceaccounts and
// system:serviceaccounts:<ns>, as the token authenticator gives them.
UserInfo userNamed(const std::string& name);
// The identity of the plain --token / --token-file tokens.
UserInfo adminUser();

// What a request asks, as requestinfo.go resolves it.
struct RequestAttributes {
  bool resourceRequest = false;
  std::string verb;  // get list watch create update patch delete deletecollection (resource) or
                     // the lower-case HTTP method (non-resource)
  std::string apiGroup;
  std::string apiVersion;
  std::string resource;
  std::string subresource;
  std::string ns;
  std::string name;
  std::string path;  // non-resource requests
};

// One PolicyRule (rbac/v1 JSON) against a request (RuleAllows in rbac.go).
bool ruleAllows(const nlohmann::json& rule, const RequestAttributes& a);

// nullopt when `user` may do `a` according to the store's RBAC objects; else the 403 to send,
// shaped like the real server's ("<resource> is forbidden: User "u" cannot list resource ...").
std::optional<ApiError> authorize(const Store& store, const UserInfo& user,
                                  const RequestAttributes& a);

// The message of that 403 (forbiddenMessage in responsewriters/errors.go).
std::string forbiddenMessage(const UserInfo& user, const RequestAttributes& a);

}  // namespace kubesim
