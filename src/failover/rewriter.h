// The failover rewriter: turns a primary-site PersistentVolume / PersistentVolumeClaim (as stored
// in the OADP backup) into the object ocpv-dr creates at the DR site. Pure functions of their
// input and the configuration; no I/O.
//
// DR PV: the NFS source (in-tree spec.nfs, or csi-driver-nfs volumeAttributes server/share/subdir
// and its volumeHandle `server#share#subdir#uuid#onDelete`) points at the DR server and the DR
// *export* path computed by replication::mapVolume — the same function replication uses, so the
// PV mounts exactly the directory replication fills. Reclaim policy Retain (Velero would recreate
// a Delete-policy PV as a new empty volume; FACTS §3). claimRef kept for its PVC, minus uid and
// resourceVersion so it binds the PVC created at DR.
// DR PVC: pre-bound (spec.volumeName kept), storage class kept, CDI's
// `cdi.kubevirt.io/storage.populatedFor` kept so CDI adopts the data instead of importing
// (FACTS §6), bind-time annotations stripped (kBindTimeAnnotations).
// Both: server-owned metadata reset, status dropped, marked as created by ocpv-dr with the source
// backup's name.
//
// Which PVs qualify, and where their data is, comes from replication::describePv and
// replication::mapVolume — the functions replication itself uses. A PV that is not NFS, is a Block
// volume, names a server that is not the primary's, or whose path maps nowhere is refused
// (Refused, naming the PV): a non-replicated volume must never reappear at DR as an empty one.
// A PV whose source fields are malformed (a CSI handle that parses in neither form) is Invalid.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/json_util.h"
#include "core/result.h"

namespace ocpvdr::failover {

inline constexpr std::string_view kCreatedByLabel = "ocpv-dr.io/created-by";
inline constexpr std::string_view kCreatedByValue = "ocpv-dr";
inline constexpr std::string_view kSourceBackupAnnotation = "ocpv-dr.io/source-backup";
inline constexpr std::string_view kPrimarySourceAnnotation = "ocpv-dr.io/primary-source";

// PVC annotations that record a binding or a provisioning/import *in progress* on the primary
// cluster. Recreated at DR they would lie (a bind that never happened there, a node that does not
// exist, an importer pod) or make controllers act on them, so they are removed. Entries ending in
// '.' are prefixes. cdi.kubevirt.io/storage.populatedFor is deliberately absent: it must stay.
extern const std::vector<std::string_view> kBindTimeAnnotations;

// True when `name` is in kBindTimeAnnotations (exact or by prefix).
bool isBindTimeAnnotation(std::string_view name);

[[nodiscard]] Result<Json> rewritePersistentVolume(const Json& pv, const config::Config& cfg,
                                                   std::string_view backupName);

[[nodiscard]] Result<Json> rewritePersistentVolumeClaim(const Json& pvc,
                                                        std::string_view backupName);

// Checks that a PV and a PVC from the same backup belong together (PVC spec.volumeName names
// the PV; the PV's claimRef, when set, names the PVC). Invalid otherwise, naming both.
[[nodiscard]] Status checkVolumePairing(const Json& pv, const Json& pvc);

}  // namespace ocpvdr::failover
