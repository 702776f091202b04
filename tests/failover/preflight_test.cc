// The DR preflight checks (failover/preflight.h), each row against a bare kube-sim that plays
// the DR cluster: it starts with what demo::drPrerequisites makes (every row passes), and each
// test takes one thing away or adds one, then looks at that row's status and text.
#include "failover/preflight.h"

#include <gtest/gtest.h>

#include "core/curl_http.h"
#include "demo/scenario.h"
#include "failover/failover_lab.h"
#include "kube/connect.h"
#include "support/kube_sim_process.h"

namespace ocpvdr::failover {
namespace {

using ocpvdr::testing::FailoverLab;
using ocpvdr::testing::KubeSimProcess;
using ocpvdr::testing::TempDir;

backup::TarballItem item(std::string gr, std::string ns, std::string name, Json object) {
  backup::TarballItem i;
  i.groupResource = std::move(gr);
  i.ns = std::move(ns);
  i.name = std::move(name);
  i.object = std::move(object);
  return i;
}

class PreflightChecks : public ::testing::Test {
 protected:
  void SetUp() override {
    sim = std::make_unique<KubeSimProcess>();
    config::KubeAccess access;
    access.kubeconfig = sim->writeKubeconfig((tmp / "kubeconfig").string());
    auto c = kube::connect(access, clock, curlHttpClients());
    ASSERT_TRUE(c.ok()) << c.error().describe();
    conn = std::move(c).value();
    cfg.backupStore.bucket = "oadp";
    cfg.backupStore.prefix = "velero";
    cfg.failover.oadpNamespace = "openshift-adp";
    for (const char* ns : {"openshift-adp", "vms"})
      create({{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}});
    demo::DrSite site;
    site.bucket = "oadp";
    site.prefix = "velero";
    site.s3Url = "http://127.0.0.1:1";
    site.nfsServer = "nfs-dr.example.com";
    site.exportPath = "/exports/ocp";
    for (const auto& o : demo::drPrerequisites(site)) create(o);

    // The backup: a CSI PV (class nfs-csi) with its PVC, an in-tree PV (nfs-dynamic) whose
    // DataVolume names the class, a VM with an instancetype whose revision is in the backup.
    Json csiPv = {{"spec",
                   {{"storageClassName", "nfs-csi"},
                    {"claimRef", {{"namespace", "vms"}, {"name", "a"}}},
                    {"csi", {{"driver", "nfs.csi.k8s.io"}, {"volumeHandle", "x#y#z"}}}}}};
    Json nfsPv = {{"spec",
                   {{"storageClassName", "nfs-dynamic"},
                    {"claimRef", {{"namespace", "vms"}, {"name", "b"}}},
                    {"nfs", {{"server", "s"}, {"path", "/p"}}}}}};
    contents.items.push_back(item("persistentvolumes", "", "pv-a", csiPv));
    contents.items.push_back(item("persistentvolumes", "", "pv-b", nfsPv));
    contents.items.push_back(
        item("persistentvolumeclaims", "vms", "a", {{"spec", {{"storageClassName", "nfs-csi"}}}}));
    contents.items.push_back(
        item("datavolumes.cdi.kubevirt.io", "vms", "b",
             {{"spec", {{"storage", {{"storageClassName", "nfs-dynamic"}}}}}}));
    contents.items.push_back(
        item("virtualmachines.kubevirt.io", "vms", "vm1",
             {{"spec",
               {{"instancetype", {{"name", "u1.small"}, {"revisionName", "vm1-u1.small-1"}}}}}}));
    contents.items.push_back(item("controllerrevisions.apps", "vms", "vm1-u1.small-1", Json{}));
  }

  void create(const Json& o) {
    auto r = sim->send("POST", FailoverLab::collectionPath(o), o.dump());
    ASSERT_EQ(r.status, 201) << r.body;
  }
  void remove(const std::string& path) {
    auto r = sim->send("DELETE", path);
    ASSERT_EQ(r.status, 200) << r.body;
  }
  DrCheckInput input() { return DrCheckInput{cfg, *conn.client, contents, namespaces, {}}; }
  CheckRow rowOf(const std::string& check) {
    for (auto& r : runDrChecks(input()).rows)
      if (r.check == check) return r;
    ADD_FAILURE() << "no row " << check;
    return {};
  }
  Json bsl(const std::string& name, const std::string& bucket, const std::string& prefix,
           bool isDefault, const std::string& accessMode = "ReadOnly") {
    return {{"apiVersion", "velero.io/v1"},
            {"kind", "BackupStorageLocation"},
            {"metadata", {{"name", name}, {"namespace", "openshift-adp"}}},
            {"spec",
             {{"provider", "aws"},
              {"default", isDefault},
              {"accessMode", accessMode},
              {"objectStorage", {{"bucket", bucket}, {"prefix", prefix}}}}}};
  }
  static constexpr const char* kBsls =
      "/apis/velero.io/v1/namespaces/openshift-adp/backupstoragelocations/";

  TempDir tmp;
  RealClock clock;
  std::unique_ptr<KubeSimProcess> sim;
  kube::KubeConnection conn;
  config::Config cfg;
  backup::TarballContents contents;
  std::vector<std::string> namespaces{"vms"};
};

TEST_F(PreflightChecks, APreparedDrSidePassesEveryRow) {
  DrChecks checks = runDrChecks(input());
  std::vector<std::string> ids;
  for (const auto& r : checks.rows) {
    ids.push_back(r.check);
    EXPECT_EQ(r.status, CheckStatus::Pass) << toJson(r).dump();
    EXPECT_TRUE(r.fix.empty()) << r.check;
    EXPECT_FALSE(r.summary.empty()) << r.check;
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"csi-driver", "storage-classes", "dpa-kubevirt-plugin",
                                           "backup-location", "backup-location-access",
                                           "existing-objects", "vm-revisions"}));
  EXPECT_FALSE(checks.failed());
  // OADP's location name, found by bucket and prefix (no fixed name).
  EXPECT_EQ(checks.location.name, "velero-1");
  EXPECT_EQ(checks.location.how, "bucket and prefix");
  EXPECT_EQ(toJson(checks.rows[0])["status"], "pass");
}

TEST_F(PreflightChecks, CsiDriverMissingFailsOnlyWhenAPvIsCsi) {
  remove("/apis/storage.k8s.io/v1/csidrivers/nfs.csi.k8s.io");
  CheckRow r = rowOf("csi-driver");
  EXPECT_EQ(r.status, CheckStatus::Fail);
  EXPECT_NE(r.summary.find("nfs.csi.k8s.io"), std::string::npos) << r.summary;
  EXPECT_NE(r.summary.find("pv-a"), std::string::npos) << r.summary;
  EXPECT_NE(r.fix.find("csi-driver-nfs"), std::string::npos) << r.fix;
  EXPECT_EQ(r.details["drivers"]["nfs.csi.k8s.io"]["state"], "missing");
  // Without a CSI PV in the backup the driver is not needed.
  contents.items.erase(contents.items.begin());
  EXPECT_EQ(rowOf("csi-driver").status, CheckStatus::Pass);
}

TEST_F(PreflightChecks, AStorageClassMissingAtDrFailsNamingItsUser) {
  remove("/apis/storage.k8s.io/v1/storageclasses/nfs-dynamic");
  CheckRow r = rowOf("storage-classes");
  EXPECT_EQ(r.status, CheckStatus::Fail);
  EXPECT_NE(r.summary.find("nfs-dynamic (PV pv-b and 1 more)"), std::string::npos) << r.summary;
  EXPECT_EQ(r.summary.find("nfs-csi"), std::string::npos) << r.summary;
  EXPECT_FALSE(r.fix.empty());
  // A class named only by a DataVolume counts too.
  contents.items[1].object["spec"].erase("storageClassName");
  EXPECT_EQ(rowOf("storage-classes").status, CheckStatus::Fail);
  contents.items[3].object["spec"]["storage"].erase("storageClassName");
  EXPECT_EQ(rowOf("storage-classes").status, CheckStatus::Pass);
}

TEST_F(PreflightChecks, DpaWithoutTheKubevirtPluginFails) {
  const std::string path =
      "/apis/oadp.openshift.io/v1alpha1/namespaces/openshift-adp/dataprotectionapplications/velero";
  Json dpa = sim->request("GET", path);
  remove(path);
  EXPECT_EQ(rowOf("dpa-kubevirt-plugin").status, CheckStatus::Fail);  // no DPA at all
  dpa["metadata"] = {{"name", "velero"}, {"namespace", "openshift-adp"}};
  dpa["spec"]["configuration"]["velero"]["defaultPlugins"] = {"openshift", "aws", "csi"};
  create(dpa);
  CheckRow r = rowOf("dpa-kubevirt-plugin");
  EXPECT_EQ(r.status, CheckStatus::Fail);
  EXPECT_NE(r.summary.find("velero"), std::string::npos) << r.summary;
  EXPECT_NE(r.fix.find("defaultPlugins"), std::string::npos) << r.fix;
  // The plugin as a custom plugin image counts.
  remove(path);
  dpa["spec"]["configuration"]["velero"]["customPlugins"] = {
      {{"name", "kv"}, {"image", "quay.io/konveyor/kubevirt-velero-plugin:v0.7.0"}}};
  create(dpa);
  EXPECT_EQ(rowOf("dpa-kubevirt-plugin").status, CheckStatus::Pass);
}

TEST_F(PreflightChecks, BackupLocationIsFoundByBucketAndPrefixOrDefaultNotByName) {
  remove(std::string(kBsls) + "velero-1");
  CheckRow r = rowOf("backup-location");
  EXPECT_EQ(r.status, CheckStatus::Fail);
  EXPECT_NE(r.summary.find("there is none"), std::string::npos) << r.summary;
  // A location named "default" on another prefix is not the one.
  create(bsl("default", "oadp", "other", true));
  r = rowOf("backup-location");
  EXPECT_EQ(r.status, CheckStatus::Fail);
  EXPECT_NE(r.summary.find("default (bucket oadp, prefix \"other\")"), std::string::npos)
      << r.summary;
  // Any name on the configured bucket and prefix (slashes around the prefix do not matter).
  create(bsl("dr-site-2", "oadp", "/velero/", false));
  DrChecks checks = runDrChecks(input());
  EXPECT_EQ(checks.location.name, "dr-site-2");
  EXPECT_EQ(checks.rows[3].status, CheckStatus::Pass) << toJson(checks.rows[3]).dump();
  // Two on it: spec.default decides; neither default: fail, name it in the config.
  create(bsl("dr-site-3", "oadp", "velero", true));
  checks = runDrChecks(input());
  EXPECT_EQ(checks.location.name, "dr-site-3");
  EXPECT_EQ(checks.location.how, "spec.default");
  remove(std::string(kBsls) + "dr-site-3");
  create(bsl("dr-site-3", "oadp", "velero", false));
  r = rowOf("backup-location");
  EXPECT_EQ(r.status, CheckStatus::Fail);
  EXPECT_NE(r.fix.find("failover.storage_location"), std::string::npos) << r.fix;
  // Named explicitly: that one, when it reads the configured place...
  cfg.failover.storageLocation = "dr-site-3";
  checks = runDrChecks(input());
  EXPECT_EQ(checks.location.name, "dr-site-3");
  EXPECT_EQ(checks.rows[3].status, CheckStatus::Pass);
  // ...and a fail when it does not or does not exist.
  cfg.failover.storageLocation = "default";
  EXPECT_EQ(rowOf("backup-location").status, CheckStatus::Fail);
  cfg.failover.storageLocation = "nowhere";
  r = rowOf("backup-location");
  EXPECT_EQ(r.status, CheckStatus::Fail);
  EXPECT_NE(r.summary.find("does not exist"), std::string::npos) << r.summary;
}

TEST_F(PreflightChecks, ABackupLocationThatIsNotReadOnlyWarns) {
  remove(std::string(kBsls) + "velero-1");
  create(bsl("velero-1", "oadp", "velero", true, "ReadWrite"));
  CheckRow r = rowOf("backup-location-access");
  EXPECT_EQ(r.status, CheckStatus::Warn);
  EXPECT_NE(r.summary.find("ReadWrite"), std::string::npos) << r.summary;
  EXPECT_NE(r.fix.find("accessMode"), std::string::npos) << r.fix;
  EXPECT_EQ(rowOf("backup-location").status, CheckStatus::Pass);
  EXPECT_FALSE(runDrChecks(input()).failed());
}

TEST_F(PreflightChecks, AVmOrDataVolumeOfTheBackupAlreadyAtDrFails) {
  Json vm = {{"apiVersion", "kubevirt.io/v1"},
             {"kind", "VirtualMachine"},
             {"metadata", {{"name", "vm1"}, {"namespace", "vms"}}},
             {"spec", {{"runStrategy", "Halted"}, {"template", {{"spec", Json::object()}}}}}};
  create(vm);
  CheckRow r = rowOf("existing-objects");
  EXPECT_EQ(r.status, CheckStatus::Fail);
  EXPECT_NE(r.summary.find("VirtualMachine vms/vm1"), std::string::npos) << r.summary;
  remove("/apis/kubevirt.io/v1/namespaces/vms/virtualmachines/vm1");
  EXPECT_EQ(rowOf("existing-objects").status, CheckStatus::Pass);
  create({{"apiVersion", "cdi.kubevirt.io/v1beta1"},
          {"kind", "DataVolume"},
          {"metadata", {{"name", "b"}, {"namespace", "vms"}}},
          {"spec", Json::object()}});
  r = rowOf("existing-objects");
  EXPECT_EQ(r.status, CheckStatus::Fail);
  EXPECT_NE(r.summary.find("DataVolume vms/b"), std::string::npos) << r.summary;
  // Objects of namespaces that are not failed over do not count.
  namespaces = {"other"};
  EXPECT_EQ(rowOf("existing-objects").status, CheckStatus::Pass);
}

TEST_F(PreflightChecks, AVmRevisionMissingFromTheBackupFailsUnlessDrHasIt) {
  contents.items.pop_back();  // the ControllerRevision
  CheckRow r = rowOf("vm-revisions");
  EXPECT_EQ(r.status, CheckStatus::Fail);
  EXPECT_NE(r.summary.find("vms/vm1 (instancetype u1.small, revision vm1-u1.small-1)"),
            std::string::npos)
      << r.summary;
  EXPECT_NE(r.fix.find("controllerrevisions"), std::string::npos) << r.fix;
  // Already at DR: fine.
  create({{"apiVersion", "apps/v1"},
          {"kind", "ControllerRevision"},
          {"metadata", {{"name", "vm1-u1.small-1"}, {"namespace", "vms"}}},
          {"data", Json::object()},
          {"revision", 1}});
  EXPECT_EQ(rowOf("vm-revisions").status, CheckStatus::Pass);
  // A preference revision recorded in the status (KubeVirt >= 1.3) is checked the same way.
  contents.items.back().object["spec"]["preference"] = {{"name", "fedora"}};
  contents.items.back().object["status"]["preferenceRef"]["controllerRevisionRef"]["name"] =
      "vm1-fedora-1";
  EXPECT_EQ(rowOf("vm-revisions").status, CheckStatus::Fail);
  // No revision recorded at all: KubeVirt makes one at DR — a warning.
  contents.items.back().object["status"].erase("preferenceRef");
  r = rowOf("vm-revisions");
  EXPECT_EQ(r.status, CheckStatus::Warn);
  EXPECT_NE(r.summary.find("preference fedora"), std::string::npos) << r.summary;
}

}  // namespace
}  // namespace ocpvdr::failover
