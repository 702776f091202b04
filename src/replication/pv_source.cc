// PersistentVolume reading and NFS source resolution (see pv_source.h for the accepted forms).
#include "replication/pv_source.h"
#include "core/text.h"

#include <algorithm>
#include <cctype>
#include <vector>

namespace ocpvdr::replication {
namespace {

// volumeAttributes keys are matched case-insensitively, as the driver does.
std::optional<std::string> attribute(const Json& attrs, std::string_view key) {
  if (!attrs.is_object()) return std::nullopt;
  for (auto it = attrs.begin(); it != attrs.end(); ++it)
    if (lowerAscii(it.key()) == key && it.value().is_string()) return it.value().get<std::string>();
  return std::nullopt;
}

std::string joinShare(std::string_view share, std::string_view subdir) {
  std::string s(share);
  while (!s.empty() && s.back() == '/') s.pop_back();
  if (s.empty() || s.front() != '/') s.insert(s.begin(), '/');
  std::string sub(subdir);
  while (!sub.empty() && sub.front() == '/') sub.erase(sub.begin());
  if (sub.empty()) return s.empty() ? "/" : s;
  return (s == "/" ? "" : s) + "/" + sub;
}

// An envelope is recognised by its carrier field; the object inside must be a JSON object.
bool hasObject(const Json& j, const char* key) {
  return j.is_object() && j.contains(key) && j.at(key).is_object();
}

}  // namespace

std::string toString(SourceKind k) {
  return k == SourceKind::Csi ? "csi" : "nfs";
}

Result<Unwrapped> unwrapObject(const Json& doc, std::string_view expectedKind) {
  if (!doc.is_object())
    return invalidError("input: expected a JSON object (a " + std::string(expectedKind) +
                        " or an event carrying one), got " + std::string(doc.type_name()));
  Unwrapped u;
  const Json* cur = &doc;
  u.envelope = "object";
  if (hasObject(*cur, "event") && hasObject(cur->at("event"), "payload")) {
    u.envelope = "aap";
    cur = &cur->at("event").at("payload");
  } else if (hasObject(*cur, "payload")) {
    u.envelope = "eda";
    cur = &cur->at("payload");
  }
  if (hasObject(*cur, "resource")) {
    if (u.envelope == "object") u.envelope = "forwarder";
    const Json& env = *cur;
    if (env.contains("type") && env.at("type").is_string())
      u.eventType = env.at("type").get<std::string>();
    if (env.contains("id") && env.at("id").is_string()) u.eventId = env.at("id").get<std::string>();
    if (env.contains("kind") && env.at("kind").is_string() &&
        env.at("kind").get<std::string>() != expectedKind)
      return invalidError("input: the event is about a " + env.at("kind").get<std::string>() +
                          ", expected a " + std::string(expectedKind));
    cur = &env.at("resource");
  } else if (u.envelope != "object") {
    return invalidError("input: the " + u.envelope +
                        " event has no `resource` object holding the " + std::string(expectedKind));
  }
  const Json& obj = *cur;
  if (obj.contains("kind")) {
    if (!obj.at("kind").is_string())
      return invalidError("kind: expected a string, got " +
                          std::string(obj.at("kind").type_name()));
    if (obj.at("kind").get<std::string>() != expectedKind)
      return invalidError("kind: expected " + std::string(expectedKind) + ", got " +
                          obj.at("kind").get<std::string>());
  }
  if (!obj.contains("metadata") || !obj.at("metadata").is_object())
    return invalidError("metadata: missing; the input is not a " + std::string(expectedKind) +
                        " object (nor a forwarder/EDA event carrying one)");
  u.object = obj;
  return u;
}

Result<NfsSource> parseCsiNfsVolumeHandle(std::string_view handle) {
  if (handle.empty()) return invalidError("spec.csi.volumeHandle: empty");
  NfsSource src;
  src.kind = SourceKind::Csi;
  src.volumeHandle = std::string(handle);
  auto parts = split(handle, '#');
  if (parts.size() >= 3) {
    if (parts[0].empty() || parts[2].empty())
      return invalidError("spec.csi.volumeHandle: \"" + std::string(handle) +
                          "\" has an empty server or subdir field");
    src.server = std::string(parts[0]);
    src.exportPath = joinShare(parts[1], parts[2]);
    return src;
  }
  // Old form server/share/subdir: server up to the first '/', subdir after the last one.
  auto first = handle.find('/');
  auto last = handle.rfind('/');
  if (first == std::string_view::npos || first == 0 || last == first || last + 1 >= handle.size())
    return invalidError("spec.csi.volumeHandle: \"" + std::string(handle) +
                        "\" is neither server#share#subdir[#uuid[#onDelete]] nor "
                        "server/share/subdir");
  src.server = std::string(handle.substr(0, first));
  src.exportPath = joinShare(handle.substr(first, last - first), handle.substr(last + 1));
  return src;
}

Result<PvInfo> describePv(const Json& pv) {
  PvInfo info;
  OCPVDR_ASSIGN_OR_RETURN(info.name, jsonString(pv, "metadata.name"));
  if (info.name.empty()) return invalidError("metadata.name: empty");
  OCPVDR_ASSIGN_OR_RETURN(auto uid, jsonOptString(pv, "metadata.uid"));
  info.uid = uid.value_or("");
  OCPVDR_ASSIGN_OR_RETURN(auto sc, jsonOptString(pv, "spec.storageClassName"));
  info.storageClass = sc.value_or("");
  OCPVDR_ASSIGN_OR_RETURN(auto cns, jsonOptString(pv, "spec.claimRef.namespace"));
  OCPVDR_ASSIGN_OR_RETURN(auto cn, jsonOptString(pv, "spec.claimRef.name"));
  info.claimNamespace = cns.value_or("");
  info.claimName = cn.value_or("");
  OCPVDR_ASSIGN_OR_RETURN(auto phase, jsonOptString(pv, "status.phase"));
  info.phase = phase.value_or("");
  OCPVDR_ASSIGN_OR_RETURN(auto mode, jsonOptString(pv, "spec.volumeMode"));
  if (mode) info.volumeMode = *mode;

  const Json* spec = jsonAt(pv, "spec");
  if (spec == nullptr || !spec->is_object()) {
    info.notReplicableReason = "the PV has no spec";
    return info;
  }
  if (info.volumeMode == "Block") {
    info.notReplicableReason =
        "volumeMode Block: a raw block volume has no directory rsync could replicate";
    return info;
  }
  if (spec->contains("nfs")) {
    NfsSource src;
    src.kind = SourceKind::InTree;
    OCPVDR_ASSIGN_OR_RETURN(src.server, jsonString(pv, "spec.nfs.server"));
    OCPVDR_ASSIGN_OR_RETURN(src.exportPath, jsonString(pv, "spec.nfs.path"));
    if (src.server.empty()) return invalidError("spec.nfs.server: empty");
    info.nfs = std::move(src);
    return info;
  }
  if (spec->contains("csi")) {
    OCPVDR_ASSIGN_OR_RETURN(std::string driver, jsonString(pv, "spec.csi.driver"));
    if (driver != kCsiNfsDriver) {
      info.notReplicableReason = "CSI driver \"" + driver + "\" is not " +
                                 std::string(kCsiNfsDriver) +
                                 ": only NFS-backed volumes can be replicated";
      return info;
    }
    OCPVDR_ASSIGN_OR_RETURN(std::string handle, jsonString(pv, "spec.csi.volumeHandle"));
    const Json* attrs = jsonAt(pv, "spec.csi.volumeAttributes");
    auto server = attrs ? attribute(*attrs, "server") : std::nullopt;
    auto share = attrs ? attribute(*attrs, "share") : std::nullopt;
    if (server && share && !server->empty()) {
      // The node mounts server:share/subdir from the volume attributes, so they are the truth.
      NfsSource src;
      src.kind = SourceKind::Csi;
      src.server = *server;
      src.exportPath = joinShare(*share, attribute(*attrs, "subdir").value_or(""));
      src.volumeHandle = handle;
      info.nfs = std::move(src);
      return info;
    }
    OCPVDR_ASSIGN_OR_RETURN(NfsSource src, parseCsiNfsVolumeHandle(handle));
    info.nfs = std::move(src);
    return info;
  }
  std::string kinds;
  for (auto it = spec->begin(); it != spec->end(); ++it) {
    static const char* kVolumeSources[] = {"hostPath",
                                           "local",
                                           "iscsi",
                                           "fc",
                                           "rbd",
                                           "cephfs",
                                           "glusterfs",
                                           "awsElasticBlockStore",
                                           "gcePersistentDisk",
                                           "azureDisk",
                                           "azureFile",
                                           "vsphereVolume",
                                           "flexVolume"};
    for (const char* k : kVolumeSources)
      if (it.key() == k) kinds = it.key();
  }
  info.notReplicableReason =
      kinds.empty() ? "the PV has neither spec.nfs nor spec.csi (driver nfs.csi.k8s.io)"
                    : "volume source \"" + kinds + "\" is not NFS";
  return info;
}

}  // namespace ocpvdr::replication
