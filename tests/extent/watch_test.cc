// The watch mode's pure parts (extent/watch.h): folding by settle and cap, the PV directory of a
// path, the record escaping and parsing serve relies on.
#include "extent/watch.h"

#include <gtest/gtest.h>

namespace ocpvdr::extent {
namespace {

using namespace std::chrono_literals;
constexpr std::int64_t kMs = 1'000'000;

TEST(ChangeFolder, ABurstFoldsIntoOneRecordAfterTheSettleDelay) {
  ChangeFolder f(200ms, 5000ms);
  for (int i = 0; i < 50; ++i) f.note(0, "a", i * 10 * kMs, 1000 + i);
  EXPECT_TRUE(f.takeDue(500 * kMs).empty());  // last change at 490 ms: not quiet for 200 ms yet
  ASSERT_EQ(f.nextDue(), 690 * kMs);
  auto due = f.takeDue(690 * kMs);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].pvdir, "a");
  EXPECT_EQ(due[0].firstWallNs, 1000);  // the fold's first change
  EXPECT_EQ(f.open(), 0u);
}

TEST(ChangeFolder, TheCapFlushesWhileWritesContinue) {
  ChangeFolder f(1000ms, 300ms);
  std::vector<std::int64_t> firsts;
  for (int t = 0; t <= 1000; t += 50) {
    f.note(0, "a", t * kMs, t);
    for (const auto& d : f.takeDue(t * kMs)) firsts.push_back(d.firstWallNs);
  }
  // Never quiet for the settle delay, still a record every 300 ms, each opening at a change.
  EXPECT_EQ(firsts, (std::vector<std::int64_t>{0, 350, 700}));
}

TEST(ChangeFolder, FoldsArePerRootAndPvDir) {
  ChangeFolder f(100ms, 1000ms);
  f.note(0, "a", 0, 1);
  f.note(1, "a", 0, 2);
  f.note(0, "b", 50 * kMs, 3);
  auto due = f.takeDue(100 * kMs);
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(f.open(), 1u);
  EXPECT_EQ(f.takeDue(150 * kMs).size(), 1u);
}

TEST(PvDirOf, FirstComponentUnderTheRootOnly) {
  EXPECT_EQ(pvDirOf("/exports/ocp", "/exports/ocp/pv1/disk.img"), "pv1");
  EXPECT_EQ(pvDirOf("/exports/ocp/", "/exports/ocp/pv1"), "pv1");
  EXPECT_EQ(pvDirOf("/exports/ocp", "/exports/ocp"), "");
  EXPECT_EQ(pvDirOf("/exports/ocp", "/exports/ocpx/pv1"), "");
  EXPECT_EQ(pvDirOf("/exports/ocp", "/exports/other/pv1"), "");
  EXPECT_EQ(pvDirOf("/exports/ocp", "/exports/ocp/.ocpv-dr/snapshots/pv1"), "");
  EXPECT_EQ(pvDirOf("/", "/pv1/x"), "pv1");
}

TEST(WatchRecord, EscapedFieldsRoundTripAndRecordsParse) {
  const std::string odd = "pv with space%\n\x7f";
  EXPECT_EQ(escapeField(odd).find(' '), std::string::npos);
  EXPECT_EQ(unescapeField(escapeField(odd)), odd);
  EXPECT_EQ(unescapeField("bad%2"), std::nullopt);
  EXPECT_EQ(unescapeField("bad%zz"), std::nullopt);

  auto c = parseWatchRecord("OCPVDR-WATCH changed /r%20x pv%25 1796670368026339881\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->type, WatchRecord::Type::Changed);
  EXPECT_EQ(c->root, "/r x");
  EXPECT_EQ(c->pvdir, "pv%");
  EXPECT_EQ(c->timeNs, 1796670368026339881);
  auto r = parseWatchRecord("OCPVDR-WATCH rescan /r overflow");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->type, WatchRecord::Type::Rescan);
  EXPECT_EQ(r->reason, "overflow");
  auto h = parseWatchRecord("OCPVDR-WATCH heartbeat 5");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->type, WatchRecord::Type::Heartbeat);
  auto ready = parseWatchRecord("OCPVDR-WATCH ready backend=inotify roots=2");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->backend, "inotify");
  EXPECT_FALSE(parseWatchRecord("OCPVDR-WATCH changed /r pv"));
  EXPECT_FALSE(parseWatchRecord("OCPVDR-WATCH changed /r pv 12x"));
  EXPECT_FALSE(parseWatchRecord("changed /r pv 12"));
  EXPECT_FALSE(parseWatchRecord("OCPVDR-WATCH bogus"));
}

}  // namespace
}  // namespace ocpvdr::extent
