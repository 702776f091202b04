// The resource table and REST path/query building.
#include "kube/resource_type.h"

namespace ocpvdr::kube {
namespace resources {
namespace {

// Built once on first use; immutable afterwards.
const std::vector<ResourceType>& table() {
  static const std::vector<ResourceType> t = {
      {"", "v1", "namespaces", "Namespace", false, "", ""},
      {"", "v1", "persistentvolumes", "PersistentVolume", false, "", ""},
      {"", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", true, "", ""},
      {"snapshot.storage.k8s.io", "v1", "volumesnapshots", "VolumeSnapshot", true, "", ""},
      {"snapshot.storage.k8s.io", "v1", "volumesnapshotcontents", "VolumeSnapshotContent", false,
       "", ""},
      {"snapshot.storage.k8s.io", "v1", "volumesnapshotclasses", "VolumeSnapshotClass", false, "",
       ""},
      {"kubevirt.io", "v1", "virtualmachines", "VirtualMachine", true, "subresources.kubevirt.io",
       "v1"},
      {"kubevirt.io", "v1", "virtualmachineinstances", "VirtualMachineInstance", true,
       "subresources.kubevirt.io", "v1"},
      {"cdi.kubevirt.io", "v1beta1", "datavolumes", "DataVolume", true, "", ""},
      {"velero.io", "v1", "backups", "Backup", true, "", ""},
      {"velero.io", "v1", "restores", "Restore", true, "", ""},
      {"velero.io", "v1", "backupstoragelocations", "BackupStorageLocation", true, "", ""},
      {"coordination.k8s.io", "v1", "leases", "Lease", true, "", ""},
  };
  return t;
}

}  // namespace

const ResourceType& namespaces() {
  return table()[0];
}
const ResourceType& persistentVolumes() {
  return table()[1];
}
const ResourceType& persistentVolumeClaims() {
  return table()[2];
}
const ResourceType& volumeSnapshots() {
  return table()[3];
}
const ResourceType& volumeSnapshotContents() {
  return table()[4];
}
const ResourceType& volumeSnapshotClasses() {
  return table()[5];
}
const ResourceType& virtualMachines() {
  return table()[6];
}
const ResourceType& virtualMachineInstances() {
  return table()[7];
}
const ResourceType& dataVolumes() {
  return table()[8];
}
const ResourceType& backups() {
  return table()[9];
}
const ResourceType& restores() {
  return table()[10];
}
const ResourceType& backupStorageLocations() {
  return table()[11];
}
const ResourceType& leases() {
  return table()[12];
}
const std::vector<ResourceType>& all() {
  return table();
}

}  // namespace resources

Result<ResourceType> findResourceType(std::string_view name) {
  for (const auto& t : resources::all()) {
    if (t.plural == name || t.kind == name || t.groupResource() == name) return t;
  }
  return notFoundError("unknown resource type \"" + std::string(name) + "\"");
}

std::string objectKey(std::string_view ns, std::string_view name) {
  if (ns.empty()) return std::string(name);
  std::string k;
  k.reserve(ns.size() + name.size() + 1);
  k.append(ns).append("/").append(name);
  return k;
}

std::string percentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

std::string encodeQuery(const QueryParams& params) {
  std::string q;
  for (const auto& [k, v] : params) {
    q += q.empty() ? "?" : "&";
    q += percentEncode(k);
    q += "=";
    q += percentEncode(v);
  }
  return q;
}

namespace {

Status checkSegment(std::string_view s, std::string_view what) {
  if (s.empty()) return invalidError(std::string(what) + " is empty");
  if (s == "." || s == ".." || s.find('/') != std::string_view::npos ||
      s.find('\0') != std::string_view::npos) {
    return invalidError(std::string(what) + " \"" + std::string(s) +
                        "\" is not a valid path segment");
  }
  return Status::success();
}

Result<std::string> prefixFor(const ResourceType& type, std::string_view ns,
                              const std::string& group, const std::string& version) {
  std::string p = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  if (!ns.empty()) {
    if (!type.namespaced) {
      return invalidError(type.plural + " are cluster-scoped; a namespace (\"" + std::string(ns) +
                          "\") was given");
    }
    OCPVDR_TRY(checkSegment(ns, "namespace"));
    p += "/namespaces/" + percentEncode(ns);
  }
  return p + "/" + type.plural;
}

}  // namespace

Result<std::string> collectionPath(const ResourceType& type, std::string_view ns) {
  return prefixFor(type, ns, type.group, type.version);
}

Result<std::string> objectPath(const ResourceType& type, std::string_view ns,
                               std::string_view name) {
  if (type.namespaced && ns.empty()) {
    return invalidError(type.plural + " are namespaced; no namespace given for \"" +
                        std::string(name) + "\"");
  }
  OCPVDR_TRY(checkSegment(name, "name"));
  OCPVDR_ASSIGN_OR_RETURN(std::string p, prefixFor(type, ns, type.group, type.version));
  return p + "/" + percentEncode(name);
}

Result<std::string> subresourcePath(const ResourceType& type, std::string_view ns,
                                    std::string_view name, std::string_view subresource) {
  OCPVDR_TRY(checkSegment(subresource, "subresource"));
  if (type.namespaced && ns.empty()) {
    return invalidError(type.plural + " are namespaced; no namespace given for \"" +
                        std::string(name) + "\"");
  }
  OCPVDR_TRY(checkSegment(name, "name"));
  const bool action = !type.actionGroup.empty() && subresource != "status";
  OCPVDR_ASSIGN_OR_RETURN(std::string p, prefixFor(type, ns, action ? type.actionGroup : type.group,
                                                   action ? type.actionVersion : type.version));
  return p + "/" + percentEncode(name) + "/" + percentEncode(subresource);
}

}  // namespace ocpvdr::kube
