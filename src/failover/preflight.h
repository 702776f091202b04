// The DR-side preflight checks of a failover: what the DR cluster must have before anything is
// changed at either site (docs/failover.md "DR prerequisites" says how to fix each row).
//
// Each check is a small function that reads the backup's objects and the DR API and returns one
// row: pass, warn or fail, what it found and what to do. The workflow's preflight step runs them
// all (`runDrChecks`), `failover plan` shows the rows, and `failover run` stops on any fail row
// (preflight is the first step, so nothing has been changed yet).
//
//   csi-driver              a CSIDriver (storage.k8s.io/v1) for every CSI driver the backup's PVs
//                           use (nfs.csi.k8s.io): without it the kubelet cannot mount the DR PV.
//   storage-classes         every StorageClass the backup's PVs, PVCs and DataVolumes name.
//   dpa-kubevirt-plugin     a DataProtectionApplication (oadp.openshift.io/v1alpha1) in the OADP
//                           namespace lists `kubevirt` in spec.configuration.velero.defaultPlugins
//                           (or a kubevirt-velero-plugin image in customPlugins). No DPA API at
//                           all (plain Velero): warn, the plugin cannot be checked.
//   backup-location         the BackupStorageLocation Velero syncs the backup from: the one named
//                           by failover.storage_location, else the one whose bucket and prefix
//                           are backup_store's (spec.default: true breaks a tie) — never a fixed
//                           name, since OADP names locations <dpa>-<n>. Not Available: warn.
//   backup-location-access  that location is `accessMode: ReadOnly` (warn otherwise: a
//                           read-write DR Velero garbage-collects in the shared prefix).
//   existing-objects        no VirtualMachine or DataVolume of the backup exists at DR already
//                           (the Restore would keep the DR's object, existingResourcePolicy none).
//   vm-revisions            every instancetype/preference ControllerRevision a VM names is in the
//                           backup (or already at DR): fail, the VM cannot start without it. A VM
//                           with an instancetype but no recorded revision: warn, KubeVirt makes a
//                           new revision from the DR cluster's instancetype of that name.
// A DR read that fails for another reason than 404 makes its row warn ("not checked"), except for
// backup-location and existing-objects, which fail: the run cannot be known to be safe.
#pragma once

#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "backup/velero_tarball.h"
#include "config/config.h"
#include "core/json_util.h"
#include "kube/kube_client.h"
#include "kube/resource_type.h"

namespace ocpvdr::failover {

enum class CheckStatus { Pass, Warn, Fail };
std::string_view toString(CheckStatus s);

struct CheckRow {
  std::string check;  // stable id (the list above)
  CheckStatus status = CheckStatus::Pass;
  std::string summary;  // what was found
  std::string fix;      // what to do; empty when the row passes
  Json details = Json::object();
};
// {"check", "status": "pass|warn|fail", "summary", "fix", "details"}.
Json toJson(const CheckRow& row);

inline constexpr std::string_view kControllerRevisions = "controllerrevisions.apps";
inline constexpr std::string_view kNfsCsiDriver = "nfs.csi.k8s.io";

// What the checks read. `namespaces`: the protected namespaces, sorted.
struct DrCheckInput {
  const config::Config& cfg;
  kube::KubeClient& dr;
  const backup::TarballContents& contents;
  const std::vector<std::string>& namespaces;
  std::stop_token stop;
};

// The BackupStorageLocation chosen at DR (see backup-location above).
struct FoundLocation {
  std::string name;  // empty: none chosen (`problem` says why)
  Json object;
  std::string how;      // "failover.storage_location", "bucket and prefix", "spec.default"
  std::string problem;  // why none was chosen, or why it cannot be the right one
  std::string fix;
};
[[nodiscard]] FoundLocation findBackupLocation(const DrCheckInput& in);

CheckRow checkCsiDriver(const DrCheckInput& in);
CheckRow checkStorageClasses(const DrCheckInput& in);
CheckRow checkDpaKubevirtPlugin(const DrCheckInput& in);
CheckRow checkBackupLocation(const DrCheckInput& in, const FoundLocation& loc);
CheckRow checkBackupLocationAccess(const DrCheckInput& in, const FoundLocation& loc);
CheckRow checkExistingObjects(const DrCheckInput& in);
CheckRow checkVmRevisions(const DrCheckInput& in);

struct DrChecks {
  std::vector<CheckRow> rows;  // in the order of the list above
  FoundLocation location;
  bool failed() const;
};
[[nodiscard]] DrChecks runDrChecks(const DrCheckInput& in);

// The DR resources only preflight reads (kept here, out of kube's shared table).
namespace preflight_resources {
const kube::ResourceType& csiDrivers();
const kube::ResourceType& storageClasses();
const kube::ResourceType& dataProtectionApplications();
const kube::ResourceType& controllerRevisions();
}  // namespace preflight_resources

}  // namespace ocpvdr::failover
