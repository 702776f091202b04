// `failover plan|run --point <time>` (issue 15): the DR export root on a loop-mounted XFS with
// reflink, two recovery points of one PV in the catalog and on disk (written directly in the
// applier's layout, extent/applier.h — the mover itself is tested in tests/extent), the lab's
// two kube-sims and s3rver otherwise. The plan picks, per PV, the newest point at or before the
// time (the older of the two) with its data age and says which PVs have none; the unplanned run
// puts that point in place (the DR PV directory then equals it), journals the choice, leaves the
// points untouched, and a later replication cycle, refused while DR is active, does not
// overwrite it. Needs root (loop device); skips loudly otherwise.
#include <gtest/gtest.h>

#include <fstream>

#include "catalog/catalog.h"
#include "catalog/points.h"
#include "core/time.h"
#include "extent/loop_fs.h"
#include "failover/failover_lab.h"
#include "failover/journal.h"
#include "replication/path_map.h"
#include "replication/recovery_points.h"
#include "replication/replicator.h"
#include "support/files.h"

namespace ocpvdr::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class PointFailover : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loop = LoopFs::create("xfs", 512ull << 20);
    if (!loop.ok() && loop.error().kind == ErrorKind::NotFound)
      GTEST_SKIP() << loop.error().message;
    ASSERT_TRUE(loop.ok()) << loop.error().describe();
    xfs = std::move(loop).value();
    config::Config c = FailoverLab::localSites(tmp.str());
    c.dr.exportRoots.front().hostPath = xfs->mountPoint() + "/srv/nfs/ocp";
    fs::create_directories(c.dr.exportRoots.front().hostPath);
    LabOptions o;
    o.vms = 2;
    auto l = FailoverLab::create(c, tmp.str(), o);
    if (!l.ok() && l.error().kind == ErrorKind::NotFound) GTEST_SKIP() << l.error().message;
    ASSERT_TRUE(l.ok()) << l.error().describe();
    lab = std::move(l).value();
    lab->populatePrimary();
    RealProcessRunner runner;
    lab->replicate(runner);
  }

  // A complete point of `pv` in the applier's layout with disk.img = `content`, and its row.
  void addPoint(const std::string& pv, const std::string& id, SystemTime dataTime,
                const std::string& content, const std::string& consistency = "per-file",
                const std::string& group = "") {
    auto cat = catalog::Catalog::open(lab->cfg.catalog.path);
    ASSERT_TRUE(cat.ok()) << cat.error().describe();
    const std::string dir =
        replication::pointsDirFor(lab->cfg.dr.exportRoots.front().hostPath, pv) + "/" + id;
    fs::create_directories(dir + "/tree");
    std::ofstream(dir + "/tree/disk.img") << content;
    std::ofstream(dir + "/point") << "id=" << id << "\n";
    catalog::PointRecord p;
    p.pv = pv;
    p.pointId = id;
    p.dataTimeNs =
        std::chrono::duration_cast<std::chrono::nanoseconds>(dataTime.time_since_epoch()).count();
    p.createdAt = dataTime + 1s;
    p.path = dir;
    p.dataBytes = static_cast<std::int64_t>(content.size());
    p.consistency = consistency;
    p.group = group;
    p.freezeMs = consistency == "application" ? 12 : -1;
    ASSERT_TRUE(catalog::PointStore(**cat).add(p).ok());
  }

  std::string drImage(const ScenarioVolume& v) {
    auto mapped = replication::mapVolume(lab->cfg, "nfs-primary.example.com", v.exportPath);
    EXPECT_TRUE(mapped.ok());
    return slurp(fs::path(mapped->drHostPath) / "disk.img");
  }

  static const Json* volumeOf(const Json& list, const std::string& pv) {
    for (const auto& v : list)
      if (v.value("pv", "") == pv) return &v;
    return nullptr;
  }

  TempDir tmp{"ocpvdr-points-failover"};
  std::unique_ptr<LoopFs> xfs;
  std::unique_ptr<FailoverLab> lab;
};

TEST_F(PointFailover, PointBetweenTwoPointsPicksTheOlderAndApplyVolumesPutsItInPlace) {
  const auto& v = lab->scenario.volumes.front();
  const SystemTime t0 = std::chrono::system_clock::now() - 2h;
  addPoint(v.pv, "p-0001", t0, "state before the ransomware\n");
  addPoint(v.pv, "p-0002", t0 + 1h, "encrypted by the ransomware\n");
  const std::string between = formatTime(t0 + 30min);
  const std::string before = drImage(v);
  ASSERT_NE(before, "state before the ransomware\n");
  lab->takeBackup("nightly-1");
  lab->prepareDr("nightly-1");
  ASSERT_EQ(lab->primary->stop(), 0);

  auto plan =
      runCli(lab->configPath, {"failover", "plan", "--unplanned", "--point", between, "--json"});
  ASSERT_EQ(plan.code, 0) << plan.out << plan.err;
  ASSERT_TRUE(plan.doc.contains("points")) << plan.out;
  EXPECT_EQ(plan.doc["points"]["spec"], between);
  const Json* chosen = volumeOf(plan.doc["points"]["volumes"], v.pv);
  ASSERT_NE(chosen, nullptr) << plan.out;
  EXPECT_EQ((*chosen)["point"], "p-0001");
  EXPECT_EQ((*chosen)["newest"], false);
  EXPECT_GE((*chosen)["dataAgeSeconds"].get<double>(), 7200.0);
  EXPECT_LT((*chosen)["dataAgeSeconds"].get<double>(), 7300.0);
  // A PV without points: today's behaviour, and the plan says so.
  const Json* other = volumeOf(plan.doc["points"]["volumes"], lab->scenario.volumes.back().pv);
  ASSERT_NE(other, nullptr);
  EXPECT_TRUE((*other)["point"].is_null());
  EXPECT_NE((*other)["note"].get<std::string>().find("as it is"), std::string::npos);
  EXPECT_EQ(drImage(v), before) << "plan changed the DR directory";

  auto run = runCli(lab->configPath, {"failover", "run", "--unplanned", "--point", between,
                                      "--json", "--poll-interval-ms", "100"});
  ASSERT_EQ(run.code, 0) << run.out << run.err;
  EXPECT_EQ(drImage(v), "state before the ransomware\n");
  // The points stay.
  const std::string points =
      replication::pointsDirFor(lab->cfg.dr.exportRoots.front().hostPath, v.pv);
  EXPECT_EQ(slurp(points + "/p-0002/tree/disk.img"), "encrypted by the ransomware\n");
  EXPECT_EQ(slurp(points + "/p-0001/tree/disk.img"), "state before the ransomware\n");

  auto cat = catalog::Catalog::open(lab->cfg.catalog.path);
  ASSERT_TRUE(cat.ok());
  auto rec = failover::Journal(**cat).run(run.doc["run"]);
  ASSERT_TRUE(rec.ok() && rec->has_value());
  EXPECT_EQ((*rec)->options["point"], between);
  const Json& applied = (*rec)->step("apply-volumes")->details["points"];
  const Json* journaled = volumeOf(applied["volumes"], v.pv);
  ASSERT_NE(journaled, nullptr) << applied.dump();
  EXPECT_EQ((*journaled)["point"], "p-0001");
  EXPECT_EQ((*journaled)["materialized"]["filesCloned"], 1);
  // The data-loss figure is measured from the chosen point.
  const Json* loss = volumeOf((*rec)->step("data-loss")->details["volumes"], v.pv);
  ASSERT_NE(loss, nullptr);
  EXPECT_EQ((*loss)["point"], "p-0001");
  EXPECT_GE((*loss)["dataLossSeconds"].get<double>(), 7200.0);

  // The report's RPO is the chosen point's data age.
  const Json* reported = volumeOf(run.doc["report"]["volumes"], v.pv);
  ASSERT_NE(reported, nullptr) << run.doc["report"].dump();
  EXPECT_EQ((*reported)["basis"], "recovery point p-0001 (its data time)");
  EXPECT_GE((*reported)["dataAgeSeconds"].get<double>(), 7200.0);
  EXPECT_GE(run.doc["report"]["rpo"]["worstDataAgeSeconds"].get<double>(), 7200.0);

  // DR is active: a replication cycle is refused and the chosen point stays in place.
  RealProcessRunner runner;
  RealClock clock;
  replication::Replicator rep(lab->cfg, runner, clock, **cat);
  Json pvObject = {{"apiVersion", "v1"},
                   {"kind", "PersistentVolume"},
                   {"metadata", {{"name", v.pv}, {"uid", "uid-" + v.pv}}},
                   {"spec",
                    {{"storageClassName", "nfs-dynamic"},
                     {"nfs", {{"server", "nfs-primary.example.com"}, {"path", v.exportPath}}}}}};
  auto sync = rep.syncPv(pvObject);
  ASSERT_TRUE(sync.ok()) << sync.error().describe();
  EXPECT_FALSE(sync->ok()) << sync->toJson().dump();
  EXPECT_NE(sync->toJson().dump().find("DR is active"), std::string::npos) << sync->toJson().dump();
  EXPECT_EQ(drImage(v), "state before the ransomware\n");
}

TEST_F(PointFailover, APointTimeBeforeEveryPointIsRefusedByThePlan) {
  const auto& v = lab->scenario.volumes.front();
  const SystemTime t0 = std::chrono::system_clock::now() - 1h;
  addPoint(v.pv, "p-0001", t0, "one\n");
  lab->takeBackup("nightly-1");
  lab->prepareDr("nightly-1");
  auto plan = runCli(lab->configPath,
                     {"failover", "plan", "--unplanned", "--point", formatTime(t0 - 1h), "--json"});
  EXPECT_EQ(plan.code, 3) << plan.out << plan.err;
  EXPECT_EQ(plan.doc["feasible"], false);
  EXPECT_NE(plan.doc["problems"].dump().find("no recovery point at or before"), std::string::npos)
      << plan.out;
  auto bad = runCli(lab->configPath, {"failover", "plan", "--unplanned", "--point", "yesterday"});
  EXPECT_EQ(bad.code, 2) << bad.out << bad.err;
}

// --point latest-consistent (issue 17): the two VMs' disks are one consistency group. The newest
// point is crash-consistent, the one before it application-consistent on one PV only (its other
// PV's cycle never made it); the newest application-consistent point ALL PVs have is chosen, the
// same for both, and the run restores both VMs' disks from it.
TEST_F(PointFailover, LatestConsistentRestoresTheWholeGroupFromOnePoint) {
  const auto& v1 = lab->scenario.volumes.front();
  const auto& v2 = lab->scenario.volumes.back();
  ASSERT_NE(v1.pv, v2.pv);
  const std::string g = "group/vms/shop";
  const SystemTime t0 = std::chrono::system_clock::now() - 3h;
  for (const auto* v : {&v1, &v2}) {
    addPoint(v->pv, "g-0001", t0, "one " + v->pv + "\n", "application", g);
    addPoint(v->pv, "g-0002", t0 + 1h, "two " + v->pv + "\n", "application", g);
    addPoint(v->pv, "g-0004", t0 + 150min, "four " + v->pv + "\n", "crash", g);
  }
  addPoint(v1.pv, "g-0003", t0 + 2h, "three " + v1.pv + "\n", "application", g);
  lab->takeBackup("nightly-1");
  lab->prepareDr("nightly-1");
  ASSERT_EQ(lab->primary->stop(), 0);

  auto plan = runCli(lab->configPath,
                     {"failover", "plan", "--unplanned", "--point", "latest-consistent", "--json"});
  ASSERT_EQ(plan.code, 0) << plan.out << plan.err;
  for (const auto* v : {&v1, &v2}) {
    const Json* c = volumeOf(plan.doc["points"]["volumes"], v->pv);
    ASSERT_NE(c, nullptr) << plan.out;
    EXPECT_EQ((*c)["point"], "g-0002") << v->pv;
    EXPECT_EQ((*c)["consistency"], "application");
    EXPECT_EQ((*c)["group"], g);
    EXPECT_FALSE(c->contains("warning")) << c->dump();
  }
  ASSERT_EQ(plan.doc["points"]["groups"].size(), 1u) << plan.out;
  EXPECT_EQ(plan.doc["points"]["groups"][0]["point"], "g-0002");
  EXPECT_EQ(plan.doc["points"]["groups"][0]["consistency"], "application");

  auto run = runCli(lab->configPath, {"failover", "run", "--unplanned", "--point",
                                      "latest-consistent", "--json", "--poll-interval-ms", "100"});
  ASSERT_EQ(run.code, 0) << run.out << run.err;
  EXPECT_EQ(drImage(v1), "two " + v1.pv + "\n");
  EXPECT_EQ(drImage(v2), "two " + v2.pv + "\n");
}

TEST_F(PointFailover, LatestConsistentFallsBackToCrashConsistentWithAWarning) {
  const auto& v1 = lab->scenario.volumes.front();
  const auto& v2 = lab->scenario.volumes.back();
  const std::string g = "vm/vms/db";
  const SystemTime t0 = std::chrono::system_clock::now() - 1h;
  for (const auto* v : {&v1, &v2}) addPoint(v->pv, "c-0001", t0, "c\n", "crash", g);
  addPoint(v1.pv, "c-0002", t0 + 10min, "a\n", "application", g);
  lab->takeBackup("nightly-1");
  lab->prepareDr("nightly-1");
  auto plan = runCli(lab->configPath,
                     {"failover", "plan", "--unplanned", "--point", "latest-consistent", "--json"});
  ASSERT_EQ(plan.code, 0) << plan.out << plan.err;
  for (const auto* v : {&v1, &v2}) {
    const Json* c = volumeOf(plan.doc["points"]["volumes"], v->pv);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ((*c)["point"], "c-0001");
    EXPECT_NE(c->value("warning", "").find("no application-consistent point"), std::string::npos)
        << c->dump();
  }
  EXPECT_NE(plan.doc.dump().find("its newest crash-consistent point c-0001 is used"),
            std::string::npos)
      << "the warning reaches the plan's warnings";
}

}  // namespace
}  // namespace ocpvdr::testing
