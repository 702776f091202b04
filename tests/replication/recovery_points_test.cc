// Retention of recovery points: the pure selection (keep_last, hourly, daily, never the newest)
// and the prune against a real catalog and a points directory (row then directory, orphans,
// partial points only without an apply's lock, dry run).
#include "replication/recovery_points.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "support/temp_dir.h"

namespace ocpvdr::replication {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

constexpr std::int64_t kSec = 1'000'000'000;
// 2027-01-15T08:00:00Z: an hour and a day boundary.
const SystemTime kNow{std::chrono::seconds{1'800'000'000}};
constexpr std::int64_t kNowSec = 1'800'000'000;

catalog::PointRecord point(const std::string& id, std::int64_t secondsBeforeNow,
                           const std::string& pv = "pv-a") {
  catalog::PointRecord p;
  p.pv = pv;
  p.pointId = id;
  p.dataTimeNs = (kNowSec - secondsBeforeNow) * kSec;
  p.createdAt = catalog::fromMillis((kNowSec - secondsBeforeNow) * 1000);
  return p;
}

RetentionPolicy policy(int last, int hourly, int daily) {
  RetentionPolicy p;
  p.keepLast = last;
  p.hourly = hourly;
  p.daily = daily;
  return p;
}

std::vector<std::string> kept(const RetentionDecision& d) {
  std::vector<std::string> out;
  for (const auto& [id, rules] : d.keptBy) out.push_back(id);
  return out;
}

TEST(RetentionSelect, NeverPrunesTheNewestEvenWhenEveryRuleIsOff) {
  // Points a week old, keep_last 1 would keep it anyway; hourly/daily 0: only "newest" holds.
  std::vector<catalog::PointRecord> ps{point("p1", 9 * 86400), point("p2", 8 * 86400),
                                       point("p3", 7 * 86400)};
  auto d = selectRetention(ps, policy(0, 0, 0), kNow);
  EXPECT_EQ(d.prune, (std::vector<std::string>{"p1", "p2"}));
  ASSERT_EQ(d.keptBy.count("p3"), 1u);
  EXPECT_EQ(d.keptBy["p3"], (std::vector<std::string>{"newest"}));
}

TEST(RetentionSelect, NewestIsByDataTimeWhateverTheInputOrder) {
  std::vector<catalog::PointRecord> ps{point("p3", 100), point("p1", 300), point("p2", 200)};
  auto d = selectRetention(ps, policy(1, 0, 0), kNow);
  EXPECT_EQ(d.prune, (std::vector<std::string>{"p1", "p2"}));
  EXPECT_EQ(kept(d), (std::vector<std::string>{"p3"}));
}

TEST(RetentionSelect, KeepLastKeepsTheNewestN) {
  std::vector<catalog::PointRecord> ps;
  for (int i = 0; i < 10; ++i) ps.push_back(point("p" + std::to_string(i), (10 - i) * 60));
  auto d = selectRetention(ps, policy(4, 0, 0), kNow);
  EXPECT_EQ(d.prune, (std::vector<std::string>{"p0", "p1", "p2", "p3", "p4", "p5"}));
  EXPECT_EQ(kept(d), (std::vector<std::string>{"p6", "p7", "p8", "p9"}));
}

TEST(RetentionSelect, HourlyKeepsTheNewestOfEachOfTheLastHHours) {
  // A point every 20 minutes for 5 hours before now (now is on an hour boundary), plus one in the
  // current hour. hourly 3: the current hour and the two before it.
  std::vector<catalog::PointRecord> ps;
  for (int m = 300; m >= 20; m -= 20) ps.push_back(point("m" + std::to_string(1000 - m), m * 60));
  ps.push_back(point("now", 0));
  auto d = selectRetention(ps, policy(1, 3, 0), kNow);
  // Hour [now-1h, now): newest is 20 min before now (id m980); hour [now-2h, now-1h): 80 min
  // before (m920); current hour: "now".
  EXPECT_EQ(kept(d), (std::vector<std::string>{"m920", "m980", "now"}));
  EXPECT_EQ(d.keptBy["m980"], (std::vector<std::string>{"hourly"}));
  EXPECT_EQ(d.keptBy["now"], (std::vector<std::string>{"newest", "last", "hourly"}));
  EXPECT_EQ(d.prune.size(), ps.size() - 3);
}

TEST(RetentionSelect, DailyKeepsTheNewestOfEachOfTheLastDDays) {
  // Points every 6 hours (00:00, 06:00, 12:00, 18:00 UTC) for 10 days; now is 08:00 UTC.
  // daily 4: today and the three days before, each by its newest point.
  std::vector<catalog::PointRecord> ps;
  for (int h = 242; h >= 2; h -= 6) ps.push_back(point("h" + std::to_string(1000 - h), h * 3600));
  auto d = selectRetention(ps, policy(1, 0, 4), kNow);
  // h998: 06:00 today (2 h before now); h986, h962, h938: 18:00 of the three days before.
  EXPECT_EQ(kept(d), (std::vector<std::string>{"h938", "h962", "h986", "h998"}));
  EXPECT_EQ(d.keptBy["h962"], (std::vector<std::string>{"daily"}));
}

TEST(RetentionSelect, RulesCombineAndAPointInTheFutureIsKept) {
  std::vector<catalog::PointRecord> ps{point("a", 3 * 3600), point("b", 2 * 3600 + 60),
                                       point("c", 2 * 3600), point("d", 60), point("e", -30)};
  auto d = selectRetention(ps, policy(2, 3, 0), kNow);
  // last: e, d; hourly (hours 08:00, 07:00, 06:00): e (future: at 08:00), d (07:59), c (06:00).
  EXPECT_EQ(kept(d), (std::vector<std::string>{"c", "d", "e"}));
  EXPECT_EQ(d.prune, (std::vector<std::string>{"a", "b"}));
}

TEST(RetentionSelect, NoPointsNothingToDo) {
  auto d = selectRetention({}, policy(1, 1, 1), kNow);
  EXPECT_TRUE(d.prune.empty());
  EXPECT_TRUE(d.keptBy.empty());
}

class RetentionPrune : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = catalog::Catalog::open((tmp_ / "catalog.db").string());
    ASSERT_TRUE(c.ok()) << c.error().describe();
    cat_ = std::move(c).value();
    store_ = std::make_unique<catalog::PointStore>(*cat_);
    dir_ = pointsDirFor(tmp_.str() + "/dr", "pv-a");
    fs::create_directories(dir_);
  }
  // A complete point on disk (the applier's layout) and, when `row`, its catalog row.
  void makePoint(const std::string& id, std::int64_t secondsBeforeNow, bool row = true) {
    tmp_.write(rel(id + "/tree/disk.img"), "data of " + id);
    tmp_.write(rel(id + "/point"), "id=" + id + "\n");
    if (!row) return;
    auto p = point(id, secondsBeforeNow);
    p.path = dir_ + "/" + id;
    ASSERT_TRUE(store_->add(p).ok());
  }
  std::string rel(const std::string& s) const { return "dr/.ocpv-dr/points/pv-a/" + s; }
  std::vector<std::string> rows() {
    auto l = store_->list("pv-a");
    EXPECT_TRUE(l.ok());
    std::vector<std::string> out;
    for (const auto& p : *l) out.push_back(p.pointId);
    return out;
  }
  bool onDisk(const std::string& name) const { return fs::exists(dir_ + "/" + name); }

  TempDir tmp_;
  std::unique_ptr<catalog::Catalog> cat_;
  std::unique_ptr<catalog::PointStore> store_;
  std::string dir_;
};

TEST_F(RetentionPrune, RemovesRowsAndDirectoriesOfPrunedPointsOnly) {
  makePoint("p1", 400);
  makePoint("p2", 300);
  makePoint("p3", 200);
  makePoint("p4", 100);
  auto r = pruneRecoveryPoints(*store_, "pv-a", dir_, policy(2, 0, 0), kNow, false);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->pruned, (std::vector<std::string>{"p1", "p2"}));
  EXPECT_EQ(rows(), (std::vector<std::string>{"p3", "p4"}));
  EXPECT_FALSE(onDisk("p1"));
  EXPECT_FALSE(onDisk("p2"));
  EXPECT_TRUE(onDisk("p3/tree/disk.img"));
  EXPECT_TRUE(onDisk("p4/tree/disk.img"));
  EXPECT_EQ(r->toJson()["kept"]["p4"], Json::array({"newest", "last"}));
}

TEST_F(RetentionPrune, DryRunChangesNothing) {
  makePoint("p1", 300);
  makePoint("p2", 200);
  makePoint("p0", 0, false);  // orphan, sorts before the newest row
  tmp_.write(rel(".p9.partial/tree/x"), "half");
  auto r = pruneRecoveryPoints(*store_, "pv-a", dir_, policy(1, 0, 0), kNow, true);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->pruned, (std::vector<std::string>{"p1"}));
  EXPECT_EQ(r->orphans, (std::vector<std::string>{"p0"}));
  EXPECT_EQ(r->partials, (std::vector<std::string>{".p9.partial"}));
  EXPECT_EQ(rows(), (std::vector<std::string>{"p1", "p2"}));
  EXPECT_TRUE(onDisk("p1") && onDisk("p0") && onDisk(".p9.partial"));
  EXPECT_FALSE(onDisk(".lock"));  // a dry run does not even create the lock file
}

TEST_F(RetentionPrune, ACrashBetweenRowAndDirectoryIsFinishedByTheNextPrune) {
  makePoint("p1", 300);
  makePoint("p2", 200);
  makePoint("p3", 100);
  // The row of p1 went, the process died before its directory did.
  ASSERT_TRUE(store_->remove("pv-a", "p1").ok());
  // A point renamed by an apply whose row is not written yet sorts after the newest row: left.
  makePoint("p4", 0, false);
  auto r = pruneRecoveryPoints(*store_, "pv-a", dir_, policy(5, 0, 0), kNow, false);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_TRUE(r->pruned.empty());
  EXPECT_EQ(r->orphans, (std::vector<std::string>{"p1"}));
  EXPECT_FALSE(onDisk("p1"));
  EXPECT_TRUE(onDisk("p4/point"));
  EXPECT_EQ(rows(), (std::vector<std::string>{"p2", "p3"}));
}

TEST_F(RetentionPrune, PartialPointsAreRemovedOnlyWhenNoApplyHoldsTheLock) {
  makePoint("p1", 100);
  tmp_.write(rel(".p2.partial/tree/disk.img"), "half");
  makePoint("p0", 200, false);  // orphan
  // An apply in progress holds the flock (extent/applier.cc takes it the same way).
  int fd = ::open((dir_ + "/.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  auto held = pruneRecoveryPoints(*store_, "pv-a", dir_, policy(1, 0, 0), kNow, false);
  ASSERT_TRUE(held.ok()) << held.error().describe();
  EXPECT_TRUE(held->applyRunning);
  EXPECT_TRUE(onDisk(".p2.partial/tree/disk.img"));
  EXPECT_TRUE(onDisk("p0/point"));
  ::close(fd);
  auto freed = pruneRecoveryPoints(*store_, "pv-a", dir_, policy(1, 0, 0), kNow, false);
  ASSERT_TRUE(freed.ok()) << freed.error().describe();
  EXPECT_FALSE(freed->applyRunning);
  EXPECT_EQ(freed->partials, (std::vector<std::string>{".p2.partial"}));
  EXPECT_FALSE(onDisk(".p2.partial"));
  EXPECT_FALSE(onDisk("p0"));
  EXPECT_TRUE(onDisk("p1/tree/disk.img"));
}

TEST_F(RetentionPrune, OtherPvsAreNotTouchedAndBadNamesAreRefused) {
  makePoint("p1", 200);
  makePoint("p2", 100);
  auto other = point("p1", 300, "pv-b");
  ASSERT_TRUE(store_->add(other).ok());
  auto r = pruneRecoveryPoints(*store_, "pv-a", dir_, policy(1, 0, 0), kNow, false);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  auto b = store_->list("pv-b");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->size(), 1u);
  auto bad = pruneRecoveryPoints(*store_, "../etc", dir_, policy(1, 0, 0), kNow, false);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ErrorKind::Invalid);
}

}  // namespace
}  // namespace ocpvdr::replication
