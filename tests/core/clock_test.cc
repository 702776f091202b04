// ManualClock and RealClock: sleepers wake exactly when time is advanced past their deadline,
// and a stop request wakes them early.
#include "core/clock.h"

#include <gtest/gtest.h>

#include <future>
#include <thread>

namespace ocpvdr {
namespace {

using namespace std::chrono_literals;

// Waits (yielding, no sleeping) until `n` threads are blocked in the clock.
void waitForSleepers(const ManualClock& clock, int n) {
  while (clock.sleepers() != n) std::this_thread::yield();
}

TEST(ManualClockTest, AdvanceMovesWallAndMonotonicTime) {
  ManualClock clock(SystemTime{std::chrono::seconds{1000}});
  auto mono0 = clock.monotonic();
  clock.advance(90s);
  EXPECT_EQ(clock.now(), SystemTime{std::chrono::seconds{1090}});
  EXPECT_EQ(clock.monotonic() - mono0, 90s);
  clock.set(SystemTime{std::chrono::seconds{10}});  // wall time may jump back...
  EXPECT_EQ(clock.now(), SystemTime{std::chrono::seconds{10}});
  EXPECT_EQ(clock.monotonic() - mono0, 90s);  // ...monotonic time does not
}

TEST(ManualClockTest, SleeperWakesExactlyWhenDeadlineIsReached) {
  ManualClock clock;
  auto woke = std::async(std::launch::async, [&] { return clock.sleepFor(10s); });
  waitForSleepers(clock, 1);
  clock.advance(9s);
  // Still 1s short: the sleeper must still be blocked (it cannot have left sleepFor).
  EXPECT_EQ(clock.sleepers(), 1);
  EXPECT_EQ(woke.wait_for(20ms), std::future_status::timeout);
  clock.advance(999ms);
  EXPECT_EQ(woke.wait_for(20ms), std::future_status::timeout);
  clock.advance(1ms);
  EXPECT_TRUE(woke.get());  // reached the deadline, not stopped
  EXPECT_EQ(clock.sleepers(), 0);
}

TEST(ManualClockTest, SeveralSleepersWakeInDeadlineOrder) {
  ManualClock clock;
  auto a = std::async(std::launch::async, [&] { return clock.sleepFor(5s); });
  auto b = std::async(std::launch::async, [&] { return clock.sleepFor(20s); });
  waitForSleepers(clock, 2);
  clock.advance(5s);
  EXPECT_TRUE(a.get());
  waitForSleepers(clock, 1);
  EXPECT_EQ(b.wait_for(20ms), std::future_status::timeout);
  clock.advance(15s);
  EXPECT_TRUE(b.get());
}

TEST(ManualClockTest, StopTokenWakesSleeperWithFalse) {
  ManualClock clock;
  std::stop_source stop;
  auto woke = std::async(std::launch::async, [&] { return clock.sleepFor(1h, stop.get_token()); });
  waitForSleepers(clock, 1);
  stop.request_stop();
  EXPECT_FALSE(woke.get());
  EXPECT_EQ(clock.sleepers(), 0);
}

TEST(RealClockTest, ShortSleepCompletesAndStopInterruptsLongSleep) {
  RealClock clock;
  auto t0 = clock.monotonic();
  EXPECT_TRUE(clock.sleepFor(5ms));
  EXPECT_GE(clock.monotonic() - t0, 5ms);

  std::stop_source stop;
  auto woke = std::async(std::launch::async, [&] { return clock.sleepFor(1h, stop.get_token()); });
  stop.request_stop();
  EXPECT_FALSE(woke.get());
}

}  // namespace
}  // namespace ocpvdr
