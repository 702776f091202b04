// The extent diff rules (extent/extent_diff.h) on hand-written maps.
#include "extent/extent_diff.h"

#include <gtest/gtest.h>
#include <linux/fiemap.h>

namespace ocpvdr::extent {
namespace {

constexpr uint64_t K = 1024;

TEST(ExtentDiff, NoBaseSendsEveryWrittenExtentAndPunchesNothing) {
  std::vector<PhysExtent> n = {{0, 1000 * K, 64 * K, 0},
                               {128 * K, 2000 * K, 64 * K, FIEMAP_EXTENT_UNWRITTEN},
                               {256 * K, 3000 * K, 64 * K, FIEMAP_EXTENT_LAST}};
  auto d = diffExtents(n, nullptr, 1024 * K);
  EXPECT_EQ(d.send, (std::vector<Range>{{0, 64 * K}, {256 * K, 64 * K}}));
  EXPECT_TRUE(d.punch.empty());
  EXPECT_EQ(d.allocated, 128 * K);
}

TEST(ExtentDiff, SamePhysicalAddressIsUnchangedOtherwiseSent) {
  // Base: one 1 MiB extent. New: the same extent split by a 64 KiB write at 256 KiB.
  std::vector<PhysExtent> b = {{0, 10000 * K, 1024 * K, FIEMAP_EXTENT_LAST}};
  std::vector<PhysExtent> n = {
      {0, 10000 * K, 256 * K, FIEMAP_EXTENT_SHARED},
      {256 * K, 50000 * K, 64 * K, 0},
      {320 * K, 10320 * K, 704 * K, FIEMAP_EXTENT_SHARED | FIEMAP_EXTENT_LAST}};
  auto d = diffExtents(n, &b, 1024 * K);
  EXPECT_EQ(d.send, (std::vector<Range>{{256 * K, 64 * K}}));
  EXPECT_TRUE(d.punch.empty());
}

TEST(ExtentDiff, ShiftedMappingIsSent) {
  // Same physical start, different logical offset: different data placement, must be sent.
  std::vector<PhysExtent> b = {{0, 10000 * K, 64 * K, 0}};
  std::vector<PhysExtent> n = {{64 * K, 10000 * K, 64 * K, 0}};
  auto d = diffExtents(n, &b, 128 * K);
  EXPECT_EQ(d.send, (std::vector<Range>{{64 * K, 64 * K}}));
  EXPECT_EQ(d.punch, (std::vector<Range>{{0, 64 * K}}));
}

TEST(ExtentDiff, UntrustedFlagsAreAlwaysSent) {
  for (uint32_t flag : std::initializer_list<uint32_t>{
           FIEMAP_EXTENT_ENCODED, FIEMAP_EXTENT_DELALLOC, FIEMAP_EXTENT_UNKNOWN,
           FIEMAP_EXTENT_NOT_ALIGNED, FIEMAP_EXTENT_DATA_INLINE, FIEMAP_EXTENT_DATA_TAIL,
           FIEMAP_EXTENT_DATA_ENCRYPTED, 0x40000000u}) {
    std::vector<PhysExtent> b = {{0, 10000 * K, 64 * K, 0}};
    std::vector<PhysExtent> n = {{0, 10000 * K, 64 * K, flag}};
    auto d = diffExtents(n, &b, 64 * K);
    EXPECT_EQ(d.send, (std::vector<Range>{{0, 64 * K}})) << "flag " << flag;
    // And a base extent with such a flag vouches for nothing.
    auto d2 = diffExtents(b, &n, 64 * K);
    EXPECT_EQ(d2.send, (std::vector<Range>{{0, 64 * K}})) << "base flag " << flag;
  }
}

TEST(ExtentDiff, HolesWhereTheBaseHadDataArePunchedNeverSent) {
  std::vector<PhysExtent> b = {{0, 10000 * K, 256 * K, 0}};
  // New: first 64 KiB unchanged, 64..192 KiB punched, 192..256 unwritten (reads zeros).
  std::vector<PhysExtent> n = {{0, 10000 * K, 64 * K, FIEMAP_EXTENT_SHARED},
                               {192 * K, 70000 * K, 64 * K, FIEMAP_EXTENT_UNWRITTEN}};
  auto d = diffExtents(n, &b, 256 * K);
  EXPECT_TRUE(d.send.empty());
  EXPECT_EQ(d.punch, (std::vector<Range>{{64 * K, 192 * K}}));
  EXPECT_EQ(d.allocated, 64 * K);
}

TEST(ExtentDiff, UnwrittenBaseDoesNotVouchForWrittenData) {
  std::vector<PhysExtent> b = {{0, 10000 * K, 64 * K, FIEMAP_EXTENT_UNWRITTEN}};
  std::vector<PhysExtent> n = {{0, 10000 * K, 64 * K, 0}};
  auto d = diffExtents(n, &b, 64 * K);
  EXPECT_EQ(d.send, (std::vector<Range>{{0, 64 * K}}));
}

TEST(ExtentDiff, ExtentsClippedToTheFileSize) {
  std::vector<PhysExtent> n = {{0, 10000 * K, 1024 * K, 0}};
  auto d = diffExtents(n, nullptr, 100 * K + 7);
  EXPECT_EQ(d.send, (std::vector<Range>{{0, 100 * K + 7}}));
  // Shrunk file: base extents beyond the new size are not punched (truncate handles them).
  std::vector<PhysExtent> b = {{0, 10000 * K, 1024 * K, 0}};
  auto d2 = diffExtents(n, &b, 100 * K);
  EXPECT_TRUE(d2.send.empty());
  EXPECT_TRUE(d2.punch.empty());
}

TEST(ExtentDiff, GrownFileSendsOnlyTheNewTail) {
  std::vector<PhysExtent> b = {{0, 10000 * K, 64 * K, 0}};
  std::vector<PhysExtent> n = {{0, 10000 * K, 64 * K, FIEMAP_EXTENT_SHARED},
                               {64 * K, 90000 * K, 64 * K, 0}};
  auto d = diffExtents(n, &b, 128 * K);
  EXPECT_EQ(d.send, (std::vector<Range>{{64 * K, 64 * K}}));
}

TEST(ExtentDiff, SubtractRanges) {
  std::vector<Range> a = {{0, 100}, {200, 100}};
  std::vector<Range> b = {{10, 10}, {50, 200}, {290, 100}};
  EXPECT_EQ(subtractRanges(a, b), (std::vector<Range>{{0, 10}, {20, 30}, {250, 40}}));
  EXPECT_EQ(subtractRanges(a, {}), a);
  EXPECT_TRUE(subtractRanges({}, b).empty());
}

}  // namespace
}  // namespace ocpvdr::extent
