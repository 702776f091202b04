// The demo's (and the failover tests') workload: namespaces, NFS PersistentVolumes (in-tree and
// csi-driver-nfs), their claims (plain, or populated by a VM's dataVolumeTemplate), DataVolumes
// and KubeVirt VMs, as the objects a primary cluster holds. Objects only: writing them to a
// cluster and data to the export is the caller's business.
// DataVolume claims carry the annotation sets they have in an OADP backup (velero_writer.h
// DvPvcState, kubevirt-velero-plugin's markers included): they alternate between a legacy
// (non-populator) import and a populator import; an unfinished import can be added.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/json_util.h"
#include "demo/velero_writer.h"

namespace ocpvdr::demo {

struct ScenarioVolume {
  std::string pv, ns, pvc;
  bool csi = false;
  bool fromDataVolume = false;                    // the PVC belongs to a VM's dataVolumeTemplate
  DvPvcState dvState = DvPvcState::LegacyImport;  // how CDI filled it (fromDataVolume only)
  std::string exportPath;                         // primary export path of the data directory
  std::string dir;                                // that directory relative to the export root
};

struct Scenario {
  std::vector<std::string> namespaces;
  std::vector<Json> objects;  // to create at the primary (namespaces, PVs, PVCs, DVs, VMs)
  std::vector<ScenarioVolume> volumes;
  std::vector<std::pair<std::string, std::string>> vms;  // (ns, name)
  // Volumes of DataVolumes still importing when the backup was taken (no VM uses them): PV,
  // claim (kvp.kubevirt.io/storage.inprogress) and DataVolume are in `objects`, not in `volumes`.
  std::vector<ScenarioVolume> unfinished;
};

struct ScenarioOptions {
  int unfinishedDataVolumes = 0;  // standalone DataVolumes caught mid-import, in namespaces[0]
  // true: the claim is Bound to its own PV (importer running); false: still Pending, no PV.
  bool unfinishedBound = true;
};

// `vms` VMs spread over `namespaces`; even-numbered ones use a dataVolumeTemplate, odd ones a
// plain PVC; every third volume is a csi-driver-nfs PV, the rest in-tree NFS.
// Even-numbered DataVolume VMs (vm-000, vm-004, ...) have a legacy import, the others a populator.
Scenario buildScenario(int vms, const std::vector<std::string>& namespaces,
                       const std::string& server, const std::string& exportPath,
                       const ScenarioOptions& options = {});

// Where the DR cluster's OADP finds the backups, for drPrerequisites.
struct DrSite {
  std::string oadpNamespace = "openshift-adp";
  std::string bucket, prefix, s3Url;
  std::string nfsServer, exportPath;  // the DR NFS server (the CSI StorageClass's parameters)
  std::string dpaName = "velero";     // OADP names its location <dpa>-1
};

// What a DR cluster has before a failover of the scenario (docs/failover.md, DR prerequisites;
// failover/preflight.h checks each): CSIDriver nfs.csi.k8s.io, the scenario's StorageClasses
// nfs-dynamic and nfs-csi, a DataProtectionApplication listing the kubevirt plugin and the
// BackupStorageLocation it makes, on the bucket and prefix with accessMode ReadOnly. Cluster
// objects first, then the OADP namespace's (which must exist).
std::vector<Json> drPrerequisites(const DrSite& site);

}  // namespace ocpvdr::demo
