// Delivery classification and the webhook backoff gate, on a ManualClock's time.
#include "forwarder/backoff.h"

#include <gtest/gtest.h>

namespace ocpvdr::forwarder {
namespace {

using namespace std::chrono_literals;

TEST(Classify, StatusTable) {
  EXPECT_EQ(classifyStatus(200), Disposition::Delivered);
  EXPECT_EQ(classifyStatus(202), Disposition::Delivered);
  EXPECT_EQ(classifyStatus(204), Disposition::Delivered);
  EXPECT_EQ(classifyStatus(0), Disposition::Retry) << "no response";
  EXPECT_EQ(classifyStatus(500), Disposition::Retry);
  EXPECT_EQ(classifyStatus(502), Disposition::Retry);
  EXPECT_EQ(classifyStatus(503), Disposition::Retry);
  EXPECT_EQ(classifyStatus(429), Disposition::Retry);
  EXPECT_EQ(classifyStatus(408), Disposition::Retry);
  EXPECT_EQ(classifyStatus(401), Disposition::AuthRetry);
  EXPECT_EQ(classifyStatus(403), Disposition::AuthRetry);
  EXPECT_EQ(classifyStatus(301), Disposition::AuthRetry) << "a wrong URL is fixed by an operator";
  EXPECT_EQ(classifyStatus(400), Disposition::DeadLetter);
  EXPECT_EQ(classifyStatus(404), Disposition::DeadLetter);
  EXPECT_EQ(classifyStatus(413), Disposition::DeadLetter);
  EXPECT_EQ(classifyStatus(422), Disposition::DeadLetter);
}

BackoffPolicy noJitter() {
  BackoffPolicy p;
  p.jitter = 0;
  return p;
}

TEST(DeliveryGate, ExponentialBackoffCappedAtMax) {
  ManualClock clock;
  DeliveryGate g(noJitter(), 1);
  std::vector<long> waits;
  for (int i = 0; i < 9; ++i) {
    ASSERT_TRUE(g.tryBegin(clock.monotonic()));
    waits.push_back(g.onFailure(clock.monotonic()).count());
    clock.advance(Millis(waits.back()));
  }
  EXPECT_EQ(waits, (std::vector<long>{500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000}));
  ASSERT_TRUE(g.tryBegin(clock.monotonic()));
  g.onSuccess();
  EXPECT_TRUE(g.healthy());
  ASSERT_TRUE(g.tryBegin(clock.monotonic()));
  EXPECT_EQ(g.onFailure(clock.monotonic()).count(), 500) << "success resets the backoff";
}

TEST(DeliveryGate, JitterStretchesWithinBounds) {
  ManualClock clock;
  BackoffPolicy p;
  p.jitter = 0.2;
  DeliveryGate g(p, 42);
  bool sawStretch = false;
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(g.tryBegin(clock.monotonic()));
    const long w = g.onFailure(clock.monotonic()).count();
    EXPECT_GE(w, 500);
    EXPECT_LE(w, 600);
    sawStretch |= w > 500;
    clock.advance(Millis(w));
    ASSERT_TRUE(g.tryBegin(clock.monotonic()));
    g.onSuccess();
  }
  EXPECT_TRUE(sawStretch);
}

TEST(DeliveryGate, RetryAfterIsHonouredUpToTheMax) {
  ManualClock clock;
  DeliveryGate g(noJitter(), 1);
  ASSERT_TRUE(g.tryBegin(clock.monotonic()));
  EXPECT_EQ(g.onFailure(clock.monotonic(), 5000ms).count(), 5000);
  clock.advance(5000ms);
  ASSERT_TRUE(g.tryBegin(clock.monotonic()));
  EXPECT_EQ(g.onFailure(clock.monotonic(), 3600'000ms).count(), 30000);
}

TEST(DeliveryGate, PausedThenOneProbeAtATime) {
  ManualClock clock;
  DeliveryGate g(noJitter(), 1);
  ASSERT_TRUE(g.tryBegin(clock.monotonic()));
  ASSERT_TRUE(g.tryBegin(clock.monotonic())) << "healthy: parallel sends";
  EXPECT_EQ(g.inFlight(), 2);
  (void)g.onFailure(clock.monotonic());
  EXPECT_FALSE(g.tryBegin(clock.monotonic())) << "paused";
  ASSERT_TRUE(g.pausedUntil());
  clock.advance(500ms);
  EXPECT_FALSE(g.tryBegin(clock.monotonic())) << "the other send is still in flight";
  g.onAbandoned();
  EXPECT_TRUE(g.tryBegin(clock.monotonic())) << "the probe";
  EXPECT_FALSE(g.tryBegin(clock.monotonic())) << "only one probe";
  g.onSuccess();
  EXPECT_TRUE(g.tryBegin(clock.monotonic()));
  EXPECT_TRUE(g.tryBegin(clock.monotonic()));
}

TEST(DeliveryGate, AuthFailuresRetrySlowlyUntilCredentialsChange) {
  ManualClock clock;
  DeliveryGate g(noJitter(), 1);
  ASSERT_TRUE(g.tryBegin(clock.monotonic()));
  EXPECT_EQ(g.onAuthFailure(clock.monotonic()).count(), 10000);
  EXPECT_TRUE(g.authBlocked());
  clock.advance(10000ms);
  ASSERT_TRUE(g.tryBegin(clock.monotonic()));
  EXPECT_EQ(g.onAuthFailure(clock.monotonic()).count(), 20000);
  for (int i = 0; i < 5; ++i) {
    clock.advance(Millis(200'000));
    ASSERT_TRUE(g.tryBegin(clock.monotonic()));
    (void)g.onAuthFailure(clock.monotonic());
  }
  ASSERT_TRUE(g.pausedUntil());
  EXPECT_EQ(*g.pausedUntil() - clock.monotonic(), 120000ms) << "capped at authMax";
  EXPECT_FALSE(g.tryBegin(clock.monotonic()));
  g.onCredentialsChanged();
  EXPECT_TRUE(g.tryBegin(clock.monotonic())) << "a new token is tried at once";
}

TEST(DeliveryGate, ConcurrentFailuresDoNotEscalateTheBackoff) {
  ManualClock clock;
  DeliveryGate g(noJitter(), 1);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(g.tryBegin(clock.monotonic()));
  EXPECT_EQ(g.onFailure(clock.monotonic()).count(), 500);
  clock.advance(10ms);
  EXPECT_EQ(g.onFailure(clock.monotonic()).count(), 490) << "same outage, same pause";
  EXPECT_EQ(g.onFailure(clock.monotonic()).count(), 490);
  EXPECT_EQ(g.onAuthFailure(clock.monotonic()).count(), 10000) << "a 401 is news";
  clock.advance(10ms);
  EXPECT_EQ(g.onAuthFailure(clock.monotonic()).count(), 9990);
  EXPECT_EQ(g.inFlight(), 0);
  clock.advance(9990ms);
  ASSERT_TRUE(g.tryBegin(clock.monotonic()));
  EXPECT_EQ(g.onAuthFailure(clock.monotonic()).count(), 20000) << "the probe escalates";
}

TEST(DeliveryGate, CredentialsChangeDoesNotCutAnOrdinaryBackoff) {
  ManualClock clock;
  DeliveryGate g(noJitter(), 1);
  ASSERT_TRUE(g.tryBegin(clock.monotonic()));
  (void)g.onFailure(clock.monotonic());
  g.onCredentialsChanged();
  EXPECT_FALSE(g.tryBegin(clock.monotonic()));
}

}  // namespace
}  // namespace ocpvdr::forwarder
