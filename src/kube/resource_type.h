// The Kubernetes resources ocpv-dr reads and writes (group, version, plural, kind, scope), and
// how their REST paths and query strings are built:
//   /api/v1[/namespaces/<ns>]/<plural>[/<name>[/<subresource>]]            (core group)
//   /apis/<group>/<version>[/namespaces/<ns>]/<plural>[/<name>[/<sub>]]    (named groups)
// KubeVirt serves its action subresources (start/stop/restart, freeze/unfreeze, ...) from a
// separate API group, subresources.kubevirt.io/v1, under the same namespace/plural/name layout.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace ocpvdr::kube {

struct ResourceType {
  std::string group;  // "" for the core group
  std::string version;
  std::string plural;
  std::string kind;
  bool namespaced = false;
  // API group serving action subresources (everything but "status"); empty: the resource's own.
  std::string actionGroup;
  std::string actionVersion;

  std::string apiVersion() const { return group.empty() ? version : group + "/" + version; }
  // "persistentvolumes" or "virtualmachines.kubevirt.io" (Velero's tarball naming too).
  std::string groupResource() const { return group.empty() ? plural : plural + "." + group; }
  bool operator==(const ResourceType& o) const {
    return group == o.group && version == o.version && plural == o.plural;
  }
};

namespace resources {
const ResourceType& namespaces();
const ResourceType& persistentVolumes();
const ResourceType& persistentVolumeClaims();
const ResourceType& volumeSnapshots();
const ResourceType& volumeSnapshotContents();
const ResourceType& volumeSnapshotClasses();
const ResourceType& virtualMachines();
const ResourceType& virtualMachineInstances();
const ResourceType& dataVolumes();
const ResourceType& backups();
const ResourceType& restores();
const ResourceType& backupStorageLocations();
const ResourceType& leases();  // coordination.k8s.io/v1: serve's active/standby election
// Every entry above, in that order.
const std::vector<ResourceType>& all();
}  // namespace resources

// Looks a type up by plural ("persistentvolumes"), group resource ("virtualmachines.kubevirt.io")
// or kind ("PersistentVolume"); NotFound naming the input otherwise.
[[nodiscard]] Result<ResourceType> findResourceType(std::string_view name);

// "namespace/name", or "name" for cluster-scoped objects (the reflector's and queue's key).
std::string objectKey(std::string_view ns, std::string_view name);

// Percent-encodes one path segment or query value (RFC 3986: only unreserved characters stay).
std::string percentEncode(std::string_view s);

using QueryParams = std::vector<std::pair<std::string, std::string>>;
// "?a=1&b=x%2Fy" (empty string when there are no parameters).
std::string encodeQuery(const QueryParams& params);

// Paths. Invalid when a namespace is given for a cluster-scoped type, a name is empty or
// contains '/', or a segment is "." / "..".
[[nodiscard]] Result<std::string> collectionPath(const ResourceType& type, std::string_view ns);
[[nodiscard]] Result<std::string> objectPath(const ResourceType& type, std::string_view ns,
                                             std::string_view name);
// "status" and other own subresources stay in the resource's group; for types with an
// actionGroup every other subresource goes there (KubeVirt start/stop/freeze...).
[[nodiscard]] Result<std::string> subresourcePath(const ResourceType& type, std::string_view ns,
                                                  std::string_view name,
                                                  std::string_view subresource);

}  // namespace ocpvdr::kube
