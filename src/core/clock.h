// Clock: the one seam through which code reads time or waits.
//
// Production code takes a Clock& and never calls std::chrono::*::now() or sleeps directly, so
// tests can drive retention, backoff, cron and RPO arithmetic with a ManualClock.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>

namespace ocpvdr {

using SystemTime = std::chrono::system_clock::time_point;
using SteadyTime = std::chrono::steady_clock::time_point;
using Millis = std::chrono::milliseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual SystemTime now() const = 0;        // wall clock (timestamps, RPO, cron)
  virtual SteadyTime monotonic() const = 0;  // intervals and deadlines
  // Sleeps until `d` has passed on this clock or `stop` is requested.
  // Returns false when woken by the stop request.
  virtual bool sleepFor(std::chrono::nanoseconds d, std::stop_token stop = {}) = 0;
};

class RealClock final : public Clock {
 public:
  SystemTime now() const override { return std::chrono::system_clock::now(); }
  SteadyTime monotonic() const override { return std::chrono::steady_clock::now(); }
  bool sleepFor(std::chrono::nanoseconds d, std::stop_token stop = {}) override;
};

// A clock that only moves when told to. sleepFor() blocks until advance() moves time past the
// deadline (or stop is requested), so threads under test wake exactly when the test says.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(SystemTime start = SystemTime{std::chrono::seconds{1'800'000'000}});
  SystemTime now() const override;
  SteadyTime monotonic() const override;
  bool sleepFor(std::chrono::nanoseconds d, std::stop_token stop = {}) override;

  void advance(std::chrono::nanoseconds d);
  void set(SystemTime t);  // moves wall time only; monotonic time never goes back
  int sleepers() const;    // threads currently blocked in sleepFor()

 private:
  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  SystemTime wall_;
  SteadyTime mono_{};
  int sleepers_ = 0;
};

}  // namespace ocpvdr
