// The resources kube-sim serves: group, version, kind, plural, scope and the per-kind behaviour the
// real API server has (status subresource, generation tracking, bookmark shape).
//
// The custom resources mirror the upstream CRDs kept in tests/fixtures/crds/ (a test checks it).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace kubesim {

using Json = nlohmann::json;

class ResourceType {
 public:
  std::string group;  // "" for the core group
  std::string version;
  std::string kind;
  std::string plural;
  std::string singular;
  std::string listKind;
  std::vector<std::string> shortNames;
  bool namespaced = false;
  // PUT/PATCH on the main resource ignore .status; /status writes change only .status.
  bool statusSubresource = false;
  // Served from a CRD: metadata.generation is tracked, list items carry kind/apiVersion,
  // bookmarks carry only kind/apiVersion/metadata.resourceVersion.
  bool custom = false;
  int index = 0;  // position in the table; stable for the process lifetime

  std::string apiVersion() const { return group.empty() ? version : group + "/" + version; }
  // "persistentvolumes" or "virtualmachines.kubevirt.io": the resource as messages name it.
  std::string groupResource() const { return group.empty() ? plural : plural + "." + group; }
  // "PersistentVolume" or "VirtualMachine.kubevirt.io": the kind as 422 messages name it.
  std::string qualifiedKind() const { return group.empty() ? kind : kind + "." + group; }
  // URL prefix of the collection, without namespace: "/api/v1" or "/apis/<group>/<version>".
  std::string basePath() const;
  // The object a BOOKMARK event carries (resourceVersion filled in per event).
  Json bookmarkObject(const std::string& resourceVersion) const;
};

class ResourceTable {
 public:
  // The fixed table this simulator serves (core PV/PVC/namespaces, snapshots, KubeVirt, CDI,
  // Velero).
  static ResourceTable standard();

  const std::vector<ResourceType>& all() const { return types_; }
  const ResourceType* find(std::string_view group, std::string_view version,
                           std::string_view plural) const;
  const ResourceType* findKind(std::string_view apiVersion, std::string_view kind) const;
  // All group/versions served, core first ("v1", "snapshot.storage.k8s.io/v1", ...).
  std::vector<std::string> groupVersions() const;

 private:
  std::vector<ResourceType> types_;
};

}  // namespace kubesim
