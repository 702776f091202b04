// The PV/PVC rewriter, table-driven over realistic objects: in-tree NFS PV, csi-driver-nfs PV
// (both handle forms), a DataVolume-created PVC with CDI annotations, a plain PVC, and the
// volumes that must be refused rather than recreated empty.
#include <gtest/gtest.h>

#include "failover/rewriter.h"
#include "support/velero_backup_writer.h"

namespace ocpvdr::failover {
namespace {

namespace t = ocpvdr::testing;

config::Config drConfig() {
  config::Config cfg;
  cfg.primary.name = "primary";
  cfg.primary.nfsServer = "nfs-primary.example.com";
  cfg.primary.nfsAliases = {"10.0.0.10"};
  cfg.primary.exportRoots = {{"/exports/ocp", "/srv/nfs/ocp"}};
  cfg.dr.name = "dr";
  cfg.dr.nfsServer = "nfs-dr.example.com";
  cfg.dr.exportRoots = {{"/exports/ocp-dr", "/srv/nfs/ocp-dr"}};
  cfg.replication.pathMappings = {{"/exports/ocp", "/exports/ocp-dr"}};
  return cfg;
}

// What every rewritten object must look like, whatever its kind.
void expectResetMetadata(const Json& o) {
  const Json& m = o["metadata"];
  for (const char* gone :
       {"uid", "resourceVersion", "creationTimestamp", "managedFields", "generation",
        "deletionTimestamp", "finalizers", "ownerReferences", "selfLink"})
    EXPECT_FALSE(m.contains(gone)) << gone;
  EXPECT_FALSE(o.contains("status"));
  EXPECT_EQ(m["labels"][std::string(kCreatedByLabel)], "ocpv-dr");
  EXPECT_EQ(m["annotations"][std::string(kSourceBackupAnnotation)], "nightly-20261124");
}

struct PvCase {
  std::string name;
  Json pv;
  // Expected after rewriting (JSON pointer → value).
  std::vector<std::pair<std::string, Json>> expect;
  std::string primarySource;
};

TEST(Rewriter, PersistentVolumeTable) {
  Json csiOld =
      t::sampleCsiPv("pvc-old", "nfs-primary.example.com", "/exports/ocp", "pvc-old", "vms", "old");
  csiOld["spec"]["csi"]["volumeHandle"] = "nfs-primary.example.com/exports/ocp/pvc-old";
  Json csiHandleOnly = t::sampleCsiPv("pvc-h", "x", "/x", "x", "vms", "h");
  csiHandleOnly["spec"]["csi"].erase("volumeAttributes");
  csiHandleOnly["spec"]["csi"]["volumeHandle"] =
      "nfs-primary.example.com#exports/ocp#pvc-h#0f1e2d3c#retain";

  const std::vector<PvCase> cases = {
      {"in-tree NFS (nfs-subdir-external-provisioner)",
       t::samplePv("pvc-1", "nfs-primary.example.com", "/exports/ocp/vms-root-pvc-1", "vms",
                   "root"),
       {{"/spec/nfs/server", "nfs-dr.example.com"},
        {"/spec/nfs/path", "/exports/ocp-dr/vms-root-pvc-1"},
        {"/spec/persistentVolumeReclaimPolicy", "Retain"},
        {"/spec/claimRef",
         {{"apiVersion", "v1"},
          {"kind", "PersistentVolumeClaim"},
          {"namespace", "vms"},
          {"name", "root"}}},
        {"/spec/storageClassName", "nfs-dynamic"},
        {"/spec/capacity/storage", "30Gi"},
        {"/metadata/name", "pvc-1"},
        {"/metadata/annotations/pv.kubernetes.io~1provisioned-by",
         "cluster.local/nfs-subdir-external-provisioner"}},
       "nfs-primary.example.com:/exports/ocp/vms-root-pvc-1"},
      {"in-tree NFS through a server alias and an unnormalised path",
       t::samplePv("pvc-2", "10.0.0.10", "/exports//ocp/./vms-data-pvc-2/", "vms", "data"),
       {{"/spec/nfs/server", "nfs-dr.example.com"},
        {"/spec/nfs/path", "/exports/ocp-dr/vms-data-pvc-2"}},
       "10.0.0.10:/exports//ocp/./vms-data-pvc-2/"},
      {"csi-driver-nfs, volumeAttributes and new handle",
       t::sampleCsiPv("pvc-3", "nfs-primary.example.com", "/exports/ocp", "pvc-3", "vms", "disk"),
       {{"/spec/csi/volumeAttributes/server", "nfs-dr.example.com"},
        {"/spec/csi/volumeAttributes/share", "/exports/ocp-dr"},
        {"/spec/csi/volumeAttributes/subdir", "pvc-3"},
        {"/spec/csi/volumeAttributes/csi.storage.k8s.io~1pv~1name", "pvc-3"},
        {"/spec/csi/volumeHandle", "nfs-dr.example.com#exports/ocp-dr#pvc-3##"},
        {"/spec/csi/driver", "nfs.csi.k8s.io"},
        {"/spec/mountOptions", {"nfsvers=4.1"}},
        {"/spec/persistentVolumeReclaimPolicy", "Retain"}},
       "nfs-primary.example.com:/exports/ocp/pvc-3"},
      {"csi-driver-nfs, old handle form server/share/subdir",
       csiOld,
       {{"/spec/csi/volumeHandle", "nfs-dr.example.com/exports/ocp-dr/pvc-old"},
        {"/spec/csi/volumeAttributes/share", "/exports/ocp-dr"}},
       "nfs-primary.example.com:/exports/ocp/pvc-old"},
      {"csi-driver-nfs, handle only: attributes filled consistently",
       csiHandleOnly,
       {{"/spec/csi/volumeHandle", "nfs-dr.example.com#exports/ocp-dr#pvc-h#0f1e2d3c#retain"},
        {"/spec/csi/volumeAttributes/server", "nfs-dr.example.com"},
        {"/spec/csi/volumeAttributes/share", "/exports/ocp-dr"},
        {"/spec/csi/volumeAttributes/subdir", "pvc-h"}},
       "nfs-primary.example.com:/exports/ocp/pvc-h"},
  };
  const config::Config cfg = drConfig();
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto r = rewritePersistentVolume(c.pv, cfg, "nightly-20261124");
    ASSERT_TRUE(r.ok()) << r.error().describe();
    for (const auto& [ptr, value] : c.expect)
      EXPECT_EQ(r->at(Json::json_pointer(ptr)), value) << ptr;
    expectResetMetadata(*r);
    EXPECT_FALSE(r->at(Json::json_pointer("/spec/claimRef")).contains("uid"));
    EXPECT_FALSE(r->at(Json::json_pointer("/spec/claimRef")).contains("resourceVersion"));
    EXPECT_FALSE(r->at(Json::json_pointer("/metadata/annotations"))
                     .contains("pv.kubernetes.io/bound-by-controller"));
    EXPECT_EQ(r->at(Json::json_pointer("/metadata/annotations/ocpv-dr.io~1primary-source")),
              c.primarySource);
    // The input is untouched (pure function).
    EXPECT_TRUE(c.pv["metadata"].contains("uid"));
  }
}

TEST(Rewriter, RefusesVolumesThatWereNotReplicated) {
  Json hostPath = t::samplePv("pv-host", "x", "/x", "a", "b");
  hostPath["spec"].erase("nfs");
  hostPath["spec"]["hostPath"] = {{"path", "/var/data"}};
  Json ebs = t::samplePv("pv-ebs", "x", "/x", "a", "b");
  ebs["spec"].erase("nfs");
  ebs["spec"]["csi"] = {{"driver", "ebs.csi.aws.com"}, {"volumeHandle", "vol-0123"}};
  Json block = t::samplePv("pv-block", "nfs-primary.example.com", "/exports/ocp/b", "a", "b");
  block["spec"]["volumeMode"] = "Block";
  Json csiNoShare = t::sampleCsiPv("pv-csi", "nfs-primary.example.com", "", "s", "a", "b");
  csiNoShare["spec"]["csi"]["volumeHandle"] = "";
  Json csiShortHandle = t::sampleCsiPv("pv-csi2", "x", "/x", "x", "a", "b");
  csiShortHandle["spec"]["csi"].erase("volumeAttributes");
  csiShortHandle["spec"]["csi"]["volumeHandle"] = "server#share";

  struct Case {
    Json pv;
    std::string needle;
    ErrorKind kind = ErrorKind::Refused;
  };
  const std::vector<Case> cases = {
      {t::samplePv("pv-other", "nfs-other.example.com", "/exports/ocp/x", "a", "b"),
       "sites.primary.nfs.server"},
      {t::samplePv("pv-outside", "nfs-primary.example.com", "/srv/elsewhere/x", "a", "b"),
       "export root"},
      {t::samplePv("pv-dotdot", "nfs-primary.example.com", "/exports/ocp/../etc", "a", "b"),
       "\"..\""},
      {t::samplePv("pv-root", "nfs-primary.example.com", "/exports/ocp", "a", "b"),
       "export root itself"},
      {hostPath, "volume source \"hostPath\" is not NFS"},
      {ebs, "CSI driver \"ebs.csi.aws.com\""},
      {block, "volumeMode Block"},
      {csiNoShare, "export root"},  // share "" + subdir "s" is /s: under no export root
      {csiShortHandle, "volumeHandle", ErrorKind::Invalid},
  };
  const config::Config cfg = drConfig();
  for (const auto& c : cases) {
    const std::string name = c.pv["metadata"]["name"];
    SCOPED_TRACE(name);
    auto r = rewritePersistentVolume(c.pv, cfg, "b");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind, c.kind) << r.error().describe();
    EXPECT_NE(r.error().message.find("PV " + name), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find(c.needle), std::string::npos) << r.error().message;
  }

  // A mapping whose DR path no longer ends in the CSI subdir cannot be expressed.
  config::Config odd = drConfig();
  odd.replication.pathMappings = {{"/exports/ocp/pvc-9", "/exports/ocp-dr/renamed"}};
  auto r = rewritePersistentVolume(
      t::sampleCsiPv("pvc-9", "nfs-primary.example.com", "/exports/ocp", "pvc-9", "a", "b"), odd,
      "b");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("does not end in the volume's subdir"), std::string::npos)
      << r.error().message;
}

TEST(Rewriter, RejectsObjectsThatAreNotPersistentVolumes) {
  const config::Config cfg = drConfig();
  EXPECT_EQ(rewritePersistentVolume(Json::array(), cfg, "b").error().kind, ErrorKind::Invalid);
  EXPECT_EQ(rewritePersistentVolume({{"kind", "Pod"}, {"metadata", {{"name", "p"}}}, {"spec", {}}},
                                    cfg, "b")
                .error()
                .kind,
            ErrorKind::Invalid);
  EXPECT_EQ(
      rewritePersistentVolume({{"kind", "PersistentVolume"}, {"spec", Json::object()}}, cfg, "b")
          .error()
          .kind,
      ErrorKind::Invalid);
  EXPECT_EQ(rewritePersistentVolumeClaim({{"kind", "PersistentVolumeClaim"},
                                          {"metadata", {{"name", "c"}}},
                                          {"spec", {{"volumeName", "v"}}}},
                                         Json::object(), "b")
                .error()
                .kind,
            ErrorKind::Invalid);  // no namespace
}

TEST(Rewriter, PersistentVolumeClaimFromADataVolume) {
  Json pvc = t::samplePvc("vms", "root", "pvc-1", "root");
  auto r = rewritePersistentVolumeClaim(pvc, t::samplePv("pvc-1", "s", "/p", "vms", "root"),
                                        "nightly-20261124");
  ASSERT_TRUE(r.ok()) << r.error().describe();
  expectResetMetadata(*r);
  const Json& a = (*r)["metadata"]["annotations"];
  // FACTS §6: CDI's completion state stays as it was in the backup.
  EXPECT_EQ(a["cdi.kubevirt.io/storage.populatedFor"], "root");
  EXPECT_EQ(a["cdi.kubevirt.io/storage.contentType"], "kubevirt");
  EXPECT_EQ(a["cdi.kubevirt.io/storage.pod.phase"], "Succeeded");
  EXPECT_EQ(a["cdi.kubevirt.io/storage.pod.restarts"], "0");
  EXPECT_EQ(a["cdi.kubevirt.io/storage.condition.running"], "false");
  EXPECT_EQ(a["cdi.kubevirt.io/storage.condition.running.message"], "Import Complete");
  EXPECT_EQ(a["cdi.kubevirt.io/storage.usePopulator"], "true");
  for (const char* gone :
       {"pv.kubernetes.io/bind-completed", "pv.kubernetes.io/bound-by-controller",
        "volume.beta.kubernetes.io/storage-provisioner", "volume.kubernetes.io/storage-provisioner",
        "volume.kubernetes.io/selected-node", "cdi.kubevirt.io/storage.import.importPodName",
        "cdi.kubevirt.io/storage.import.endpoint"})
    EXPECT_FALSE(a.contains(gone)) << gone;
  EXPECT_EQ((*r)["spec"]["volumeName"], "pvc-1");
  EXPECT_EQ((*r)["spec"]["storageClassName"], "nfs-dynamic");
  EXPECT_EQ((*r)["spec"]["resources"]["requests"]["storage"], "30Gi");
  EXPECT_FALSE((*r)["spec"].contains("dataSourceRef"));
  EXPECT_EQ((*r)["metadata"]["namespace"], "vms");
  EXPECT_EQ((*r)["metadata"]["labels"]["app.kubernetes.io/component"], "storage");
  EXPECT_FALSE((*r)["metadata"].contains("ownerReferences"));
}

// The annotation sets of DataVolume claims as kubevirt-velero-plugin backs them up: whatever the
// way CDI populated the claim, the DR claim keeps the completion state and carries no request
// that would make CDI's import, upload or clone controller start a pod on it.
TEST(Rewriter, DataVolumeClaimsKeepCompletionAndLoseRequests) {
  const Json pv = t::samplePv("pvc-1", "s", "/p", "vms", "root");
  Json upload = t::sampleDataVolumePvc("vms", "root", "pvc-1", t::DvPvcState::LegacyImport);
  {
    Json& a = upload["metadata"]["annotations"];
    for (auto it = a.begin(); it != a.end();)
      it = it.key().rfind("cdi.kubevirt.io/storage.import.", 0) == 0 ? a.erase(it) : ++it;
    a["cdi.kubevirt.io/storage.upload.target"] = "";
    a["cdi.kubevirt.io/storage.uploadPodName"] = "cdi-upload-root";
  }
  Json clone = t::sampleDataVolumePvc("vms", "root", "pvc-1", t::DvPvcState::LegacyImport);
  {
    Json& a = clone["metadata"]["annotations"];
    a["k8s.io/CloneRequest"] = "golden/fedora";
    a["k8s.io/CloneOf"] = "true";
    a["cdi.kubevirt.io/storage.clone.token"] = "eyJhbGciOi";
    a["cdi.kubevirt.io/storage.extended.clone.token"] = "eyJhbGciOi";
    a["cdi.kubevirt.io/storage.sourceClonePodName"] = "root-source-pod";
  }
  Json warm = t::sampleDataVolumePvc("vms", "root", "pvc-1", t::DvPvcState::LegacyImport);
  {
    Json& a = warm["metadata"]["annotations"];
    a["cdi.kubevirt.io/storage.checkpoint.current"] = "snapshot-2";
    a["cdi.kubevirt.io/storage.checkpoint.previous"] = "snapshot-1";
    a["cdi.kubevirt.io/storage.checkpoint.final"] = "false";
  }
  struct Case {
    std::string name;
    Json pvc;
  };
  const std::vector<Case> cases = {
      {"legacy import",
       t::sampleDataVolumePvc("vms", "root", "pvc-1", t::DvPvcState::LegacyImport)},
      {"populator", t::sampleDataVolumePvc("vms", "root", "pvc-1", t::DvPvcState::Populator)},
      {"upload", upload},
      {"host-assisted clone", clone},
      {"multi-stage import", warm},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto r = rewritePersistentVolumeClaim(c.pvc, pv, "nightly-20261124");
    ASSERT_TRUE(r.ok()) << r.error().describe();
    const Json& a = (*r)["metadata"]["annotations"];
    for (const auto& [key, value] : c.pvc["metadata"]["annotations"].items()) {
      const bool request = key.rfind("cdi.kubevirt.io/storage.import.", 0) == 0 ||
                           key.rfind("cdi.kubevirt.io/storage.checkpoint.", 0) == 0 ||
                           key == "cdi.kubevirt.io/storage.upload.target" ||
                           key == "cdi.kubevirt.io/storage.uploadPodName" ||
                           key == "k8s.io/CloneRequest" ||
                           key.find("clone.token") != std::string::npos ||
                           key == "cdi.kubevirt.io/storage.sourceClonePodName" ||
                           key.rfind("pv.kubernetes.io/b", 0) == 0 || key.rfind("volume.", 0) == 0;
      if (request) {
        EXPECT_FALSE(a.contains(key)) << key;
      } else {
        // Everything else of CDI's (and the rest) is kept, with its value.
        ASSERT_TRUE(a.contains(key)) << key;
        EXPECT_EQ(a[key], value) << key;
      }
    }
    // The completion state CDI's import controller reads (import-controller.go: IsPVCComplete).
    EXPECT_EQ(a["cdi.kubevirt.io/storage.pod.phase"], "Succeeded");
    EXPECT_EQ(a["cdi.kubevirt.io/storage.populatedFor"], "root");
    EXPECT_EQ(a["cdi.kubevirt.io/storage.condition.running.reason"], "Completed");
    EXPECT_FALSE((*r)["metadata"]["labels"].contains("velero.kubevirt.io/pvc-uid"));
    EXPECT_EQ((*r)["metadata"]["labels"]["app.kubernetes.io/managed-by"], "cdi-controller");
    EXPECT_FALSE((*r)["spec"].contains("dataSourceRef"));
  }
}

TEST(Rewriter, PvcUidLabelRestoredAsThePluginDoes) {
  const Json pv = t::samplePv("pvc-1", "s", "/p", "db", "data");
  Json pvc = t::samplePvc("db", "data", "pvc-1");
  pvc["metadata"]["labels"]["velero.kubevirt.io/pvc-uid"] = "uid-at-backup";
  pvc["metadata"]["annotations"]["velero.kubevirt.io/original-pvc-uid"] = "uid-before";
  auto r = rewritePersistentVolumeClaim(pvc, pv, "b");
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ((*r)["metadata"]["labels"]["velero.kubevirt.io/pvc-uid"], "uid-before");
  EXPECT_FALSE((*r)["metadata"]["annotations"].contains("velero.kubevirt.io/original-pvc-uid"));

  pvc["metadata"].erase("annotations");
  r = rewritePersistentVolumeClaim(pvc, pv, "b");
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_FALSE((*r)["metadata"]["labels"].contains("velero.kubevirt.io/pvc-uid"));
  EXPECT_EQ((*r)["metadata"]["labels"]["app"], "demo");
}

TEST(Rewriter, StorageClassComesFromThePv) {
  Json pv = t::samplePv("pvc-1", "s", "/p", "db", "data");
  pv["spec"]["storageClassName"] = "nfs-csi";
  Json pvc = t::samplePvc("db", "data", "pvc-1");
  auto r = rewritePersistentVolumeClaim(pvc, pv, "b");
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ((*r)["spec"]["storageClassName"], "nfs-csi");

  // A PV without a class: the claim states "" so that no default class is filled in at DR.
  pv["spec"].erase("storageClassName");
  pvc["spec"].erase("storageClassName");
  r = rewritePersistentVolumeClaim(pvc, pv, "b");
  ASSERT_TRUE(r.ok()) << r.error().describe();
  ASSERT_TRUE((*r)["spec"].contains("storageClassName"));
  EXPECT_EQ((*r)["spec"]["storageClassName"], "");
}

TEST(Rewriter, RefusesClaimsOfUnfinishedDataVolumes) {
  Json pvc = t::sampleDataVolumePvc("vms", "root", "pvc-1", t::DvPvcState::Unfinished);
  EXPECT_EQ(unfinishedDataVolume(pvc), "root");
  auto r = rewritePersistentVolumeClaim(pvc, t::samplePv("pvc-1", "s", "/p", "vms", "root"), "b");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Refused);
  EXPECT_NE(r.error().message.find("DataVolume root, which had not finished"), std::string::npos)
      << r.error().message;
  EXPECT_EQ(unfinishedDataVolume(
                t::sampleDataVolumePvc("vms", "root", "pvc-1", t::DvPvcState::Populator)),
            "");
}

TEST(Rewriter, PlainPersistentVolumeClaim) {
  Json pvc = t::samplePvc("db", "data", "pvc-7");
  pvc["metadata"]["annotations"]["example.com/keep-me"] = "yes";
  auto r = rewritePersistentVolumeClaim(pvc, t::samplePv("pvc-7", "s", "/p", "db", "data"),
                                        "nightly-20261124");
  ASSERT_TRUE(r.ok()) << r.error().describe();
  expectResetMetadata(*r);
  const Json& a = (*r)["metadata"]["annotations"];
  EXPECT_EQ(a["example.com/keep-me"], "yes");
  EXPECT_FALSE(a.contains("pv.kubernetes.io/bind-completed"));
  EXPECT_FALSE(a.contains("cdi.kubevirt.io/storage.populatedFor"));
  EXPECT_EQ((*r)["metadata"]["labels"]["app"], "demo");
  EXPECT_EQ((*r)["spec"]["volumeName"], "pvc-7");
  EXPECT_EQ((*r)["spec"]["accessModes"], Json::array({"ReadWriteMany"}));

  Json unbound = t::samplePvc("db", "pending", "x");
  unbound["spec"].erase("volumeName");
  auto u = rewritePersistentVolumeClaim(unbound, t::samplePv("x", "s", "/p", "db", "pending"), "b");
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.error().kind, ErrorKind::Refused);
  EXPECT_NE(u.error().message.find("PVC db/pending was not bound"), std::string::npos);
}

TEST(Rewriter, DroppedAnnotationList) {
  EXPECT_TRUE(isDroppedPvcAnnotation("pv.kubernetes.io/bind-completed"));
  EXPECT_TRUE(isDroppedPvcAnnotation("cdi.kubevirt.io/storage.import.endpoint"));
  EXPECT_TRUE(isDroppedPvcAnnotation("cdi.kubevirt.io/storage.import.source"));
  EXPECT_TRUE(isDroppedPvcAnnotation("cdi.kubevirt.io/storage.upload.target"));
  EXPECT_TRUE(isDroppedPvcAnnotation("k8s.io/CloneRequest"));
  EXPECT_TRUE(isDroppedPvcAnnotation("cdi.kubevirt.io/storage.checkpoint.current"));
  // Completion state: kept (FACTS §6).
  EXPECT_FALSE(isDroppedPvcAnnotation("cdi.kubevirt.io/storage.pod.phase"));
  EXPECT_FALSE(isDroppedPvcAnnotation("cdi.kubevirt.io/storage.condition.bound.reason"));
  EXPECT_FALSE(isDroppedPvcAnnotation("cdi.kubevirt.io/storage.populatedFor"));
  EXPECT_FALSE(isDroppedPvcAnnotation("cdi.kubevirt.io/storage.contentType"));
  EXPECT_FALSE(isDroppedPvcAnnotation("cdi.kubevirt.io/storage.import"));
  EXPECT_FALSE(isDroppedPvcAnnotation("pv.kubernetes.io/provisioned-by"));
}

TEST(Rewriter, PairingCheck) {
  Json pv = t::samplePv("pvc-1", "s", "/p", "vms", "root");
  EXPECT_TRUE(checkVolumePairing(pv, t::samplePvc("vms", "root", "pvc-1")).ok());
  auto wrongVolume = checkVolumePairing(pv, t::samplePvc("vms", "root", "pvc-2"));
  ASSERT_FALSE(wrongVolume.ok());
  EXPECT_NE(wrongVolume.error().message.find("bound to PV \"pvc-2\""), std::string::npos);
  auto wrongClaim = checkVolumePairing(pv, t::samplePvc("other", "root", "pvc-1"));
  ASSERT_FALSE(wrongClaim.ok());
  EXPECT_NE(wrongClaim.error().message.find("claimed by vms/root"), std::string::npos);
}

}  // namespace
}  // namespace ocpvdr::failover
