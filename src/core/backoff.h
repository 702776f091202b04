// Exponential backoff, written once: every retry loop of the product (the kube client, the
// reflector's re-list/re-watch, the webhook delivery gate, the S3 client, the work queue's
// per-key requeue) asks a Backoff for its wait and keeps only its own parameters.
//
//   delay(n) = min(initial · 2^(n-1), max), then stretched by a random share of itself drawn
//   from [-jitterBelow, +jitterAbove]  (n = 1 for the wait after the first failure)
//
// jitterAbove 0.2 stretches each wait by up to 20 % (never shorter); jitterBelow 0.5 is "equal
// jitter" (half fixed, half random: somewhere in [base/2, base]); both 0: no randomness.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace ocpvdr {

struct Backoff {
  std::chrono::milliseconds initial{1000};
  std::chrono::milliseconds max{30'000};
  double jitterBelow = 0;  // in [0, 1]
  double jitterAbove = 0;  // >= 0

  // The wait before retry `attempt` (1, 2, ...) without jitter; attempt <= 0 counts as 1. Never
  // overflows, however many attempts.
  std::chrono::milliseconds base(int attempt) const;
  // The same, jittered with `rng` (the caller owns the generator, its seed and its lock).
  std::chrono::milliseconds delay(int attempt, std::mt19937_64& rng) const;
  // The longest delay() can return: max stretched by jitterAbove.
  std::chrono::milliseconds longest() const;
};

}  // namespace ocpvdr
