// The group snapshot (issue 17) on loop-mounted XFS, as root: two PV directories snapshotted back
// to back under one id; the later `send --snapshot ID` streams what was taken then, not what the
// live directory holds now; the empty-source guard looks at the snapshot; all or nothing when one
// PV cannot be snapshotted; the mover binary's `snapshot` subcommand and its report line.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "extent/applier.h"
#include "extent/fs.h"
#include "extent/group_snapshot.h"
#include "extent/loop_fs.h"
#include "extent/sender.h"
#include "extent/snapshot.h"
#include "support/temp_dir.h"

namespace ocpvdr::extent {
namespace {

using ocpvdr::testing::LoopFs;
using ocpvdr::testing::shell;
using ocpvdr::testing::TempDir;
namespace fs = std::filesystem;

std::string slurp(const std::string& p) {
  std::ifstream f(p);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

class GroupSnapshot : public ::testing::Test {
 protected:
  void SetUp() override {
    auto p = LoopFs::create("xfs", 512ull << 20);
    if (!p.ok() && p.error().kind == ErrorKind::NotFound) GTEST_SKIP() << p.error().message;
    ASSERT_TRUE(p.ok()) << p.error().describe();
    fsys_ = std::move(p).value();
    root_ = fsys_->mountPoint() + "/export";
    fs::create_directories(root_ + "/a");
    fs::create_directories(root_ + "/b");
    std::ofstream(root_ + "/a/disk.img") << "A1";
    std::ofstream(root_ + "/b/disk.img") << "B1";
  }
  // send --snapshot id (optionally against base) into a file, applied into the points dir.
  Result<ApplyReport> ship(const std::string& pv, const std::string& id, const std::string& base,
                           bool allowEmpty = false) {
    const std::string wire = tmp_.str() + "/w-" + pv + "-" + id;
    Fd out(::open(wire.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    SendOptions o{root_, pv, root_ + "/" + pv, base, "", allowEmpty};
    o.snapshot = id;
    auto s = send(o, out.get());
    if (!s.ok()) return s.error();
    Fd in(::open(wire.c_str(), O_RDONLY | O_CLOEXEC));
    ApplyOptions ao;
    ao.pointsDir = fsys_->mountPoint() + "/points/" + pv;
    return apply(ao, in.get());
  }
  std::unique_ptr<LoopFs> fsys_;
  std::string root_;
  TempDir tmp_{"ocpvdr-consist-gs"};
};

TEST_F(GroupSnapshot, OneIdForAllDisksAndSendStreamsWhatWasTakenThen) {
  auto g = takeGroupSnapshot({{"a", root_, root_ + "/a"}, {"b", root_, root_ + "/b"}}, "");
  ASSERT_TRUE(g.ok()) << g.error().describe();
  ASSERT_EQ(g->perPvNs.size(), 2u);
  EXPECT_GT(g->dataTimeNs, 0);
  // Written after the group snapshot: not in the point.
  std::ofstream(root_ + "/a/disk.img") << "A2";
  std::ofstream(root_ + "/b/disk.img") << "B2";
  auto pa = ship("a", g->id, "");
  ASSERT_TRUE(pa.ok()) << pa.error().describe();
  auto pb = ship("b", g->id, "");
  ASSERT_TRUE(pb.ok()) << pb.error().describe();
  EXPECT_EQ(pa->pointId, g->id);
  EXPECT_EQ(pb->pointId, g->id);
  const std::string pts = fsys_->mountPoint() + "/points/";
  EXPECT_EQ(slurp(pts + "a/" + g->id + "/tree/disk.img"), "A1");
  EXPECT_EQ(slurp(pts + "b/" + g->id + "/tree/disk.img"), "B1");

  // The next group point is incremental against the first; the base and the new one are kept.
  auto g2 = takeGroupSnapshot({{"a", root_, root_ + "/a"}, {"b", root_, root_ + "/b"}}, "");
  ASSERT_TRUE(g2.ok());
  auto pa2 = ship("a", g2->id, g->id);
  ASSERT_TRUE(pa2.ok()) << pa2.error().describe();
  EXPECT_EQ(pa2->baseId, g->id);
  EXPECT_EQ(slurp(pts + "a/" + g2->id + "/tree/disk.img"), "A2");
  EXPECT_EQ(listSnapshots(snapshotArea(root_, "a")).valueOr({}),
            (std::vector<std::string>{g->id, g2->id}));

  // A snapshot the primary does not have is NotFound (DR then takes a new group snapshot).
  auto gone = ship("b", "20000101T000000.000000000Z", "");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().kind, ErrorKind::NotFound);
}

TEST_F(GroupSnapshot, AllOrNothingAndTheEmptyGuardLooksAtTheSnapshot) {
  fs::create_directories(root_ + "/empty");
  // One member cannot be snapshotted (missing directory): none is left behind.
  auto bad = takeGroupSnapshot({{"a", root_, root_ + "/a"}, {"gone", root_, root_ + "/gone"}},
                               "20300101T000000.000000000Z");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(listSnapshots(snapshotArea(root_, "a")).valueOr({}).empty());
  // Escapes are refused like the sender's guard.
  auto esc = takeGroupSnapshot({{"x", root_, fsys_->mountPoint()}}, "");
  ASSERT_FALSE(esc.ok());
  EXPECT_EQ(esc.error().kind, ErrorKind::Refused);

  auto g = takeGroupSnapshot({{"a", root_, root_ + "/a"}, {"empty", root_, root_ + "/empty"}}, "");
  ASSERT_TRUE(g.ok()) << g.error().describe();
  std::ofstream(root_ + "/empty/now-has-data") << "x";  // the live dir is no longer empty
  auto refused = ship("empty", g->id, "");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, ErrorKind::Refused);
  EXPECT_EQ(refused.error().message.rfind("empty ", 0), 0u) << refused.error().message;
  EXPECT_TRUE(ship("empty", g->id, "", true).ok());
}

TEST_F(GroupSnapshot, TheMoverSubcommandReportsOneLine) {
  const std::string mover = ocpvdr::testing::binaryPath("src/extent/ocpv-dr-mover").string();
  ASSERT_EQ(shell(mover + " snapshot --id 20300101T000000.000000000Z --pv a --root " + root_ +
                  " --dir " + root_ + "/a --pv b --root " + root_ + " --dir " + root_ + "/b > " +
                  tmp_.str() + "/out"),
            0);
  const std::string out = slurp(tmp_.str() + "/out");
  EXPECT_EQ(out.rfind("OCPVDR-MOVER snapshot id=20300101T000000.000000000Z data_time_ns=", 0), 0u)
      << out;
  EXPECT_NE(out.find(" pvs=2\n"), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(snapshotArea(root_, "b") + "/20300101T000000.000000000Z/manifest"));
  EXPECT_NE(shell(mover + " snapshot --pv a --dir " + root_ + "/a 2>/dev/null"), 0) << "no --root";
}

}  // namespace
}  // namespace ocpvdr::extent
