// The shared byte budget (see byte_budget.h).
#include "core/byte_budget.h"

#include <algorithm>

namespace ocpvdr {

ByteBudget::ByteBudget(Clock& clock, std::int64_t bytesPerSecond, std::int64_t burst)
    : clock_(clock),
      rate_(std::max<std::int64_t>(1, bytesPerSecond)),
      burst_(static_cast<double>(burst > 0 ? burst : rate_)),
      tokens_(burst_),
      last_(clock.monotonic()) {}

std::chrono::nanoseconds ByteBudget::reserve(std::uint64_t n) {
  std::lock_guard l(mu_);
  const SteadyTime now = clock_.monotonic();
  if (now > last_) {
    const double secs = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + secs * static_cast<double>(rate_));
    last_ = now;
  }
  tokens_ -= static_cast<double>(n);
  if (tokens_ >= 0) return std::chrono::nanoseconds(0);
  return std::chrono::nanoseconds(
      static_cast<std::int64_t>(-tokens_ / static_cast<double>(rate_) * 1e9));
}

bool ByteBudget::take(std::uint64_t n, std::stop_token stop) {
  const auto wait = reserve(n);
  if (wait.count() <= 0) return !stop.stop_requested();
  return clock_.sleepFor(wait, stop);
}

}  // namespace ocpvdr
