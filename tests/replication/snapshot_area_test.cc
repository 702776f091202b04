// replication.snapshot_area: the primary's snapshot area must not fill its file system. The
// primary's export root is a small loop-mounted XFS (reflink), DR's another; the Replicator runs
// here with the local transport. When the primary's free share is under min_free_percent, or the
// blocks only the base snapshot still holds exceed max_bytes, the sender releases the base and
// sends a full stream; the report says why (full_resend_reason) and the new point is still exact.
// Needs root (loop devices).
#include <gtest/gtest.h>
#include <sys/statvfs.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "catalog/catalog.h"
#include "extent/applier.h"
#include "extent/loop_fs.h"
#include "extent/snapshot.h"
#include "replication/replicator.h"
#include "replication/test_util.h"
#include "support/temp_dir.h"

namespace ocpvdr::testing {
namespace {

namespace fs = std::filesystem;
constexpr uint64_t MiB = 1 << 20;

// Overwrites [off, off+len) of an existing file with random bytes, in place.
void overwrite(const fs::path& p, uint64_t off, uint64_t len, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
  std::string buf(len, '\0');
  for (auto& c : buf) c = static_cast<char>(rng());
  f.seekp(static_cast<std::streamoff>(off));
  f.write(buf.data(), static_cast<std::streamsize>(len));
}

int freePercent(const fs::path& p) {
  struct statvfs vs {};
  if (::statvfs(p.c_str(), &vs) != 0) return -1;
  return static_cast<int>(vs.f_bavail * 100 / vs.f_blocks);
}

class SnapshotAreaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto p = LoopFs::create("xfs", 320 * MiB);
    if (!p.ok()) GTEST_SKIP() << p.error().message;
    auto d = LoopFs::create("xfs", 1024 * MiB);
    if (!d.ok()) GTEST_SKIP() << d.error().message;
    pfs = std::move(p).value();
    dfs = std::move(d).value();
    cfg = localSitesConfig(fs::path(dfs->mountPoint()) / "state");
    primary = fs::path(pfs->mountPoint()) / "ocp";
    dr = fs::path(dfs->mountPoint()) / "ocp";
    fs::create_directories(primary);
    fs::create_directories(dr);
    cfg.primary.exportRoots.front().hostPath = primary.string();
    cfg.dr.exportRoots.front().hostPath = dr.string();
    cfg.replication.mover = config::MoverKind::Extent;
    cfg.replication.moverLocalPath = binaryPath("src/extent/ocpv-dr-mover").string();
    cfg.replication.snapshotArea.minFreePercent = 0;
    cfg.replication.snapshotArea.maxBytes = 0;
    auto c = catalog::Catalog::open(cfg.catalog.path);
    ASSERT_TRUE(c.ok()) << c.error().describe();
    cat = std::move(c).value();
  }

  replication::SyncReport cycle() {
    replication::Replicator rep(cfg, runner, clock, *cat);
    auto r = rep.syncPv(inTreePv("pvc-vm", "nfs-primary", "/exports/ocp/vm"));
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : replication::SyncReport{};
  }
  std::vector<std::string> primarySnapshots() {
    return extent::listSnapshots(extent::snapshotArea(primary.string(), "pvc-vm")).valueOr({});
  }
  std::string pointFile(const std::string& id) {
    return sha256File(dr / ".ocpv-dr/points/pvc-vm" / id / "tree/disk.img");
  }

  std::unique_ptr<LoopFs> pfs, dfs;
  config::Config cfg;
  fs::path primary, dr;
  RealProcessRunner runner;
  RealClock clock;
  std::unique_ptr<catalog::Catalog> cat;
};

TEST_F(SnapshotAreaTest, LowFreeSpaceOrABigBaseReleasesTheBaseAndSendsAFullStream) {
  if (IsSkipped()) return;
  const fs::path img = primary / "vm/disk.img";
  writeRandomFile(img, 96 * MiB, 1);
  auto a = cycle();
  ASSERT_TRUE(a.ok()) << a.toJson().dump();
  ASSERT_EQ(a.details["mover"], "extent");
  EXPECT_TRUE(a.details["full_resend_reason"].is_null()) << "no base was asked for";
  const std::string p1 = a.details["point"];

  // Within the limits: incremental, the base is the previous point.
  overwrite(img, 8 * MiB, 4 * MiB, 2);
  auto b = cycle();
  ASSERT_TRUE(b.ok()) << b.toJson().dump();
  EXPECT_EQ(b.details["base_point"], p1);
  EXPECT_TRUE(b.details["full_resend_reason"].is_null()) << b.toJson().dump();
  EXPECT_LE(b.bytes, static_cast<int64_t>(5 * MiB));
  const std::string p2 = b.details["point"];
  EXPECT_EQ(primarySnapshots(), (std::vector<std::string>{p1, p2})) << "the base until DR has p2";

  // The image is rewritten: the base snapshot alone now holds 96 MiB the live file dropped. The
  // free share is under the limit → the base goes and the whole image is sent.
  writeRandomFile(img, 96 * MiB, 3);
  const int free = freePercent(primary);
  ASSERT_GT(free, 0);
  ASSERT_LT(free, 95);
  cfg.replication.snapshotArea.minFreePercent = free + 3;
  auto c = cycle();
  ASSERT_TRUE(c.ok()) << c.toJson().dump();
  EXPECT_EQ(c.details["full_resend_reason"], "snapshot-area-low-space") << c.toJson().dump();
  EXPECT_EQ(c.details["base_point"], "") << "a full stream";
  EXPECT_GE(c.bytes, static_cast<int64_t>(96 * MiB));
  EXPECT_LT(c.details["primary_free_percent"].get<int>(), free + 3);
  const std::string p3 = c.details["point"];
  EXPECT_EQ(primarySnapshots(), std::vector<std::string>{p3}) << "the old base was released";
  EXPECT_EQ(pointFile(p3), sha256File(img));
  EXPECT_EQ(sha256File(dr / "vm/disk.img"), sha256File(img));
  EXPECT_GT(freePercent(primary), free) << "releasing the base freed its blocks";

  // max_bytes: 6 MiB overwritten, the base alone holds them, the limit is 1 MiB.
  cfg.replication.snapshotArea.minFreePercent = 0;
  cfg.replication.snapshotArea.maxBytes = static_cast<int64_t>(1 * MiB);
  overwrite(img, 32 * MiB, 6 * MiB, 4);
  auto d = cycle();
  ASSERT_TRUE(d.ok()) << d.toJson().dump();
  EXPECT_EQ(d.details["full_resend_reason"], "snapshot-area-max-bytes") << d.toJson().dump();
  EXPECT_GE(d.details["primary_base_only_bytes"].get<int64_t>(), static_cast<int64_t>(6 * MiB));
  EXPECT_EQ(d.details["base_point"], "");
  EXPECT_EQ(pointFile(d.details["point"]), sha256File(img));
  EXPECT_EQ(primarySnapshots(), std::vector<std::string>{d.details["point"]});

  // Nothing changed since: the base holds nothing of its own, the cycle is incremental again.
  auto e = cycle();
  ASSERT_TRUE(e.ok()) << e.toJson().dump();
  EXPECT_TRUE(e.details["full_resend_reason"].is_null()) << e.toJson().dump();
  EXPECT_EQ(e.details["base_point"], d.details["point"]);
  EXPECT_LT(e.details["primary_base_only_bytes"].get<int64_t>(), static_cast<int64_t>(1 * MiB));
  EXPECT_EQ(e.bytes, 0);
}

}  // namespace
}  // namespace ocpvdr::testing
