// The served resource table and the per-kind shapes (bookmarks) recorded from a real server.
#include "resource_table.h"

#include <algorithm>
#include <tuple>

namespace kubesim {

std::string ResourceType::basePath() const {
  return group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
}

Json ResourceType::bookmarkObject(const std::string& resourceVersion) const {
  Json o = {{"kind", kind},
            {"apiVersion", apiVersion()},
            {"metadata", {{"resourceVersion", resourceVersion}}}};
  if (!custom) {
    // Typed core objects are encoded from an empty Go struct: zero-valued spec/status and a
    // null creationTimestamp appear (see watch_pv.ndjson); unstructured CRs carry only metadata.
    o["metadata"]["creationTimestamp"] = nullptr;
    o["spec"] = Json::object();
    o["status"] = Json::object();
    if (kind == "PersistentVolumeClaim") o["spec"]["resources"] = Json::object();
  }
  return o;
}

namespace {

ResourceType make(std::string group, std::string version, std::string kind, std::string plural,
                  std::string singular, bool namespaced, bool statusSubresource, bool custom,
                  std::vector<std::string> shortNames) {
  ResourceType t;
  t.group = std::move(group);
  t.version = std::move(version);
  t.kind = std::move(kind);
  t.listKind = t.kind + "List";
  t.plural = std::move(plural);
  t.singular = std::move(singular);
  t.namespaced = namespaced;
  t.statusSubresource = statusSubresource;
  t.custom = custom;
  t.shortNames = std::move(shortNames);
  return t;
}

}  // namespace

ResourceTable ResourceTable::standard() {
  ResourceTable t;
  auto& v = t.types_;
  // Core group: typed objects with a status subresource; no metadata.generation.
  v.push_back(make("", "v1", "Namespace", "namespaces", "namespace", false, true, false, {"ns"}));
  v.push_back(make("", "v1", "PersistentVolume", "persistentvolumes", "persistentvolume", false,
                   true, false, {"pv"}));
  v.push_back(make("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims",
                   "persistentvolumeclaim", true, true, false, {"pvc"}));
  // ConfigMaps: Velero reads restore resource modifiers from one (velero_controller.h).
  v.push_back(make("", "v1", "ConfigMap", "configmaps", "configmap", true, false, false, {"cm"}));
  // Pods and Events: only controllers write them here (the "cdi" controller's worker pods and its
  // events); nothing runs.
  v.push_back(make("", "v1", "Pod", "pods", "pod", true, true, false, {"po"}));
  v.push_back(make("", "v1", "Event", "events", "event", true, false, false, {"ev"}));
  // external-snapshotter CRDs (client/config/crd): the class has no status subresource.
  v.push_back(make("snapshot.storage.k8s.io", "v1", "VolumeSnapshot", "volumesnapshots",
                   "volumesnapshot", true, true, true, {"vs"}));
  v.push_back(make("snapshot.storage.k8s.io", "v1", "VolumeSnapshotContent",
                   "volumesnapshotcontents", "volumesnapshotcontent", false, true, true,
                   {"vsc", "vscs"}));
  v.push_back(make("snapshot.storage.k8s.io", "v1", "VolumeSnapshotClass", "volumesnapshotclasses",
                   "volumesnapshotclass", false, false, true, {"vsclass", "vsclasses"}));
  // KubeVirt: VMs have a status subresource, VMIs do not (virt-handler writes the whole object).
  v.push_back(make("kubevirt.io", "v1", "VirtualMachine", "virtualmachines", "virtualmachine", true,
                   true, true, {"vm", "vms"}));
  v.push_back(make("kubevirt.io", "v1", "VirtualMachineInstance", "virtualmachineinstances",
                   "virtualmachineinstance", true, false, true, {"vmi", "vmis"}));
  // What failover preflight reads at DR. storage.k8s.io CSIDriver and StorageClass and apps
  // ControllerRevision are built-in types without status; OADP's DataProtectionApplication CRD
  // (openshift/oadp-operator config/crd/bases) has a status subresource.
  v.push_back(make("storage.k8s.io", "v1", "CSIDriver", "csidrivers", "csidriver", false, false,
                   false, std::vector<std::string>{}));
  v.push_back(make("storage.k8s.io", "v1", "StorageClass", "storageclasses", "storageclass", false,
                   false, false, {"sc"}));
  v.push_back(make("apps", "v1", "ControllerRevision", "controllerrevisions", "controllerrevision",
                   true, false, false, std::vector<std::string>{}));
  v.push_back(make("oadp.openshift.io", "v1alpha1", "DataProtectionApplication",
                   "dataprotectionapplications", "dataprotectionapplication", true, true, true,
                   {"dpa"}));
  // CDI DataVolume (not among the fixtures; the upstream CRD has a status subresource).
  v.push_back(make("cdi.kubevirt.io", "v1beta1", "DataVolume", "datavolumes", "datavolume", true,
                   true, true, {"dv", "dvs"}));
  // Velero: none of these CRDs declares a status subresource.
  v.push_back(make("velero.io", "v1", "Backup", "backups", "backup", true, false, true,
                   std::vector<std::string>{}));
  v.push_back(make("velero.io", "v1", "Restore", "restores", "restore", true, false, true,
                   std::vector<std::string>{}));
  v.push_back(make("velero.io", "v1", "BackupStorageLocation", "backupstoragelocations",
                   "backupstoragelocation", true, false, true, {"bsl"}));
  // coordination.k8s.io/v1 Lease (typed, no status subresource): leader election. An update
  // carrying a stale metadata.resourceVersion is a 409 like any other object's (store.cc), which is
  // what makes two candidates' races safe (client-go tools/leaderelection/resourcelock/leaselock.go
  // updates with the resourceVersion it read).
  v.push_back(make("coordination.k8s.io", "v1", "Lease", "leases", "lease", true, false, false,
                   std::vector<std::string>{}));
  // RBAC (typed, no status): what kube-sim --rbac authorizes requests against (rbac.h).
  for (const auto& [kind, plural, ns] :
       {std::tuple{"ClusterRole", "clusterroles", false},
        std::tuple{"ClusterRoleBinding", "clusterrolebindings", false},
        std::tuple{"Role", "roles", true}, std::tuple{"RoleBinding", "rolebindings", true}}) {
    std::string singular(kind);
    std::transform(singular.begin(), singular.end(), singular.begin(), ::tolower);
    v.push_back(make("rbac.authorization.k8s.io", "v1", kind, plural, singular, ns, false, false,
                     std::vector<std::string>{}));
  }
  for (std::size_t i = 0; i < v.size(); ++i) v[i].index = static_cast<int>(i);
  return t;
}

const ResourceType* ResourceTable::find(std::string_view group, std::string_view version,
                                        std::string_view plural) const {
  for (const auto& t : types_) {
    if (t.group == group && t.version == version && t.plural == plural) return &t;
  }
  return nullptr;
}

const ResourceType* ResourceTable::findKind(std::string_view apiVersion,
                                            std::string_view kind) const {
  for (const auto& t : types_) {
    if (t.kind == kind && t.apiVersion() == apiVersion) return &t;
  }
  return nullptr;
}

std::vector<std::string> ResourceTable::groupVersions() const {
  std::vector<std::string> out;
  for (const auto& t : types_) {
    auto gv = t.apiVersion();
    if (std::find(out.begin(), out.end(), gv) == out.end()) out.push_back(gv);
  }
  return out;
}

}  // namespace kubesim
