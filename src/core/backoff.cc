// Exponential backoff with jitter (see backoff.h).
#include "core/backoff.h"

#include <algorithm>

namespace ocpvdr {

using std::chrono::milliseconds;

milliseconds Backoff::base(int attempt) const {
  if (initial.count() <= 0) return milliseconds{0};
  milliseconds b = initial;
  // Doubling stops at the cap, so the loop runs at most ~63 times and never overflows.
  for (int i = 1; i < attempt && b < max; ++i) b *= 2;
  return std::min(b, max);
}

milliseconds Backoff::delay(int attempt, std::mt19937_64& rng) const {
  const milliseconds b = base(attempt);
  const double below = std::clamp(jitterBelow, 0.0, 1.0);
  const double above = std::max(0.0, jitterAbove);
  if (below == 0 && above == 0) return b;
  std::uniform_real_distribution<double> share(-below, above);
  return milliseconds(
      static_cast<milliseconds::rep>(static_cast<double>(b.count()) * (1.0 + share(rng))));
}

milliseconds Backoff::longest() const {
  return milliseconds(static_cast<milliseconds::rep>(static_cast<double>(max.count()) *
                                                     (1.0 + std::max(0.0, jitterAbove))));
}

}  // namespace ocpvdr
