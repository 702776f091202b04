// playbooks/scheduled/execute_periodic_sync.yml for real: kube-sim plays the primary cluster's API
// on the test bridge address (reachable from the DR namespace host), the netns hosts hold the NFS
// data, and the playbook runs `ocpv-dr reconcile` on the DR host over ssh. Every PV the primary
// lists is synced — including ones no event ever announced — the report files are written and
// fetched, and the summary comes back as the job artifact.
#include <gtest/gtest.h>

#include "ansible/ansible_harness.h"
#include "support/files.h"
#include "support/kube_sim_process.h"
#include "support/netns_hosts.h"
#include "support/temp_dir.h"

namespace ocpvdr::testing {
namespace {

namespace fs = std::filesystem;

Json nfsPv(const std::string& name, const std::string& server, const std::string& path,
           const std::string& sc) {
  return Json{{"apiVersion", "v1"},
              {"kind", "PersistentVolume"},
              {"metadata", {{"name", name}}},
              {"spec",
               {{"capacity", {{"storage", "10Gi"}}},
                {"accessModes", {"ReadWriteMany"}},
                {"persistentVolumeReclaimPolicy", "Delete"},
                {"storageClassName", sc},
                {"nfs", {{"server", server}, {"path", path}}}}}};
}

Json csiPv(const std::string& name, const std::string& server, const std::string& share,
           const std::string& subdir) {
  return Json{
      {"apiVersion", "v1"},
      {"kind", "PersistentVolume"},
      {"metadata", {{"name", name}}},
      {"spec",
       {{"capacity", {{"storage", "10Gi"}}},
        {"accessModes", {"ReadWriteMany"}},
        {"persistentVolumeReclaimPolicy", "Delete"},
        {"storageClassName", "nfs-csi"},
        {"csi",
         {{"driver", "nfs.csi.k8s.io"},
          {"volumeHandle", server + "#" + share + "#" + subdir + "##"},
          {"volumeAttributes", {{"server", server}, {"share", share}, {"subdir", subdir}}}}}}}};
}

TEST(AnsiblePeriodicSync, ReconcilesEveryPrimaryPvAndPublishesTheReport) {
  if (auto why = AnsibleProject::unavailableReason(); !why.empty())
    GTEST_SKIP() << "SKIPPED (ansible): " << why;
  OCPVDR_NETNS_HOSTS_OR_SKIP(hosts);
  KubeSimOptions ko;
  ko.listen = hosts->bridgeIp() + ":0";  // the DR namespace host reaches the root namespace here
  KubeSimProcess sim(ko);
  config::Config cfg = hosts->config();
  cfg.primary.kubernetes.kubeconfig =
      sim.writeKubeconfig((hosts->dir() / "primary.kubeconfig").string());
  cfg.replication.storageClasses = {"nfs-dynamic", "nfs-csi"};
  const fs::path configPath = hosts->writeConfig(cfg);

  // Four PVs on the primary, none of which any event ever announced: three in-tree, one CSI.
  const std::string server = hosts->options().primaryServer;
  std::map<std::string, std::string> images;  // dir → disk.img content
  for (int i = 0; i < 3; ++i) {
    std::string dir = "vms-disk-" + std::to_string(i);
    images[dir] = randomBytes((256 + 128 * i) << 10, 20 + i);
    putFile(hosts->primary().exportDir / dir / "disk.img", images[dir]);
    Json created = sim.request(
        "POST", "/api/v1/persistentvolumes",
        nfsPv("pvc-" + std::to_string(i), server, "/exports/ocp/" + dir, "nfs-dynamic").dump());
    ASSERT_EQ(created["metadata"]["name"], "pvc-" + std::to_string(i)) << created.dump();
  }
  images["csi-vol"] = randomBytes(300 << 10, 31);
  putFile(hosts->primary().exportDir / "csi-vol" / "disk.img", images["csi-vol"]);
  Json csi = sim.request("POST", "/api/v1/persistentvolumes",
                         csiPv("pvc-csi", server, "/exports/ocp", "csi-vol").dump());
  ASSERT_EQ(csi["metadata"]["name"], "pvc-csi") << csi.dump();
  // Not selected: another StorageClass. Its data must not show up at DR.
  putFile(hosts->primary().exportDir / "other" / "disk.img", "not replicated");
  sim.request("POST", "/api/v1/persistentvolumes",
              nfsPv("pvc-other", server, "/exports/ocp/other", "local-path").dump());

  // The DR trash: an entry quarantined long ago (past replication.trash_retention) and one put
  // there by hand (no manifest, no time in its name: its age cannot be established).
  const fs::path trash = hosts->dr().exportDir / ".ocpv-dr-trash";
  const fs::path expired = trash / "20200101T000000Z-pvc-gone";
  putFile(expired / "data/disk.img", "old");
  putFile(expired / "manifest.json",
          Json{{"version", 1},
               {"kind", "pv"},
               {"pv", "pvc-gone"},
               {"original_path", (hosts->dr().exportDir / "gone").string()},
               {"dr_root", hosts->dr().exportDir.string()},
               {"time", "2020-01-01T00:00:00Z"},
               {"reason", "test"}}
              .dump());
  const fs::path byHand = trash / "copied-back-by-hand";
  putFile(byHand / "data/disk.img", "keep");

  AnsibleProject project(hosts->dir() / "ansible");
  const fs::path inv = project.writeNetnsInventory(*hosts);
  const fs::path reportDir = hosts->dr().root / "reports";
  const fs::path fetched = hosts->dir() / "fetched-reports";
  Json vars = {{"ocpvdr_binary", binaryPath("src/cli/ocpv-dr").string()},
               {"ocpvdr_config_path", configPath.string()},
               {"periodic_storage_sync_report_dir", reportDir.string()},
               {"periodic_storage_sync_fetch_dir", fetched.string()}};
  auto r = project.run("playbooks/scheduled/execute_periodic_sync.yml", inv, vars);
  ASSERT_EQ(r.exitCode, 0) << r.describe();

  for (const auto& [dir, content] : images) {
    const fs::path dst = hosts->dr().exportDir / dir / "disk.img";
    ASSERT_TRUE(fs::exists(dst)) << dir << "\n" << r.describe();
    EXPECT_EQ(slurp(dst), content) << dir;
  }
  EXPECT_FALSE(fs::exists(hosts->dr().exportDir / "other")) << "unselected StorageClass";
  // rsync pulled from the primary host, from the DR host's address.
  EXPECT_NE(hosts->sshdLogText(hosts->primary())
                .find("Accepted publickey for root from " + hosts->dr().ip),
            std::string::npos);

  Json summary = r.customStats()["ocpvdr_reconcile"];
  ASSERT_TRUE(summary.is_object()) << r.customStats().dump();
  EXPECT_EQ(summary["action"], "reconcile") << summary.dump();
  EXPECT_EQ(summary["result"], "ok") << summary.dump();
  EXPECT_EQ(summary["totals"]["selected"], 4) << summary.dump();
  EXPECT_EQ(summary["totals"]["synced"], 4) << summary.dump();
  EXPECT_EQ(summary["totals"]["failed"], 0);
  auto cmd = r.taskResults("Run ocpv-dr reconcile on the DR NFS host", "localhost");
  ASSERT_EQ(cmd.size(), 1u);
  EXPECT_TRUE(cmd[0].value("changed", false)) << "the reconcile synced data";
  // The report files were written on the DR host and fetched to the controller.
  ASSERT_TRUE(fs::is_directory(fetched)) << r.describe();
  int files = 0;
  bool html = false, md = false, json = false;
  for (const auto& e : fs::directory_iterator(fetched)) {
    ++files;
    html |= e.path().extension() == ".html";
    md |= e.path().extension() == ".md";
    json |= e.path().extension() == ".json";
  }
  EXPECT_TRUE(html && md && json) << files << " files fetched";
  // Retention is automatic: the expired entry was purged, the one of unknown age kept and named.
  EXPECT_FALSE(fs::exists(expired)) << r.describe();
  EXPECT_TRUE(fs::exists(byHand / "data/disk.img"));
  auto unknown = r.taskResults("Report trash entries of unknown age", "localhost");
  ASSERT_EQ(unknown.size(), 1u) << r.describe();
  EXPECT_NE(unknown[0].dump().find(byHand.string()), std::string::npos) << unknown[0].dump();

  // A second run finds nothing to copy.
  auto again = project.run("playbooks/scheduled/execute_periodic_sync.yml", inv, vars);
  ASSERT_EQ(again.exitCode, 0) << again.describe();
  auto cmd2 = again.taskResults("Run ocpv-dr reconcile on the DR NFS host", "localhost");
  ASSERT_EQ(cmd2.size(), 1u);
  EXPECT_FALSE(cmd2[0].value("changed", true)) << "nothing to copy the second time";
  EXPECT_EQ(again.customStats()["ocpvdr_reconcile"]["totals"]["unchanged"], 4)
      << again.customStats().dump();

  // A PV whose primary directory is gone fails the run; the summary is still the artifact and
  // the job says which PV failed.
  sim.request("POST", "/api/v1/persistentvolumes",
              nfsPv("pvc-lost", server, "/exports/ocp/lost-dir", "nfs-dynamic").dump());
  auto failing = project.run("playbooks/scheduled/execute_periodic_sync.yml", inv, vars);
  EXPECT_NE(failing.exitCode, 0);
  Json failedSummary = failing.customStats()["ocpvdr_reconcile"];
  EXPECT_EQ(failedSummary["result"], "failed") << failedSummary.dump();
  EXPECT_EQ(failedSummary["failed"], Json::array({"pvc-lost"})) << failedSummary.dump();
  EXPECT_NE(failing.failures().find("Failed PVs: pvc-lost"), std::string::npos)
      << failing.describe();
  EXPECT_EQ(slurp(hosts->dr().exportDir / "vms-disk-0" / "disk.img"), images["vms-disk-0"]);
}

}  // namespace
}  // namespace ocpvdr::testing
