// WorkQueue on a ManualClock: dedupe, one worker per key, a re-run after a change during
// processing, settle (earliest ready time wins), backoff growth and cap, forget, the rate cap,
// shutdown and drain.
#include "engine/work_queue.h"

#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "support/eventually.h"

namespace ocpvdr::engine {
namespace {

using namespace std::chrono_literals;

using ocpvdr::testing::eventually;

class WorkQueueTest : public ::testing::Test {
 protected:
  // Adds with a delay and waits until the delay thread sleeps towards the new deadline, so a
  // following clock.advance() is deterministic.
  void addAfterSettled(WorkQueue& q, const std::string& key, std::chrono::nanoseconds d,
                       int sleepers = 1) {
    auto c0 = q.waiterCycles();
    q.addAfter(key, d);
    ASSERT_TRUE(eventually([&] { return q.waiterCycles() > c0 && clock.sleepers() == sleepers; }));
  }
  void rateLimitedSettled(WorkQueue& q, const std::string& key) {
    auto c0 = q.waiterCycles();
    q.addRateLimited(key);
    ASSERT_TRUE(eventually([&] { return q.waiterCycles() > c0 && clock.sleepers() == 1; }));
  }
  // The delay a rate-limited key waits: advance d - 1ms (still waiting), then 1ms (ready).
  void expectReadyAfter(WorkQueue& q, std::chrono::milliseconds d) {
    clock.advance(d - 1ms);
    std::this_thread::sleep_for(20ms);
    EXPECT_EQ(q.len(), 0u) << "ready before " << d.count() << " ms";
    clock.advance(1ms);
    EXPECT_TRUE(eventually([&] { return q.len() == 1; })) << "not ready after " << d.count();
  }

  ManualClock clock;
};

TEST_F(WorkQueueTest, DuplicateAddsOfAQueuedKeyAreOneItem) {
  WorkQueue q(clock);
  for (int i = 0; i < 100; ++i) q.add("pv/a");
  q.add("pv/b");
  q.add("pv/a");
  EXPECT_EQ(q.len(), 2u);
  EXPECT_EQ(q.get(), "pv/a");  // FIFO by first add
  EXPECT_EQ(q.get(), "pv/b");
  EXPECT_EQ(q.len(), 0u);
  q.done("pv/a");
  q.done("pv/b");
  EXPECT_EQ(q.len(), 0u);  // nothing was re-added meanwhile
}

TEST_F(WorkQueueTest, AKeyBeingProcessedIsNotHandedToASecondWorker) {
  WorkQueue q(clock);
  q.add("pv/a");
  ASSERT_EQ(q.get(), "pv/a");
  q.add("pv/a");           // changes while processing
  EXPECT_EQ(q.len(), 0u);  // ...is not queued: a second worker must not get it
  auto second = std::async(std::launch::async, [&] { return q.get(); });
  EXPECT_EQ(second.wait_for(100ms), std::future_status::timeout);
  q.done("pv/a");  // now it is queued again, once
  ASSERT_EQ(second.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(second.get(), "pv/a");
}

TEST_F(WorkQueueTest, AChangeDuringProcessingRunsExactlyOnceMoreAfterwards) {
  WorkQueue q(clock);
  q.add("pv/a");
  ASSERT_EQ(q.get(), "pv/a");
  for (int i = 0; i < 50; ++i) q.add("pv/a");
  EXPECT_EQ(q.processingLen(), 1u);
  q.done("pv/a");
  EXPECT_EQ(q.len(), 1u);
  ASSERT_EQ(q.get(), "pv/a");
  q.done("pv/a");
  EXPECT_EQ(q.len(), 0u);  // the 50 adds collapsed into one re-run
}

TEST_F(WorkQueueTest, SettleDelayCollapsesABurstAndTheEarliestReadyTimeWins) {
  WorkQueue q(clock);
  addAfterSettled(q, "pv/a", 2s);
  for (int i = 0; i < 99; ++i) q.addAfter("pv/a", 2s);  // later ready times: ignored
  EXPECT_EQ(q.waitingLen(), 1u);
  clock.advance(1999ms);
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(q.len(), 0u);
  clock.advance(1ms);
  ASSERT_TRUE(eventually([&] { return q.len() == 1; }));
  EXPECT_EQ(q.waitingLen(), 0u);

  // An earlier ready time replaces a later one.
  addAfterSettled(q, "pv/b", 10s);
  addAfterSettled(q, "pv/b", 1s);
  EXPECT_EQ(q.waitingLen(), 1u);
  clock.advance(1s);
  ASSERT_TRUE(eventually([&] { return q.len() == 2; }));
}

TEST_F(WorkQueueTest, BackoffDoublesPerFailureUpToTheCap) {
  WorkQueueOptions o;
  o.backoffBase = 100ms;
  o.backoffMax = 1s;
  WorkQueue q(clock, o);
  for (auto expected : {100ms, 200ms, 400ms, 800ms, 1000ms, 1000ms}) {
    rateLimitedSettled(q, "pv/a");
    expectReadyAfter(q, expected);
    ASSERT_EQ(q.get(), "pv/a");
    q.done("pv/a");
  }
  EXPECT_EQ(q.numRequeues("pv/a"), 6);
  EXPECT_EQ(q.numRequeues("pv/other"), 0);
}

TEST_F(WorkQueueTest, ForgetResetsTheBackoffOfOneKeyOnly) {
  WorkQueueOptions o;
  o.backoffBase = 100ms;
  o.backoffMax = 10s;
  ExponentialRateLimiter b(o.backoffBase, o.backoffMax);
  EXPECT_EQ(b.when("a"), 100ms);
  EXPECT_EQ(b.when("a"), 200ms);
  EXPECT_EQ(b.when("b"), 100ms);
  EXPECT_EQ(b.when("a"), 400ms);
  b.forget("a");
  EXPECT_EQ(b.numRequeues("a"), 0);
  EXPECT_EQ(b.when("a"), 100ms);
  EXPECT_EQ(b.when("b"), 200ms);  // untouched by forget("a")

  WorkQueue q(clock, o);
  rateLimitedSettled(q, "pv/a");
  expectReadyAfter(q, 100ms);
  ASSERT_EQ(q.get(), "pv/a");
  q.done("pv/a");
  rateLimitedSettled(q, "pv/a");
  expectReadyAfter(q, 200ms);
  ASSERT_EQ(q.get(), "pv/a");
  q.done("pv/a");
  q.forget("pv/a");
  EXPECT_EQ(q.numRequeues("pv/a"), 0);
  rateLimitedSettled(q, "pv/a");
  expectReadyAfter(q, 100ms);  // back to the base delay
}

TEST_F(WorkQueueTest, BackoffNeverOverflowsAfterManyFailures) {
  ExponentialRateLimiter b(1ms, std::chrono::minutes(5));
  Millis last{0};
  for (int i = 0; i < 200; ++i) last = b.when("k");
  EXPECT_EQ(last, std::chrono::minutes(5));
}

// The queue asks its RateLimiter policy (client-go's rateLimiter.When(item)) and nothing else.
class FixedLimiter final : public RateLimiter {
 public:
  Millis when(const std::string& key) override {
    std::lock_guard l(mu);
    whens.push_back(key);
    return 7s;
  }
  void forget(const std::string& key) override {
    std::lock_guard l(mu);
    forgets.push_back(key);
  }
  int numRequeues(const std::string&) const override { return 42; }
  std::mutex mu;
  std::vector<std::string> whens, forgets;
};

TEST_F(WorkQueueTest, AddRateLimitedWaitsWhatTheRateLimiterPolicySays) {
  auto limiter = std::make_shared<FixedLimiter>();
  WorkQueueOptions o;
  o.rateLimiter = limiter;
  o.backoffBase = 100ms;  // ignored: the policy decides
  WorkQueue q(clock, o);
  rateLimitedSettled(q, "pv/a");
  expectReadyAfter(q, 7s);
  EXPECT_EQ(q.numRequeues("pv/a"), 42);
  q.forget("pv/a");
  EXPECT_EQ(limiter->whens, std::vector<std::string>{"pv/a"});
  EXPECT_EQ(limiter->forgets, std::vector<std::string>{"pv/a"});
}

TEST(ExponentialRateLimiterTest, JitterSpreadsDelaysWithinItsShareAndNeverPastTheCap) {
  ExponentialRateLimiter b(100ms, 1s, 0.2, 7);
  std::set<Millis::rep> seen;
  for (int i = 0; i < 200; ++i) {
    Millis d = b.when("k");
    EXPECT_GE(d, 80ms);
    EXPECT_LE(d, 120ms);
    seen.insert(d.count());
    b.forget("k");
  }
  EXPECT_GT(seen.size(), 10u) << "jitter spreads the delays";
  for (int i = 0; i < 20; ++i) (void)b.when("capped");
  for (int i = 0; i < 50; ++i) {
    Millis d = b.when("capped");
    EXPECT_GE(d, 800ms);
    EXPECT_LE(d, 1s);
  }
}

TEST_F(WorkQueueTest, TheQueuePublishesItsOwnMetrics) {
  MetricsRegistry m;
  WorkQueueOptions o;
  o.metrics = &m;
  o.backoffBase = 1s;
  WorkQueue q(clock, o);
  q.add("pv/a");
  q.add("pv/b");
  EXPECT_EQ(m.get("ocpvdr_engine_queue_depth"), 2);
  ASSERT_EQ(q.get(), "pv/a");
  EXPECT_EQ(m.get("ocpvdr_engine_queue_depth"), 1);
  q.done("pv/a");
  q.addRateLimited("pv/a");
  EXPECT_EQ(m.get("ocpvdr_engine_retries_total"), 1);
  EXPECT_EQ(m.get("ocpvdr_engine_queue_waiting"), 1);
  EXPECT_NE(m.renderPrometheus().find("# TYPE ocpvdr_engine_queue_depth gauge"), std::string::npos);
}

TEST_F(WorkQueueTest, RateCapSpacesOutKeysAfterTheBurst) {
  WorkQueueOptions o;
  o.ratePerSecond = 2;  // one key every 500 ms once the burst of 2 is used
  o.burst = 2;
  WorkQueue q(clock, o);
  for (int i = 0; i < 4; ++i) q.add("pv/" + std::to_string(i));
  EXPECT_EQ(q.get(), "pv/0");
  EXPECT_EQ(q.get(), "pv/1");
  auto third = std::async(std::launch::async, [&] { return q.get(); });
  // The delay thread sleeps on the clock too: two sleepers once get() waits for its token.
  ASSERT_TRUE(eventually([&] { return clock.sleepers() == 2; }));
  clock.advance(499ms);
  EXPECT_EQ(third.wait_for(30ms), std::future_status::timeout);
  clock.advance(1ms);
  ASSERT_EQ(third.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(third.get(), "pv/2");
  // The bucket refills with time: after 10 s idle, a burst of 2 again (not 20).
  clock.advance(10s);
  q.add("pv/4");
  q.add("pv/5");
  EXPECT_EQ(q.get(), "pv/3");
  EXPECT_EQ(q.get(), "pv/4");
  auto next = std::async(std::launch::async, [&] { return q.get(); });
  EXPECT_EQ(next.wait_for(50ms), std::future_status::timeout);
  ASSERT_TRUE(eventually([&] { return clock.sleepers() == 2; }));
  clock.advance(500ms);
  ASSERT_EQ(next.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(next.get(), "pv/5");
}

TEST_F(WorkQueueTest, TokenBucketReservationsQueueUp) {
  SteadyTime t0{};
  TokenBucket b(10, 1, t0);
  EXPECT_EQ(b.reserve(t0), std::chrono::nanoseconds(0));
  EXPECT_EQ(b.reserve(t0), std::chrono::nanoseconds(100ms));
  EXPECT_EQ(b.reserve(t0), std::chrono::nanoseconds(200ms));  // behind the previous one
  EXPECT_EQ(b.reserve(t0 + 300ms), std::chrono::nanoseconds(0));
}

TEST_F(WorkQueueTest, ShutdownStopsHandingOutKeysKeepsThemPendingAndDrainWaitsForWorkers) {
  WorkQueue q(clock);
  q.add("pv/a");
  ASSERT_EQ(q.get(), "pv/a");
  q.add("pv/b");
  addAfterSettled(q, "pv/c", 1h);
  q.add("pv/a");  // changed while processing
  auto blocked = std::async(std::launch::async, [&] {
    // pv/b is queued but this worker only arrives after shutdown: gets nothing.
    while (!q.shuttingDown()) std::this_thread::sleep_for(1ms);
    return q.get();
  });
  q.shutDown();
  ASSERT_EQ(blocked.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(blocked.get(), std::nullopt);
  q.add("pv/late");  // ignored after shutdown
  EXPECT_EQ(q.pending(), (std::vector<std::string>{"pv/a", "pv/b", "pv/c"}));

  auto drained = std::async(std::launch::async, [&] { return q.drain(); });
  EXPECT_EQ(drained.wait_for(50ms), std::future_status::timeout);  // pv/a still processing
  q.done("pv/a");
  ASSERT_EQ(drained.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(drained.get());
  EXPECT_EQ(q.len(), 1u);  // pv/b stays queued (not handed out) — and pv/a was not re-queued
}

TEST_F(WorkQueueTest, DrainGivesUpWhenStopped) {
  WorkQueue q(clock);
  q.add("pv/a");
  ASSERT_EQ(q.get(), "pv/a");
  q.shutDown();
  std::stop_source stop;
  auto drained = std::async(std::launch::async, [&] { return q.drain(stop.get_token()); });
  EXPECT_EQ(drained.wait_for(50ms), std::future_status::timeout);
  stop.request_stop();
  ASSERT_EQ(drained.wait_for(5s), std::future_status::ready);
  EXPECT_FALSE(drained.get());
}

TEST_F(WorkQueueTest, BlockedGetReturnsNulloptOnStopAndShutdownWakesAllWorkers) {
  WorkQueue q(clock);
  std::stop_source stop;
  auto a = std::async(std::launch::async, [&] { return q.get(stop.get_token()); });
  EXPECT_EQ(a.wait_for(30ms), std::future_status::timeout);
  stop.request_stop();
  ASSERT_EQ(a.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(a.get(), std::nullopt);

  std::vector<std::future<std::optional<std::string>>> workers;
  for (int i = 0; i < 4; ++i)
    workers.push_back(std::async(std::launch::async, [&] { return q.get(); }));
  std::this_thread::sleep_for(20ms);
  q.shutDown();
  for (auto& w : workers) {
    ASSERT_EQ(w.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(w.get(), std::nullopt);
  }
}

TEST_F(WorkQueueTest, AKeyWaitingForARateTokenGoesBackOnShutdown) {
  WorkQueueOptions o;
  o.ratePerSecond = 1;
  o.burst = 1;
  WorkQueue q(clock, o);
  q.add("pv/a");
  q.add("pv/b");
  ASSERT_EQ(q.get(), "pv/a");
  auto waiting = std::async(std::launch::async, [&] { return q.get(); });
  ASSERT_TRUE(eventually([&] { return clock.sleepers() == 2; }));
  EXPECT_EQ(q.processingLen(), 2u);  // pv/b is held while its token comes
  q.shutDown();
  ASSERT_EQ(waiting.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(waiting.get(), std::nullopt);
  EXPECT_EQ(q.processingLen(), 1u);  // only pv/a: pv/b never started
  EXPECT_EQ(q.pending(), std::vector<std::string>{"pv/b"});
}

TEST_F(WorkQueueTest, ManyWorkersProcessEachKeyOnceAtATime) {
  WorkQueue q(clock);
  std::mutex mu;
  std::map<std::string, int> active, runs;
  bool overlap = false;
  std::atomic<int> remaining{0};
  std::vector<std::jthread> workers;
  for (int w = 0; w < 8; ++w)
    workers.emplace_back([&](std::stop_token st) {
      while (auto k = q.get(st)) {
        {
          std::lock_guard l(mu);
          if (++active[*k] > 1) overlap = true;
          ++runs[*k];
        }
        std::this_thread::sleep_for(2ms);
        {
          std::lock_guard l(mu);
          --active[*k];
        }
        q.done(*k);
        --remaining;
      }
    });
  for (int round = 0; round < 200; ++round) q.add("pv/" + std::to_string(round % 5));
  ASSERT_TRUE(eventually([&] { return q.len() == 0 && q.processingLen() == 0; }));
  q.shutDown();
  workers.clear();
  EXPECT_FALSE(overlap);
  for (int i = 0; i < 5; ++i) EXPECT_GE(runs["pv/" + std::to_string(i)], 1);
}

}  // namespace
}  // namespace ocpvdr::engine

namespace ocpvdr::engine {
namespace {

using namespace std::chrono_literals;

// Earliest deadline first (issue 16): keys with a deadline by it, others by the time they were
// queued; on the same second PVs of running VMs first, then FIFO.
TEST(WorkQueueEdf, KeysAreHandedOutEarliestDeadlineFirst) {
  ManualClock clock;
  WorkQueue q(clock);
  const SteadyTime t0 = clock.monotonic();
  q.setDeadline("pv/late", t0 + 60s);
  q.setDeadline("pv/soon", t0 + 5s);
  q.setDeadline("pv/overdue", t0 - 30s);
  for (const char* k : {"pv/late", "pv/plain", "pv/soon", "pv/overdue"}) q.add(k);
  std::vector<std::string> order;
  for (int i = 0; i < 4; ++i) order.push_back(*q.get());
  // pv/plain has no deadline: ranked by when it was queued (t0).
  EXPECT_EQ(order, (std::vector<std::string>{"pv/overdue", "pv/plain", "pv/soon", "pv/late"}));
}

TEST(WorkQueueEdf, RunningVmsGoFirstOnTiesThenFifo) {
  ManualClock clock;
  WorkQueue q(clock);
  const SteadyTime d = clock.monotonic() + 10s;
  q.setDeadline("pv/a", d);
  q.setDeadline("pv/b", d, /*first=*/true);
  q.setDeadline("pv/c", d);
  q.setDeadline("pv/d", d + 1ms, /*first=*/true);  // the same second: a tie
  for (const char* k : {"pv/a", "pv/b", "pv/c", "pv/d"}) q.add(k);
  std::vector<std::string> order;
  for (int i = 0; i < 4; ++i) order.push_back(*q.get());
  EXPECT_EQ(order, (std::vector<std::string>{"pv/b", "pv/d", "pv/a", "pv/c"}));
}

TEST(WorkQueueEdf, TheEarlierDeadlineWinsAndADeadlineSetWhileProcessingCountsNextTime) {
  ManualClock clock;
  WorkQueue q(clock);
  const SteadyTime t0 = clock.monotonic();
  q.add("pv/x");
  ASSERT_EQ(*q.get(), "pv/x");  // processing
  q.setDeadline("pv/x", t0 + 50s);
  q.setDeadline("pv/x", t0 + 90s);  // later: ignored
  q.add("pv/x");                    // a change during processing
  q.setDeadline("pv/y", t0 + 70s);
  q.add("pv/y");
  q.done("pv/x");               // queued again, after pv/y in FIFO terms
  EXPECT_EQ(*q.get(), "pv/x");  // 50 s < 70 s
  EXPECT_EQ(*q.get(), "pv/y");
}

}  // namespace
}  // namespace ocpvdr::engine
