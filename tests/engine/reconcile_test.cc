// The reconcile pass over real rsync (local transport), a real SQLite catalog and an in-memory
// primary: selection, bounded parallelism, failures, RPO, orphans and both breaker rules, the
// "a failed list never makes orphans" rule, untracked DR directories, snapshots, run records.
#include "engine/reconcile.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "core/time.h"
#include "engine/fake_primary.h"
#include "replication/pv_source.h"
#include "replication/test_util.h"
#include "support/temp_dir.h"

namespace ocpvdr::engine {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::FakePrimary;
using testing::inTreePv;
using testing::localSitesConfig;
using testing::treeDigest;

// Counts rsync processes running at once (and makes each last a little, so overlap is certain).
class ConcurrencyRunner final : public ProcessRunner {
 public:
  Result<ProcessResult> run(const ProcessSpec& spec, std::stop_token stop) override {
    const bool rsync = !spec.argv.empty() && spec.argv[0].find("rsync") != std::string::npos &&
                       spec.argv.size() > 2;
    if (rsync) {
      int now = ++active_;
      int seen = max_.load();
      while (now > seen && !max_.compare_exchange_weak(seen, now)) {
      }
      ++calls_;
      std::this_thread::sleep_for(40ms);
    }
    auto r = inner_.run(spec, stop);
    if (rsync) --active_;
    return r;
  }
  int max() const { return max_; }
  int calls() const { return calls_; }

 private:
  RealProcessRunner inner_;
  std::atomic<int> active_{0}, max_{0}, calls_{0};
};

class ReconcileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base = fs::canonical(tmp.path());
    cfg = localSitesConfig(base);
    primaryRoot = cfg.primary.exportRoots.front().hostPath;
    drRoot = cfg.dr.exportRoots.front().hostPath;
    cfg.replication.storageClasses = {"nfs-dynamic"};
    cfg.replication.parallelism = 3;
    auto c = catalog::Catalog::open(cfg.catalog.path);
    ASSERT_TRUE(c.ok()) << c.error().describe();
    cat = std::move(c).value();
    rep = std::make_unique<replication::Replicator>(cfg, runner, clock, *cat, &primary);
  }

  // A PV with a small tree of data at the primary.
  void addPv(const std::string& dir, unsigned seed = 1) {
    testing::writeRandomFile(primaryRoot / dir / "disk.img", 64 * 1024, seed);
    primary.putPv(inTreePv("pvc-" + dir, "nfs-primary", "/exports/ocp/" + dir));
  }

  ReconcileReport run(ReconcileOptions o = {}) {
    Reconciler r(cfg, *rep, *cat, primary, primary, clock);
    return r.run(o);
  }

  const PvRow* row(const ReconcileReport& rep, const std::string& pv) {
    for (const auto& r : rep.pvs)
      if (r.pv == pv) return &r;
    ADD_FAILURE() << "no row for " << pv;
    return nullptr;
  }

  testing::TempDir tmp;
  fs::path base, primaryRoot, drRoot;
  config::Config cfg;
  ConcurrencyRunner runner;
  ManualClock clock{*parseTime("2026-11-24T10:00:00Z")};
  FakePrimary primary;
  std::unique_ptr<catalog::Catalog> cat;
  std::unique_ptr<replication::Replicator> rep;
};

// Shared and nested NFS paths among the selected PVs: reported by name, the newcomers not synced,
// the PV that already owns the directory synced as before.
TEST_F(ReconcileTest, SharedAndNestedPathsAreReportedNamingBothAndNewcomersAreNotSynced) {
  addPv("vol", 1);
  ASSERT_EQ(run().totals.synced, 1);
  testing::writeRandomFile(primaryRoot / "vol/sub/inner.img", 4096, 2);
  primary.putPv(inTreePv("pvc-inner", "nfs-primary", "/exports/ocp/vol/sub"));
  primary.putPv(inTreePv("pvc-twin", "nfs-primary", "/exports/ocp/vol"));
  addPv("vol-b", 3);  // sorts between "vol" and "vol/sub": not nested
  auto report = run();
  ASSERT_NE(row(report, "pvc-inner"), nullptr);
  EXPECT_EQ(row(report, "pvc-inner")->status, "refused");
  EXPECT_NE(row(report, "pvc-inner")->errorMessage.find("lies inside PV pvc-vol's DR path"),
            std::string::npos)
      << row(report, "pvc-inner")->errorMessage;
  EXPECT_EQ(row(report, "pvc-twin")->status, "refused");
  EXPECT_NE(row(report, "pvc-twin")->errorMessage.find("PV pvc-vol's DR path"), std::string::npos);
  EXPECT_EQ(row(report, "pvc-vol")->status, "synced");  // the inner file is new data of pvc-vol
  EXPECT_EQ(row(report, "pvc-vol-b")->status, "synced");
  int notes = 0;
  for (const auto& n : report.notes)
    if (n.find("shared NFS path") != std::string::npos) ++notes;
  EXPECT_EQ(notes, 2);
  EXPECT_FALSE(cat->replica("pvc-inner")->has_value());
  EXPECT_FALSE(cat->replica("pvc-twin")->has_value());
}

TEST_F(ReconcileTest, SyncsEverySelectedPvWithBoundedParallelism) {
  for (int i = 0; i < 12; ++i) addPv("vol" + std::to_string(i), static_cast<unsigned>(i + 1));
  // Not selected (another storage class), and selected but not NFS.
  Json other = inTreePv("pvc-other", "nfs-primary", "/exports/ocp/other");
  other["spec"]["storageClassName"] = "fast-ssd";
  primary.putPv(other);
  Json block = Json::parse(R"({"kind":"PersistentVolume","metadata":{"name":"pvc-ceph","uid":"c"},
     "spec":{"storageClassName":"nfs-dynamic","csi":{"driver":"rbd.csi.ceph.com",
     "volumeHandle":"x"}}})");
  primary.putPv(block);

  std::vector<ReconcileProgress> progress;
  ReconcileOptions o;
  o.onProgress = [&](const ReconcileProgress& p) { progress.push_back(p); };
  auto report = run(o);
  EXPECT_EQ(report.exitCode(), 0) << report.errorJson().dump();
  EXPECT_EQ(report.totals.selected, 13);
  EXPECT_EQ(report.totals.synced, 12);
  EXPECT_EQ(report.totals.notReplicable, 1);
  EXPECT_EQ(report.totals.failed, 0);
  EXPECT_EQ(runner.max(), 3) << "parallelism is replication.parallelism (3)";
  EXPECT_EQ(runner.calls(), 12);
  for (int i = 0; i < 12; ++i) {
    const std::string d = "vol" + std::to_string(i);
    EXPECT_EQ(treeDigest(primaryRoot / d), treeDigest(drRoot / d)) << d;
  }
  EXPECT_FALSE(fs::exists(drRoot / "other"));
  EXPECT_EQ(row(report, "pvc-ceph")->status, "not-replicable");
  const PvRow* r0 = row(report, "pvc-vol0");
  ASSERT_NE(r0, nullptr);
  EXPECT_EQ(r0->status, "synced");
  EXPECT_EQ(r0->bytes, 64 * 1024);
  EXPECT_EQ(r0->lastSuccess, clock.now());
  EXPECT_EQ(r0->rpo, std::chrono::seconds(0));
  EXPECT_FALSE(r0->rpoExceeded);
  ASSERT_EQ(progress.size(), 12u);
  EXPECT_EQ(progress.back().done, 12);
  EXPECT_EQ(progress.back().total, 12);
  EXPECT_EQ(progress.back().bytes, 12 * 64 * 1024);

  // The run is in the catalog.
  auto runs = cat->runs();
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ((*runs)[0].kind, "reconcile");
  EXPECT_EQ((*runs)[0].result, "ok");
  EXPECT_EQ(Json::parse((*runs)[0].summaryJson)["totals"]["synced"], 12);

  // Nothing changed: a second pass is all "unchanged" and parallelism is parallelism flag's.
  o.parallelism = 2;
  auto again = run(o);
  EXPECT_EQ(again.exitCode(), 0);
  EXPECT_EQ(again.totals.unchanged, 12);
  EXPECT_EQ(again.totals.bytes, 0);
}

TEST_F(ReconcileTest, FailedNeverSyncedAndStalePvsAreReportedFirstWithExitCode) {
  addPv("good");
  addPv("stale");
  ASSERT_EQ(run().exitCode(), 0);
  // Two hours later the stale PV's source has vanished (DR holds data: the guard refuses),
  // and a new PV's source was never created (retryable "does not exist yet").
  clock.advance(2h);
  fs::remove_all(primaryRoot / "stale");
  primary.putPv(inTreePv("pvc-new", "nfs-primary", "/exports/ocp/new"));
  auto report = run();
  EXPECT_EQ(report.totals.failed, 2);
  EXPECT_EQ(report.totals.neverSynced, 1);
  EXPECT_EQ(report.totals.rpoExceeded, 2);
  ASSERT_EQ(report.pvs.size(), 3u);
  EXPECT_TRUE(report.pvs[0].failed);  // failures first
  EXPECT_TRUE(report.pvs[1].failed);
  EXPECT_EQ(report.pvs[2].pv, "pvc-good");
  const PvRow* stale = row(report, "pvc-stale");
  EXPECT_EQ(stale->status, "refused");
  EXPECT_EQ(stale->rpo, std::chrono::seconds(7200));
  EXPECT_TRUE(stale->rpoExceeded);
  EXPECT_FALSE(stale->neverSynced);
  const PvRow* fresh = row(report, "pvc-new");
  EXPECT_TRUE(fresh->neverSynced);
  EXPECT_EQ(fresh->errorKind, "retryable");
  EXPECT_FALSE(row(report, "pvc-good")->rpoExceeded);
  // Retryable beats refused: exit 4, and the summary names both.
  EXPECT_EQ(report.exitCode(), 4);
  Json s = report.summary();
  EXPECT_EQ(s["failed"].size(), 2u);
  EXPECT_EQ(s["never_synced"], Json::array({"pvc-new"}));
  EXPECT_EQ(s["result"], "failed");
  // The DR copy of the stale PV is intact (the guard refused the wiping sync).
  EXPECT_TRUE(fs::exists(drRoot / "stale/disk.img"));
}

TEST_F(ReconcileTest, AnOrphanWithinTheShareIsQuarantined) {
  for (int i = 0; i < 10; ++i) addPv("vol" + std::to_string(i));
  ASSERT_EQ(run().exitCode(), 0);
  primary.removePv("pvc-vol3");  // 1 of 10 = 10%: not above the default 10%
  auto report = run();
  EXPECT_EQ(report.exitCode(), 0) << report.errorJson().dump();
  EXPECT_FALSE(report.breaker.tripped);
  ASSERT_EQ(report.orphans.size(), 1u);
  EXPECT_EQ(report.orphans[0].name, "pvc-vol3");
  EXPECT_EQ(report.orphans[0].action, "quarantined");
  EXPECT_TRUE(report.orphans[0].drDataPresent);
  EXPECT_FALSE(fs::exists(drRoot / "vol3"));
  EXPECT_TRUE(fs::exists(drRoot / replication::kTrashDirName));
  auto rec = cat->replica("pvc-vol3");
  ASSERT_TRUE(rec.ok() && rec->has_value());
  EXPECT_EQ((*rec)->state, "quarantined");
  // A later run does not see it as an orphan again.
  auto next = run();
  EXPECT_TRUE(next.orphans.empty());
}

// After a failover (DR active) reconcile syncs nothing, refuses every PV and snapshot with the
// reason, quarantines no orphan, and exits 3; after the release it syncs and quarantines again.
TEST_F(ReconcileTest, DrActiveRefusesEveryPvAndQuarantinesNothing) {
  for (int i = 0; i < 10; ++i) addPv("vol" + std::to_string(i));
  ASSERT_EQ(run().exitCode(), 0);
  ASSERT_TRUE(cat->setDrActive({"run-7", "nightly-3", "unplanned", clock.now()}).ok());
  primary.removePv("pvc-vol3");                                            // an orphan now
  testing::writeRandomFile(primaryRoot / "vol1/disk.img", 64 * 1024, 42);  // changed at primary
  const auto before = treeDigest(drRoot);
  const int rsyncsBefore = runner.calls();

  auto report = run();
  EXPECT_EQ(report.exitCode(), 3) << report.errorJson().dump();
  EXPECT_EQ(runner.calls(), rsyncsBefore) << "no rsync may run while DR is active";
  ASSERT_EQ(report.pvs.size(), 9u);
  for (const auto& r : report.pvs) {
    EXPECT_EQ(r.status, "refused") << r.pv;
    EXPECT_EQ(r.errorKind, "refused") << r.pv;
    EXPECT_NE(r.errorMessage.find("failover run run-7"), std::string::npos) << r.errorMessage;
    EXPECT_NE(r.errorMessage.find("ocpv-dr failover release --run run-7"), std::string::npos);
  }
  EXPECT_TRUE(report.orphans.empty());
  EXPECT_EQ(treeDigest(drRoot), before);
  EXPECT_TRUE(fs::exists(drRoot / "vol3"));
  EXPECT_EQ((*cat->replica("pvc-vol3"))->state, "active");
  EXPECT_EQ(report.drActive["run"], "run-7");
  EXPECT_EQ(report.summary()["dr_active"]["active"], true);
  EXPECT_NE(report.errorJson()["message"].get<std::string>().find("DR is active"),
            std::string::npos);

  ASSERT_TRUE(cat->releaseDrActive("run-7", clock.now(), "failed back").ok());
  auto after = run();
  EXPECT_EQ(after.exitCode(), 0) << after.errorJson().dump();
  EXPECT_TRUE(after.drActive.is_null());
  ASSERT_EQ(after.orphans.size(), 1u);
  EXPECT_EQ(after.orphans[0].action, "quarantined");
  EXPECT_EQ(treeDigest(primaryRoot / "vol1"), treeDigest(drRoot / "vol1"));
}

TEST_F(ReconcileTest, BreakerTripsWhenTooManyWouldBeQuarantined) {
  for (int i = 0; i < 10; ++i) addPv("vol" + std::to_string(i));
  ASSERT_EQ(run().exitCode(), 0);
  auto before = treeDigest(drRoot);
  for (int i : {1, 4, 7}) primary.removePv("pvc-vol" + std::to_string(i));
  auto report = run();
  EXPECT_TRUE(report.breaker.tripped);
  EXPECT_EQ(report.breaker.candidates, 3);
  EXPECT_EQ(report.breaker.replicas, 10);
  EXPECT_NE(report.breaker.reason.find("3 of 10 replicas (30%)"), std::string::npos)
      << report.breaker.reason;
  EXPECT_EQ(report.exitCode(), 3);
  EXPECT_EQ(report.resultWord(), "breaker");
  ASSERT_EQ(report.orphans.size(), 3u);
  for (const auto& o : report.orphans) EXPECT_EQ(o.action, "held");
  EXPECT_EQ(treeDigest(drRoot), before) << "the breaker must leave DR untouched";
  EXPECT_NE(report.toMarkdown().find("Circuit breaker tripped"), std::string::npos);

  // The operator raises the share: the same run now quarantines.
  cfg.replication.breakerMaxShare = 0.5;
  auto allowed = run();
  EXPECT_FALSE(allowed.breaker.tripped);
  EXPECT_EQ(allowed.totals.orphansHandled, 3);
  EXPECT_FALSE(fs::exists(drRoot / "vol4"));
}

TEST_F(ReconcileTest, BreakerTripsWhenThePrimaryListComesBackEmpty) {
  for (int i = 0; i < 3; ++i) addPv("vol" + std::to_string(i));
  ASSERT_EQ(run().exitCode(), 0);
  auto before = treeDigest(drRoot);
  for (int i = 0; i < 3; ++i) primary.removePv("pvc-vol" + std::to_string(i));
  auto report = run();
  EXPECT_TRUE(report.pvListOk);
  EXPECT_TRUE(report.breaker.tripped);
  EXPECT_NE(report.breaker.reason.find("listed no selected PersistentVolumes"), std::string::npos);
  EXPECT_EQ(report.exitCode(), 3);
  EXPECT_EQ(report.orphans.size(), 3u);
  EXPECT_EQ(treeDigest(drRoot), before);
  for (int i = 0; i < 3; ++i) {
    auto rec = cat->replica("pvc-vol" + std::to_string(i));
    EXPECT_EQ((*rec)->state, "active");
  }
}

TEST_F(ReconcileTest, AFailedListNeverMakesOrphans) {
  for (int i = 0; i < 3; ++i) addPv("vol" + std::to_string(i));
  ASSERT_EQ(run().exitCode(), 0);
  auto before = treeDigest(drRoot);
  primary.listError = retryableError("GET /api/v1/persistentvolumes: connection refused");
  auto report = run();
  EXPECT_FALSE(report.pvListOk);
  EXPECT_TRUE(report.orphans.empty());
  EXPECT_FALSE(report.breaker.tripped);
  EXPECT_EQ(report.exitCode(), 4);
  EXPECT_EQ(report.resultWord(), "list-failed");
  EXPECT_NE(report.errorJson()["message"].get<std::string>().find("connection refused"),
            std::string::npos);
  EXPECT_EQ(treeDigest(drRoot), before);
  bool noted = false;
  for (const auto& n : report.notes) noted |= n.find("orphan check skipped") != std::string::npos;
  EXPECT_TRUE(noted);
}

TEST_F(ReconcileTest, OnlyAConfirmedAbsenceMakesAnOrphan) {
  for (int i = 0; i < 10; ++i) addPv("vol" + std::to_string(i));
  ASSERT_EQ(run().exitCode(), 0);
  // pvc-vol2 leaves the selection (storage class changed) but still exists: not an orphan.
  Json moved = inTreePv("pvc-vol2", "nfs-primary", "/exports/ocp/vol2");
  moved["spec"]["storageClassName"] = "archive";
  primary.putPv(moved);
  auto report = run();
  EXPECT_TRUE(report.orphans.empty());
  EXPECT_TRUE(fs::exists(drRoot / "vol2/disk.img"));
  bool noted = false;
  for (const auto& n : report.notes) noted |= n.find("pvc-vol2 exists at the primary") == 3;
  EXPECT_TRUE(noted) << Json(report.notes).dump();

  // Gone from the list, but the confirming GET fails: left alone too.
  primary.removePv("pvc-vol2");
  primary.getError = retryableError("GET timed out");
  auto unsure = run();
  EXPECT_TRUE(unsure.orphans.empty());
  EXPECT_TRUE(fs::exists(drRoot / "vol2/disk.img"));
  primary.getError.reset();
  auto sure = run();
  ASSERT_EQ(sure.orphans.size(), 1u);
  EXPECT_EQ(sure.orphans[0].action, "quarantined");
}

TEST_F(ReconcileTest, UntrackedDrDirectoriesAreReportedAndLeftAlone) {
  addPv("vol0");
  testing::writeRandomFile(drRoot / "leftover-from-2019/disk.img", 1000, 3);
  auto report = run();
  ASSERT_EQ(report.untrackedDirs.size(), 1u);
  EXPECT_EQ(report.untrackedDirs[0], (drRoot / "leftover-from-2019").string());
  EXPECT_TRUE(fs::exists(drRoot / "leftover-from-2019/disk.img"));
  EXPECT_EQ(report.exitCode(), 0);
}

TEST_F(ReconcileTest, SnapshotsAreSyncedAndOrphanedRecordsFollowTheBreaker) {
  addPv("vol0");
  Json vs = Json::parse(R"({"apiVersion":"snapshot.storage.k8s.io/v1","kind":"VolumeSnapshot",
    "metadata":{"name":"nightly","namespace":"vms","uid":"snap-uid-1"},
    "spec":{"source":{"persistentVolumeClaimName":"disk"}},
    "status":{"readyToUse":false}})");
  primary.putSnapshot(vs);
  Json weekly = vs;
  weekly["metadata"]["name"] = "weekly";
  weekly["metadata"]["uid"] = "snap-uid-2";
  primary.putSnapshot(weekly);
  auto report = run();
  ASSERT_EQ(report.snapshots.size(), 2u);
  EXPECT_EQ(report.snapshots[0].status, "not-ready");
  EXPECT_FALSE(report.snapshots[0].failed);
  EXPECT_EQ(report.exitCode(), 0);
  auto rec = cat->snapshot("snap-uid-1");
  ASSERT_TRUE(rec.ok() && rec->has_value());
  EXPECT_EQ((*rec)->state, "pending");

  // Deleted at the primary: 1 of 2 records is above 10% — held by the snapshot breaker.
  primary.removeSnapshot("vms/nightly");
  auto held = run();
  EXPECT_TRUE(held.snapshotBreaker.tripped);
  EXPECT_NE(held.snapshotBreaker.reason.find("1 of 2 snapshot records (50%)"), std::string::npos)
      << held.snapshotBreaker.reason;
  EXPECT_EQ(held.exitCode(), 3);
  EXPECT_EQ((*cat->snapshot("snap-uid-1"))->state, "pending");
  // With a share that allows it, the record is marked deleted.
  cfg.replication.breakerMaxShare = 1.0;
  auto dropped = run();
  EXPECT_FALSE(dropped.snapshotBreaker.tripped);
  ASSERT_EQ(dropped.orphans.size(), 1u);
  EXPECT_EQ(dropped.orphans[0].kind, "snapshot");
  EXPECT_EQ(dropped.orphans[0].action, "deleted");
  EXPECT_EQ((*cat->snapshot("snap-uid-1"))->state, "deleted");
  EXPECT_EQ((*cat->snapshot("snap-uid-2"))->state, "pending");

  // An empty snapshot list while records exist trips the breaker whatever the share.
  primary.removeSnapshot("vms/weekly");
  auto empty = run();
  EXPECT_TRUE(empty.snapshotBreaker.tripped);
  EXPECT_NE(empty.snapshotBreaker.reason.find("listed no VolumeSnapshots"), std::string::npos);
  EXPECT_EQ((*cat->snapshot("snap-uid-2"))->state, "pending");
}

// Velero's backup-time VolumeSnapshots (label velero.io/backup-name) are neither synced nor
// recorded: reconcile only notes how many it left alone.
TEST_F(ReconcileTest, VelerosOwnSnapshotsAreIgnored) {
  addPv("vol0");
  Json vs = Json::parse(R"({"apiVersion":"snapshot.storage.k8s.io/v1","kind":"VolumeSnapshot",
    "metadata":{"name":"user-snap","namespace":"vms","uid":"snap-uid-1"},
    "spec":{"source":{"persistentVolumeClaimName":"disk"}},
    "status":{"readyToUse":false}})");
  primary.putSnapshot(vs);
  Json velero = vs;
  velero["metadata"]["name"] = "velero-disk-x7k2p";
  velero["metadata"]["uid"] = "snap-uid-velero";
  velero["metadata"]["labels"] = {{"velero.io/backup-name", "nightly-1"}};
  velero["status"]["readyToUse"] = true;
  velero["status"]["boundVolumeSnapshotContentName"] = "snapcontent-snap-uid-velero";
  primary.putSnapshot(velero);
  auto report = run();
  ASSERT_EQ(report.snapshots.size(), 1u);
  EXPECT_EQ(report.snapshots[0].snapshot, "vms/user-snap");
  auto rec = cat->snapshot("snap-uid-velero");
  ASSERT_TRUE(rec.ok());
  EXPECT_FALSE(rec->has_value());
  EXPECT_NE(std::find(report.notes.begin(), report.notes.end(),
                      "1 VolumeSnapshot(s) made by Velero (label velero.io/backup-name) ignored"),
            report.notes.end());
  EXPECT_EQ(report.exitCode(), 0);
}

TEST_F(ReconcileTest, AStoppedRunSkipsTheRestAndChecksNoOrphans) {
  for (int i = 0; i < 6; ++i) addPv("vol" + std::to_string(i));
  std::stop_source stop;
  stop.request_stop();
  ReconcileOptions o;
  o.stop = stop.get_token();
  auto report = run(o);
  EXPECT_TRUE(report.stopped);
  EXPECT_EQ(report.totals.failed, 6);
  EXPECT_EQ(report.exitCode(), 4);
  EXPECT_EQ(report.resultWord(), "stopped");
  EXPECT_EQ(runner.calls(), 0);
}

// An orphan's PV object is gone: its delete reads the NFS source (CSI or in-tree) from the
// catalog row, and the delete policy moves the DR copy the row maps to.
TEST_F(ReconcileTest, ADeleteFromACatalogRowQuarantinesTheDirectoryTheRowMapsTo) {
  for (const char* kind : {"csi", "nfs"}) {
    const std::string dir = std::string("row-") + kind;
    testing::writeRandomFile(drRoot / dir / "sub/disk.img", 4096, 3);
    catalog::ReplicaRecord r;
    r.pv = "pvc-" + dir;
    r.uid = "u";
    r.sourceKind = kind;
    r.sourceServer = "nfs-primary";
    r.sourcePath = "/exports/ocp/" + dir + "/sub";
    auto res = rep->deletePvFromCatalog(r, {});
    ASSERT_TRUE(res.ok()) << res.error().describe();
    EXPECT_TRUE(res->ok()) << res->toJson().dump();
    EXPECT_EQ(res->result, replication::Outcome::Quarantined) << kind;
    EXPECT_EQ(res->source, "nfs-primary:/exports/ocp/" + dir + "/sub");
    EXPECT_EQ(res->destination, (drRoot / dir / "sub").string());
    EXPECT_FALSE(fs::exists(drRoot / dir / "sub")) << kind;
    auto rec = cat->replica(r.pv);
    ASSERT_TRUE(rec.ok() && rec->has_value());
    EXPECT_EQ((*rec)->state, "quarantined");
    EXPECT_EQ((*rec)->sourceKind, kind);
  }
}

}  // namespace
}  // namespace ocpvdr::engine
