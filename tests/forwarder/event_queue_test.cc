// EventQueue: per-object order, hiding until the spool commit, folding inside the settle window
// (driven by a ManualClock) and at the spool limit, compaction.
#include "forwarder/event_queue.h"

#include <gtest/gtest.h>

namespace ocpvdr::forwarder {
namespace {

using namespace std::chrono_literals;

QueuedEvent ev(const std::string& key, const std::string& rv, const std::string& uid = "") {
  QueuedEvent e;
  e.key = key;
  e.uid = uid.empty() ? "uid-" + key : uid;
  e.rv = rv;
  e.kind = internKind("PersistentVolume");
  e.type = ChangeType::Modified;
  return e;
}

// Adds and publishes at once (what the committer does after a successful spool write).
std::int64_t addVisible(EventQueue& q, QueuedEvent e) {
  Placement p = q.add(std::move(e));
  q.publish({p.seq});
  return p.seq;
}

TEST(EventQueue, OneInFlightPerObjectAndOldestFirst) {
  ManualClock clock;
  EventQueue q({0ms, 100}, clock);
  const auto a1 = addVisible(q, ev("A", "1"));
  const auto b1 = addVisible(q, ev("B", "2"));
  const auto a2 = addVisible(q, ev("A", "3"));
  EXPECT_EQ(q.size(), 3u);

  auto t1 = q.take();
  ASSERT_TRUE(t1);
  EXPECT_EQ(t1->seq, a1);
  auto t2 = q.take();
  ASSERT_TRUE(t2);
  EXPECT_EQ(t2->seq, b1);
  EXPECT_FALSE(q.take()) << "A2 must wait while A1 is being sent";
  EXPECT_EQ(q.inFlight(), 2u);

  q.ack(a1);
  auto t3 = q.take();
  ASSERT_TRUE(t3);
  EXPECT_EQ(t3->seq, a2);
  EXPECT_EQ(t3->id(), "uid-A:3:MODIFIED");
  q.ack(b1);
  q.ack(a2);
  EXPECT_EQ(q.size(), 0u);
  EXPECT_FALSE(q.take());
}

TEST(EventQueue, ReleasedEventGoesFirstAgain) {
  ManualClock clock;
  EventQueue q({0ms, 100}, clock);
  const auto a1 = addVisible(q, ev("A", "1"));
  addVisible(q, ev("A", "2"));
  addVisible(q, ev("B", "3"));
  auto t = q.take();
  ASSERT_TRUE(t);
  EXPECT_EQ(t->seq, a1);
  q.release(a1);
  auto again = q.take();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->seq, a1);
  EXPECT_EQ(again->attempts, 1);
}

TEST(EventQueue, HiddenUntilPublished) {
  ManualClock clock;
  EventQueue q({0ms, 100}, clock);
  Placement p = q.add(ev("A", "1"));
  EXPECT_FALSE(q.take()) << "not durable yet";
  q.publish({p.seq});
  EXPECT_TRUE(q.take());
}

TEST(EventQueue, SettleWindowSendsOnceWithTheLatestState) {
  ManualClock clock;
  EventQueue q({2000ms, 100}, clock);
  Placement p1 = q.add(ev("A", "1"));
  q.publish({p1.seq});
  clock.advance(500ms);
  Placement p2 = q.add(ev("A", "2"));
  EXPECT_TRUE(p2.folded);
  EXPECT_EQ(p2.reason, FoldReason::Settle);
  EXPECT_EQ(p2.seq, p1.seq) << "folds into the queued row";
  q.publish({p2.seq});
  clock.advance(1000ms);
  Placement p3 = q.add(ev("A", "3"));
  EXPECT_TRUE(p3.folded);
  q.publish({p3.seq});
  EXPECT_EQ(q.size(), 1u);

  EXPECT_FALSE(q.take()) << "still inside the window (1.5 s of 2 s)";
  ASSERT_TRUE(q.nextDue());
  EXPECT_EQ(*q.nextDue() - clock.monotonic(), 500ms) << "the window started at the first change";
  clock.advance(499ms);
  EXPECT_FALSE(q.take());
  clock.advance(1ms);
  auto t = q.take();
  ASSERT_TRUE(t);
  EXPECT_EQ(t->id(), "uid-A:3:MODIFIED");
  EXPECT_EQ(q.folded(FoldReason::Settle), 2u);

  // A change while the folded event is being sent starts a new window.
  Placement p4 = q.add(ev("A", "4"));
  EXPECT_FALSE(p4.folded);
  q.publish({p4.seq});
  q.ack(t->seq);
  EXPECT_FALSE(q.take());
  clock.advance(2000ms);
  auto t4 = q.take();
  ASSERT_TRUE(t4);
  EXPECT_EQ(t4->id(), "uid-A:4:MODIFIED");
}

TEST(EventQueue, SettleNeverFoldsAcrossIncarnations) {
  ManualClock clock;
  EventQueue q({2000ms, 100}, clock);
  auto del = ev("A", "5", "old-uid");
  del.type = ChangeType::Deleted;
  addVisible(q, del);
  Placement p = q.add(ev("A", "6", "new-uid"));
  EXPECT_FALSE(p.folded) << "the deletion of the old object must not be lost";
  q.publish({p.seq});
  EXPECT_EQ(q.size(), 2u);
}

TEST(EventQueue, LimitFoldsIntoTheNewestQueuedStateAndCounts) {
  ManualClock clock;
  EventQueue q({0ms, 3}, clock);
  const auto a1 = addVisible(q, ev("A", "1"));
  addVisible(q, ev("B", "2"));
  addVisible(q, ev("C", "3"));
  Placement p = q.add(ev("A", "4"));
  EXPECT_TRUE(p.folded);
  EXPECT_EQ(p.reason, FoldReason::Limit);
  EXPECT_EQ(p.seq, a1);
  q.publish({p.seq});
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(q.folded(FoldReason::Limit), 1u);
  auto t = q.take();
  ASSERT_TRUE(t);
  EXPECT_EQ(t->id(), "uid-A:4:MODIFIED");

  // A is in flight: its next change cannot fold into it, and nothing else can be dropped, so the
  // queue grows past its limit rather than lose a change.
  Placement p2 = q.add(ev("A", "5"));
  EXPECT_FALSE(p2.folded);
  EXPECT_TRUE(p2.compacted.empty());
  q.publish({p2.seq});
  Placement p3 = q.add(ev("D", "6"));
  EXPECT_FALSE(p3.folded);
  q.publish({p3.seq});
  EXPECT_EQ(q.size(), 5u);
}

TEST(EventQueue, CompactionKeepsTheNewestOfEachObject) {
  ManualClock clock;
  EventQueue q({0ms, 4}, clock);
  const auto a1 = addVisible(q, ev("A", "1"));
  const auto a2 = addVisible(q, ev("A", "2"));
  const auto b1 = addVisible(q, ev("B", "3"));
  const auto b2 = addVisible(q, ev("B", "4"));
  Placement p = q.add(ev("C", "5"));  // full, C has nothing queued: compact, then append
  EXPECT_FALSE(p.folded);
  EXPECT_EQ(p.compacted, (std::vector<std::int64_t>{a1, b1}));
  q.publish({p.seq});
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(q.folded(FoldReason::Limit), 2u);
  std::vector<std::int64_t> order;
  while (auto t = q.take()) order.push_back(t->seq);
  EXPECT_EQ(order, (std::vector<std::int64_t>{a2, b2, p.seq}));
}

TEST(EventQueue, CompactionSparesEventsBeingSent) {
  ManualClock clock;
  EventQueue q({0ms, 3}, clock);
  const auto a1 = addVisible(q, ev("A", "1"));
  auto t = q.take();
  ASSERT_TRUE(t);
  ASSERT_EQ(t->seq, a1);
  addVisible(q, ev("A", "2"));
  addVisible(q, ev("B", "3"));
  Placement p = q.add(ev("C", "4"));
  EXPECT_TRUE(p.compacted.empty()) << "A1 is in flight and A2 is the newest of A";
  q.publish({p.seq});
  EXPECT_EQ(q.size(), 4u);
}

TEST(EventQueue, RestoredEventsAreDueAtOnceAndNumberingContinues) {
  ManualClock clock;
  EventQueue q({5000ms, 100}, clock);
  auto r1 = ev("A", "1");
  r1.seq = 7;
  auto r2 = ev("A", "2");
  r2.seq = 9;
  q.restore({r1, r2});
  auto t = q.take();
  ASSERT_TRUE(t);
  EXPECT_EQ(t->seq, 7);
  Placement p = q.add(ev("B", "3"));
  EXPECT_EQ(p.seq, 10);
}

}  // namespace
}  // namespace ocpvdr::forwarder
