// ByteBudget (replication.bandwidth) on a ManualClock: the rate holds over time, a burst is
// bounded, concurrent readers share it, a stop ends a wait.
#include "core/byte_budget.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "support/eventually.h"

namespace ocpvdr {
namespace {

using namespace std::chrono_literals;
using testing::eventually;

TEST(ByteBudget, ReservationsPayBackAtTheRate) {
  ManualClock clock;
  ByteBudget b(clock, 1000);  // 1000 B/s, 1000 B of credit
  EXPECT_EQ(b.reserve(1000), 0ns);
  EXPECT_EQ(b.reserve(500), 500ms);   // in debt by 500 B
  EXPECT_EQ(b.reserve(500), 1000ms);  // queued behind the first
  clock.advance(1000ms);
  EXPECT_EQ(b.reserve(0), 0ns);  // the debt is paid: balance 0
  clock.advance(10s);            // idle time fills only up to the burst
  EXPECT_EQ(b.reserve(1000), 0ns);
  EXPECT_EQ(b.reserve(1), 1ms);
}

TEST(ByteBudget, ConcurrentReadersShareTheRate) {
  ManualClock clock;
  ByteBudget b(clock, 1000, 1);
  // Two readers of 100 B chunks: after 10 s of clock they have read about 10 000 B together,
  // each about half (the reservations interleave).
  std::atomic<int> chunks[2] = {0, 0};
  std::atomic<bool> stop{false};
  std::stop_source ss;
  std::vector<std::jthread> readers;
  for (int r = 0; r < 2; ++r)
    readers.emplace_back([&, r] {
      while (!stop && b.take(100, ss.get_token())) ++chunks[r];
    });
  // Each 100 ms of clock pays for exactly one 100 B chunk (a 1 B burst): the readers take turns.
  ASSERT_TRUE(eventually([&] { return clock.sleepers() == 2; }));
  for (int i = 1; i <= 100; ++i) {
    clock.advance(100ms);
    ASSERT_TRUE(eventually([&] { return chunks[0] + chunks[1] == i && clock.sleepers() == 2; }))
        << "after " << i << " steps: " << chunks[0] << " + " << chunks[1];
  }
  stop = true;
  ss.request_stop();
  readers.clear();
  const int total = chunks[0] + chunks[1];
  EXPECT_EQ(total, 100);  // 10 000 B in 10 s at 1000 B/s
  EXPECT_EQ(chunks[0], 50);
  EXPECT_EQ(chunks[1], 50);
}

TEST(ByteBudget, AStopEndsTheWait) {
  ManualClock clock;
  ByteBudget b(clock, 10);
  std::stop_source ss;
  std::atomic<int> result{-1};
  std::jthread t([&] { result = b.take(1000, ss.get_token()) ? 1 : 0; });
  ASSERT_TRUE(eventually([&] { return clock.sleepers() == 1; }));
  ss.request_stop();
  t.join();
  EXPECT_EQ(result, 0);
}

}  // namespace
}  // namespace ocpvdr
