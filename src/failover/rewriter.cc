// Primary → DR PersistentVolume / PersistentVolumeClaim rewriting (see rewriter.h).
#include "failover/rewriter.h"

#include "core/text.h"
#include "replication/path_map.h"
#include "replication/pv_source.h"

namespace ocpvdr::failover {

const std::vector<std::string_view> kDroppedPvcAnnotations = {
    // Set by the PV controller when it binds a claim; the DR PV controller sets its own.
    "pv.kubernetes.io/bind-completed",
    "pv.kubernetes.io/bound-by-controller",
    // Set by the PV controller for dynamic provisioning; on a pre-bound claim they would invite
    // the provisioner to create a second (empty) volume.
    "volume.beta.kubernetes.io/storage-provisioner",
    "volume.kubernetes.io/storage-provisioner",
    // WaitForFirstConsumer scheduling result: a primary node name.
    "volume.kubernetes.io/selected-node",
    // CSI migration and resize bookkeeping of the primary cluster.
    "pv.kubernetes.io/migrated-to",
    "volume.kubernetes.io/storage-resizer",
    // CDI's import request and its parameters (CDI pkg/controller/common/util.go: AnnEndpoint,
    // AnnSource, AnnSecret, AnnCertConfigMap, AnnImportPod, ... all under storage.import.).
    // pkg/controller/import-controller.go shouldReconcilePVC starts an importer for a claim with
    // storage.import.endpoint or .source unless storage.pod.phase is Succeeded.
    "cdi.kubevirt.io/storage.import.",
    // Multi-stage (warm) import checkpoints (common/util.go AnnCurrentCheckpoint, ...):
    // IsMultiStageImportInProgress makes the import controller run again even on a completed
    // claim.
    "cdi.kubevirt.io/storage.checkpoint.",
    // Upload request (AnnUploadRequest; pkg/controller/upload-controller.go Reconcile creates the
    // cdi-upload-<pvc> pod for it) and the upload controller's bookkeeping.
    "cdi.kubevirt.io/storage.upload.target",
    "cdi.kubevirt.io/storage.uploadPodName",
    "cdi.kubevirt.io/uploadClientName",
    // Host-assisted clone request (AnnCloneRequest: a clone target for upload-controller.go and
    // clone-controller.go), its tokens and the source pod's name.
    "k8s.io/CloneRequest",
    "cdi.kubevirt.io/storage.clone.token",
    "cdi.kubevirt.io/storage.extended.clone.token",
    "cdi.kubevirt.io/storage.sourceClonePodName",
    // Added by kubevirt-velero-plugin at backup (pvc_backup_item_action.go); handled by
    // restorePvcUidLabel, listed so nothing of the plugin's leaks through.
    "velero.kubevirt.io/original-pvc-uid",
};

bool isDroppedPvcAnnotation(std::string_view name) {
  for (std::string_view a : kDroppedPvcAnnotations) {
    if (a.back() == '.' ? name.substr(0, a.size()) == a : name == a) return true;
  }
  return false;
}

std::string unfinishedDataVolume(const Json& pvc) {
  const Json* ann = jsonAt(pvc, "metadata.annotations");
  if (!ann || !ann->is_object()) return "";
  auto it = ann->find(std::string(kInProgressAnnotation));
  if (it == ann->end()) return "";
  // The plugin writes the DataVolume's name; an empty value still marks the claim.
  return it->is_string() && !it->get<std::string>().empty() ? it->get<std::string>()
                                                            : std::string("<unnamed>");
}

namespace {

std::string objectName(const Json& obj) {
  const Json* n = jsonAt(obj, "metadata.name");
  return n && n->is_string() ? n->get<std::string>() : std::string("<unnamed>");
}

// Drops everything the API server owns or that ties the object to the primary cluster.
void resetMetadata(Json& obj, std::string_view backupName, const std::string& primarySource) {
  Json& meta = obj["metadata"];
  for (const char* field : {"uid", "resourceVersion", "creationTimestamp", "managedFields",
                            "generation", "deletionTimestamp", "deletionGracePeriodSeconds",
                            "finalizers", "ownerReferences", "selfLink", "generateName"})
    meta.erase(field);
  obj.erase("status");
  if (!meta.contains("labels") || !meta["labels"].is_object()) meta["labels"] = Json::object();
  if (!meta.contains("annotations") || !meta["annotations"].is_object())
    meta["annotations"] = Json::object();
  meta["labels"][std::string(kCreatedByLabel)] = std::string(kCreatedByValue);
  meta["annotations"][std::string(kSourceBackupAnnotation)] = std::string(backupName);
  if (!primarySource.empty())
    meta["annotations"][std::string(kPrimarySourceAnnotation)] = primarySource;
}

Status checkShape(const Json& obj, std::string_view kind) {
  if (!obj.is_object()) return invalidError(std::string(kind) + ": not a JSON object");
  const Json* k = jsonAt(obj, "kind");
  if (k && (!k->is_string() || k->get<std::string>() != kind))
    return invalidError("expected a " + std::string(kind) + ", got kind " + k->dump());
  const Json* n = jsonAt(obj, "metadata.name");
  if (!n || !n->is_string() || n->get<std::string>().empty())
    return invalidError(std::string(kind) + " without metadata.name");
  const Json* spec = jsonAt(obj, "spec");
  if (!spec || !spec->is_object())
    return invalidError(std::string(kind) + " " + n->get<std::string>() + " has no spec");
  return Status::success();
}

std::string stringAt(const Json& obj, std::string_view path) {
  const Json* v = jsonAt(obj, path);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

// Points a csi-driver-nfs PV at the DR copy. Which fields name the source follows
// replication::describePv (and the driver's node plugin): volumeAttributes server/share/subdir
// when server and share are set there, else the volumeHandle.
Status rewriteCsiNfs(Json& pv, const replication::VolumePaths& mapped, const std::string& name) {
  Json& csi = pv["spec"]["csi"];
  const std::string handle = stringAt(csi, "volumeHandle");
  const bool newForm = handle.find('#') != std::string::npos;
  std::vector<std::string> fields;
  if (newForm)
    for (std::string_view f : split(handle, '#')) fields.emplace_back(f);
  const Json* attrsIn = jsonAt(csi, "volumeAttributes");
  const bool fromAttributes = attrsIn && attrsIn->is_object() &&
                              !stringAt(*attrsIn, "server").empty() && attrsIn->contains("share") &&
                              (*attrsIn)["share"].is_string();
  std::string subdir;
  if (fromAttributes) {
    subdir = stringAt(*attrsIn, "subdir");
  } else if (newForm && fields.size() >= 3) {
    subdir = fields[2];
  } else if (auto last = handle.rfind('/'); last != std::string::npos) {
    subdir = handle.substr(last + 1);  // old form server/share/subdir
  }
  subdir = std::string(trim(subdir, "/"));

  // The DR export path must still read <share>/<subdir> with the same subdir, so that the
  // driver mounts the replicated directory.
  std::string drShare = mapped.drExportPath;
  if (!subdir.empty()) {
    const std::string suffix = "/" + subdir;
    if (drShare.size() <= suffix.size() ||
        drShare.compare(drShare.size() - suffix.size(), suffix.size(), suffix) != 0)
      return refusedError("PV " + name + ": DR export path \"" + mapped.drExportPath +
                          "\" does not end in the volume's subdir \"" + subdir +
                          "\"; a csi-driver-nfs share/subdir pair cannot express it");
    drShare = drShare.substr(0, drShare.size() - suffix.size());
  }
  if (!csi.contains("volumeAttributes") || !csi["volumeAttributes"].is_object())
    csi["volumeAttributes"] = Json::object();
  Json& attrs = csi["volumeAttributes"];
  attrs["server"] = mapped.drServer;
  attrs["share"] = drShare;
  if (!subdir.empty() || attrs.contains("subdir")) attrs["subdir"] = subdir;
  if (newForm) {
    fields[0] = mapped.drServer;
    fields[1] = std::string(trim(drShare, "/"));
    std::string h;
    for (std::size_t i = 0; i < fields.size(); ++i) h += (i ? "#" : "") + fields[i];
    csi["volumeHandle"] = h;
  } else if (!handle.empty()) {
    csi["volumeHandle"] = mapped.drServer + drShare + (subdir.empty() ? "" : "/" + subdir);
  }
  return Status::success();
}

}  // namespace

Result<Json> rewritePersistentVolume(const Json& pv, const config::Config& cfg,
                                     std::string_view backupName) {
  OCPVDR_TRY(checkShape(pv, "PersistentVolume"));
  const std::string name = objectName(pv);
  // The same reading of the NFS source as replication's, so a PV is recreated at DR exactly when
  // (and where) replication copies its data.
  auto info = replication::describePv(pv);
  if (!info.ok()) return info.error().wrap("PV " + name);
  if (!info->nfs)
    return refusedError("PV " + name + " is not replicated by ocpv-dr (" +
                        info->notReplicableReason + "), so it cannot be recreated at DR");
  const replication::NfsSource& src = *info->nfs;
  auto mapped = replication::mapVolume(cfg, src.server, src.exportPath);
  if (!mapped.ok()) return mapped.error().wrap("PV " + name + " cannot be recreated at DR");

  Json out = pv;
  if (src.kind == replication::SourceKind::InTree) {
    out["spec"]["nfs"]["server"] = mapped->drServer;
    out["spec"]["nfs"]["path"] = mapped->drExportPath;
  } else {
    OCPVDR_TRY(rewriteCsiNfs(out, *mapped, name));
  }
  out["spec"]["persistentVolumeReclaimPolicy"] = "Retain";
  if (out["spec"].contains("claimRef") && out["spec"]["claimRef"].is_object()) {
    out["spec"]["claimRef"].erase("uid");
    out["spec"]["claimRef"].erase("resourceVersion");
  }
  resetMetadata(out, backupName, src.server + ":" + src.exportPath);
  // The PV side carries one bind-time marker of its own.
  out["metadata"]["annotations"].erase("pv.kubernetes.io/bound-by-controller");
  return out;
}

Result<Json> rewritePersistentVolumeClaim(const Json& pvc, const Json& pv,
                                          std::string_view backupName) {
  OCPVDR_TRY(checkShape(pvc, "PersistentVolumeClaim"));
  const std::string name = objectName(pvc);
  const std::string ns = stringAt(pvc, "metadata.namespace");
  if (ns.empty()) return invalidError("PVC " + name + " has no metadata.namespace");
  if (const std::string dv = unfinishedDataVolume(pvc); !dv.empty())
    return refusedError("PVC " + ns + "/" + name + " belongs to DataVolume " + dv +
                        ", which had not finished when the backup was taken (" +
                        std::string(kInProgressAnnotation) +
                        "): CDI populates it again at DR from the restored DataVolume");
  if (stringAt(pvc, "spec.volumeName").empty())
    return refusedError("PVC " + ns + "/" + name +
                        " was not bound to a PV when the backup was taken (no spec.volumeName): "
                        "there is no replicated volume to bind it to at DR");
  Json out = pvc;
  if (out["metadata"].contains("annotations") && out["metadata"]["annotations"].is_object()) {
    Json& ann = out["metadata"]["annotations"];
    // kubevirt-velero-plugin's restore action (pvc_restore_item_action.go): the pvc-uid label
    // goes back to the value it had before the backup, or away.
    if (out["metadata"].contains("labels") && out["metadata"]["labels"].is_object()) {
      Json& labels = out["metadata"]["labels"];
      const std::string label(kPvcUidLabel);
      if (labels.contains(label)) {
        auto orig = ann.find(std::string(kOriginalPvcUidAnnotation));
        if (orig != ann.end() && orig->is_string())
          labels[label] = *orig;
        else
          labels.erase(label);
      }
    }
    for (auto it = ann.begin(); it != ann.end();) {
      if (isDroppedPvcAnnotation(it.key()))
        it = ann.erase(it);
      else
        ++it;
    }
  } else if (out["metadata"].contains("labels") && out["metadata"]["labels"].is_object()) {
    out["metadata"]["labels"].erase(std::string(kPvcUidLabel));
  }
  // The data is already in the replicated volume: a data source (a snapshot or a CDI populator
  // reference that does not exist at DR) must neither trigger a fresh population nor hold up
  // binding.
  out["spec"].erase("dataSource");
  out["spec"].erase("dataSourceRef");
  // The PV's class, stated: a claim without storageClassName would get the DR cluster's default
  // class filled in by admission and no longer match its pre-bound PV.
  const Json* pvClass = jsonAt(pv, "spec.storageClassName");
  out["spec"]["storageClassName"] =
      pvClass && pvClass->is_string() ? pvClass->get<std::string>() : std::string();
  resetMetadata(out, backupName, "");
  return out;
}

Status checkVolumePairing(const Json& pv, const Json& pvc) {
  const std::string pvName = stringAt(pv, "metadata.name");
  const std::string pvcName = stringAt(pvc, "metadata.name");
  const std::string pvcNs = stringAt(pvc, "metadata.namespace");
  const std::string volumeName = stringAt(pvc, "spec.volumeName");
  if (volumeName != pvName)
    return invalidError("PVC " + pvcNs + "/" + pvcName + " is bound to PV \"" + volumeName +
                        "\", not to PV " + pvName);
  const Json* ref = jsonAt(pv, "spec.claimRef");
  if (ref && ref->is_object()) {
    if (stringAt(*ref, "name") != pvcName || stringAt(*ref, "namespace") != pvcNs)
      return invalidError("PV " + pvName + " is claimed by " + stringAt(*ref, "namespace") + "/" +
                          stringAt(*ref, "name") + ", not by PVC " + pvcNs + "/" + pvcName);
  }
  return Status::success();
}

}  // namespace ocpvdr::failover
