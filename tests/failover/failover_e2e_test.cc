// `ocpv-dr failover` end to end between network-namespace hosts (needs root; skips loudly
// otherwise): ocpv-dr runs on the DR NFS host (inside its namespace) and reaches the two
// kube-sims and s3rver on the test bridge, the primary NFS host over real ssh.
//   planned   10 VMs in 3 namespaces (dataVolumeTemplates and plain PVCs, in-tree and CSI NFS
//             PVs) replicated first with the Replicator over ssh; the failover halts the primary
//             VMs, fences the primary export with the exportfs method (the exports file edited
//             over ssh; `exportfs` is a recording stand-in on the primary's PATH, as no kernel NFS
//             server runs here), final-syncs over ssh and brings every VM up at DR on PVs that
//             point at the DR server and at directories that exist.
//   unplanned the primary API (kube-sim stopped) and the primary NFS host (link down) are gone;
//             the failover completes from what DR holds and reports each PV's data-loss window.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "failover/failover_lab.h"
#include "replication/path_map.h"
#include "support/files.h"
#include "support/netns_hosts.h"

namespace ocpvdr::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class FailoverE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    // A recording exportfs on the primary host's PATH (sshd hands sessions this PATH).
    fs::create_directories(bin.path());
    {
      std::ofstream f(bin / "exportfs");
      f << "#!/bin/sh\necho \"exportfs $*\" >> " << (bin / "exportfs.log").string() << "\n";
    }
    ::chmod((bin / "exportfs").c_str(), 0755);
    NetnsOptions no;
    no.sshdExtraConfig = {"SetEnv PATH=" + bin.str() +
                          ":/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"};
    auto h = NetnsHosts::create(no);
    if (!h.ok()) GTEST_SKIP() << netnsSkipBanner(h.error());
    hosts = std::move(h).value();

    config::Config base = hosts->config();
    base.failover.fencing.method = config::FencingMethod::Exportfs;
    exportsFile = hosts->primary().root / "etc/exports";
    base.failover.fencing.exportsFile = exportsFile.string();
    fs::create_directories(exportsFile.parent_path());
    otherLine = "/srv/nfs/scratch  10.0.0.0/8(rw,sync,no_subtree_check)";
    std::ofstream(exportsFile) << "# primary NFS exports\n"
                               << otherLine << "\n"
                               << hosts->primary().exportDir.string()
                               << "  10.0.0.0/8(rw,sync,no_subtree_check) *(rw,root_squash)\n";
    LabOptions lo;
    lo.listenHost = hosts->bridgeIp();
    auto l = FailoverLab::create(base, hosts->dir().string(), lo);
    if (!l.ok() && l.error().kind == ErrorKind::NotFound) GTEST_SKIP() << l.error().message;
    ASSERT_TRUE(l.ok()) << l.error().describe();
    lab = std::move(l).value();
    lab->populatePrimary();
    NetnsProcessRunner onDr(real, hosts->dr().ns);
    lab->replicate(onDr);
  }

  CliRun onDrHost(const std::vector<std::string>& args) {
    return runCli(lab->configPath, args, {}, {"ip", "netns", "exec", hosts->dr().ns});
  }

  void expectVmsUpOnDrData() {
    for (const auto& [ns, name] : lab->scenario.vms) {
      Json vm = lab->dr->request(
          "GET", "/apis/kubevirt.io/v1/namespaces/" + ns + "/virtualmachines/" + name);
      EXPECT_EQ(vm["status"].value("printableStatus", ""), "Running") << vm.dump();
      EXPECT_EQ(vm["status"].value("ready", false), true) << name;
    }
    int csi = 0, inTree = 0, dataVolumes = 0;
    for (const auto& v : lab->scenario.volumes) {
      Json pv = lab->dr->request("GET", "/api/v1/persistentvolumes/" + v.pv);
      std::string server, path;
      if (v.csi) {
        ++csi;
        server = pv["spec"]["csi"]["volumeAttributes"]["server"];
        path = pv["spec"]["csi"]["volumeAttributes"]["share"].get<std::string>() + "/" +
               pv["spec"]["csi"]["volumeAttributes"]["subdir"].get<std::string>();
      } else {
        ++inTree;
        server = pv["spec"]["nfs"]["server"];
        path = pv["spec"]["nfs"]["path"];
      }
      dataVolumes += v.fromDataVolume;
      EXPECT_EQ(server, "nfs-dr.example.com") << pv.dump();
      auto mapped = replication::mapVolume(lab->cfg, "nfs-primary.example.com", v.exportPath);
      ASSERT_TRUE(mapped.ok()) << mapped.error().describe();
      EXPECT_EQ(path, mapped->drExportPath);
      // DR export path -> DR host path: a directory that exists, on the DR host, holding the data.
      ASSERT_TRUE(fs::is_directory(mapped->drHostPath)) << mapped->drHostPath;
      EXPECT_TRUE(fs::path(mapped->drHostPath).string().rfind(hosts->dr().exportDir.string(), 0) ==
                  0);
      EXPECT_EQ(slurp(fs::path(mapped->drHostPath) / "disk.img"),
                slurp(hosts->primary().exportDir / v.dir / "disk.img"));
      EXPECT_EQ(pv["status"]["phase"], "Bound") << v.pv;
    }
    EXPECT_GT(csi, 0);
    EXPECT_GT(inTree, 0);
    EXPECT_GT(dataVolumes, 0);
    EXPECT_LT(dataVolumes, static_cast<int>(lab->scenario.volumes.size()));
  }

  TempDir bin{"ocpvdr-fakebin"};
  std::unique_ptr<NetnsHosts> hosts;
  std::unique_ptr<FailoverLab> lab;
  RealProcessRunner real;
  fs::path exportsFile;
  std::string otherLine;
};

TEST_F(FailoverE2E, PlannedFailoverOverSshFencesWithExportfsAndStartsEveryVmAtDr) {
  ASSERT_EQ(lab->scenario.vms.size(), 10u);
  ASSERT_EQ(lab->scenario.namespaces.size(), 3u);
  const auto& late = lab->scenario.volumes.back();
  std::ofstream(hosts->primary().exportDir / late.dir / "late.txt") << "after the last sync\n";
  lab->takeBackup("nightly-1");
  lab->prepareDr("nightly-1");

  auto r = onDrHost({"failover", "run", "--planned", "--json", "--poll-interval-ms", "200"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const std::string runId = r.doc["run"];
  expectVmsUpOnDrData();
  // The final sync ran over ssh after the VMs stopped.
  EXPECT_EQ(slurp(hosts->dr().exportDir / late.dir / "late.txt"), "after the last sync\n");

  // Fence: only the export root's line is now read-only, the rest is as it was, the original is
  // kept, and exportfs -ra ran once on the primary host.
  const std::string fenced = slurp(exportsFile);
  EXPECT_NE(fenced.find(hosts->primary().exportDir.string() +
                        " 10.0.0.0/8(ro,sync,no_subtree_check) *(ro,root_squash)"),
            std::string::npos)
      << fenced;
  EXPECT_NE(fenced.find(otherLine), std::string::npos) << fenced;
  EXPECT_EQ(fenced.find("(rw,sync,no_subtree_check) *"), std::string::npos) << fenced;
  const fs::path backup = exportsFile.string() + ".ocpv-dr-" + runId + ".bak";
  ASSERT_TRUE(fs::exists(backup));
  EXPECT_NE(slurp(backup).find("*(rw,root_squash)"), std::string::npos);
  // Then the live table was read back (this recording stand-in lists no export: nothing
  // writable; tests/failover/fencing_test.cc reads the real exportfs's table).
  EXPECT_EQ(slurp(bin / "exportfs.log"), "exportfs -ra\nexportfs -v\n");

  // Primary VMs halted, not deleted.
  for (const auto& vm : FailoverLab::list(*lab->primary, "/apis/kubevirt.io/v1/virtualmachines"))
    EXPECT_EQ(vm["spec"]["runStrategy"], "Halted");
  EXPECT_EQ(FailoverLab::list(*lab->primary, "/apis/kubevirt.io/v1/virtualmachines").size(), 10u);

  const Json& rep = r.doc["report"];
  EXPECT_EQ(rep["state"], "done");
  ASSERT_TRUE(rep["rto"].is_object());
  for (const auto& v : rep["volumes"]) EXPECT_EQ(v["dataAgeSeconds"], 0);
  std::cout << "[e2e planned] RTO " << rep["rto"]["seconds"] << " s, run " << runId << "\n";
}

TEST_F(FailoverE2E, UnplannedFailoverWithPrimaryApiAndNfsHostDownReportsTheDataLossWindow) {
  lab->takeBackup("nightly-1");
  lab->prepareDr("nightly-1");
  // The primary site goes away: its API server and its NFS host.
  ASSERT_EQ(lab->primary->stop(), 0);
  ASSERT_TRUE(hosts->setLink(hosts->primary(), false).ok());
  std::this_thread::sleep_for(1s);

  auto r = onDrHost({"failover", "run", "--unplanned", "--json", "--poll-interval-ms", "200"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  expectVmsUpOnDrData();
  const Json& rep = r.doc["report"];
  ASSERT_EQ(rep["volumes"].size(), 10u);
  for (const auto& v : rep["volumes"]) {
    ASSERT_TRUE(v["dataAgeSeconds"].is_number()) << v.dump();
    EXPECT_GE(v["dataAgeSeconds"].get<double>(), 1.0) << v.dump();
  }
  EXPECT_GE(rep["rpo"]["worstDataAgeSeconds"].get<double>(), 1.0);
  // Nothing was attempted against the primary: no fence, no exportfs.
  EXPECT_FALSE(fs::exists(bin / "exportfs.log"));
  EXPECT_EQ(slurp(exportsFile).find("(ro"), std::string::npos);
  std::cout << "[e2e unplanned] RTO " << rep["rto"]["seconds"] << " s, worst data age "
            << rep["rpo"]["worstDataAgeSeconds"] << " s\n";
  ASSERT_TRUE(hosts->setLink(hosts->primary(), true).ok());
}

}  // namespace
}  // namespace ocpvdr::testing
