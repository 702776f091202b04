// ByteBudget: one token bucket of bytes per second shared by several readers (issue 16:
// replication.bandwidth, all extent transfers at once). Reservation style: take(n) debits n at
// once — the balance may go negative — and sleeps on the injected Clock until the debt is paid
// back at the rate, so concurrent readers queue up behind each other in the order they asked
// and each gets a share in proportion to what it reads per call (fair when they read in
// similar chunks). A bucket holds at most `burst` bytes of credit (1 s of rate when 0).
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <stop_token>

#include "core/clock.h"

namespace ocpvdr {

class ByteBudget {
 public:
  // Invariant: bytesPerSecond > 0.
  ByteBudget(Clock& clock, std::int64_t bytesPerSecond, std::int64_t burst = 0);
  // Debits n bytes and waits until the bucket allows them. False when `stop` came first (the
  // debit stays: a stopped reader does not hand its share back).
  bool take(std::uint64_t n, std::stop_token stop = {});
  // The wait take(n) would start with now (what it reserves), without waiting: for tests and
  // for callers that sleep on their own.
  std::chrono::nanoseconds reserve(std::uint64_t n);
  std::int64_t rate() const { return rate_; }

 private:
  Clock& clock_;
  const std::int64_t rate_;
  const double burst_;
  std::mutex mu_;
  double tokens_;
  SteadyTime last_;
};

}  // namespace ocpvdr
