// The protected namespaces at DR (see dr_namespaces.h).
#include "failover/dr_namespaces.h"

#include "backup/velero_tarball.h"
#include "failover/rewriter.h"
#include "kube/api_status.h"
#include "kube/resource_type.h"

namespace ocpvdr::failover {
using backup::readVeleroTarball;
using backup::TarballOptions;

namespace {

constexpr std::string_view kSccAnnotationPrefix = "openshift.io/sa.scc.";

}  // namespace

Json drNamespace(const std::string& name, const Json& backup) {
  Json labels = Json::object(), annotations = Json::object();
  if (const Json* l = jsonAt(backup, "metadata.labels"); l && l->is_object()) labels = *l;
  if (const Json* a = jsonAt(backup, "metadata.annotations"); a && a->is_object())
    for (auto it = a->begin(); it != a->end(); ++it)
      if (it.key().rfind(kSccAnnotationPrefix, 0) != 0) annotations[it.key()] = it.value();
  labels[std::string(kCreatedByLabel)] = std::string(kCreatedByValue);
  Json md = {{"name", name}, {"labels", labels}};
  if (!annotations.empty()) md["annotations"] = annotations;
  return {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", md}};
}

Result<std::map<std::string, Json>> backupNamespaces(const std::string& tarballPath) {
  TarballOptions opts;
  opts.extract = {"namespaces"};
  auto contents = readVeleroTarball(tarballPath, opts);
  if (!contents.ok()) return contents.error().wrap("reading the backup's namespaces");
  std::map<std::string, Json> out;
  for (const auto* item : contents->of("namespaces")) out[item->name] = item->object;
  return out;
}

Result<Json> ensureDrNamespaces(kube::KubeClient& dr, const std::set<std::string>& names,
                                const std::map<std::string, Json>& fromBackup,
                                std::vector<std::string>& warnings, std::stop_token stop) {
  namespace res = kube::resources;
  Json created = Json::array(), existing = Json::array();
  for (const auto& name : names) {
    auto got = dr.get(res::namespaces(), "", name, stop);
    if (got.ok()) {
      existing.push_back(name);
      continue;
    }
    if (!kube::isNotFound(got.error())) return got.error().wrap("reading namespace " + name);
    auto it = fromBackup.find(name);
    if (it == fromBackup.end())
      warnings.push_back("namespace " + name +
                         " is not in the backup: created at DR without its labels and "
                         "annotations (check its pod-security labels)");
    const Json ns = drNamespace(name, it == fromBackup.end() ? Json(nullptr) : it->second);
    auto r = dr.create(res::namespaces(), ns, "", stop);
    if (!r.ok()) {
      // Created meanwhile (by Velero or an operator): theirs is left as it is.
      if (kube::isAlreadyExists(r.error())) {
        existing.push_back(name);
        continue;
      }
      return r.error().wrap("creating namespace " + name + " at DR");
    }
    created.push_back(name);
  }
  return Json{{"created", created}, {"existing", existing}};
}

}  // namespace ocpvdr::failover
