// FailoverLab: two simulated sites for the failover tests, with real peers throughout.
//
//   primary  kube-sim (controllers binding + kubevirt) holding N VMs in 3 namespaces: VMs with
//            dataVolumeTemplates (DataVolume + CDI-populated PVC) and VMs with plain PVCs, on
//            in-tree and csi-driver-nfs PVs; each PV's directory under the primary export root
//            holds a disk image.
//   storage  s3rver with a Velero-layout backup of the protected namespaces, taken from the
//            primary API the way Velero reads it (plus a ConfigMap per namespace, a resource the
//            DR kube-sim does not serve).
//   DR       kube-sim (binding + kubevirt + velero + cdi) with the OADP namespace and what
//            failover preflight checks there (CSIDriver, StorageClasses, a
//            DataProtectionApplication with the kubevirt plugin, a ReadOnly BackupStorageLocation
//            on the bucket); Velero's backup sync imports the backup as a Backup CR. The cdi
//            controller knows where the DR export roots are (cdi.nfs-exports): a DR claim that CDI
//            would import into gets an importer pod and its disk.img really rewritten, as on a
//            real cluster.
// The data is replicated with the Replicator before the failover (local transport in the root
// namespace, ssh between namespace hosts in the netns test). Configuration is written as JSON
// (config::toJson), which the YAML loader reads.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/json_util.h"
#include "core/process.h"
#include "core/result.h"
#include "demo/scenario.h"
#include "support/cli_run.h"
#include "support/kube_sim_process.h"
#include "support/s3rver_process.h"
#include "support/temp_dir.h"

namespace ocpvdr::testing {

using demo::buildScenario;
using demo::Scenario;
using demo::ScenarioVolume;

// One RBAC rule (rbac.authorization.k8s.io/v1 PolicyRule without resourceNames). `oadpOnly`:
// granted by a Role in failover.oadp_namespace instead of the ClusterRole.
struct RbacRule {
  std::string group;
  std::vector<std::string> resources, verbs;
  bool oadpOnly = false;
};

// Both kube-sims run with `--rbac`; ocpv-dr's kubeconfigs carry `token`, which kube-sim maps to
// `user`; prepareDr() binds `user` to `primary` (at the primary) and `dr` (at DR) as admin. The
// lab's own REST helpers keep the admin token.
struct LabRbac {
  std::string user = "ocpv-dr-dr-host";
  std::string token = "dr-host-token";
  std::vector<RbacRule> primary, dr;
  // docs/security.md, "DR host → primary cluster" and "DR host → DR cluster": tests start from
  // these and take single verbs away.
  static std::vector<RbacRule> documentedPrimary();
  static std::vector<RbacRule> documentedDr();
};

struct LabOptions {
  int vms = 10;
  std::vector<std::string> namespaces{"vms-a", "vms-b", "vms-c"};
  std::string listenHost = "127.0.0.1";  // kube-sims and s3rver (the bridge IP for netns)
  int vmStartDelayMs = 300;
  int controllerTickMs = 50;
  std::string backupName = "nightly-1";
  bool startPrimary = true;
  // Extra `--controller-option KEY=VALUE` for the DR kube-sim (e.g.
  // "velero.kubevirt-plugin-version=v0.7.0", "kubevirt.guest-agent=false").
  std::vector<std::string> drControllerOptions;
  int unfinishedDataVolumes = 0;  // demo::ScenarioOptions: DataVolumes caught mid-import
  bool cdiAtDr = true;            // run kube-sim's cdi controller at DR
  std::optional<LabRbac> rbac;    // unset: kube-sim without RBAC, ocpv-dr as admin
};

class FailoverLab {
 public:
  // `base`: sites (servers, export roots, ssh), replication, catalog and failover.work_dir.
  // The lab fills in kubeconfigs, backup_store and the failover section. NotFound when s3rver
  // is not installed (callers skip).
  [[nodiscard]] static Result<std::unique_ptr<FailoverLab>> create(const config::Config& base,
                                                                   const std::string& dir,
                                                                   LabOptions options = {});

  // Creates the scenario at the primary, waits until every VM runs, writes each volume's data.
  void populatePrimary();
  // Replicates every PV with the Replicator over `runner` (catalog rows included).
  void replicate(ProcessRunner& runner);
  // Reads the protected namespaces from the primary API and uploads them as backup `name`.
  void takeBackup(const std::string& name, const std::string& phase = "Completed");
  // OADP namespace and the DR prerequisites (demo::drPrerequisites: CSIDriver, StorageClasses,
  // DataProtectionApplication with the kubevirt plugin, ReadOnly BackupStorageLocation
  // "velero-1" on the bucket) at DR; waits until backup `name` is synced. With options.rbac it
  // also creates the DR host's roles and bindings at both sites.
  void prepareDr(const std::string& name);
  demo::DrSite drSite() const;
  // "/apis/<group>/<version>[/namespaces/<ns>]/<plural>" for the kinds the lab creates.
  static std::string collectionPath(const Json& o);

  // Writes `cfg` to the config file (the lab's own config unless given).
  std::string writeConfig();
  std::string writeConfig(const config::Config& c, const std::string& file);

  // Every object of a kube-sim, normalised for comparison between runs: server-owned metadata,
  // uids, timestamps and the run id removed; sorted.
  // Both sites as local directories under dir (<site>/srv/nfs/ocp, created), the local rsync
  // transport, the identity path mapping, catalog, locks and work dir under dir/dr, fencing off.
  static config::Config localSites(const std::string& dir);
  static Json normalisedState(KubeSimProcess& sim, const std::string& runId = "");
  // Objects of one kind from a kube-sim ("/api/v1/persistentvolumes", ...).
  static std::vector<Json> list(KubeSimProcess& sim, const std::string& path);
  // Polls until `pred` is true or the timeout passes.
  static bool waitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

  const LabOptions& options() const { return opt_; }
  std::string dir;
  config::Config cfg;
  std::string configPath;
  std::unique_ptr<S3rverProcess> s3;
  std::unique_ptr<KubeSimProcess> primary, dr;
  Scenario scenario;
  std::string bucket = "oadp";
  std::string prefix = "velero";

 private:
  FailoverLab() = default;
  // ClusterRole/ClusterRoleBinding (and Role/RoleBinding in the OADP namespace) named after
  // options.rbac->user with `rules`.
  void grant(KubeSimProcess& sim, const std::vector<RbacRule>& rules);
  LabOptions opt_;
};

// Runs `ocpv-dr -c <config> <args>` (prefixed by `wrap`, e.g. `ip netns exec <ns>`); the JSON
// document it prints is parsed into `doc` (null when stdout is not JSON).
CliRun runCli(const std::string& configPath, const std::vector<std::string>& args,
              const std::map<std::string, std::string>& env = {},
              const std::vector<std::string>& wrap = {},
              std::chrono::seconds timeout = std::chrono::seconds(300));

}  // namespace ocpvdr::testing
