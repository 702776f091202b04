// CronScheduler on a ManualClock: fires at the fire time, a suspend (wall clock jumps) or a run
// longer than the interval leads to one run, not one per missed fire time; stop() is prompt.
#include "engine/scheduler.h"

#include <gtest/gtest.h>

#include "core/json_util.h"
#include "core/time.h"
#include "support/eventually.h"

#include <future>
#include <mutex>
#include <thread>

namespace ocpvdr::engine {
namespace {

using namespace std::chrono_literals;

using ocpvdr::testing::eventually;

SystemTime at(const std::string& s) {
  return *parseTime(s);
}

struct Recorder {
  std::mutex mu;
  std::vector<ScheduledRun> runs;
  void add(const ScheduledRun& r) {
    std::lock_guard l(mu);
    runs.push_back(r);
  }
  ScheduledRun get(std::size_t i) {
    std::lock_guard l(mu);
    return runs.at(i);
  }
};

CronSchedule every5() {
  auto s = CronSchedule::create("*/5 * * * *", "UTC");
  EXPECT_TRUE(s.ok());
  return *s;
}

TEST(CronSchedulerTest, RunsAtTheFireTimeAndNotBefore) {
  ManualClock clock(at("2026-03-01T00:00:30Z"));
  Recorder rec;
  CronScheduler sched(clock, every5(), [&](const ScheduledRun& r, std::stop_token) { rec.add(r); });
  sched.start();
  ASSERT_TRUE(eventually([&] { return sched.nextRun().has_value() && clock.sleepers() == 1; }));
  EXPECT_EQ(formatTime(*sched.nextRun()), "2026-03-01T00:05:00Z");
  clock.advance(4min + 29s);  // 00:04:59
  ASSERT_TRUE(eventually([&] { return clock.sleepers() == 1; }));
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(sched.runs(), 0);
  clock.advance(1s);
  ASSERT_TRUE(eventually([&] { return sched.runs() == 1; }));
  EXPECT_EQ(formatTime(rec.get(0).scheduledFor), "2026-03-01T00:05:00Z");
  EXPECT_EQ(rec.get(0).collapsed, 0);
  ASSERT_TRUE(eventually([&] {
    auto n = sched.nextRun();
    return n && formatTime(*n) == "2026-03-01T00:10:00Z";
  }));
  sched.stop();
}

TEST(CronSchedulerTest, AfterASuspendMissedRunsCollapseIntoOne) {
  ManualClock clock(at("2026-03-01T00:00:30Z"));
  Recorder rec;
  CronScheduler sched(
      clock, every5(), [&](const ScheduledRun& r, std::stop_token) { rec.add(r); }, 60s);
  sched.start();
  ASSERT_TRUE(eventually([&] { return clock.sleepers() == 1; }));
  // Suspend for 3 hours: the wall clock jumps, the monotonic clock does not move.
  clock.set(at("2026-03-01T03:00:40Z"));
  clock.advance(60s);  // the scheduler's next short nap ends
  ASSERT_TRUE(eventually([&] { return sched.runs() == 1; }));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(sched.runs(), 1) << "missed runs were stacked";
  ScheduledRun r = rec.get(0);
  EXPECT_EQ(formatTime(r.scheduledFor), "2026-03-01T00:05:00Z");
  EXPECT_EQ(r.collapsed, 35);  // 00:10 .. 03:00 also went by
  ASSERT_TRUE(eventually([&] {
    auto n = sched.nextRun();
    return n && formatTime(*n) == "2026-03-01T03:05:00Z";
  }));
  sched.stop();
}

TEST(CronSchedulerTest, ARunLongerThanTheIntervalIsFollowedByExactlyOneCatchUpRun) {
  ManualClock clock(at("2026-03-01T00:04:00Z"));
  Recorder rec;
  std::promise<void> release;
  auto released = release.get_future().share();
  CronScheduler sched(clock, every5(), [&](const ScheduledRun& r, std::stop_token) {
    rec.add(r);
    if (rec.runs.size() == 1) released.wait();  // the first run takes 17 minutes
  });
  sched.start();
  ASSERT_TRUE(eventually([&] { return clock.sleepers() == 1; }));
  clock.advance(1min);  // 00:05
  ASSERT_TRUE(eventually([&] { return sched.running(); }));
  clock.advance(17min);  // 00:22: 00:10, 00:15 and 00:20 went by during the run
  release.set_value();
  ASSERT_TRUE(eventually([&] { return sched.runs() == 2; }));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(sched.runs(), 2);
  EXPECT_EQ(formatTime(rec.get(1).scheduledFor), "2026-03-01T00:10:00Z");
  EXPECT_EQ(formatTime(rec.get(1).startedAt), "2026-03-01T00:22:00Z");
  EXPECT_EQ(rec.get(1).collapsed, 2);
  ASSERT_TRUE(eventually([&] {
    auto n = sched.nextRun();
    return n && formatTime(*n) == "2026-03-01T00:25:00Z" && clock.sleepers() == 1;
  }));
  clock.advance(2min);  // 00:24
  ASSERT_TRUE(eventually([&] { return clock.sleepers() == 1; }));
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(sched.runs(), 2);
  clock.advance(1min);  // 00:25
  ASSERT_TRUE(eventually([&] { return sched.runs() == 3; }));
  sched.stop();
}

TEST(CronSchedulerTest, StopWakesASleepingSchedulerAndStopsARunningJob) {
  ManualClock clock(at("2026-03-01T00:04:59Z"));
  std::atomic<bool> sawStop{false};
  CronScheduler sched(clock, every5(), [&](const ScheduledRun&, std::stop_token st) {
    while (!st.stop_requested()) std::this_thread::sleep_for(1ms);
    sawStop = true;
  });
  sched.start();
  ASSERT_TRUE(eventually([&] { return clock.sleepers() == 1; }));
  clock.advance(1s);
  ASSERT_TRUE(eventually([&] { return sched.running(); }));
  auto t0 = std::chrono::steady_clock::now();
  sched.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_TRUE(sawStop);

  CronScheduler idle(clock, every5(), [](const ScheduledRun&, std::stop_token) {});
  idle.start();
  ASSERT_TRUE(eventually([&] { return clock.sleepers() == 1; }));
  t0 = std::chrono::steady_clock::now();
  idle.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_EQ(idle.runs(), 0);
}

TEST(CronSchedulerTest, FollowsTheConfiguredZoneAcrossSpringForward) {
  // 02:30 New York does not exist on 2026-03-08: the run happens at 03:00 EDT (07:00Z).
  auto s = CronSchedule::create("30 2 * * *", "America/New_York");
  ASSERT_TRUE(s.ok());
  ManualClock clock(at("2026-03-08T06:00:00Z"));
  Recorder rec;
  CronScheduler sched(
      clock, *s, [&](const ScheduledRun& r, std::stop_token) { rec.add(r); }, 60s);
  sched.start();
  ASSERT_TRUE(eventually([&] { return clock.sleepers() == 1; }));
  EXPECT_EQ(formatTime(*sched.nextRun()), "2026-03-08T07:00:00Z");
  clock.advance(59min);  // 06:59: not yet
  ASSERT_TRUE(eventually([&] { return clock.sleepers() == 1; }));
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(sched.runs(), 0);
  clock.advance(1min);
  ASSERT_TRUE(eventually([&] { return sched.runs() == 1; }));
  EXPECT_EQ(formatTime(rec.get(0).startedAt), "2026-03-08T07:00:00Z");
  sched.stop();
}

}  // namespace
}  // namespace ocpvdr::engine
