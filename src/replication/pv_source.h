// Reading a PersistentVolume (JSON, as the Kubernetes API returns it) into what replication needs:
// its identity, its claim, and — when it is replicable — the NFS server and export path its data
// lives at.
//
// Input forms accepted (the ways the forwarder, EDA/AAP and the CLI hand objects over):
//   bare object                 {"kind":"PersistentVolume","metadata":...,"spec":...}
//   forwarder payload {"kind":"PersistentVolume","type":"MODIFIED","resource":{...},"id":..} EDA
//   event                   {"payload":{...forwarder payload...},"meta":{...}} AAP extra var
//   ansible_eda   {"event":{"payload":{...}}}
// Replicable sources:
//   in-tree NFS                 spec.nfs.server + spec.nfs.path
//   csi-driver-nfs              spec.csi.driver == "nfs.csi.k8s.io": volumeAttributes server/share/
//                               subdir, else volumeHandle "server#share#subdir[#uuid[#onDelete]]"
//                               or the old form "server/share/subdir"; data at <share>/<subdir>
// Anything else (another CSI driver, hostPath, volumeMode Block, ...) is "not replicable" with the
// reason spelled out.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/json_util.h"
#include "core/result.h"

namespace ocpvdr::replication {

inline constexpr std::string_view kCsiNfsDriver = "nfs.csi.k8s.io";

// An object taken out of whatever envelope carried it.
struct Unwrapped {
  Json object;
  // "object" (bare), "forwarder" ({kind,type,resource}), "eda" ({payload:{...}}),
  // "aap" ({event:{payload:{...}}})
  std::string envelope;
  std::string eventType;  // ADDED | MODIFIED | DELETED | ... from the envelope; empty when bare
  std::string eventId;    // the forwarder's `id`, when present
};

// Finds the Kubernetes object inside `doc`. When the object (or the envelope) states a kind other
// than `expectedKind`, the error (Invalid) names both.
[[nodiscard]] Result<Unwrapped> unwrapObject(const Json& doc, std::string_view expectedKind);

enum class SourceKind { InTree, Csi };

struct NfsSource {
  SourceKind kind = SourceKind::InTree;
  std::string server;        // as the PV names it
  std::string exportPath;    // the path a client mounts (not yet normalised or mapped)
  std::string volumeHandle;  // CSI only
};

struct PvInfo {
  std::string name, uid;
  std::string storageClass;
  std::string claimNamespace, claimName;  // spec.claimRef, when bound
  std::string phase;
  std::string volumeMode = "Filesystem";
  std::optional<NfsSource> nfs;     // set when replicable
  std::string notReplicableReason;  // set when not
};

// Reads a PV object (already unwrapped). Invalid when it is not a PV at all (no metadata.name,
// wrong field types); a PV that simply is not NFS comes back with `nfs` empty and a reason.
[[nodiscard]] Result<PvInfo> describePv(const Json& pv);

// Parses a csi-driver-nfs volumeHandle (either form) into server and export path.
[[nodiscard]] Result<NfsSource> parseCsiNfsVolumeHandle(std::string_view handle);

std::string toString(SourceKind k);

}  // namespace ocpvdr::replication
