// The demo's (and the failover tests') workload: namespaces, NFS PersistentVolumes (in-tree and
// csi-driver-nfs), their claims (plain, or populated by a VM's dataVolumeTemplate), DataVolumes
// and KubeVirt VMs, as the objects a primary cluster holds. Objects only: writing them to a
// cluster and data to the export is the caller's business.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/json_util.h"

namespace ocpvdr::demo {

struct ScenarioVolume {
  std::string pv, ns, pvc;
  bool csi = false;
  bool fromDataVolume = false;  // the PVC belongs to a VM's dataVolumeTemplate
  std::string exportPath;       // primary export path of the data directory
  std::string dir;              // that directory relative to the export root
};

struct Scenario {
  std::vector<std::string> namespaces;
  std::vector<Json> objects;  // to create at the primary (namespaces, PVs, PVCs, DVs, VMs)
  std::vector<ScenarioVolume> volumes;
  std::vector<std::pair<std::string, std::string>> vms;  // (ns, name)
};

// `vms` VMs spread over `namespaces`; even-numbered ones use a dataVolumeTemplate, odd ones a
// plain PVC; every third volume is a csi-driver-nfs PV, the rest in-tree NFS.
Scenario buildScenario(int vms, const std::vector<std::string>& namespaces,
                       const std::string& server, const std::string& exportPath);

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
