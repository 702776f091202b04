// core/backoff.h: the one exponential backoff behind every retry loop. Doubling, the cap, no
// overflow after many attempts, and each jitter shape staying inside its bounds.
#include "core/backoff.h"

#include <gtest/gtest.h>

namespace ocpvdr {
namespace {

using namespace std::chrono_literals;

TEST(BackoffTest, DoublesFromInitialUpToTheCap) {
  const Backoff b{200ms, 1000ms};
  EXPECT_EQ(b.base(1), 200ms);
  EXPECT_EQ(b.base(2), 400ms);
  EXPECT_EQ(b.base(3), 800ms);
  EXPECT_EQ(b.base(4), 1000ms);  // 1600 capped
  EXPECT_EQ(b.base(5), 1000ms);
  EXPECT_EQ(b.base(0), 200ms);  // attempt <= 0 counts as the first
  EXPECT_EQ(b.base(-3), 200ms);
}

TEST(BackoffTest, ACapBelowInitialWins) {
  EXPECT_EQ((Backoff{5s, 2s}.base(1)), 2s);
}

TEST(BackoffTest, NeverOverflowsAfterManyAttempts) {
  const Backoff b{1ms, std::chrono::minutes(5)};
  EXPECT_EQ(b.base(64), std::chrono::minutes(5));
  EXPECT_EQ(b.base(1'000'000), std::chrono::minutes(5));
  const Backoff huge{1ms, std::chrono::milliseconds::max() / 4};
  EXPECT_GT(huge.base(80), 0ms);
  EXPECT_LE(huge.base(80), huge.max);
  EXPECT_EQ((Backoff{0ms, 1s}.base(100)), 0ms);
}

TEST(BackoffTest, WithoutJitterDelayIsTheBase) {
  std::mt19937_64 rng(1);
  const Backoff b{100ms, 1s};
  for (int a = 1; a < 8; ++a) EXPECT_EQ(b.delay(a, rng), b.base(a));
  EXPECT_EQ(b.longest(), 1s);
}

TEST(BackoffTest, StretchJitterIsNeverShorterAndAtMostTheShareLonger) {
  std::mt19937_64 rng(42);
  const Backoff b{500ms, 30s, 0, 0.2};
  bool longer = false;
  for (int i = 0; i < 200; ++i) {
    const auto d = b.delay(1, rng);
    EXPECT_GE(d, 500ms);
    EXPECT_LE(d, 600ms);
    longer |= d > 500ms;
  }
  EXPECT_TRUE(longer);
  EXPECT_EQ(b.longest(), 36s);
  for (int i = 0; i < 50; ++i) EXPECT_LE(b.delay(40, rng), b.longest());
}

TEST(BackoffTest, EqualJitterStaysBetweenHalfAndTheBase) {
  std::mt19937_64 rng(7);
  const Backoff b{400ms, 10s, 0.5, 0};
  bool shorter = false;
  for (int i = 0; i < 200; ++i) {
    const auto d = b.delay(2, rng);  // base 800 ms
    EXPECT_GE(d, 400ms);
    EXPECT_LE(d, 800ms);
    shorter |= d < 800ms;
  }
  EXPECT_TRUE(shorter);
  EXPECT_EQ(b.longest(), 10s);
}

TEST(BackoffTest, TheSameSeedGivesTheSameWaits) {
  std::mt19937_64 a(99), c(99);
  const Backoff b{100ms, 10s, 0.3, 0.3};
  for (int i = 1; i < 10; ++i) EXPECT_EQ(b.delay(i, a), b.delay(i, c));
}

}  // namespace
}  // namespace ocpvdr
