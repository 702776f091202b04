// The event-driven playbooks run for real: Debian's ansible-playbook, the project's roles and
// group_vars, an inventory whose dr-nfs host is the netns DR host (real sshd), and extra vars
// shaped exactly as EDA hands them to a job (pv_object / snapshot_object from job_args.extra_vars
// plus ansible_eda.event = {payload: the forwarder's body, meta: ...}). The roles delegate
// `ocpv-dr` to the DR host over ssh; ocpv-dr pulls the data from the primary host with rsync over
// ssh. Checks look at the DR data, the trash and the DR catalog, and at both sshd logs to prove
// the path taken. kube-sim plays the primary cluster's API on the test bridge address (reachable
// from the DR namespace host): the delete roles run `--verify`, which asks it before DR data moves.
#include <gtest/gtest.h>

#include <map>

#include "ansible/ansible_harness.h"
#include "catalog/catalog.h"
#include "support/files.h"
#include "support/kube_sim_process.h"
#include "support/netns_hosts.h"
#include "support/temp_dir.h"

namespace ocpvdr::testing {
namespace {

namespace fs = std::filesystem;

Json inTreePv(const std::string& name, const std::string& server, const std::string& path,
              const std::string& storageClass = "nfs-dynamic") {
  return Json{{"apiVersion", "v1"},
              {"kind", "PersistentVolume"},
              {"metadata", {{"name", name}, {"uid", "uid-" + name}, {"resourceVersion", "100"}}},
              {"spec",
               {{"capacity", {{"storage", "10Gi"}}},
                {"accessModes", {"ReadWriteMany"}},
                {"persistentVolumeReclaimPolicy", "Delete"},
                {"storageClassName", storageClass},
                {"nfs", {{"server", server}, {"path", path}}},
                {"claimRef", {{"namespace", "vms"}, {"name", "disk-" + name}}}}},
              {"status", {{"phase", "Bound"}}}};
}

class AnsibleEventPlaybooks : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = AnsibleProject::unavailableReason(); !why.empty())
      GTEST_SKIP() << "SKIPPED (ansible): " << why;
    auto created = NetnsHosts::create();
    if (!created.ok()) GTEST_SKIP() << netnsSkipBanner(created.error());
    hosts_ = std::move(created).value();
    project_ = std::make_unique<AnsibleProject>(hosts_->dir() / "ansible");
    inventory_ = project_->writeNetnsInventory(*hosts_);
    startPrimaryApi();
    config::Config cfg = hosts_->config();
    cfg.primary.kubernetes.kubeconfig = kubeconfigPath_.string();
    cfg.replication.storageClasses = {"nfs-dynamic", "nfs-csi"};
    configPath_ = hosts_->writeConfig(cfg);
    catalogPath_ = cfg.catalog.path;
  }

  // Extra vars every run carries: where the built binary and the test config are. Everything
  // else comes from group_vars/all.yml and the role defaults.
  Json withPaths(Json vars) const {
    vars["ocpvdr_binary"] = binaryPath("src/cli/ocpv-dr").string();
    vars["ocpvdr_config_path"] = configPath_.string();
    vars["ocpvdr_retry_delay"] = 1;
    return vars;
  }

  PlaybookRun play(const std::string& playbook, const Json& vars) {
    return project_->run(playbook, inventory_, withPaths(vars));
  }

  std::unique_ptr<catalog::Catalog> openCatalog() {
    auto c = catalog::Catalog::open(catalogPath_);
    EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().describe());
    return c.ok() ? std::move(c).value() : nullptr;
  }

  // A (new, empty) kube-sim as the primary's API; the configuration's kubeconfig points at it.
  void startPrimaryApi() {
    KubeSimOptions ko;
    ko.listen = hosts_->bridgeIp() + ":0";
    primaryApi_ = std::make_unique<KubeSimProcess>(ko);
    kubeconfigPath_ = hosts_->dir() / "primary.kubeconfig";
    primaryApi_->writeKubeconfig(kubeconfigPath_.string());
  }

  std::unique_ptr<NetnsHosts> hosts_;
  std::unique_ptr<KubeSimProcess> primaryApi_;  // declared after hosts_: stopped first
  std::unique_ptr<AnsibleProject> project_;
  fs::path inventory_, configPath_, kubeconfigPath_;
  std::string catalogPath_;
};

// Every file and directory under `root` with the file contents: equal listings mean nothing
// moved, appeared or changed there.
std::map<std::string, std::string> treeListing(const fs::path& root) {
  std::map<std::string, std::string> out;
  if (!fs::exists(root)) return out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    const std::string rel = fs::relative(e.path(), root).string();
    out[rel] = e.is_regular_file() ? slurp(e.path()) : std::string("<dir>");
  }
  return out;
}

std::string listingNames(const std::map<std::string, std::string>& l) {
  std::string s;
  for (const auto& [k, v] : l) s += k + "\n";
  return s;
}

TEST_F(AnsibleEventPlaybooks, PvSyncReplicatesOverSshAndDeleteQuarantines) {
  const std::string dir = "vms-disk-pvc-a1b2";
  const fs::path src = hosts_->primary().exportDir / dir;
  const fs::path dst = hosts_->dr().exportDir / dir;
  const std::string image = randomBytes(3 << 20, 7);
  putFile(src / "disk.img", image);
  putFile(src / "meta/notes.txt", "first version\n");
  Json pv = inTreePv("pvc-a1b2", hosts_->options().primaryServer, "/exports/ocp/" + dir);

  // 1. ADDED, as EDA launches "EDA - Sync NFS PV to DR".
  Json ev1 = edaEvent("uid-pvc-a1b2:100:ADDED", "PersistentVolume", "ADDED", pv);
  auto r1 = play("playbooks/event_driven/handle_nfs_pv_sync.yml",
                 edaJobVars("Sync NFS PV to DR on create or update", ev1, {{"pv_object", pv}}));
  ASSERT_EQ(r1.exitCode, 0) << r1.describe();
  EXPECT_EQ(r1.stat("localhost", "failures"), 0);
  EXPECT_EQ(r1.stat("localhost", "changed"), 1) << r1.describe();
  ASSERT_TRUE(fs::exists(dst / "disk.img")) << r1.describe();
  EXPECT_EQ(slurp(dst / "disk.img"), image);
  EXPECT_EQ(slurp(dst / "meta/notes.txt"), "first version\n");
  Json stats = r1.customStats();
  ASSERT_TRUE(stats.contains("ocpvdr_pv_sync")) << stats.dump();
  EXPECT_EQ(stats["ocpvdr_pv_sync"]["pvc-a1b2"]["result"], "synced");
  EXPECT_EQ(stats["ocpvdr_pv_sync"]["pvc-a1b2"]["input"]["envelope"], "object");
  // The command ran on the DR host (Ansible logged in there over ssh) and rsync pulled from the
  // primary (a login from the DR host's address).
  EXPECT_NE(hosts_->sshdLogText(hosts_->dr()).find("Accepted publickey for root"),
            std::string::npos);
  EXPECT_NE(hosts_->sshdLogText(hosts_->primary())
                .find("Accepted publickey for root from " + hosts_->dr().ip),
            std::string::npos)
      << hosts_->sshdLogText(hosts_->primary());
  {
    auto cat = openCatalog();
    ASSERT_TRUE(cat);
    auto rec = cat->replica("pvc-a1b2");
    ASSERT_TRUE(rec.ok() && rec->has_value());
    EXPECT_EQ((*rec)->result, "synced");
    EXPECT_EQ((*rec)->claimNamespace, "vms");
    EXPECT_GE((*rec)->bytes, static_cast<std::int64_t>(image.size()));
  }

  // 2. The same event delivered again: ocpv-dr skips it by id, the job reports no change.
  auto r2 = play("playbooks/event_driven/handle_nfs_pv_sync.yml",
                 edaJobVars("Sync NFS PV to DR on create or update", ev1, {{"pv_object", pv}}));
  ASSERT_EQ(r2.exitCode, 0) << r2.describe();
  EXPECT_EQ(r2.stat("localhost", "changed"), 0) << r2.describe();
  EXPECT_EQ(r2.customStats()["ocpvdr_pv_sync"]["pvc-a1b2"]["result"], "skipped");

  // 3. MODIFIED with new data, the PV taken from ansible_eda.event only (no pv_object).
  putFile(src / "meta/notes.txt", "second version\n");
  Json ev3 = edaEvent("uid-pvc-a1b2:101:MODIFIED", "PersistentVolume", "MODIFIED", pv);
  auto r3 = play("playbooks/event_driven/handle_nfs_pv_sync.yml",
                 edaJobVars("Sync NFS PV to DR on create or update", ev3, Json::object()));
  ASSERT_EQ(r3.exitCode, 0) << r3.describe();
  EXPECT_EQ(r3.stat("localhost", "changed"), 1);
  EXPECT_EQ(slurp(dst / "meta/notes.txt"), "second version\n");
  EXPECT_EQ(slurp(dst / "disk.img"), image);

  // 4. DELETED, as EDA launches "EDA - Delete NFS PV from DR": the DR copy is quarantined.
  Json ev4 = edaEvent("uid-pvc-a1b2:102:DELETED", "PersistentVolume", "DELETED", pv);
  auto r4 =
      play("playbooks/event_driven/handle_nfs_pv_delete.yml",
           edaJobVars("Quarantine the DR copy of a deleted NFS PV", ev4, {{"pv_object", pv}}));
  ASSERT_EQ(r4.exitCode, 0) << r4.describe();
  EXPECT_EQ(r4.stat("localhost", "changed"), 1);
  Json del = r4.customStats()["ocpvdr_pv_delete"]["pvc-a1b2"];
  EXPECT_EQ(del["result"], "quarantined") << del.dump();
  EXPECT_FALSE(fs::exists(dst)) << "the DR directory must have moved to the trash";
  ASSERT_TRUE(del.contains("trash")) << del.dump();
  const fs::path trashData = fs::path(del["trash"]["path"].get<std::string>()) / "data";
  EXPECT_EQ(slurp(trashData / "disk.img"), image);
  EXPECT_TRUE(fs::exists(src / "disk.img")) << "the primary is never touched";
  // ocpv-dr's own view of the trash, on the DR host.
  auto list = hosts_->runOn(hosts_->dr(), {binaryPath("src/cli/ocpv-dr").string(), "-c",
                                           configPath_.string(), "trash", "list"});
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->exitCode, 0) << list->err;
  Json entries = Json::parse(list->out)["entries"];
  ASSERT_EQ(entries.size(), 1u) << list->out;
  EXPECT_EQ(entries[0]["pv"], "pvc-a1b2");
}

TEST_F(AnsibleEventPlaybooks, GuardRefusalFailsTheJobWithWhatToCheck) {
  const std::string dir = "vms-disk-pvc-c3d4";
  const fs::path src = hosts_->primary().exportDir / dir;
  putFile(src / "disk.img", randomBytes(64 << 10, 3));
  Json pv = inTreePv("pvc-c3d4", hosts_->options().primaryServer, "/exports/ocp/" + dir);
  auto ok =
      play("playbooks/event_driven/handle_nfs_pv_sync.yml",
           edaJobVars("r", edaEvent("ev-1", "PersistentVolume", "ADDED", pv), {{"pv_object", pv}}));
  ASSERT_EQ(ok.exitCode, 0) << ok.describe();

  // The source is wiped (an unmounted export looks like this): the empty-source guard refuses to
  // mirror it over the DR copy, and the job fails saying why and what to look at.
  fs::remove_all(src);
  fs::create_directories(src);
  auto refused = play(
      "playbooks/event_driven/handle_nfs_pv_sync.yml",
      edaJobVars("r", edaEvent("ev-2", "PersistentVolume", "MODIFIED", pv), {{"pv_object", pv}}));
  EXPECT_NE(refused.exitCode, 0);
  EXPECT_EQ(refused.stat("localhost", "rescued"), 1) << refused.describe();
  std::string f = refused.failures();
  EXPECT_NE(f.find("ocpv-dr pv sync of PV pvc-c3d4"), std::string::npos) << f;
  EXPECT_NE(f.find("result refused"), std::string::npos) << f;
  EXPECT_NE(f.find("Check: a data-protection guard"), std::string::npos) << f;
  EXPECT_TRUE(fs::exists(hosts_->dr().exportDir / dir / "disk.img")) << "DR copy kept";
}

TEST_F(AnsibleEventPlaybooks, NotReplicableIsReportedNotFailed) {
  // A PV of a non-NFS CSI driver that slipped through the StorageClass filter.
  Json pv = {{"apiVersion", "v1"},
             {"kind", "PersistentVolume"},
             {"metadata", {{"name", "pvc-ceph"}, {"uid", "uid-ceph"}}},
             {"spec",
              {{"storageClassName", "nfs-dynamic"},
               {"csi", {{"driver", "rbd.csi.ceph.com"}, {"volumeHandle", "0001-abc"}}}}}};
  auto r =
      play("playbooks/event_driven/handle_nfs_pv_sync.yml",
           edaJobVars("r", edaEvent("ev-9", "PersistentVolume", "ADDED", pv), {{"pv_object", pv}}));
  ASSERT_EQ(r.exitCode, 0) << r.describe();
  EXPECT_EQ(r.stat("localhost", "changed"), 0);
  EXPECT_EQ(r.customStats()["ocpvdr_pv_sync"]["pvc-ceph"]["result"], "not-replicable");
  auto report = r.taskResults("Report a PV that ocpv-dr does not replicate", "localhost");
  ASSERT_EQ(report.size(), 1u);
  EXPECT_NE(report[0].value("msg", "").find("pvc-ceph was not replicated"), std::string::npos)
      << report[0].dump();

  // The operator can make it a failure.
  Json vars =
      edaJobVars("r", edaEvent("ev-10", "PersistentVolume", "ADDED", pv), {{"pv_object", pv}});
  vars["nfs_sync_on_event_fail_on_not_replicable"] = true;
  auto strict = play("playbooks/event_driven/handle_nfs_pv_sync.yml", vars);
  EXPECT_NE(strict.exitCode, 0);
  EXPECT_NE(strict.failures().find("result not-replicable"), std::string::npos)
      << strict.describe();
}

// A csi-driver-nfs VolumeSnapshot vms/<name> of uid `uid` (not ready yet) and its bound
// VolumeSnapshotContent: the archive of snapshot <uid> lives in <share>/snapshot-<uid>/.
Json nfsSnapshot(const std::string& name, const std::string& uid) {
  return Json{{"apiVersion", "snapshot.storage.k8s.io/v1"},
              {"kind", "VolumeSnapshot"},
              {"metadata", {{"name", name}, {"namespace", "vms"}, {"uid", uid}}},
              {"spec",
               {{"source", {{"persistentVolumeClaimName", "disk-pvc-src"}}},
                {"volumeSnapshotClassName", "csi-nfs-snapclass"}}},
              {"status",
               {{"boundVolumeSnapshotContentName", "snapcontent-" + uid}, {"readyToUse", false}}}};
}

Json nfsSnapshotContent(const std::string& name, const std::string& uid,
                        const std::string& server) {
  const std::string snapDir = "snapshot-" + uid;
  return Json{{"apiVersion", "snapshot.storage.k8s.io/v1"},
              {"kind", "VolumeSnapshotContent"},
              {"metadata", {{"name", "snapcontent-" + uid}}},
              {"spec",
               {{"driver", "nfs.csi.k8s.io"},
                {"volumeSnapshotRef", {{"namespace", "vms"}, {"name", name}, {"uid", uid}}},
                {"source", {{"volumeHandle", server + "#exports/ocp#pvc-src##"}}}}},
              {"status",
               {{"snapshotHandle", server + "#exports/ocp#" + snapDir + "#" + snapDir + "#pvc-src"},
                {"readyToUse", true},
                {"creationTime", 1795050000123456789LL},
                {"restoreSize", 1073741824}}}};
}

TEST_F(AnsibleEventPlaybooks, SnapshotIsRecordedWithItsArchiveAndDropped) {
  // csi-driver-nfs layout: the archive of snapshot <uid> lives in <share>/snapshot-<uid>/.
  const std::string uid = "5e1c0de0-0000-4000-8000-000000000001";
  const std::string snapDir = "snapshot-" + uid;
  const std::string archive = randomBytes(256 << 10, 11);
  putFile(hosts_->primary().exportDir / snapDir / "pvc-src.tar.gz", archive);
  const std::string server = hosts_->options().primaryServer;
  Json vs = nfsSnapshot("nightly", uid);
  Json vsc = nfsSnapshotContent("nightly", uid, server);

  // Not ready yet (the ADDED/MODIFIED sequence of FACTS §4): recorded as pending, no data.
  auto pending = play(
      "playbooks/event_driven/handle_snapshot_sync.yml",
      edaJobVars("r", edaEvent("ev-s0", "VolumeSnapshot", "ADDED", vs), {{"snapshot_object", vs}}));
  ASSERT_EQ(pending.exitCode, 0) << pending.describe();
  EXPECT_EQ(pending.customStats()["ocpvdr_snapshot_sync"]["vms/nightly"]["result"], "not-ready");
  {
    auto cat = openCatalog();
    ASSERT_TRUE(cat);
    auto rec = cat->snapshot(uid);
    ASSERT_TRUE(rec.ok() && rec->has_value());
    EXPECT_EQ((*rec)->state, "pending");
  }

  // Ready: the rule passes the snapshot; the content comes along as snapshot_content_object.
  vs["status"]["readyToUse"] = true;
  vs["status"]["creationTime"] = "2026-11-24T01:00:00Z";
  vs["status"]["restoreSize"] = "1Gi";
  auto ready = play("playbooks/event_driven/handle_snapshot_sync.yml",
                    edaJobVars("Record a VolumeSnapshot at DR once it is ready",
                               edaEvent("ev-s1", "VolumeSnapshot", "MODIFIED", vs),
                               {{"snapshot_object", vs}, {"snapshot_content_object", vsc}}));
  ASSERT_EQ(ready.exitCode, 0) << ready.describe();
  EXPECT_EQ(ready.stat("localhost", "changed"), 1) << "only ocpv-dr's result counts as a change";
  Json doc = ready.customStats()["ocpvdr_snapshot_sync"]["vms/nightly"];
  EXPECT_EQ(doc["result"], "synced") << doc.dump();
  const fs::path drArchive = hosts_->dr().exportDir / snapDir / "pvc-src.tar.gz";
  ASSERT_TRUE(fs::exists(drArchive)) << doc.dump();
  EXPECT_EQ(slurp(drArchive), archive);
  {
    auto cat = openCatalog();
    ASSERT_TRUE(cat);
    auto rec = cat->snapshot(uid);
    ASSERT_TRUE(rec.ok() && rec->has_value());
    EXPECT_EQ((*rec)->state, "ready");
    EXPECT_TRUE((*rec)->ready);
    EXPECT_EQ((*rec)->snapshotHandle,
              server + "#exports/ocp#" + snapDir + "#" + snapDir + "#pvc-src");
    EXPECT_EQ((*rec)->driver, "nfs.csi.k8s.io");
    EXPECT_EQ((*rec)->dataDrPath, (hosts_->dr().exportDir / snapDir).string());
  }
  // The temporary content file on the DR host is gone again.
  auto tmpCheck =
      ready.taskResults("Create a temporary file for the VolumeSnapshotContent", "localhost");
  ASSERT_EQ(tmpCheck.size(), 1u);
  const std::string tmpPath = tmpCheck[0].value("path", "");
  ASSERT_FALSE(tmpPath.empty()) << tmpCheck[0].dump();
  EXPECT_FALSE(fs::exists(tmpPath));

  // A duplicate "ready" event (after the rule's throttle window): idempotent, nothing changes.
  auto dup = play("playbooks/event_driven/handle_snapshot_sync.yml",
                  edaJobVars("r", edaEvent("ev-s2", "VolumeSnapshot", "MODIFIED", vs),
                             {{"snapshot_object", vs}, {"snapshot_content_object", vsc}}));
  ASSERT_EQ(dup.exitCode, 0) << dup.describe();
  EXPECT_EQ(dup.stat("localhost", "changed"), 0);
  EXPECT_EQ(dup.customStats()["ocpvdr_snapshot_sync"]["vms/nightly"]["result"], "unchanged");

  // DELETED (the primary's API answers 404 for it, so --verify confirms): the record is marked
  // deleted and the archive quarantined.
  auto drop = play(
      "playbooks/event_driven/handle_snapshot_delete.yml",
      edaJobVars("Drop a deleted VolumeSnapshot at DR",
                 edaEvent("ev-s3", "VolumeSnapshot", "DELETED", vs), {{"snapshot_object", vs}}));
  ASSERT_EQ(drop.exitCode, 0) << drop.describe();
  EXPECT_EQ(drop.stat("localhost", "changed"), 1);
  EXPECT_FALSE(fs::exists(drArchive));
  {
    auto cat = openCatalog();
    ASSERT_TRUE(cat);
    auto rec = cat->snapshot(uid);
    ASSERT_TRUE(rec.ok() && rec->has_value());
    EXPECT_EQ((*rec)->state, "deleted");
    ASSERT_FALSE((*rec)->trashPath.empty());
    EXPECT_EQ(slurp(fs::path((*rec)->trashPath) / "data/pvc-src.tar.gz"), archive);
  }
}

// A PersistentVolume as the primary's API holds it: created in kube-sim, which assigns its uid.
Json createPrimaryPv(KubeSimProcess& sim, const std::string& name, const std::string& server,
                     const std::string& path) {
  Json pv = {{"apiVersion", "v1"},
             {"kind", "PersistentVolume"},
             {"metadata", {{"name", name}}},
             {"spec",
              {{"capacity", {{"storage", "10Gi"}}},
               {"accessModes", {"ReadWriteMany"}},
               {"persistentVolumeReclaimPolicy", "Retain"},
               {"storageClassName", "nfs-dynamic"},
               {"nfs", {{"server", server}, {"path", path}}}}}};
  Json created = sim.request("POST", "/api/v1/persistentvolumes", pv.dump());
  EXPECT_EQ(created["metadata"].value("name", ""), name) << created.dump();
  EXPECT_FALSE(created["metadata"].value("uid", "").empty()) << created.dump();
  created["kind"] = "PersistentVolume";
  created["apiVersion"] = "v1";
  return created;
}

// issue 13: in the AAP shape a DELETED event moves DR data only when the DR catalog, the uid and
// the primary's API confirm it — the role always runs `pv delete --verify`.
TEST_F(AnsibleEventPlaybooks, PvDeleteIsVerifiedAgainstThePrimaryApi) {
  const std::string dir = "vms-disk-pvc-v1";
  const fs::path src = hosts_->primary().exportDir / dir;
  const fs::path dst = hosts_->dr().exportDir / dir;
  const fs::path trash = hosts_->dr().exportDir / ".ocpv-dr-trash";
  putFile(src / "disk.img", randomBytes(512 << 10, 41));
  const std::string server = hosts_->options().primaryServer;
  const std::string delPlaybook = "playbooks/event_driven/handle_nfs_pv_delete.yml";
  const std::string delRule = "Quarantine the DR copy of a deleted NFS PV";
  auto deleteJob = [&](const Json& pv, const std::string& id, Json extra = Json::object()) {
    Json vars =
        edaJobVars(delRule, edaEvent(id, "PersistentVolume", "DELETED", pv), {{"pv_object", pv}});
    for (auto it = extra.begin(); it != extra.end(); ++it) vars[it.key()] = it.value();
    return play(delPlaybook, vars);
  };
  auto replicaState = [&]() {
    auto cat = openCatalog();
    if (!cat) return std::string("<no catalog>");
    auto rec = cat->replica("pvc-v1");
    return rec.ok() && rec->has_value() ? (*rec)->state + " uid " + (*rec)->uid
                                        : std::string("<no row>");
  };

  Json first = createPrimaryPv(*primaryApi_, "pvc-v1", server, "/exports/ocp/" + dir);
  const std::string uid1 = first["metadata"]["uid"];
  auto synced = play(
      "playbooks/event_driven/handle_nfs_pv_sync.yml",
      edaJobVars("r", edaEvent("v-1", "PersistentVolume", "ADDED", first), {{"pv_object", first}}));
  ASSERT_EQ(synced.exitCode, 0) << synced.describe();
  ASSERT_TRUE(fs::exists(dst / "disk.img"));
  ASSERT_EQ(replicaState(), "active uid " + uid1);
  const auto before = treeListing(hosts_->dr().exportDir);

  // 1. Forged: a DELETED for the PV that is alive and well at the primary (same uid). The job
  //    fails saying so, the outcome is the job artifact, nothing at DR moved.
  auto forged = deleteJob(first, "forged-1");
  EXPECT_NE(forged.exitCode, 0) << forged.describe();
  EXPECT_EQ(forged.customStats()["ocpvdr_pv_delete"]["pvc-v1"]["result"], "still-present")
      << forged.describe();
  EXPECT_EQ(forged.customStats()["ocpvdr_pv_delete"]["pvc-v1"]["verification"]["primary_uid"],
            uid1);
  std::string f = forged.failures();
  EXPECT_NE(f.find("result still-present"), std::string::npos) << f;
  EXPECT_NE(f.find("still exists at the primary"), std::string::npos) << f;
  EXPECT_NE(f.find("Check: the PV with this uid still exists at the primary"), std::string::npos)
      << f;
  EXPECT_EQ(treeListing(hosts_->dr().exportDir), before)
      << listingNames(treeListing(hosts_->dr().exportDir));
  EXPECT_FALSE(fs::exists(trash));
  EXPECT_EQ(replicaState(), "active uid " + uid1);

  // 2. Stale: the PV was deleted and created again under the same name (a new uid at the
  //    primary), and the new one is replicated; then the first one's DELETED arrives late.
  Json gone = primaryApi_->request("DELETE", "/api/v1/persistentvolumes/pvc-v1");
  ASSERT_EQ(gone["metadata"].value("uid", ""), uid1) << gone.dump();
  Json second = createPrimaryPv(*primaryApi_, "pvc-v1", server, "/exports/ocp/" + dir);
  const std::string uid2 = second["metadata"]["uid"];
  ASSERT_NE(uid2, uid1);
  auto resynced = play("playbooks/event_driven/handle_nfs_pv_sync.yml",
                       edaJobVars("r", edaEvent("v-2", "PersistentVolume", "ADDED", second),
                                  {{"pv_object", second}}));
  ASSERT_EQ(resynced.exitCode, 0) << resynced.describe();
  // The catalog follows the second incarnation (ocpv-dr records the uid of the PV it synced).
  ASSERT_EQ(replicaState(), "active uid " + uid2);
  const auto beforeStale = treeListing(hosts_->dr().exportDir);
  auto stale = deleteJob(first, "uid1:stale:DELETED");
  EXPECT_NE(stale.exitCode, 0) << stale.describe();
  EXPECT_EQ(stale.customStats()["ocpvdr_pv_delete"]["pvc-v1"]["result"], "uid-mismatch")
      << stale.describe();
  EXPECT_NE(stale.failures().find("Check: the event names another uid"), std::string::npos)
      << stale.failures();
  EXPECT_EQ(treeListing(hosts_->dr().exportDir), beforeStale);
  EXPECT_FALSE(fs::exists(trash));
  EXPECT_EQ(replicaState(), "active uid " + uid2);

  // 3. The second PV is really deleted at the primary, but its API does not answer (kube-sim
  //    stopped: connection refused). The delete cannot be confirmed: exit 4, retried once, then
  //    the job fails retryable with nothing moved.
  primaryApi_->request("DELETE", "/api/v1/persistentvolumes/pvc-v1");
  ASSERT_EQ(primaryApi_->stop(), 0);
  auto unreachable = deleteJob(second, "uid2:DELETED", {{"nfs_delete_on_event_retries", 1}});
  EXPECT_NE(unreachable.exitCode, 0) << unreachable.describe();
  Json doc = unreachable.customStats()["ocpvdr_pv_delete"]["pvc-v1"];
  EXPECT_EQ(doc["result"], "primary-unreachable") << unreachable.describe();
  EXPECT_EQ(doc["error"]["kind"], "retryable") << doc.dump();
  auto runs =
      unreachable.taskResults("Run ocpv-dr pv delete --verify on the DR NFS host", "localhost");
  ASSERT_EQ(runs.size(), 1u) << unreachable.describe();
  EXPECT_EQ(runs[0].value("rc", -1), 4) << runs[0].dump();
  // The role's until-loop ran out (ansible-core reports `attempts` only for an until-loop; 2.14
  // reports the configured retries when they run out).
  EXPECT_GE(runs[0].value("attempts", 0), 1) << runs[0].dump();
  std::string u = unreachable.failures();
  EXPECT_NE(u.find("exit 4"), std::string::npos) << u;
  EXPECT_NE(u.find("Check: the primary cluster's API"), std::string::npos) << u;
  EXPECT_EQ(treeListing(hosts_->dr().exportDir), beforeStale);
  EXPECT_FALSE(fs::exists(trash));
  EXPECT_EQ(replicaState(), "active uid " + uid2);

  // 4. The API answers again (404: the PV is gone): the same event, relaunched, quarantines.
  startPrimaryApi();
  auto real = deleteJob(second, "uid2:DELETED");
  ASSERT_EQ(real.exitCode, 0) << real.describe();
  Json del = real.customStats()["ocpvdr_pv_delete"]["pvc-v1"];
  EXPECT_EQ(del["result"], "quarantined") << del.dump();
  EXPECT_EQ(del["verification"]["primary"], "absent") << del.dump();
  EXPECT_FALSE(fs::exists(dst));
  ASSERT_TRUE(del.contains("trash")) << del.dump();
  EXPECT_EQ(slurp(fs::path(del["trash"]["path"].get<std::string>()) / "data/disk.img"),
            slurp(src / "disk.img"));
  EXPECT_EQ(replicaState(), "quarantined uid " + uid2);
}

// issue 13: the snapshot delete role always runs `snapshot delete --verify`: its archive moves
// only when the primary's API answers 404 (or another uid) for the VolumeSnapshot.
TEST_F(AnsibleEventPlaybooks, SnapshotDeleteIsVerifiedAgainstThePrimaryApi) {
  Json ns = primaryApi_->request("POST", "/api/v1/namespaces",
                                 Json{{"metadata", {{"name", "vms"}}}}.dump());
  ASSERT_EQ(ns["metadata"].value("name", ""), "vms") << ns.dump();
  Json created = primaryApi_->request(
      "POST", "/apis/snapshot.storage.k8s.io/v1/namespaces/vms/volumesnapshots",
      nfsSnapshot("weekly", "").dump());
  const std::string uid = created["metadata"].value("uid", "");
  ASSERT_FALSE(uid.empty()) << created.dump();
  const std::string server = hosts_->options().primaryServer;
  const std::string snapDir = "snapshot-" + uid;
  const std::string archive = randomBytes(128 << 10, 13);
  putFile(hosts_->primary().exportDir / snapDir / "pvc-src.tar.gz", archive);
  Json vs = nfsSnapshot("weekly", uid);
  vs["status"]["readyToUse"] = true;
  vs["status"]["creationTime"] = "2026-11-24T01:00:00Z";
  vs["status"]["restoreSize"] = "1Gi";
  Json vsc = nfsSnapshotContent("weekly", uid, server);
  auto ready = play("playbooks/event_driven/handle_snapshot_sync.yml",
                    edaJobVars("r", edaEvent("w-1", "VolumeSnapshot", "ADDED", vs),
                               {{"snapshot_object", vs}, {"snapshot_content_object", vsc}}));
  ASSERT_EQ(ready.exitCode, 0) << ready.describe();
  const fs::path drArchive = hosts_->dr().exportDir / snapDir / "pvc-src.tar.gz";
  ASSERT_TRUE(fs::exists(drArchive)) << ready.describe();
  const fs::path trash = hosts_->dr().exportDir / ".ocpv-dr-trash";
  const auto before = treeListing(hosts_->dr().exportDir);
  auto state = [&]() {
    auto cat = openCatalog();
    if (!cat) return std::string("<no catalog>");
    auto rec = cat->snapshot(uid);
    return rec.ok() && rec->has_value() ? (*rec)->state : std::string("<no row>");
  };
  ASSERT_EQ(state(), "ready");
  auto deleteJob = [&](const std::string& id, Json extra = Json::object()) {
    Json vars =
        edaJobVars("Drop a deleted VolumeSnapshot at DR",
                   edaEvent(id, "VolumeSnapshot", "DELETED", vs), {{"snapshot_object", vs}});
    for (auto it = extra.begin(); it != extra.end(); ++it) vars[it.key()] = it.value();
    return play("playbooks/event_driven/handle_snapshot_delete.yml", vars);
  };

  // 1. Forged: the snapshot still exists at the primary.
  auto forged = deleteJob("forged-s");
  EXPECT_NE(forged.exitCode, 0) << forged.describe();
  EXPECT_EQ(forged.customStats()["ocpvdr_snapshot_delete"]["vms/weekly"]["result"], "still-present")
      << forged.describe();
  EXPECT_NE(forged.failures().find("Check: the VolumeSnapshot with this uid still exists"),
            std::string::npos)
      << forged.failures();
  EXPECT_EQ(treeListing(hosts_->dr().exportDir), before);
  EXPECT_FALSE(fs::exists(trash));
  EXPECT_EQ(state(), "ready");

  // 2. Deleted at the primary, but its API does not answer: retried, then failed; nothing moves.
  primaryApi_->request("DELETE",
                       "/apis/snapshot.storage.k8s.io/v1/namespaces/vms/volumesnapshots/weekly");
  ASSERT_EQ(primaryApi_->stop(), 0);
  auto unreachable = deleteJob("s:DELETED", {{"snapshot_delete_on_event_retries", 1}});
  EXPECT_NE(unreachable.exitCode, 0) << unreachable.describe();
  Json doc = unreachable.customStats()["ocpvdr_snapshot_delete"]["vms/weekly"];
  EXPECT_EQ(doc["result"], "primary-unreachable") << unreachable.describe();
  EXPECT_EQ(doc["error"]["kind"], "retryable") << doc.dump();
  auto runs = unreachable.taskResults("Run ocpv-dr snapshot delete --verify on the DR NFS host",
                                      "localhost");
  ASSERT_EQ(runs.size(), 1u) << unreachable.describe();
  EXPECT_EQ(runs[0].value("rc", -1), 4) << runs[0].dump();
  // The role's until-loop ran out (ansible-core reports `attempts` only for an until-loop; 2.14
  // reports the configured retries when they run out).
  EXPECT_GE(runs[0].value("attempts", 0), 1) << runs[0].dump();
  EXPECT_NE(unreachable.failures().find("Check: the primary cluster's API"), std::string::npos)
      << unreachable.failures();
  EXPECT_EQ(treeListing(hosts_->dr().exportDir), before);
  EXPECT_FALSE(fs::exists(trash));
  EXPECT_EQ(state(), "ready");

  // 3. The API answers 404: the relaunched job quarantines the archive.
  startPrimaryApi();
  auto real = deleteJob("s:DELETED");
  ASSERT_EQ(real.exitCode, 0) << real.describe();
  Json del = real.customStats()["ocpvdr_snapshot_delete"]["vms/weekly"];
  EXPECT_EQ(del["verification"]["primary"], "absent") << del.dump();
  EXPECT_FALSE(fs::exists(drArchive));
  EXPECT_EQ(state(), "deleted");
  {
    auto cat = openCatalog();
    ASSERT_TRUE(cat);
    auto rec = cat->snapshot(uid);
    ASSERT_TRUE(rec.ok() && rec->has_value());
    ASSERT_FALSE((*rec)->trashPath.empty());
    EXPECT_EQ(slurp(fs::path((*rec)->trashPath) / "data/pvc-src.tar.gz"), archive);
  }
}

}  // namespace
}  // namespace ocpvdr::testing
