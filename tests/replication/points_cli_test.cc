// `ocpv-dr points list|show|prune|verify` as a process, with the local transport: a PV synced by
// the Replicator (its replica row tells where its points live), three recovery points in the
// applier's layout with their catalog rows, and the primary's snapshot of the newest one. Checked:
// list with data ages, show with the rules that keep a point, unknown PV/point (exit 7), prune
// (dry run changes nothing; then rows and directories of the pruned points go; refused while DR
// is active), verify against the primary's snapshot (equal; one changed byte → exit 5 naming the
// file) and, for an older point the primary no longer holds, the DR side only; a corrupt catalog.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "catalog/catalog.h"
#include "catalog/points.h"
#include "config/config.h"
#include "replication/recovery_points.h"
#include "replication/replicator.h"
#include "replication/test_util.h"
#include "support/cli_run.h"
#include "support/files.h"
#include "support/temp_dir.h"

namespace ocpvdr::replication {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::TempDir;

// 2027-01-15T08:00:00Z
constexpr std::int64_t kNowSec = 1'800'000'000;
constexpr const char* kNow = "2027-01-15T08:00:00Z";

class PointsCli : public ::testing::Test {
 protected:
  void SetUp() override {
    base = fs::canonical(tmp.path());
    cfg = testing::localSitesConfig(base);
    cfg.replication.recoveryPoints.keepLast = 1;
    cfg.replication.recoveryPoints.hourly = 0;
    cfg.replication.recoveryPoints.daily = 0;
    configPath = (base / "config.yaml").string();
    std::ofstream(configPath) << config::toJson(cfg).dump(2);
    primaryRoot = cfg.primary.exportRoots.front().hostPath;
    drRoot = cfg.dr.exportRoots.front().hostPath;
    fs::create_directories(fs::path(primaryRoot) / "vol1");
    std::ofstream(fs::path(primaryRoot) / "vol1/disk.img") << "live data";
    {
      auto c = catalog::Catalog::open(cfg.catalog.path);
      ASSERT_TRUE(c.ok()) << c.error().describe();
      RealProcessRunner runner;
      RealClock clock;
      Replicator rep(cfg, runner, clock, **c);
      auto r = rep.syncPv(testing::inTreePv("pvc-vol1", "nfs-primary", "/exports/ocp/vol1"));
      ASSERT_TRUE(r.ok() && r->ok());
    }
    points = pointsDirFor(drRoot, "pvc-vol1");
    addPoint("p-0001", 3 * 3600, "one");
    addPoint("p-0002", 2 * 3600, "two");
    addPoint("p-0003", 3600, "three");
    // The primary holds only the newest snapshot (extent/snapshot.h layout).
    const fs::path snap = fs::path(primaryRoot) / ".ocpv-dr/snapshots/pvc-vol1/p-0003";
    fs::create_directories(snap / "tree/sub");
    std::ofstream(snap / "manifest") << "manifest\n";
    std::ofstream(snap / "tree/disk.img") << "three";
    std::ofstream(snap / "tree/sub/notes") << "notes";
  }

  void addPoint(const std::string& id, std::int64_t secondsBeforeNow, const std::string& data) {
    fs::create_directories(points + "/" + id + "/tree/sub");
    std::ofstream(points + "/" + id + "/tree/disk.img") << data;
    std::ofstream(points + "/" + id + "/tree/sub/notes") << "notes";
    std::ofstream(points + "/" + id + "/point") << "id=" << id << "\n";
    auto c = catalog::Catalog::open(cfg.catalog.path);
    ASSERT_TRUE(c.ok());
    catalog::PointRecord p;
    p.pv = "pvc-vol1";
    p.pointId = id;
    p.baseId = id == "p-0001" ? "" : "p-000" + std::to_string(id.back() - '0' - 1);
    p.dataTimeNs = (kNowSec - secondsBeforeNow) * 1'000'000'000LL;
    p.createdAt = catalog::fromMillis((kNowSec - secondsBeforeNow + 5) * 1000);
    p.path = points + "/" + id;
    p.dataBytes = static_cast<std::int64_t>(data.size());
    ASSERT_TRUE(catalog::PointStore(**c).add(p).ok());
  }

  testing::CliRun cli(std::vector<std::string> args) {
    ProcessSpec spec;
    spec.argv = {testing::ocpvdrBinaryFor({}), "-c", configPath, "points"};
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
    spec.timeout = 60s;
    return testing::runCliProcess(spec);
  }

  std::vector<std::string> rowIds() {
    auto c = catalog::Catalog::open(cfg.catalog.path);
    EXPECT_TRUE(c.ok());
    auto l = catalog::PointStore(**c).list("pvc-vol1");
    EXPECT_TRUE(l.ok());
    std::vector<std::string> out;
    for (const auto& p : *l) out.push_back(p.pointId);
    return out;
  }

  TempDir tmp{"ocpvdr-points-cli"};
  fs::path base;
  config::Config cfg;
  std::string configPath, primaryRoot, drRoot, points;
};

TEST_F(PointsCli, ListAndShowWithDataAgeAndRetention) {
  auto l = cli({"list", "--json", "--now", kNow});
  ASSERT_EQ(l.code, 0) << l.out << l.err;
  ASSERT_EQ(l.doc["points"].size(), 3u) << l.out;
  const Json& oldest = l.doc["points"][0];
  EXPECT_EQ(oldest["id"], "p-0001");
  EXPECT_EQ(oldest["pv"], "pvc-vol1");
  EXPECT_TRUE(oldest["base"].is_null());
  EXPECT_EQ(oldest["data_age_seconds"], 3 * 3600);
  EXPECT_EQ(oldest["data_time"], "2027-01-15T05:00:00.000Z");
  EXPECT_EQ(oldest["consistency"], "per-file");
  EXPECT_EQ(oldest["bytes"], 3);
  EXPECT_EQ(l.doc["points"][2]["base"], "p-0002");
  auto text = cli({"list", "--now", kNow});
  EXPECT_EQ(text.code, 0);
  EXPECT_NE(text.out.find("p-0002"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("2h"), std::string::npos) << text.out;

  auto s = cli({"show", "pvc-vol1", "p-0003", "--json", "--now", kNow});
  ASSERT_EQ(s.code, 0) << s.out << s.err;
  EXPECT_EQ(s.doc["kept_by"], Json::array({"newest", "last"}));
  EXPECT_EQ(s.doc["newest"], true);
  EXPECT_EQ(s.doc["on_disk"], true);
  auto s1 = cli({"show", "pvc-vol1", "p-0001", "--json", "--now", kNow});
  ASSERT_EQ(s1.code, 0);
  EXPECT_EQ(s1.doc["kept_by"], Json::array());  // the next prune removes it

  auto unknownPoint = cli({"show", "pvc-vol1", "p-0009", "--json"});
  EXPECT_EQ(unknownPoint.code, 7);
  EXPECT_NE(unknownPoint.doc["error"]["message"].get<std::string>().find("newest: p-0003"),
            std::string::npos)
      << unknownPoint.out;
  auto unknownPv = cli({"list", "--pv", "pvc-nope", "--json"});
  EXPECT_EQ(unknownPv.code, 7) << unknownPv.out << unknownPv.err;
}

TEST_F(PointsCli, PruneAppliesThePolicyAndIsRefusedWhileDrIsActive) {
  auto dry = cli({"prune", "--dry-run", "--json", "--now", kNow});
  ASSERT_EQ(dry.code, 0) << dry.out << dry.err;
  EXPECT_EQ(dry.doc["result"], "dry-run");
  EXPECT_EQ(dry.doc["pvs"][0]["pruned"], Json::array({"p-0001", "p-0002"}));
  EXPECT_EQ(rowIds(), (std::vector<std::string>{"p-0001", "p-0002", "p-0003"}));
  EXPECT_TRUE(fs::exists(points + "/p-0001/tree/disk.img"));

  {
    auto c = catalog::Catalog::open(cfg.catalog.path);
    ASSERT_TRUE(c.ok());
    catalog::DrActiveRecord rec;
    rec.runId = "run-1";
    rec.mode = "unplanned";
    rec.since = std::chrono::system_clock::now();
    ASSERT_TRUE((*c)->setDrActive(rec).ok());
  }
  auto refused = cli({"prune", "--json", "--now", kNow});
  EXPECT_EQ(refused.code, 3) << refused.out << refused.err;
  EXPECT_EQ(rowIds().size(), 3u);
  {
    auto c = catalog::Catalog::open(cfg.catalog.path);
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE((*c)->releaseDrActive("run-1", std::chrono::system_clock::now(), "test").ok());
  }

  auto pruned = cli({"prune", "--pv", "pvc-vol1", "--json", "--now", kNow});
  ASSERT_EQ(pruned.code, 0) << pruned.out << pruned.err;
  EXPECT_EQ(pruned.doc["result"], "pruned");
  EXPECT_EQ(rowIds(), (std::vector<std::string>{"p-0003"}));
  EXPECT_FALSE(fs::exists(points + "/p-0001"));
  EXPECT_FALSE(fs::exists(points + "/p-0002"));
  EXPECT_EQ(testing::slurp(points + "/p-0003/tree/disk.img"), "three");
  auto again = cli({"prune", "--json", "--now", kNow});
  EXPECT_EQ(again.code, 0);
  EXPECT_EQ(again.doc["result"], "unchanged");
}

TEST_F(PointsCli, VerifyComparesWithThePrimarysSnapshotOrSaysOnlyDrWasChecked) {
  auto ok = cli({"verify", "pvc-vol1", "p-0003", "--json"});
  ASSERT_EQ(ok.code, 0) << ok.out << ok.err;
  EXPECT_EQ(ok.doc["result"], "verified");
  EXPECT_EQ(ok.doc["compared_with_primary"], true);
  EXPECT_EQ(ok.doc["files"], 2);

  auto older = cli({"verify", "pvc-vol1", "p-0002"});
  EXPECT_EQ(older.code, 0) << older.out << older.err;
  EXPECT_NE(older.out.find("only the DR side was checked"), std::string::npos) << older.out;

  std::ofstream(points + "/p-0003/tree/disk.img") << "thrEe";  // same size, one byte differs
  auto bad = cli({"verify", "pvc-vol1", "p-0003", "--json"});
  EXPECT_EQ(bad.code, 5) << bad.out << bad.err;
  EXPECT_EQ(bad.doc["result"], "mismatch");
  EXPECT_EQ(bad.doc["mismatched"], Json::array({"disk.img"}));
  fs::remove(points + "/p-0003/tree/sub/notes");
  auto missing = cli({"verify", "pvc-vol1", "p-0003", "--json"});
  EXPECT_EQ(missing.code, 5);
  EXPECT_EQ(missing.doc["missing_at_dr"], Json::array({"sub/notes"}));
}

TEST_F(PointsCli, ACorruptCatalogIsExit5WithTheRecoveryNamed) {
  fs::remove(cfg.catalog.path + "-wal");
  fs::remove(cfg.catalog.path + "-shm");
  std::ofstream(cfg.catalog.path, std::ios::trunc) << std::string(8192, 'x');
  auto l = cli({"list", "--json"});
  EXPECT_EQ(l.code, 5) << l.out << l.err;
  EXPECT_NE(l.err.find("is corrupt"), std::string::npos) << l.err;
}

}  // namespace
}  // namespace ocpvdr::replication
