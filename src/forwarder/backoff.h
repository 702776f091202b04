// When the forwarder may send next: the retry policy for webhook failures, as a small state
// machine over times (no waiting here; the sender threads wait).
//
//   connection errors, 408, 425, 429, 5xx  exponential backoff with jitter (initial doubling to
//                                          max), a Retry-After the server sends is honoured up to
//                                          the max
//   401, 403 (and 3xx: a misconfigured URL) logged loudly by the caller, retried slowly
//                                          (authInitial doubling to authMax); a token change ends
//                                          the wait at once
//   any other 4xx                          not retried: the event goes to the dead-letter file
//
// Backoff is for the webhook as a whole, not per event: while it is failing, one probe at a time
// is sent (the oldest event, so per-object order holds); the first success resumes full speed.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>

#include "core/backoff.h"
#include "core/clock.h"

namespace ocpvdr::forwarder {

enum class Disposition { Delivered, Retry, AuthRetry, DeadLetter };

// What to do with an event given the webhook's HTTP status (0: no response at all).
Disposition classifyStatus(int status);

struct BackoffPolicy {
  Millis initial{500};
  Millis max{30'000};
  Millis authInitial{10'000};
  Millis authMax{120'000};
  double jitter = 0.2;  // each wait is stretched by a random share in [0, jitter] (core/backoff.h)
};

class DeliveryGate {
 public:
  explicit DeliveryGate(BackoffPolicy policy = {}, std::uint64_t seed = 0);

  // May a send start at `now`? Counts it as in flight when yes. While unhealthy only one send
  // may be in flight (the probe).
  bool tryBegin(SteadyTime now);
  // The earliest time tryBegin() can succeed when the gate is paused (nullopt: not paused).
  std::optional<SteadyTime> pausedUntil() const;

  void onSuccess();
  // A retryable failure; returns the wait chosen.
  Millis onFailure(SteadyTime now, std::optional<Millis> retryAfter = std::nullopt);
  Millis onAuthFailure(SteadyTime now);
  // The send ended without an answer worth acting on (stop requested): just not in flight.
  void onAbandoned();
  // A new token or secret was read: end an authentication pause now.
  void onCredentialsChanged();

  bool healthy() const { return failures_ == 0 && authFailures_ == 0; }
  bool authBlocked() const { return authFailures_ > 0; }
  int inFlight() const { return inFlight_; }

 private:
  void ended();

  BackoffPolicy policy_;
  std::mt19937_64 rng_;
  int inFlight_ = 0;
  int failures_ = 0;      // consecutive retryable failures
  int authFailures_ = 0;  // consecutive 401/403
  std::optional<SteadyTime> until_;
};

}  // namespace ocpvdr::forwarder
