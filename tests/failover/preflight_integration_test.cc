// Every DR preflight row (failover/preflight.h) stops `ocpv-dr failover run --planned` before
// anything changes: the lab's DR side passes every check (FailoverLab::prepareDr), each test
// breaks one thing there (or in the backup), and then `plan` shows that row failing and `run`
// stops in preflight with neither site changed — the DR kube-sim's objects, the primary's
// resourceVersion (no VM halted) and the fencing log are compared before and after.
#include <gtest/gtest.h>

#include <fstream>

#include "failover/failover_lab.h"
#include "support/files.h"

namespace ocpvdr::testing {
namespace {

namespace fs = std::filesystem;

class PreflightRun : public ::testing::Test {
 protected:
  void SetUp() override {
    config::Config c = FailoverLab::localSites(tmp.str());
    c.failover.fencing.method = config::FencingMethod::Command;
    c.failover.fencing.command = {"/bin/sh", "-c",
                                  "echo \"$OCPVDR_FAILOVER_RUN_ID\" >> " + fenceLog()};
    LabOptions o;
    o.vms = 3;  // a CSI PV, both StorageClasses, DataVolume and plain PVC VMs
    auto l = FailoverLab::create(c, tmp.str(), o);
    if (!l.ok() && l.error().kind == ErrorKind::NotFound) GTEST_SKIP() << l.error().message;
    ASSERT_TRUE(l.ok()) << l.error().describe();
    lab = std::move(l).value();
    lab->populatePrimary();
    RealProcessRunner runner;
    lab->replicate(runner);
  }

  std::string fenceLog() const { return (tmp / "fence.log").string(); }

  // plan: infeasible with `check` failing; run: stopped in preflight by it, nothing changed at
  // either site; the run is then abandoned so that the next one may start.
  void expectStoppedBy(const std::string& check) {
    const Json drBefore = FailoverLab::normalisedState(*lab->dr);
    const Json primaryBefore = lab->primary->admin("GET", "/admin/state");

    auto p = runCli(lab->configPath, {"failover", "plan", "--planned", "--json"});
    EXPECT_EQ(p.code, 3) << p.out << p.err;
    EXPECT_EQ(p.doc["feasible"], false) << p.out;
    bool shown = false;
    for (const auto& row : p.doc["checks"]) {
      if (row["check"] != check) continue;
      shown = true;
      EXPECT_EQ(row["status"], "fail") << row.dump();
      EXPECT_FALSE(row["fix"].get<std::string>().empty()) << row.dump();
    }
    EXPECT_TRUE(shown) << check << " not among " << p.doc["checks"].dump();
    // The human plan shows the row and what to do.
    auto text = runCli(lab->configPath, {"failover", "plan", "--planned"});
    EXPECT_NE(text.out.find("[FAIL] " + check + ":"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("what to do:"), std::string::npos) << text.out;

    auto r = runCli(lab->configPath,
                    {"failover", "run", "--planned", "--json", "--poll-interval-ms", "100"});
    EXPECT_EQ(r.code, 3) << r.out << r.err;
    EXPECT_EQ(r.doc["result"], "failed") << r.out;
    EXPECT_EQ(r.doc["failedStep"], "preflight") << r.out;
    const std::string msg = r.doc["error"].is_object() ? r.doc["error"]["message"] : "";
    EXPECT_NE(msg.find(check + ": "), std::string::npos) << msg;

    EXPECT_EQ(FailoverLab::normalisedState(*lab->dr), drBefore) << check;
    const Json primaryAfter = lab->primary->admin("GET", "/admin/state");
    EXPECT_EQ(primaryAfter["resourceVersion"], primaryBefore["resourceVersion"]) << check;
    for (const auto& vm : FailoverLab::list(*lab->primary, "/apis/kubevirt.io/v1/virtualmachines"))
      EXPECT_NE(vm["spec"].value("runStrategy", ""), "Halted") << check;
    EXPECT_FALSE(fs::exists(fenceLog())) << check;

    auto a = runCli(lab->configPath, {"failover", "abandon", "--run", r.doc.value("run", ""),
                                      "--reason", "preflight test", "--json"});
    EXPECT_EQ(a.code, 0) << a.out << a.err;  // not forced: the run changed nothing at DR
  }

  // GET, change, PUT without a resourceVersion (unconditional: Velero at DR writes the BSL's
  // status meanwhile).
  void edit(const std::string& path, const std::function<void(Json&)>& change) {
    Json o = lab->dr->request("GET", path);
    o["metadata"].erase("resourceVersion");
    change(o);
    auto r = lab->dr->send("PUT", path, o.dump());
    ASSERT_EQ(r.status, 200) << r.body;
  }

  static constexpr const char* kDpa =
      "/apis/oadp.openshift.io/v1alpha1/namespaces/openshift-adp/dataprotectionapplications/"
      "velero";
  static constexpr const char* kBsl =
      "/apis/velero.io/v1/namespaces/openshift-adp/backupstoragelocations/velero-1";

  TempDir tmp{"ocpvdr-preflight"};
  std::unique_ptr<FailoverLab> lab;
};

TEST_F(PreflightRun, EachFailingDrCheckStopsTheRunBeforeAnythingChanges) {
  lab->takeBackup("nightly-1");
  lab->prepareDr("nightly-1");
  {  // The lab's DR side passes every row.
    auto p = runCli(lab->configPath, {"failover", "plan", "--planned", "--json"});
    ASSERT_EQ(p.code, 0) << p.out << p.err;
    ASSERT_EQ(p.doc["checks"].size(), 7u) << p.out;
    for (const auto& row : p.doc["checks"]) EXPECT_EQ(row["status"], "pass") << row.dump();
  }

  // csi-driver
  Json csiDriver = lab->dr->request("GET", "/apis/storage.k8s.io/v1/csidrivers/nfs.csi.k8s.io");
  ASSERT_EQ(lab->dr->send("DELETE", "/apis/storage.k8s.io/v1/csidrivers/nfs.csi.k8s.io").status,
            200);
  expectStoppedBy("csi-driver");
  csiDriver["metadata"] = {{"name", "nfs.csi.k8s.io"}};
  ASSERT_EQ(lab->dr->send("POST", "/apis/storage.k8s.io/v1/csidrivers", csiDriver.dump()).status,
            201);

  // storage-classes
  Json sc = lab->dr->request("GET", "/apis/storage.k8s.io/v1/storageclasses/nfs-dynamic");
  ASSERT_EQ(lab->dr->send("DELETE", "/apis/storage.k8s.io/v1/storageclasses/nfs-dynamic").status,
            200);
  expectStoppedBy("storage-classes");
  sc["metadata"] = {{"name", "nfs-dynamic"}};
  ASSERT_EQ(lab->dr->send("POST", "/apis/storage.k8s.io/v1/storageclasses", sc.dump()).status, 201);

  // dpa-kubevirt-plugin
  auto plugins = [](Json list) {
    return [list](Json& o) { o["spec"]["configuration"]["velero"]["defaultPlugins"] = list; };
  };
  edit(kDpa, plugins({"openshift", "aws", "csi"}));
  expectStoppedBy("dpa-kubevirt-plugin");
  edit(kDpa, plugins({"openshift", "aws", "kubevirt", "csi"}));

  // backup-location: the DR location reads another prefix.
  auto prefix = [](std::string p) {
    return [p](Json& o) { o["spec"]["objectStorage"]["prefix"] = p; };
  };
  edit(kBsl, prefix("elsewhere"));
  expectStoppedBy("backup-location");
  edit(kBsl, prefix(lab->prefix));

  // existing-objects: a VM of the backup is at DR already.
  ASSERT_EQ(lab->dr
                ->send("POST", "/api/v1/namespaces",
                       R"({"metadata":{"name":")" + lab->scenario.vms[0].first + R"("}})")
                .status,
            201);
  Json vm = {{"apiVersion", "kubevirt.io/v1"},
             {"kind", "VirtualMachine"},
             {"metadata", {{"name", lab->scenario.vms[0].second}}},
             {"spec", {{"runStrategy", "Halted"}, {"template", {{"spec", Json::object()}}}}}};
  const std::string vms =
      "/apis/kubevirt.io/v1/namespaces/" + lab->scenario.vms[0].first + "/virtualmachines";
  ASSERT_EQ(lab->dr->send("POST", vms, vm.dump()).status, 201);
  // Settled (KubeVirt at DR has written its status) before the state is compared.
  ASSERT_TRUE(FailoverLab::waitFor(
      [&] {
        Json o = lab->dr->request("GET", vms + "/" + lab->scenario.vms[0].second);
        return o.value("/status/printableStatus"_json_pointer, "") == "Stopped";
      },
      std::chrono::seconds(20)));
  expectStoppedBy("existing-objects");
  ASSERT_EQ(lab->dr->send("DELETE", vms + "/" + lab->scenario.vms[0].second).status, 200);

  // Repaired: the same DR side passes again (the breakage above was the only cause).
  auto p = runCli(lab->configPath, {"failover", "plan", "--planned", "--json"});
  EXPECT_EQ(p.code, 0) << p.out << p.err;
}

TEST_F(PreflightRun, AVmWhoseInstancetypeRevisionIsNotInTheBackupStopsTheRun) {
  // The VM names a revision the backup does not carry (and DR does not have).
  const auto& [ns, name] = lab->scenario.vms[1];
  const std::string path = "/apis/kubevirt.io/v1/namespaces/" + ns + "/virtualmachines/" + name;
  auto r = lab->primary->send(
      "PATCH", path,
      R"({"spec":{"instancetype":{"kind":"VirtualMachineClusterInstancetype","name":"u1.small",)"
      R"("revisionName":")" +
          name + R"(-u1.small-1"}}})",
      "application/merge-patch+json");
  ASSERT_EQ(r.status, 200) << r.body;
  lab->takeBackup("nightly-1");
  lab->prepareDr("nightly-1");
  expectStoppedBy("vm-revisions");
}

}  // namespace
}  // namespace ocpvdr::testing
