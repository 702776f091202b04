// Recovery point rows against a real SQLite catalog: round trip, ordering by data time, the
// point chosen by time, duplicates refused, removal.
#include "catalog/points.h"

#include <gtest/gtest.h>

#include "support/temp_dir.h"

namespace ocpvdr::catalog {
namespace {

using testing::TempDir;

constexpr std::int64_t kSec = 1'000'000'000;

PointRecord point(std::string pv, std::string id, std::int64_t dataSec) {
  PointRecord p;
  p.pv = std::move(pv);
  p.pointId = std::move(id);
  p.dataTimeNs = dataSec * kSec + 123;  // nanoseconds survive the round trip
  p.createdAt = fromMillis(dataSec * 1000 + 500);
  p.path = "/dr/.ocpv-dr/points/" + p.pv + "/" + p.pointId;
  return p;
}

std::vector<std::string> ids(const std::vector<PointRecord>& ps) {
  std::vector<std::string> out;
  for (const auto& p : ps) out.push_back(p.pv + ":" + p.pointId);
  return out;
}

class Points : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = Catalog::open((tmp_ / "catalog.db").string());
    ASSERT_TRUE(c.ok()) << c.error().describe();
    cat_ = std::move(c).value();
  }
  TempDir tmp_;
  std::unique_ptr<Catalog> cat_;
};

TEST_F(Points, RoundTripKeepsEveryField) {
  PointStore store(*cat_);
  auto p = point("pv-a", "p2", 200);
  p.baseId = "p1";
  p.consistency = "application";
  p.group = "vm/db";
  p.freezeMs = 42;
  p.entries = 7;
  p.dataBytes = 65536;
  p.streamBytes = 70000;
  p.primaryReadBytes = 131072;
  p.drReadBytes = 4096;
  ASSERT_TRUE(store.add(p).ok());
  auto got = store.get("pv-a", "p2");
  ASSERT_TRUE(got.ok()) << got.error().describe();
  ASSERT_TRUE(got->has_value());
  const auto& g = **got;
  EXPECT_EQ(g.baseId, "p1");
  EXPECT_EQ(g.dataTimeNs, 200 * kSec + 123);
  EXPECT_EQ(toMillis(g.createdAt), 200'500);
  EXPECT_EQ(g.path, p.path);
  EXPECT_EQ(g.mover, "extent");
  EXPECT_EQ(g.consistency, "application");
  EXPECT_EQ(g.group, "vm/db");
  EXPECT_EQ(g.freezeMs, 42);
  EXPECT_EQ(g.entries, 7);
  EXPECT_EQ(g.dataBytes, 65536);
  EXPECT_EQ(g.streamBytes, 70000);
  EXPECT_EQ(g.primaryReadBytes, 131072);
  EXPECT_EQ(g.drReadBytes, 4096);
}

TEST_F(Points, ListsByDataTimeAndPicksByTime) {
  PointStore store(*cat_);
  // Inserted out of order; ids do not sort like the data times.
  ASSERT_TRUE(store.add(point("pv-a", "z", 300)).ok());
  ASSERT_TRUE(store.add(point("pv-a", "a", 100)).ok());
  ASSERT_TRUE(store.add(point("pv-a", "m", 200)).ok());
  ASSERT_TRUE(store.add(point("pv-b", "b1", 150)).ok());

  auto a = store.list("pv-a");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(ids(*a), (std::vector<std::string>{"pv-a:a", "pv-a:m", "pv-a:z"}));
  auto all = store.list();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 4u);

  auto latest = store.latest("pv-a");
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->pointId, "z");

  auto at = [&](std::int64_t sec) { return point("x", "x", sec).dataTime(); };
  auto before = store.latestAtOrBefore("pv-a", at(250));
  ASSERT_TRUE(before.ok() && before->has_value());
  EXPECT_EQ((*before)->pointId, "m");
  // Exactly at a point's data time: that point.
  auto exact = store.latestAtOrBefore("pv-a", (*before)->dataTime());
  ASSERT_TRUE(exact.ok() && exact->has_value());
  EXPECT_EQ((*exact)->pointId, "m");
  // Before the first point: none.
  auto none = store.latestAtOrBefore("pv-a", at(50));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  auto other = store.latest("pv-c");
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->has_value());
}

TEST_F(Points, DuplicateIsAConflictAndRemoveNamesWhatIsMissing) {
  PointStore store(*cat_);
  ASSERT_TRUE(store.add(point("pv-a", "p1", 100)).ok());
  auto dup = store.add(point("pv-a", "p1", 100));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().kind, ErrorKind::Conflict);
  // The same id under another PV is another point.
  EXPECT_TRUE(store.add(point("pv-b", "p1", 100)).ok());

  EXPECT_TRUE(store.remove("pv-a", "p1").ok());
  auto again = store.remove("pv-a", "p1");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind, ErrorKind::NotFound);
  EXPECT_NE(again.error().message.find("p1"), std::string::npos);
  auto left = store.list();
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(ids(*left), (std::vector<std::string>{"pv-b:p1"}));
}

}  // namespace
}  // namespace ocpvdr::catalog
