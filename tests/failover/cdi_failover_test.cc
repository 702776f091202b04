// Failover of DataVolume-backed VMs against kube-sim's model of CDI (tools/kube-sim/
// cdi_controller.h): the DR claims ocpv-dr pre-creates carry the annotation sets of a legacy
// (non-populator) import and of a populator import as kubevirt-velero-plugin backs them up, and
// CDI's import and upload rules watch every claim at DR. After a planned failover no importer or
// upload pod exists and every DR disk.img is byte-identical to the replicated one. A DataVolume
// that was still importing at backup is not pre-created: the plan says why, apply-volumes skips
// it, and the restored DataVolume passes CDI's admission rule.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include "failover/failover_lab.h"
#include "support/files.h"
#include "support/velero_backup_writer.h"

namespace ocpvdr::testing {
namespace {

namespace fs = std::filesystem;

// The disk's checksum (what an operator compares), hex.
std::string sha256Hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

class FailoverCdi : public ::testing::Test {
 protected:
  void SetUp() override {
    config::Config c = FailoverLab::localSites(tmp.str());
    c.failover.fencing.method = config::FencingMethod::Command;
    c.failover.fencing.command = {"/bin/true"};
    LabOptions o;
    o.vms = 6;  // DataVolume VMs vm-000 (legacy import), vm-002 (populator), vm-004 (legacy)
    o.unfinishedDataVolumes = 1;
    auto l = FailoverLab::create(c, tmp.str(), o);
    if (!l.ok() && l.error().kind == ErrorKind::NotFound) GTEST_SKIP() << l.error().message;
    ASSERT_TRUE(l.ok()) << l.error().describe();
    lab = std::move(l).value();
    lab->populatePrimary();
    RealProcessRunner runner;
    lab->replicate(runner);
  }

  fs::path drDisk(const ScenarioVolume& v) const {
    return fs::path(lab->cfg.dr.exportRoots.front().hostPath) / v.dir / "disk.img";
  }
  fs::path primaryDisk(const ScenarioVolume& v) const {
    return fs::path(lab->cfg.primary.exportRoots.front().hostPath) / v.dir / "disk.img";
  }
  // Every event committed at DR so far has been handled by its controllers.
  void drainDr() { lab->dr->admin("POST", "/admin/drain"); }
  std::vector<Json> cdiEvents() {
    std::vector<Json> out;
    for (const auto& e : FailoverLab::list(*lab->dr, "/api/v1/events")) {
      const std::string reason = e.value("reason", "");
      if (reason == "ImporterPodCreated" || reason == "UploadPodCreated" ||
          reason == "DataOverwritten")
        out.push_back(e);
    }
    return out;
  }

  TempDir tmp{"ocpvdr-failover-cdi"};
  std::unique_ptr<FailoverLab> lab;
};

TEST_F(FailoverCdi, LegacyImportClaimsKeepTheirReplicatedDisksAtDr) {
  // The fixture is what the test claims it is: legacy-import claims with the import request and
  // their completion state, as the backup holds them.
  std::vector<const ScenarioVolume*> legacy;
  for (const auto& v : lab->scenario.volumes)
    if (v.fromDataVolume && v.dvState == DvPvcState::LegacyImport) legacy.push_back(&v);
  ASSERT_GE(legacy.size(), 2u);
  for (const auto* v : legacy) {
    Json pvc = lab->primary->request(
        "GET", "/api/v1/namespaces/" + v->ns + "/persistentvolumeclaims/" + v->pvc);
    const Json& a = pvc["metadata"]["annotations"];
    EXPECT_TRUE(a.contains("cdi.kubevirt.io/storage.import.endpoint")) << pvc.dump();
    EXPECT_EQ(a.value("cdi.kubevirt.io/storage.pod.phase", ""), "Succeeded");
    EXPECT_EQ(a.value("cdi.kubevirt.io/storage.populatedFor", ""), v->pvc);
    EXPECT_TRUE(pvc["metadata"]["labels"].contains("velero.kubevirt.io/pvc-uid"));
  }
  const ScenarioVolume& unfinished = lab->scenario.unfinished.at(0);

  lab->takeBackup("nightly-1");
  lab->prepareDr("nightly-1");

  // The plan names the unfinished DataVolume's claim and why it is not pre-created.
  auto p = runCli(lab->configPath, {"failover", "plan", "--planned", "--json"});
  ASSERT_EQ(p.code, 0) << p.out << p.err;
  Json apply;
  for (const auto& s : p.doc["steps"])
    if (s["step"] == "apply-volumes") apply = s;
  ASSERT_TRUE(apply.is_object()) << p.doc.dump();
  ASSERT_EQ(apply["skippedPersistentVolumeClaims"].size(), 1u) << apply.dump();
  const Json& skip = apply["skippedPersistentVolumeClaims"][0];
  EXPECT_EQ(skip["claim"], unfinished.ns + "/" + unfinished.pvc);
  EXPECT_EQ(skip["pv"], unfinished.pv);
  EXPECT_EQ(skip["dataVolume"], unfinished.pvc);
  EXPECT_NE(skip["reason"].get<std::string>().find("had not finished"), std::string::npos);
  EXPECT_EQ(apply["persistentVolumes"].size(), lab->scenario.volumes.size());
  for (const auto& pv : apply["persistentVolumes"])
    EXPECT_NE(pv["metadata"]["name"], unfinished.pv);

  auto r = runCli(lab->configPath,
                  {"failover", "run", "--planned", "--json", "--poll-interval-ms", "100"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.doc["result"], "done") << r.out;
  drainDr();

  // CDI found nothing to do: no worker pod, no overwrite.
  EXPECT_TRUE(FailoverLab::list(*lab->dr, "/api/v1/pods").empty());
  EXPECT_TRUE(cdiEvents().empty()) << cdiEvents().size() << " CDI events";
  for (const auto& v : lab->scenario.volumes) {
    const std::string disk = slurp(drDisk(v));
    EXPECT_FALSE(disk.empty()) << v.pv;
    EXPECT_EQ(sha256Hex(disk), sha256Hex(slurp(primaryDisk(v)))) << v.pv << " (" << v.pvc << ")";
    Json pv = lab->dr->request("GET", "/api/v1/persistentvolumes/" + v.pv);
    EXPECT_FALSE(pv["metadata"]
                     .value("annotations", Json::object())
                     .contains("kube-sim.ocpv-dr.io/data-overwritten-by"))
        << v.pv;
    Json pvc =
        lab->dr->request("GET", "/api/v1/namespaces/" + v.ns + "/persistentvolumeclaims/" + v.pvc);
    EXPECT_EQ(pvc["status"]["phase"], "Bound") << v.pvc;
    EXPECT_EQ(pvc["spec"]["storageClassName"], pv["spec"]["storageClassName"]) << v.pvc;
    EXPECT_FALSE(pvc["metadata"]["labels"].contains("velero.kubevirt.io/pvc-uid")) << v.pvc;
    const Json& a = pvc["metadata"]["annotations"];
    EXPECT_FALSE(a.contains("cdi.kubevirt.io/storage.import.endpoint")) << v.pvc;
    if (v.fromDataVolume) {
      EXPECT_EQ(a.value("cdi.kubevirt.io/storage.pod.phase", ""), "Succeeded") << v.pvc;
      EXPECT_EQ(a.value("cdi.kubevirt.io/storage.populatedFor", ""), v.pvc) << v.pvc;
    }
  }
  for (const auto& [ns, name] : lab->scenario.vms) {
    Json vm = lab->dr->request(
        "GET", "/apis/kubevirt.io/v1/namespaces/" + ns + "/virtualmachines/" + name);
    EXPECT_EQ(vm["status"].value("printableStatus", ""), "Running") << name;
  }

  // The unfinished DataVolume: neither its claim nor its PV was pre-created; Velero restored the
  // DataVolume itself and CDI's admission let it in (CDI populates it again).
  EXPECT_EQ(lab->dr
                ->send("GET", "/api/v1/namespaces/" + unfinished.ns + "/persistentvolumeclaims/" +
                                  unfinished.pvc)
                .status,
            404);
  EXPECT_EQ(lab->dr->send("GET", "/api/v1/persistentvolumes/" + unfinished.pv).status, 404);
  EXPECT_EQ(lab->dr
                ->send("GET", "/apis/cdi.kubevirt.io/v1beta1/namespaces/" + unfinished.ns +
                                  "/datavolumes/" + unfinished.pvc)
                .status,
            200);

  // Control: the cdi controller is live in this lab. The claim as the old rewriter left it (import
  // request kept, completion state stripped) gets an importer that rewrites the disk.
  const ScenarioVolume& v = *legacy.front();
  const std::string before = sha256Hex(slurp(drDisk(v)));
  auto patch = lab->dr->send(
      "PATCH", "/api/v1/namespaces/" + v.ns + "/persistentvolumeclaims/" + v.pvc,
      R"({"metadata":{"annotations":{"cdi.kubevirt.io/storage.pod.phase":null,)"
      R"("cdi.kubevirt.io/storage.import.endpoint":"docker://quay.io/containerdisks/fedora:40"}}})",
      "application/merge-patch+json");
  ASSERT_EQ(patch.status, 200) << patch.body;
  drainDr();
  EXPECT_EQ(lab->dr->send("GET", "/api/v1/namespaces/" + v.ns + "/pods/importer-" + v.pvc).status,
            200);
  EXPECT_NE(sha256Hex(slurp(drDisk(v))), before);
}

}  // namespace
}  // namespace ocpvdr::testing
