// playbooks/manual_dr/execute_failover.yml end to end, as the AAP workflow launches it (survey
// answers backup_name and failover_mode as extra vars): the failover lab of tests/failover — two
// kube-sims (primary with 10 VMs in 3 namespaces; DR with the binding, KubeVirt and Velero
// controllers), s3rver holding Velero-layout backups, the netns hosts holding the replicated data —
// with every kube-sim and s3rver on the test bridge, so ocpv-dr, run by the roles on the DR host
// over ssh, reaches them all. Checked: bad survey answers and a missing backup stop before
// anything changes; a planned failover with an empty backup_name restores the latest Completed
// backup, brings every VM up at DR on PVs pointing at the DR server, fences the primary, and
// publishes the report as the job artifact.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "ansible/ansible_harness.h"
#include "failover/failover_lab.h"
#include "support/files.h"
#include "support/netns_hosts.h"
#include "support/temp_dir.h"

namespace ocpvdr::testing {
namespace {

namespace fs = std::filesystem;

class AnsibleFailoverPlaybook : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = AnsibleProject::unavailableReason(); !why.empty())
      GTEST_SKIP() << "SKIPPED (ansible): " << why;
    // The primary has no kernel NFS server here: a recording `exportfs` on its PATH stands in
    // for the fencing command (the exports file itself is really edited over ssh).
    fs::create_directories(bin_.path());
    std::ofstream(bin_ / "exportfs")
        << "#!/bin/sh\necho \"exportfs $*\" >> " << (bin_ / "exportfs.log").string() << "\n";
    ::chmod((bin_ / "exportfs").c_str(), 0755);
    NetnsOptions no;
    no.sshdExtraConfig = {"SetEnv PATH=" + bin_.str() +
                          ":/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"};
    auto h = NetnsHosts::create(no);
    if (!h.ok()) GTEST_SKIP() << netnsSkipBanner(h.error());
    hosts_ = std::move(h).value();

    config::Config base = hosts_->config();
    base.failover.fencing.method = config::FencingMethod::Exportfs;
    exportsFile_ = hosts_->primary().root / "etc/exports";
    base.failover.fencing.exportsFile = exportsFile_.string();
    fs::create_directories(exportsFile_.parent_path());
    std::ofstream(exportsFile_) << hosts_->primary().exportDir.string()
                                << "  10.0.0.0/8(rw,sync,no_subtree_check)\n";
    LabOptions lo;
    lo.listenHost = hosts_->bridgeIp();
    auto l = FailoverLab::create(base, hosts_->dir().string(), lo);
    if (!l.ok() && l.error().kind == ErrorKind::NotFound)
      GTEST_SKIP() << "SKIPPED (s3rver): " << l.error().message;
    ASSERT_TRUE(l.ok()) << l.error().describe();
    lab_ = std::move(l).value();
    lab_->populatePrimary();
    NetnsProcessRunner onDr(real_, hosts_->dr().ns);
    lab_->replicate(onDr);

    project_ = std::make_unique<AnsibleProject>(hosts_->dir() / "ansible");
    inventory_ = project_->writeNetnsInventory(*hosts_);
  }

  // The workflow's survey answers plus where the built binary and the lab's config are.
  PlaybookRun launch(const std::string& backupName, const std::string& mode,
                     const std::string& point = "") {
    Json vars = {{"backup_name", backupName},
                 {"failover_mode", mode},
                 {"point", point},
                 {"ocpvdr_binary", binaryPath("src/cli/ocpv-dr").string()},
                 {"ocpvdr_config_path", lab_->configPath}};
    return project_->run("playbooks/manual_dr/execute_failover.yml", inventory_, vars,
                         std::chrono::seconds(540));
  }

  TempDir bin_{"ocpvdr-fakebin"};
  std::unique_ptr<NetnsHosts> hosts_;
  std::unique_ptr<FailoverLab> lab_;
  RealProcessRunner real_;
  fs::path exportsFile_;
  std::unique_ptr<AnsibleProject> project_;
  fs::path inventory_;
};

TEST_F(AnsibleFailoverPlaybook, PlannedFailoverOfTheLatestBackupEndToEnd) {
  // Two Completed backups: the survey's empty backup_name must pick the newer one.
  lab_->takeBackup("nightly-1");
  lab_->takeBackup("nightly-2");
  lab_->prepareDr("nightly-2");
  const Json drBefore = FailoverLab::normalisedState(*lab_->dr);

  // A survey answer outside the choices stops before anything runs.
  auto badMode = launch("", "sideways");
  EXPECT_NE(badMode.exitCode, 0);
  EXPECT_NE(badMode.failures().find("failover_mode must be planned or unplanned"),
            std::string::npos)
      << badMode.describe();
  // So does a recovery point that is neither latest nor an RFC 3339 time.
  auto badPoint = launch("", "planned", "yesterday");
  EXPECT_NE(badPoint.exitCode, 0);
  EXPECT_NE(badPoint.failures().find("point is latest, an"), std::string::npos)
      << badPoint.describe();
  // A backup that does not exist stops in the backup parser; the artifact says nothing started.
  auto missing = launch("nightly-7", "planned");
  EXPECT_NE(missing.exitCode, 0);
  EXPECT_NE(missing.failures().find("Backup nightly-7 is not in"), std::string::npos)
      << missing.describe();
  EXPECT_EQ(missing.customStats()["ocpvdr_failover_report"]["result"], "not-started")
      << missing.customStats().dump();
  EXPECT_EQ(FailoverLab::normalisedState(*lab_->dr), drBefore) << "nothing changed at DR";
  EXPECT_FALSE(fs::exists(bin_ / "exportfs.log")) << "nothing changed at the primary";

  // The real thing.
  auto r = launch("", "planned");
  ASSERT_EQ(r.exitCode, 0) << r.describe();
  Json artifact = r.customStats()["ocpvdr_failover_report"];
  ASSERT_TRUE(artifact.is_object()) << r.customStats().dump();
  EXPECT_EQ(artifact["result"], "done") << artifact.dump();
  const Json& rep = artifact["report"];
  EXPECT_EQ(rep["state"], "done") << rep.dump();
  EXPECT_EQ(rep["mode"], "planned");
  EXPECT_EQ(rep["backup"]["name"], "nightly-2") << "the latest Completed backup";
  ASSERT_TRUE(rep["rto"].is_object()) << rep.dump();
  EXPECT_FALSE(artifact["reportFiles"].empty()) << artifact.dump();
  // The plan gate ran first and was feasible.
  auto plan = r.taskResults("Ask ocpv-dr for the failover plan", "localhost");
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].value("rc", -1), 0) << plan[0].dump();

  // Every VM runs at DR, on PVs pointing at the DR NFS server.
  ASSERT_EQ(lab_->scenario.vms.size(), 10u);
  for (const auto& [ns, name] : lab_->scenario.vms) {
    Json vm = lab_->dr->request(
        "GET", "/apis/kubevirt.io/v1/namespaces/" + ns + "/virtualmachines/" + name);
    EXPECT_EQ(vm["status"].value("printableStatus", ""), "Running") << vm.dump();
  }
  for (const auto& v : lab_->scenario.volumes) {
    Json pv = lab_->dr->request("GET", "/api/v1/persistentvolumes/" + v.pv);
    const std::string server = v.csi ? pv["spec"]["csi"]["volumeAttributes"].value("server", "")
                                     : pv["spec"]["nfs"].value("server", "");
    EXPECT_EQ(server, hosts_->options().drServer) << pv.dump();
    EXPECT_EQ(pv["status"]["phase"], "Bound") << v.pv;
  }
  // Planned: the primary VMs were halted (not deleted) and the export fenced read-only.
  for (const auto& vm : FailoverLab::list(*lab_->primary, "/apis/kubevirt.io/v1/virtualmachines"))
    EXPECT_EQ(vm["spec"]["runStrategy"], "Halted");
  EXPECT_NE(slurp(exportsFile_).find("(ro,sync,no_subtree_check)"), std::string::npos)
      << slurp(exportsFile_);
  // Then the live table was read back (this recording stand-in lists no export: nothing
  // writable; tests/failover/fencing_test.cc reads the real exportfs's table).
  EXPECT_EQ(slurp(bin_ / "exportfs.log"), "exportfs -ra\nexportfs -v\n");
}

}  // namespace
}  // namespace ocpvdr::testing
