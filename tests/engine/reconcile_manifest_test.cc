// The reconcile's cheap full pass (issue 16 item 3) over the extent mover on a loop-mounted XFS,
// as root, local transport: unchanged PVs get no cycle — no new recovery point row AND the
// Replicator's count of cycles does not move — one changed PV gets exactly one cycle, and a PV
// whose record cannot vouch for it (failed last sync, no point) gets its cycle as before.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "catalog/points.h"
#include "core/time.h"
#include "engine/fake_primary.h"
#include "engine/reconcile.h"
#include "extent/loop_fs.h"
#include "replication/test_util.h"
#include "support/temp_dir.h"

namespace ocpvdr::engine {
namespace {

namespace fs = std::filesystem;
using ocpvdr::testing::LoopFs;
using testing::FakePrimary;
using testing::inTreePv;

class ReconcileManifest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto l = LoopFs::create("xfs", 512 * 1024 * 1024);
    if (!l.ok() && l.error().kind == ErrorKind::NotFound) GTEST_SKIP() << l.error().message;
    ASSERT_TRUE(l.ok()) << l.error().message;
    loop = std::move(*l);
    base = loop->mountPoint();
    cfg = testing::localSitesConfig(base);
    cfg.replication.mover = config::MoverKind::Extent;
    cfg.replication.moverLocalPath =
        ocpvdr::testing::binaryPath("src/extent/ocpv-dr-mover").string();
    cfg.replication.parallelism = 2;
    primaryRoot = cfg.primary.exportRoots.front().hostPath;
    auto c = catalog::Catalog::open(cfg.catalog.path);
    ASSERT_TRUE(c.ok()) << c.error().describe();
    cat = std::move(c).value();
    rep = std::make_unique<replication::Replicator>(cfg, runner, clock, *cat, &primary);
  }

  void addPv(const std::string& dir, int files) {
    for (int i = 0; i < files; ++i)
      testing::writeRandomFile(primaryRoot / dir / ("f" + std::to_string(i)), 4096,
                               static_cast<unsigned>(i + dir.size()));
    primary.putPv(inTreePv("pvc-" + dir, "nfs-primary", "/exports/ocp/" + dir));
  }

  ReconcileReport run() {
    Reconciler r(cfg, *rep, *cat, primary, primary, clock);
    return r.run();
  }

  std::size_t pointRows() {
    catalog::PointStore ps(*cat);
    auto all = ps.list();
    EXPECT_TRUE(all.ok());
    return all.ok() ? all->size() : 0;
  }

  const PvRow& row(const ReconcileReport& r, const std::string& pv) {
    for (const auto& x : r.pvs)
      if (x.pv == pv) return x;
    static PvRow none;
    ADD_FAILURE() << "no row for " << pv;
    return none;
  }

  std::unique_ptr<LoopFs> loop;
  fs::path base, primaryRoot;
  config::Config cfg;
  RealProcessRunner runner;
  // After the real clock (points' data times come from it): the pass's time is then the newest.
  ManualClock clock{std::chrono::time_point_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now() + std::chrono::hours(24))};
  FakePrimary primary;
  std::unique_ptr<catalog::Catalog> cat;
  std::unique_ptr<replication::Replicator> rep;
};

TEST_F(ReconcileManifest, UnchangedPvsGetNoCycleAndOneChangedPvExactlyOne) {
  for (int i = 0; i < 5; ++i) addPv("vol" + std::to_string(i), 4);
  // A sparse VM disk too: its extent map is part of the digest.
  std::filesystem::create_directories(primaryRoot / "img");
  testing::writeSparseFile(primaryRoot / "img/disk.img", 64 * 1024 * 1024, 256 * 1024);
  primary.putPv(inTreePv("pvc-img", "nfs-primary", "/exports/ocp/img"));

  auto first = run();
  ASSERT_EQ(first.exitCode(), 0) << first.toJson().dump(2);
  EXPECT_EQ(first.totals.synced, 6);
  EXPECT_EQ(first.manifest.unchanged, 0) << "no record yet: every PV needs its first cycle";
  EXPECT_EQ(first.manifest.cycles, 6);
  EXPECT_EQ(row(first, "pvc-vol0").checkedBy, "sync");
  const auto cycles1 = rep->extentCycles();
  const auto points1 = pointRows();
  EXPECT_EQ(cycles1, 6u);
  EXPECT_EQ(points1, 6u);

  clock.advance(std::chrono::minutes(30));
  auto second = run();
  ASSERT_EQ(second.exitCode(), 0) << second.toJson().dump(2);
  EXPECT_EQ(rep->extentCycles(), cycles1) << "an unchanged PV got a cycle";
  EXPECT_EQ(pointRows(), points1) << "an unchanged PV got a new point";
  EXPECT_EQ(second.manifest.roots, 1);
  EXPECT_EQ(second.manifest.checked, 6);
  EXPECT_EQ(second.manifest.unchanged, 6);
  EXPECT_EQ(second.totals.unchangedByManifest, 6);
  EXPECT_EQ(row(second, "pvc-img").status, "unchanged");
  EXPECT_EQ(row(second, "pvc-img").statusText(), "unchanged (manifest)");
  EXPECT_NE(second.toMarkdown().find("unchanged (manifest)"), std::string::npos);
  // DR holds what the primary holds as of the manifest: the PV's last success moved with it.
  auto rec = cat->replica("pvc-vol3");
  ASSERT_TRUE(rec.ok() && rec->has_value());
  EXPECT_EQ((*rec)->lastSuccess, clock.now());
  EXPECT_FALSE(row(second, "pvc-vol3").rpoExceeded);

  // One file of one PV changes: exactly that PV gets a cycle.
  testing::patchFile(primaryRoot / "vol2/f1", 100, 10, 7);
  auto third = run();
  ASSERT_EQ(third.exitCode(), 0) << third.toJson().dump(2);
  EXPECT_EQ(rep->extentCycles(), cycles1 + 1);
  EXPECT_EQ(pointRows(), points1 + 1);
  EXPECT_EQ(row(third, "pvc-vol2").status, "synced");
  EXPECT_EQ(row(third, "pvc-vol2").checkedBy, "sync");
  EXPECT_EQ(third.manifest.unchanged, 5);
  EXPECT_EQ(third.manifest.cycles, 1);
  for (const char* pv : {"pvc-vol0", "pvc-vol1", "pvc-vol3", "pvc-vol4", "pvc-img"})
    EXPECT_EQ(row(third, pv).checkedBy, "manifest") << pv;

  // A write into the sparse image's hole: a new extent, a new digest, one cycle.
  testing::patchFile(primaryRoot / "img/disk.img", 32 * 1024 * 1024, 4096, 9);
  auto fourth = run();
  EXPECT_EQ(rep->extentCycles(), cycles1 + 2);
  EXPECT_EQ(row(fourth, "pvc-img").status, "synced");
  EXPECT_EQ(fourth.manifest.unchanged, 5);

  auto quiet = run();
  EXPECT_EQ(rep->extentCycles(), cycles1 + 2);
  EXPECT_EQ(quiet.manifest.unchanged, 6);
}

// The manifest only skips a PV its record vouches for.
TEST_F(ReconcileManifest, APvWhoseRecordCannotVouchForItGetsItsCycle) {
  addPv("a", 2);
  addPv("b", 2);
  addPv("c", 2);
  ASSERT_EQ(run().totals.synced, 3);
  const auto cycles = rep->extentCycles();
  // a: its last sync failed (the DR directory may not be at the newest point).
  auto a = cat->replica("pvc-a");
  ASSERT_TRUE(a.ok() && a->has_value());
  catalog::ReplicaRecord ra = **a;
  ra.result = "failed";
  ra.errorKind = "retryable";
  ASSERT_TRUE(cat->putReplica(ra).ok());
  // b: its points are gone from the catalog (pruned by hand): no digest to compare with.
  catalog::PointStore ps(*cat);
  auto bPoints = ps.list("pvc-b");
  ASSERT_TRUE(bPoints.ok());
  std::vector<catalog::PointRecord> bRows = std::move(bPoints).value();
  for (const auto& p : bRows) ASSERT_TRUE(ps.remove(p.pv, p.pointId).ok());
  auto r = run();
  ASSERT_EQ(r.exitCode(), 0) << r.toJson().dump(2);
  EXPECT_EQ(rep->extentCycles(), cycles + 2);
  EXPECT_EQ(row(r, "pvc-a").checkedBy, "sync");
  EXPECT_EQ(row(r, "pvc-b").checkedBy, "sync");
  EXPECT_EQ(row(r, "pvc-c").checkedBy, "manifest");
  // Both are vouched for again afterwards.
  EXPECT_EQ(run().manifest.unchanged, 3);
  EXPECT_EQ(rep->extentCycles(), cycles + 2);
}

}  // namespace
}  // namespace ocpvdr::engine
