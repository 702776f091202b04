// `ocpv-dr failover` end to end in the root namespace: two kube-sims (primary: binding +
// kubevirt; DR: binding + kubevirt + velero), s3rver holding the Velero backup, data replicated
// with the Replicator over the local transport, fencing by command. Planned and unplanned runs,
// plan (changes nothing), and resume after a failed step. The same over ssh between network
// namespaces, with exportfs fencing, is failover_e2e_test.cc.
#include <gtest/gtest.h>

#include <fstream>

#include "catalog/catalog.h"
#include "core/time.h"
#include "failover/failover_lab.h"
#include "failover/journal.h"
#include "replication/path_map.h"
#include "support/files.h"

namespace ocpvdr::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

config::Config localSites(const TempDir& tmp) {
  config::Config c = FailoverLab::localSites(tmp.str());
  c.failover.fencing.method = config::FencingMethod::Command;
  c.failover.fencing.command = {
      "/bin/sh", "-c",
      "echo \"$OCPVDR_FAILOVER_RUN_ID $OCPVDR_FENCE_ROOTS\" >> " + (tmp / "fence.log").string()};
  return c;
}

class FailoverLocal : public ::testing::Test {
 protected:
  virtual LabOptions labOptions() const { return {}; }
  void SetUp() override {
    auto l = FailoverLab::create(localSites(tmp), tmp.str(), labOptions());
    if (!l.ok() && l.error().kind == ErrorKind::NotFound) GTEST_SKIP() << l.error().message;
    ASSERT_TRUE(l.ok()) << l.error().describe();
    lab = std::move(l).value();
    lab->populatePrimary();
    RealProcessRunner runner;
    lab->replicate(runner);
  }

  fs::path primaryDir(const ScenarioVolume& v) const {
    return fs::path(lab->cfg.primary.exportRoots.front().hostPath) / v.dir;
  }
  fs::path drDir(const ScenarioVolume& v) const {
    return fs::path(lab->cfg.dr.exportRoots.front().hostPath) / v.dir;
  }

  // Every VM of the scenario Running and ready at DR, every PV pointing at the DR server and at a
  // directory that exists and holds the primary's data.
  void expectFailedOver() {
    for (const auto& [ns, name] : lab->scenario.vms) {
      Json vm = lab->dr->request(
          "GET", "/apis/kubevirt.io/v1/namespaces/" + ns + "/virtualmachines/" + name);
      EXPECT_EQ(vm["status"].value("printableStatus", ""), "Running") << vm.dump();
      EXPECT_EQ(vm["status"].value("ready", false), true) << name;
      EXPECT_EQ(vm["spec"].value("runStrategy", ""), "Always") << name;
    }
    for (const auto& v : lab->scenario.volumes) {
      Json pv = lab->dr->request("GET", "/api/v1/persistentvolumes/" + v.pv);
      ASSERT_TRUE(pv.contains("spec")) << pv.dump();
      EXPECT_EQ(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain") << v.pv;
      EXPECT_EQ(pv["status"]["phase"], "Bound") << v.pv;
      std::string server, path;
      if (v.csi) {
        server = pv["spec"]["csi"]["volumeAttributes"]["server"];
        path = pv["spec"]["csi"]["volumeAttributes"]["share"].get<std::string>() + "/" +
               pv["spec"]["csi"]["volumeAttributes"]["subdir"].get<std::string>();
        EXPECT_EQ(
            pv["spec"]["csi"]["volumeHandle"].get<std::string>().rfind("nfs-dr.example.com#", 0),
            0u)
            << pv.dump();
      } else {
        server = pv["spec"]["nfs"]["server"];
        path = pv["spec"]["nfs"]["path"];
      }
      EXPECT_EQ(server, "nfs-dr.example.com") << v.pv;
      auto mapped = replication::mapVolume(lab->cfg, "nfs-primary.example.com", v.exportPath);
      ASSERT_TRUE(mapped.ok());
      EXPECT_EQ(path, mapped->drExportPath) << v.pv;
      // The export path the DR PV mounts is the directory replication filled.
      EXPECT_TRUE(fs::is_directory(mapped->drHostPath)) << mapped->drHostPath;
      EXPECT_EQ(slurp(fs::path(mapped->drHostPath) / "disk.img"), slurp(primaryDir(v) / "disk.img"))
          << v.pv;
      Json pvc = lab->dr->request(
          "GET", "/api/v1/namespaces/" + v.ns + "/persistentvolumeclaims/" + v.pvc);
      EXPECT_EQ(pvc["status"]["phase"], "Bound") << v.pvc;
      EXPECT_EQ(pvc["spec"]["volumeName"], v.pv);
      const Json& ann = pvc["metadata"]["annotations"];
      EXPECT_EQ(ann.contains("cdi.kubevirt.io/storage.populatedFor"), v.fromDataVolume) << v.pvc;
      EXPECT_FALSE(ann.contains("volume.kubernetes.io/selected-node")) << v.pvc;
    }
  }

  std::string finishedRunId(const CliRun& r) {
    EXPECT_TRUE(r.doc.is_object()) << r.out << r.err;
    return r.doc.is_object() ? r.doc.value("run", "") : "";
  }

  TempDir tmp{"ocpvdr-failover"};
  std::unique_ptr<FailoverLab> lab;
};

TEST_F(FailoverLocal, PlannedFailoverStopsPrimaryFencesSyncsAndStartsEveryVmAtDr) {
  // Written after the last scheduled sync: only the final sync can bring it to DR.
  const auto& late = lab->scenario.volumes.front();
  std::ofstream(primaryDir(late) / "late-write.txt") << "written after the last sync\n";
  lab->takeBackup("nightly-1");
  lab->prepareDr("nightly-1");

  auto r = runCli(lab->configPath,
                  {"failover", "run", "--planned", "--json", "--poll-interval-ms", "100"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.doc["result"], "done");
  const std::string runId = finishedRunId(r);
  expectFailedOver();
  EXPECT_EQ(slurp(drDir(late) / "late-write.txt"), "written after the last sync\n");

  // Primary: every VM halted by runStrategy, none deleted, no VMI left.
  auto vms = FailoverLab::list(*lab->primary, "/apis/kubevirt.io/v1/virtualmachines");
  EXPECT_EQ(vms.size(), lab->scenario.vms.size());
  for (const auto& vm : vms) EXPECT_EQ(vm["spec"]["runStrategy"], "Halted") << vm.dump();
  EXPECT_TRUE(
      FailoverLab::list(*lab->primary, "/apis/kubevirt.io/v1/virtualmachineinstances").empty());
  // Fenced once, with the primary export root.
  EXPECT_EQ(slurp(tmp / "fence.log"),
            runId + " " + lab->cfg.primary.exportRoots.front().hostPath + "\n");

  // The Restore: deterministic name, PVs/PVCs excluded, VMs restored Halted then started.
  Json restore = lab->dr->request("GET",
                                  "/apis/velero.io/v1/namespaces/openshift-adp/restores/"
                                  "ocpv-dr-" +
                                      runId);
  EXPECT_EQ(restore["status"]["phase"], "Completed") << restore.dump();
  EXPECT_EQ(restore["metadata"]["labels"]["velero.kubevirt.io/restore-run-strategy"], "Halted");
  EXPECT_EQ(restore["spec"]["excludedResources"],
            Json({"persistentvolumes", "persistentvolumeclaims"}));
  EXPECT_EQ(restore["spec"]["restorePVs"], false);
  EXPECT_EQ(restore["spec"]["existingResourcePolicy"], "none");

  // Report: every step done, RTO measured, each VM Running, each PV's data age 0 (final sync).
  const Json& rep = r.doc["report"];
  EXPECT_EQ(rep["state"], "done");
  ASSERT_EQ(rep["steps"].size(), 10u);
  for (const auto& s : rep["steps"]) {
    EXPECT_EQ(s["state"], "done") << s.dump();
    EXPECT_EQ(s["attempts"], 1) << s.dump();
  }
  ASSERT_TRUE(rep["rto"].is_object()) << rep.dump();
  EXPECT_GT(rep["rto"]["seconds"].get<double>(), 0.0);
  ASSERT_EQ(rep["vms"].size(), lab->scenario.vms.size());
  for (const auto& vm : rep["vms"]) {
    EXPECT_EQ(vm["printableStatus"], "Running") << vm.dump();
    EXPECT_EQ(vm["primaryRunStrategyBefore"], "Always") << vm.dump();
  }
  ASSERT_EQ(rep["volumes"].size(), lab->scenario.volumes.size());
  for (const auto& v : rep["volumes"]) EXPECT_EQ(v["dataAgeSeconds"], 0) << v.dump();
  ASSERT_EQ(r.doc["reportFiles"].size(), 3u);
  for (const auto& f : r.doc["reportFiles"]) EXPECT_TRUE(fs::exists(f.get<std::string>())) << f;
  const std::string html = slurp(r.doc["reportFiles"][2].get<std::string>());
  EXPECT_NE(html.find("<table>"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);  // self-contained, static
  // Temporary files are gone.
  EXPECT_FALSE(fs::exists(lab->cfg.failover.workDir + "/" + runId));

  // DR is active from apply-volumes on (after the final sync): a later sync from the primary —
  // even with --force — is refused and leaves the running VMs' disks alone, until released.
  {
    auto cat = catalog::Catalog::open(lab->cfg.catalog.path);
    ASSERT_TRUE(cat.ok());
    auto active = (*cat)->drActive();
    ASSERT_TRUE(active.ok() && active->has_value());
    EXPECT_EQ((*active)->runId, runId);
    EXPECT_EQ((*active)->backup, "nightly-1");
    auto run = failover::Journal(**cat).run(runId);
    ASSERT_TRUE(run.ok() && run->has_value());
    // Set at the start of apply-volumes: after the final sync (and download) ended, before
    // apply-volumes finished creating anything.
    EXPECT_GE((*active)->since, *(*run)->step("final-sync")->finishedAt);
    EXPECT_GE((*active)->since, (*run)->step("apply-volumes")->startedAt);
    EXPECT_LE((*active)->since, *(*run)->step("apply-volumes")->finishedAt);
    auto actions = (*cat)->failoverActions(runId);
    ASSERT_TRUE(actions.ok());
    ASSERT_EQ(actions->size(), 1u);
    EXPECT_EQ((*actions)[0].action, "dr-active");
  }
  std::ofstream(primaryDir(late) / "disk.img", std::ios::app) << "stale primary write";
  const std::string drDisk = slurp(drDir(late) / "disk.img");
  for (bool force : {false, true}) {
    std::vector<std::string> args = {"pv", "sync", "--pv", late.pv};
    if (force) args.push_back("--force");
    auto sync = runCli(lab->configPath, args);
    EXPECT_EQ(sync.code, 3) << sync.out << sync.err;
    EXPECT_EQ(sync.doc["result"], "refused") << sync.out;
    const std::string msg = sync.doc["error"].is_object() ? sync.doc["error"]["message"] : "";
    EXPECT_NE(msg.find("failover run " + runId), std::string::npos) << msg;
    EXPECT_NE(msg.find("ocpv-dr failover release --run " + runId), std::string::npos) << msg;
    EXPECT_EQ(slurp(drDir(late) / "disk.img"), drDisk);
  }
  auto status = runCli(lab->configPath, {"status", "--json"});
  ASSERT_EQ(status.code, 0) << status.err;
  EXPECT_EQ(status.doc["dr_active"]["active"], true);
  EXPECT_EQ(status.doc["dr_active"]["run"], runId);
  auto wrongRelease = runCli(lab->configPath, {"failover", "release", "--run", "other", "--json"});
  EXPECT_EQ(wrongRelease.code, 6) << wrongRelease.out;
  auto release = runCli(lab->configPath, {"failover", "release", "--run", runId, "--reason",
                                          "failed back", "--json"});
  ASSERT_EQ(release.code, 0) << release.out << release.err;
  EXPECT_EQ(release.doc["released"], true);
  auto resync = runCli(lab->configPath, {"pv", "sync", "--pv", late.pv});
  EXPECT_EQ(resync.code, 0) << resync.out << resync.err;
  EXPECT_EQ(slurp(drDir(late) / "disk.img"), slurp(primaryDir(late) / "disk.img"));

  // `report` re-renders the same run from the journal.
  auto again = runCli(lab->configPath, {"failover", "report", "--json"});
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(again.doc["runId"], runId);
  EXPECT_EQ(again.doc["rto"]["seconds"], rep["rto"]["seconds"]);
  // Nothing left to resume.
  auto resume = runCli(lab->configPath, {"failover", "resume", "--json"});
  EXPECT_EQ(resume.code, 7) << resume.out;
}

TEST_F(FailoverLocal, UnplannedFailoverWithThePrimaryDownReportsTheDataLossWindow) {
  lab->takeBackup("nightly-1");
  lab->prepareDr("nightly-1");
  ASSERT_EQ(lab->primary->stop(), 0);
  std::this_thread::sleep_for(1100ms);  // a measurable data-loss window

  auto r = runCli(lab->configPath,
                  {"failover", "run", "--unplanned", "--json", "--poll-interval-ms", "100"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  expectFailedOver();
  const Json& rep = r.doc["report"];
  std::vector<std::string> steps;
  for (const auto& s : rep["steps"]) steps.push_back(s["step"]);
  EXPECT_EQ(steps, (std::vector<std::string>{"preflight", "data-loss", "download", "apply-volumes",
                                             "restore", "start-vms", "cleanup", "report"}));
  auto cat = catalog::Catalog::open(lab->cfg.catalog.path);
  ASSERT_TRUE(cat.ok());
  for (const auto& v : rep["volumes"]) {
    ASSERT_TRUE(v["dataAgeSeconds"].is_number()) << v.dump();
    EXPECT_GE(v["dataAgeSeconds"].get<double>(), 1.0) << v.dump();
    auto rec = (*cat)->replica(v["pv"].get<std::string>());
    ASSERT_TRUE(rec.ok() && rec->has_value());
    EXPECT_EQ(v["lastSync"], formatTimeMillis(*(*rec)->lastSuccess));
    EXPECT_EQ(v["basis"], "catalog: last successful sync");
  }
  EXPECT_GE(rep["rpo"]["worstDataAgeSeconds"].get<double>(), 1.0);
  // The primary API being down is recorded, not fatal.
  auto run = failover::Journal(**cat).run(r.doc["run"]);
  ASSERT_TRUE(run.ok() && run->has_value());
  EXPECT_EQ((*run)->step("preflight")->details["primaryApi"]["reachable"], false);
}

TEST_F(FailoverLocal, PlanChangesNothingAndShowsEveryStep) {
  lab->takeBackup("nightly-1");
  lab->prepareDr("nightly-1");
  const Json drBefore = lab->dr->admin("GET", "/admin/state");
  const Json drBeforeNorm = FailoverLab::normalisedState(*lab->dr);
  const Json primaryBefore = lab->primary->admin("GET", "/admin/state");

  auto p = runCli(lab->configPath, {"failover", "plan", "--planned", "--json"});
  ASSERT_EQ(p.code, 0) << p.out << p.err;
  EXPECT_EQ(p.doc["feasible"], true) << p.doc.dump();
  EXPECT_EQ(p.doc["backup"]["name"], "nightly-1");
  std::map<std::string, Json> steps;
  for (const auto& s : p.doc["steps"]) steps[s["step"]] = s;
  ASSERT_EQ(steps.size(), 10u);
  EXPECT_EQ(steps["stop-vms"]["vms"].size(), lab->scenario.vms.size());
  EXPECT_EQ(steps["apply-volumes"]["persistentVolumes"].size(), lab->scenario.volumes.size());
  EXPECT_EQ(steps["final-sync"]["volumes"].size(), lab->scenario.volumes.size());
  EXPECT_EQ(steps["restore"]["restore"]["spec"]["backupName"], "nightly-1");
  for (const auto& pv : steps["apply-volumes"]["persistentVolumes"]) {
    const Json& spec = pv["spec"];
    const Json server =
        spec.contains("nfs") ? spec["nfs"]["server"] : spec["csi"]["volumeAttributes"]["server"];
    EXPECT_EQ(server, "nfs-dr.example.com");
  }
  // `run --dry-run` is the same plan.
  auto dry = runCli(lab->configPath, {"failover", "run", "--planned", "--dry-run", "--json"});
  ASSERT_EQ(dry.code, 0) << dry.err;
  EXPECT_EQ(dry.doc["steps"].size(), 10u);

  const Json drAfter = lab->dr->admin("GET", "/admin/state");
  const Json primaryAfter = lab->primary->admin("GET", "/admin/state");
  // Controllers refresh status on their own (BSL lastSyncedTime); the objects' set and specs
  // must not change, and nothing may be created.
  EXPECT_EQ(FailoverLab::normalisedState(*lab->dr), drBeforeNorm);
  EXPECT_EQ(drAfter["objects"].size(), drBefore["objects"].size());
  EXPECT_EQ(primaryAfter["resourceVersion"], primaryBefore["resourceVersion"]);
  auto cat = catalog::Catalog::open(lab->cfg.catalog.path);
  ASSERT_TRUE(cat.ok());
  auto runs = failover::Journal(**cat).runs();
  ASSERT_TRUE(runs.ok());
  EXPECT_TRUE(runs->empty());
  EXPECT_FALSE(fs::exists(tmp / "fence.log"));
}

// VMs that take 3 s to start.
class FailoverLocalSlowVms : public FailoverLocal {
 protected:
  LabOptions labOptions() const override {
    LabOptions o;
    o.vmStartDelayMs = 3000;
    return o;
  }
};

TEST_F(FailoverLocalSlowVms, AFailedStepStopsTheRunAndResumeDoesNotRedoFinishedSteps) {
  lab->takeBackup("nightly-1");
  lab->prepareDr("nightly-1");
  // A 1 s readiness timeout fails start-vms after the VMs were told to start.
  config::Config impatient = lab->cfg;
  impatient.failover.timeouts.vmReady = std::chrono::seconds(1);
  const std::string impatientPath = lab->writeConfig(impatient, tmp.str() + "/impatient.yaml");
  auto r = runCli(impatientPath,
                  {"failover", "run", "--unplanned", "--json", "--poll-interval-ms", "100"});
  EXPECT_EQ(r.code, 5) << r.out << r.err;
  EXPECT_EQ(r.doc["result"], "failed");
  EXPECT_EQ(r.doc["failedStep"], "start-vms");
  const std::string msg = r.doc["error"]["message"];
  EXPECT_NE(msg.find("not Running and ready"), std::string::npos) << msg;
  EXPECT_NE(msg.find("vm-000"), std::string::npos) << msg;
  const std::string runId = r.doc["run"];

  // A new run is refused while this one is unfinished.
  auto second = runCli(lab->configPath, {"failover", "run", "--unplanned", "--json"});
  EXPECT_EQ(second.code, 6) << second.out;
  EXPECT_NE(second.doc["error"]["message"].get<std::string>().find("resume"), std::string::npos);

  auto res = runCli(lab->configPath, {"failover", "resume", "--json", "--poll-interval-ms", "100"});
  ASSERT_EQ(res.code, 0) << res.out << res.err;
  EXPECT_EQ(res.doc["run"], runId);
  expectFailedOver();
  for (const auto& s : res.doc["report"]["steps"]) {
    const int expected = s["step"] == "start-vms" ? 2 : 1;
    EXPECT_EQ(s["attempts"], expected) << s.dump();
  }
  // One Restore only: the resumed run did not create another.
  EXPECT_EQ(FailoverLab::list(*lab->dr, "/apis/velero.io/v1/restores").size(), 1u);
}

}  // namespace
}  // namespace ocpvdr::testing
