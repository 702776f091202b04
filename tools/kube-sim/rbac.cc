// RBAC evaluation over the store's rbac.authorization.k8s.io/v1 objects (see rbac.h for the
// upstream files each piece follows).
#include "rbac.h"

#include <algorithm>

#include "store.h"

namespace kubesim {

namespace {

constexpr const char* kRbacGroup = "rbac.authorization.k8s.io";
constexpr const char* kServiceAccountPrefix = "system:serviceaccount:";

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// The strings of a rule's list field ("verbs", "apiGroups", ...); absent or malformed: none.
std::vector<std::string> strings(const Json& rule, const char* key) {
  std::vector<std::string> out;
  auto it = rule.find(key);
  if (it == rule.end() || !it->is_array()) return out;
  for (const auto& e : *it) {
    if (e.is_string()) out.push_back(e.get<std::string>());
  }
  return out;
}

// evaluation_helpers.go: VerbMatches / APIGroupMatches share this shape.
bool matchesOrStar(const std::vector<std::string>& ruleValues, const std::string& requested) {
  return contains(ruleValues, "*") || contains(ruleValues, requested);
}

// evaluation_helpers.go ResourceMatches: "*", the combined "resource/subresource", or
// "*/subresource" for a subresource of any resource.
bool resourceMatches(const std::vector<std::string>& ruleResources, const std::string& combined,
                     const std::string& subresource) {
  for (const auto& r : ruleResources) {
    if (r == "*" || r == combined) return true;
    if (subresource.empty()) continue;
    if (r.size() == subresource.size() + 2 && r.compare(0, 2, "*/") == 0 &&
        r.compare(2, std::string::npos, subresource) == 0) {
      return true;
    }
  }
  return false;
}

// evaluation_helpers.go NonResourceURLMatches: exact, "*", or a trailing-"*" prefix.
bool nonResourceUrlMatches(const std::vector<std::string>& urls, const std::string& path) {
  for (const auto& u : urls) {
    if (u == "*" || u == path) return true;
    if (!u.empty() && u.back() == '*' && path.compare(0, u.size() - 1, u, 0, u.size() - 1) == 0) {
      return true;
    }
  }
  return false;
}

// rule.go appliesToUser: a ServiceAccount subject without a namespace takes the binding's.
bool subjectMatches(const Json& subject, const UserInfo& user, const std::string& bindingNs) {
  if (!subject.is_object()) return false;
  const std::string kind = subject.value("kind", "");
  const std::string name = subject.value("name", "");
  if (kind == "User") return user.name == name;
  if (kind == "Group") return contains(user.groups, name);
  if (kind == "ServiceAccount") {
    std::string ns = subject.value("namespace", "");
    if (ns.empty()) ns = bindingNs;
    if (ns.empty()) return false;
    return user.name == kServiceAccountPrefix + ns + ":" + name;
  }
  return false;
}

bool bindingAppliesTo(const Json& binding, const UserInfo& user, const std::string& bindingNs) {
  auto it = binding.find("subjects");
  if (it == binding.end() || !it->is_array()) return false;
  return std::any_of(it->begin(), it->end(),
                     [&](const Json& s) { return subjectMatches(s, user, bindingNs); });
}

// rule.go GetRoleReferenceRules: a RoleBinding may name a Role of its namespace or a ClusterRole;
// a ClusterRoleBinding only a ClusterRole. A missing role grants nothing.
Json roleRules(const Store& store, const Json& roleRef, const std::string& bindingNs) {
  if (!roleRef.is_object() || roleRef.value("apiGroup", "") != kRbacGroup) return Json::array();
  const std::string kind = roleRef.value("kind", "");
  const std::string name = roleRef.value("name", "");
  const ResourceType* type = nullptr;
  std::string ns;
  if (kind == "ClusterRole") {
    type = store.table().find(kRbacGroup, "v1", "clusterroles");
  } else if (kind == "Role" && !bindingNs.empty()) {
    type = store.table().find(kRbacGroup, "v1", "roles");
    ns = bindingNs;
  }
  if (!type) return Json::array();
  auto role = store.get(*type, ns, name);
  if (!role.ok()) return Json::array();
  const Json& obj = role.value()->object;
  auto it = obj.find("rules");
  return it != obj.end() && it->is_array() ? *it : Json::array();
}

bool bindingsAllow(const Store& store, const char* plural, const std::string& ns,
                   const UserInfo& user, const RequestAttributes& a) {
  const ResourceType* type = store.table().find(kRbacGroup, "v1", plural);
  if (!type) return false;
  ListRequest lr;
  lr.filter.ns = ns;
  auto page = store.list(*type, lr);
  if (!page.ok()) return false;
  for (const auto& b : page.value().items) {
    const Json& binding = b->object;
    if (!bindingAppliesTo(binding, user, ns)) continue;
    const Json rules = roleRules(store, binding.value("roleRef", Json()), ns);
    for (const auto& rule : rules) {
      if (rule.is_object() && ruleAllows(rule, a)) return true;
    }
  }
  return false;
}

}  // namespace

bool UserInfo::superuser() const {
  return contains(groups, "system:masters");
}

UserInfo userNamed(const std::string& name) {
  UserInfo u{name, {}};
  const std::string prefix = kServiceAccountPrefix;
  if (name.compare(0, prefix.size(), prefix) == 0) {
    const std::string rest = name.substr(prefix.size());
    const auto colon = rest.find(':');
    u.groups.push_back("system:serviceaccounts");
    if (colon != std::string::npos) {
      u.groups.push_back("system:serviceaccounts:" + rest.substr(0, colon));
    }
  }
  u.groups.push_back("system:authenticated");
  return u;
}

UserInfo adminUser() {
  return {"kube-sim:admin", {"system:masters", "system:authenticated"}};
}

bool ruleAllows(const Json& rule, const RequestAttributes& a) {
  if (!matchesOrStar(strings(rule, "verbs"), a.verb)) return false;
  if (!a.resourceRequest) return nonResourceUrlMatches(strings(rule, "nonResourceURLs"), a.path);
  const std::string combined =
      a.subresource.empty() ? a.resource : a.resource + "/" + a.subresource;
  if (!matchesOrStar(strings(rule, "apiGroups"), a.apiGroup)) return false;
  if (!resourceMatches(strings(rule, "resources"), combined, a.subresource)) return false;
  const auto names = strings(rule, "resourceNames");
  return names.empty() || contains(names, a.name);
}

std::string forbiddenMessage(const UserInfo& user, const RequestAttributes& a) {
  const std::string who = "User \"" + user.name + "\" cannot " + a.verb;
  if (!a.resourceRequest) return who + " path \"" + a.path + "\"";
  std::string resource = a.resource;
  if (!a.subresource.empty()) resource += "/" + a.subresource;
  std::string msg = who + " resource \"" + resource + "\" in API group \"" + a.apiGroup + "\"";
  if (!a.ns.empty()) return msg + " in the namespace \"" + a.ns + "\"";
  return msg + " at the cluster scope";
}

std::optional<ApiError> authorize(const Store& store, const UserInfo& user,
                                  const RequestAttributes& a) {
  if (user.superuser()) return std::nullopt;
  if (!a.resourceRequest) {
    // bootstrappolicy: system:discovery, system:basic-user and system:public-info-viewer let every
    // authenticated user read discovery, version and health paths.
    if (a.verb == "get") return std::nullopt;
  } else {
    // rbac.go: ClusterRoleBindings apply everywhere; RoleBindings only in their namespace.
    if (bindingsAllow(store, "clusterrolebindings", "", user, a)) return std::nullopt;
    if (!a.ns.empty() && bindingsAllow(store, "rolebindings", a.ns, user, a)) return std::nullopt;
  }
  // apierrors.NewForbidden: "<group resource> "<name>" is forbidden: <message>", details name/
  // group/kind(=resource).
  std::string gr = a.resource;
  if (!gr.empty() && !a.apiGroup.empty()) gr += "." + a.apiGroup;
  std::string message;
  if (gr.empty()) {
    message = "forbidden: " + forbiddenMessage(user, a);
  } else if (a.name.empty()) {
    message = gr + " is forbidden: " + forbiddenMessage(user, a);
  } else {
    message = gr + " \"" + a.name + "\" is forbidden: " + forbiddenMessage(user, a);
  }
  Json details = Json::object();
  if (!a.name.empty()) details["name"] = a.name;
  if (!a.apiGroup.empty()) details["group"] = a.apiGroup;
  if (!a.resource.empty()) details["kind"] = a.resource;
  return forbidden(message, details);
}

}  // namespace kubesim
