// Workload objects for the demo and the failover tests (see scenario.h).
#include "demo/scenario.h"

namespace ocpvdr::demo {
namespace {

std::string zeroPad(int i, int width) {
  std::string s = std::to_string(i);
  return std::string(width > static_cast<int>(s.size()) ? width - s.size() : 0, '0') + s;
}

// The PV and its pre-bound claim for `v` (pv, ns, pvc and csi set; fills dir and exportPath).
std::pair<Json, Json> volumeObjects(ScenarioVolume& v, const std::string& app,
                                    const std::string& server, const std::string& exportPath) {
  std::string share = exportPath;
  while (!share.empty() && share.front() == '/') share.erase(share.begin());
  const std::string provisioner =
      v.csi ? "nfs.csi.k8s.io" : "cluster.local/nfs-subdir-external-provisioner";
  Json pv = {{"apiVersion", "v1"}, {"kind", "PersistentVolume"}};
  pv["metadata"]["name"] = v.pv;
  pv["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"] = provisioner;
  pv["spec"]["accessModes"] = {"ReadWriteMany"};
  pv["spec"]["capacity"]["storage"] = "10Gi";
  pv["spec"]["claimRef"] = {{"apiVersion", "v1"},
                            {"kind", "PersistentVolumeClaim"},
                            {"namespace", v.ns},
                            {"name", v.pvc}};
  pv["spec"]["persistentVolumeReclaimPolicy"] = "Delete";
  pv["spec"]["storageClassName"] = v.csi ? "nfs-csi" : "nfs-dynamic";
  pv["spec"]["volumeMode"] = "Filesystem";
  if (v.csi) {
    v.dir = v.pv;
    pv["spec"]["csi"] = {{"driver", "nfs.csi.k8s.io"},
                         {"volumeHandle", server + "#" + share + "#" + v.pv + "#" + v.pv + "#"},
                         {"volumeAttributes",
                          {{"server", server},
                           {"share", exportPath},
                           {"subdir", v.pv},
                           {"csi.storage.k8s.io/pv/name", v.pv},
                           {"csi.storage.k8s.io/pvc/name", v.pvc},
                           {"csi.storage.k8s.io/pvc/namespace", v.ns}}}};
  } else {
    v.dir = v.ns + "-" + v.pvc + "-" + v.pv;
    pv["spec"]["nfs"] = {{"server", server}, {"path", exportPath + "/" + v.dir}};
  }
  v.exportPath = exportPath + "/" + v.dir;
  Json pvc = {{"apiVersion", "v1"},
              {"kind", "PersistentVolumeClaim"},
              {"metadata",
               {{"name", v.pvc},
                {"namespace", v.ns},
                {"labels", {{"app", app}}},
                {"annotations",
                 {{"volume.kubernetes.io/storage-provisioner", provisioner},
                  {"volume.kubernetes.io/selected-node", "worker-1"}}}}},
              {"spec",
               {{"accessModes", {"ReadWriteMany"}},
                {"resources", {{"requests", {{"storage", "10Gi"}}}}},
                {"storageClassName", v.csi ? "nfs-csi" : "nfs-dynamic"},
                {"volumeMode", "Filesystem"},
                {"volumeName", v.pv}}}};
  return {pv, pvc};
}

Json dataVolumeObject(const ScenarioVolume& v) {
  return {{"apiVersion", "cdi.kubevirt.io/v1beta1"},
          {"kind", "DataVolume"},
          {"metadata", {{"name", v.pvc}, {"namespace", v.ns}}},
          {"spec",
           {{"sourceRef", {{"kind", "DataSource"}, {"name", "fedora"}}},
            {"storage", {{"resources", {{"requests", {{"storage", "10Gi"}}}}}}}}}};
}

}  // namespace

Scenario buildScenario(int vms, const std::vector<std::string>& namespaces,
                       const std::string& server, const std::string& exportPath,
                       const ScenarioOptions& options) {
  Scenario s;
  s.namespaces = namespaces;
  for (const auto& ns : namespaces)
    s.objects.push_back(
        {{"apiVersion", "v1"},
         {"kind", "Namespace"},
         {"metadata", {{"name", ns}, {"labels", {{"dr.example.com/protected", "true"}}}}}});
  for (int i = 0; i < vms; ++i) {
    ScenarioVolume v;
    v.ns = namespaces[i % namespaces.size()];
    const std::string vm = "vm-" + zeroPad(i, 3);
    v.fromDataVolume = i % 2 == 0;
    v.dvState = i % 4 == 0 ? DvPvcState::LegacyImport : DvPvcState::Populator;
    v.pvc = vm + (v.fromDataVolume ? "-root" : "-disk");
    v.pv = "pvc-5e0c" + zeroPad(i, 4) + "-0000-4000-8000-000000000000";
    v.csi = i % 3 == 0;
    auto [pv, pvc] = volumeObjects(v, vm, server, exportPath);
    Json volume;
    Json vmObj = {
        {"apiVersion", "kubevirt.io/v1"},
        {"kind", "VirtualMachine"},
        {"metadata", {{"name", vm}, {"namespace", v.ns}, {"labels", {{"app", vm}}}}},
        {"spec",
         {{"runStrategy", "Always"},
          {"template",
           {{"metadata", {{"labels", {{"kubevirt.io/domain", vm}}}}},
            {"spec",
             {{"domain",
               {{"devices", {{"disks", {{{"name", "root"}, {"disk", {{"bus", "virtio"}}}}}}}},
                {"memory", {{"guest", "1Gi"}}}}},
              {"volumes", Json::array()}}}}}}}};
    if (v.fromDataVolume) {
      addDataVolumePvcState(pvc, v.pvc, v.dvState);
      vmObj["spec"]["dataVolumeTemplates"] = {
          {{"metadata", {{"name", v.pvc}}},
           {"spec",
            {{"sourceRef",
              {{"kind", "DataSource"},
               {"name", "fedora"},
               {"namespace", "openshift-virtualization-os-images"}}},
             {"storage",
              {{"resources", {{"requests", {{"storage", "10Gi"}}}}},
               {"storageClassName", v.csi ? "nfs-csi" : "nfs-dynamic"}}}}}}};
      vmObj["spec"]["template"]["spec"]["volumes"].push_back(
          {{"name", "root"}, {"dataVolume", {{"name", v.pvc}}}});
      s.objects.push_back(dataVolumeObject(v));
    } else {
      vmObj["spec"]["template"]["spec"]["volumes"].push_back(
          {{"name", "root"}, {"persistentVolumeClaim", {{"claimName", v.pvc}}}});
    }
    s.objects.push_back(pv);
    s.objects.push_back(pvc);
    s.objects.push_back(vmObj);
    s.vms.emplace_back(v.ns, vm);
    s.volumes.push_back(std::move(v));
  }
  for (int i = 0; i < options.unfinishedDataVolumes; ++i) {
    ScenarioVolume v;
    v.ns = namespaces.front();
    v.pvc = "import-in-progress-" + zeroPad(i, 2);
    v.pv = "pvc-5e0c" + zeroPad(9000 + i, 4) + "-0000-4000-8000-000000000000";
    v.fromDataVolume = true;
    v.dvState = DvPvcState::Unfinished;
    auto [pv, pvc] = volumeObjects(v, v.pvc, server, exportPath);
    addDataVolumePvcState(pvc, v.pvc, v.dvState);
    s.objects.push_back(dataVolumeObject(v));  // CDI's order: the DataVolume, then its claim
    if (options.unfinishedBound) {
      s.objects.push_back(pv);
    } else {
      // Waiting for its volume: no PV, and CDI has not started the importer yet.
      v.pv.clear();
      pvc["spec"].erase("volumeName");
      auto& a = pvc["metadata"]["annotations"];
      a["cdi.kubevirt.io/storage.pod.phase"] = "Pending";
      a["cdi.kubevirt.io/storage.condition.bound"] = "false";
      a["cdi.kubevirt.io/storage.condition.bound.message"] = "Claim Pending";
      a["cdi.kubevirt.io/storage.condition.bound.reason"] = "Claim Pending";
      a["cdi.kubevirt.io/storage.condition.running"] = "false";
      a["cdi.kubevirt.io/storage.condition.running.reason"] = "Pending";
    }
    s.objects.push_back(pvc);
    s.unfinished.push_back(std::move(v));
  }
  return s;
}

std::vector<Json> drPrerequisites(const DrSite& site) {
  std::string share = site.exportPath;
  while (!share.empty() && share.front() == '/') share.erase(share.begin());
  const Json location = {{"provider", "aws"},
                         {"default", true},
                         {"accessMode", "ReadOnly"},
                         {"objectStorage", {{"bucket", site.bucket}, {"prefix", site.prefix}}},
                         {"config",
                          {{"region", "us-east-1"},
                           {"s3Url", site.s3Url},
                           {"s3ForcePathStyle", "true"},
                           {"profile", "default"}}}};
  std::vector<Json> out;
  out.push_back({{"apiVersion", "storage.k8s.io/v1"},
                 {"kind", "CSIDriver"},
                 {"metadata", {{"name", "nfs.csi.k8s.io"}}},
                 {"spec", {{"attachRequired", false}, {"volumeLifecycleModes", {"Persistent"}}}}});
  out.push_back({{"apiVersion", "storage.k8s.io/v1"},
                 {"kind", "StorageClass"},
                 {"metadata", {{"name", "nfs-dynamic"}}},
                 {"provisioner", "cluster.local/nfs-subdir-external-provisioner"},
                 {"reclaimPolicy", "Delete"},
                 {"parameters", {{"archiveOnDelete", "true"}}}});
  out.push_back({{"apiVersion", "storage.k8s.io/v1"},
                 {"kind", "StorageClass"},
                 {"metadata", {{"name", "nfs-csi"}}},
                 {"provisioner", "nfs.csi.k8s.io"},
                 {"reclaimPolicy", "Delete"},
                 {"parameters", {{"server", site.nfsServer}, {"share", "/" + share}}}});
  out.push_back({{"apiVersion", "oadp.openshift.io/v1alpha1"},
                 {"kind", "DataProtectionApplication"},
                 {"metadata", {{"name", site.dpaName}, {"namespace", site.oadpNamespace}}},
                 {"spec",
                  {{"configuration",
                    {{"velero", {{"defaultPlugins", {"openshift", "aws", "kubevirt", "csi"}}}}}},
                   {"backupLocations", {{{"velero", location}}}}}}});
  // What the OADP operator makes of the DPA's first backup location.
  out.push_back({{"apiVersion", "velero.io/v1"},
                 {"kind", "BackupStorageLocation"},
                 {"metadata", {{"name", site.dpaName + "-1"}, {"namespace", site.oadpNamespace}}},
                 {"spec", location}});
  return out;
}

}  // namespace ocpvdr::demo
