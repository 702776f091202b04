// Real and manual clocks.
#include "core/clock.h"

#include <thread>

namespace ocpvdr {

bool RealClock::sleepFor(std::chrono::nanoseconds d, std::stop_token stop) {
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock lock(mu);
  return !cv.wait_for(lock, stop, d, [] { return false; }) && !stop.stop_requested();
}

ManualClock::ManualClock(SystemTime start) : wall_(start) {}

SystemTime ManualClock::now() const {
  std::lock_guard lock(mu_);
  return wall_;
}

SteadyTime ManualClock::monotonic() const {
  std::lock_guard lock(mu_);
  return mono_;
}

bool ManualClock::sleepFor(std::chrono::nanoseconds d, std::stop_token stop) {
  std::unique_lock lock(mu_);
  const SteadyTime deadline = mono_ + d;
  ++sleepers_;
  cv_.notify_all();
  bool reached = cv_.wait(lock, stop, [&] { return mono_ >= deadline; });
  --sleepers_;
  return reached;
}

void ManualClock::advance(std::chrono::nanoseconds d) {
  {
    std::lock_guard lock(mu_);
    wall_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
    mono_ += d;
  }
  cv_.notify_all();
}

void ManualClock::set(SystemTime t) {
  std::lock_guard lock(mu_);
  wall_ = t;
}

int ManualClock::sleepers() const {
  std::lock_guard lock(mu_);
  return sleepers_;
}

}  // namespace ocpvdr
