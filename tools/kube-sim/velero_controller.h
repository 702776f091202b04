// The "velero" controller: Velero's backup sync and restore, as far as the failover tests need.
//
// Backup sync (every `syncInterval`, on ticks): for each BackupStorageLocation, the bucket named
// by spec.objectStorage.{bucket,prefix} at spec.config.s3Url is listed (velero_storage.h: plain
// unsigned GETs, enough for s3rver) and every `<prefix>/backups/<name>/velero-backup.json` not yet
// present becomes a Backup in the location's namespace (spec and status as stored, label
// velero.io/storage-location). Backups still in progress are refreshed until they end. The
// location gets status.phase Available + lastSyncedTime, or Unavailable with a message. Backups
// removed from storage are not deleted here (real Velero does).
//
// Restore (velero.io/v1 Restore with no phase, or New):
//   validation  spec.backupName set, its Backup exists in the Restore's namespace and is
//               Completed or PartiallyFailed, and spec.resourceModifier (kind ConfigMap) names
//               a ConfigMap in the Restore's namespace holding a valid modifier document
//               (resource_modifiers.h); otherwise phase FailedValidation with
//               status.validationErrors.
//   run         phase InProgress; the tarball is fetched from the Backup's storage location and
//               read (velero_storage.h); a fetch or read failure is phase Failed with
//               status.failureReason. Items restored: the Namespace objects of the included
//               namespaces, then every namespaced item in spec.includedNamespaces (empty or "*":
//               all) whose resource is not in spec.excludedResources (plural, group resource,
//               kind or short name), in the order namespaces, DataVolumes, everything else,
//               VirtualMachines last. Cluster-scoped items other than namespaces only with
//               spec.includeClusterResources: true. Items of resources kube-sim does not serve
//               are skipped with a warning, as are VMIs owned by a VM (kubevirt-velero-plugin
//               skips them; the VM recreates its VMI).
//               Each item is created without uid, resourceVersion, creationTimestamp,
//               managedFields, generation, ownerReferences and status, labelled
//               velero.io/backup-name and velero.io/restore-name. VirtualMachines get
//               spec.runStrategy from the Restore's label velero.kubevirt.io/restore-run-strategy
//               when set (spec.running removed), as kubevirt-velero-plugin does from v0.7.1 on;
//               with `kubevirtPluginVersion` below v0.7.1 (OADP 1.4 ships v0.7.0; controller
//               option velero.kubevirt-plugin-version) the label is ignored. Then the
//               Restore's resource modifiers are applied to every item but namespaces (a
//               failing rule counts an error; the item is still created).
//               An existing object: existingResourcePolicy none (default) leaves it and counts
//               a warning; update merge-patches its labels and spec. A create that fails
//               counts an error (and is logged to kube-sim's stderr).
//   result      Completed, or PartiallyFailed when any item failed; status.errors, .warnings,
//               .progress {totalItems, itemsRestored}, start/completion timestamps.
// The restore runs on the controller thread on the tick after validation.
#pragma once

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "controller.h"

namespace kubesim {

class VeleroController final : public Controller {
 public:
  explicit VeleroController(std::chrono::milliseconds syncInterval = std::chrono::seconds(1),
                            std::string kubevirtPluginVersion = "v0.7.1")
      : syncInterval_(syncInterval), kubevirtPluginVersion_(std::move(kubevirtPluginVersion)) {}

  std::string name() const override { return "velero"; }
  void onEvent(const Event& event, Store& store) override;
  void tick(Store& store, ocpvdr::SystemTime now) override;

  // Exposed for tests.
  void syncBackups(Store& store, ocpvdr::SystemTime now);
  void runRestore(Store& store, const std::string& ns, const std::string& name,
                  ocpvdr::SystemTime now);

 private:
  void validateRestore(Store& store, const std::string& ns, const std::string& name);
  // Whether the simulated kubevirt-velero-plugin reads velero.kubevirt.io/restore-run-strategy.
  bool honoursRunStrategyLabel() const;

  const std::chrono::milliseconds syncInterval_;
  const std::string kubevirtPluginVersion_;
  // Runner-thread state only. Restores validated and waiting to run ("<ns>/<name>").
  std::set<std::string> pending_;
  std::optional<ocpvdr::SystemTime> lastSync_;
};

}  // namespace kubesim
