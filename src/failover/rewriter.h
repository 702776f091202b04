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
// DR PVC: pre-bound (spec.volumeName kept), spec.storageClassName set to its PV's class ("" when
// the PV has none, so no default class is filled in and no provisioner is invited). CDI's
// completion state is kept as it was in the backup (`cdi.kubevirt.io/storage.populatedFor`,
// `storage.pod.phase: Succeeded`, `storage.condition.*`), and CDI's *request* annotations are
// dropped (kDroppedPvcAnnotations): CDI's import, upload and clone controllers watch every PVC,
// and a bound claim that still carries a request and no `storage.pod.phase: Succeeded` gets a
// worker pod that overwrites the replicated disk.img (FACTS §6). kubevirt-velero-plugin's
// `velero.kubevirt.io/pvc-uid` label is removed as its restore action does. A PVC that
// kubevirt-velero-plugin marked `kvp.kubevirt.io/storage.inprogress` (its DataVolume had not
// finished at backup) is refused: CDI imports it again at DR (unfinishedDataVolume).
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

// PVC annotations removed at DR: a binding or provisioning of the primary cluster (a bind that
// never happened at DR, a node that does not exist there), and CDI's import / upload / clone
// *requests*, which make CDI's controllers start a worker pod on the claim. Entries ending in '.'
// are prefixes. Deliberately absent: cdi.kubevirt.io/storage.populatedFor, storage.pod.*,
// storage.condition.* and the rest of cdi.kubevirt.io/ — the completion state that tells CDI the
// volume is done (never strip cdi.kubevirt.io/* wholesale; FACTS §6).
extern const std::vector<std::string_view> kDroppedPvcAnnotations;

// True when `name` is in kDroppedPvcAnnotations (exact or by prefix).
bool isDroppedPvcAnnotation(std::string_view name);

// kubevirt-velero-plugin's markers (pkg/plugin/dv_backup_item_action.go,
// pvc_backup_item_action.go).
inline constexpr std::string_view kInProgressAnnotation = "kvp.kubevirt.io/storage.inprogress";
inline constexpr std::string_view kPvcUidLabel = "velero.kubevirt.io/pvc-uid";
inline constexpr std::string_view kOriginalPvcUidAnnotation = "velero.kubevirt.io/original-pvc-uid";

// The DataVolume a PVC belonged to when the plugin found it unfinished at backup (the value of
// kvp.kubevirt.io/storage.inprogress); empty when the PVC carries no such marker.
std::string unfinishedDataVolume(const Json& pvc);

[[nodiscard]] Result<Json> rewritePersistentVolume(const Json& pv, const config::Config& cfg,
                                                   std::string_view backupName);

// `pv` is the claim's PV as in the backup (its storage class is the claim's at DR). Refused for a
// PVC of an unfinished DataVolume (unfinishedDataVolume) or one that was not bound.
[[nodiscard]] Result<Json> rewritePersistentVolumeClaim(const Json& pvc, const Json& pv,
                                                        std::string_view backupName);

// Checks that a PV and a PVC from the same backup belong together (PVC spec.volumeName names
// the PV; the PV's claimRef, when set, names the PVC). Invalid otherwise, naming both.
[[nodiscard]] Status checkVolumePairing(const Json& pv, const Json& pvc);

}  // namespace ocpvdr::failover
