// WorkQueue: the engine's queue of keys ("pv/<name>", "snap/<ns>/<name>") with client-go workqueue
// semantics (util/workqueue queue.go + delaying_queue.go + rate_limiting_queue.go):
//
//   dirty set       keys that need processing; a key is in the FIFO at most once (dedupe)
//   processing set  keys a worker holds; a key added while held goes to dirty only and is queued
//                   again by done() — one worker per key, and a change during processing runs
//                   once more afterwards
//   waiting         keys added with a delay (settle delay, backoff); a later addAfter() of a key
//                   already waiting keeps the earlier ready time
//   backoff         addRateLimited() waits what the RateLimiter policy says (default: per-key
//                   exponential, base * 2^failures, capped); forget() resets it (call it on
//                   success and on errors that are not retried)
//   order           earliest deadline first (issue 16): a key given a deadline (setDeadline: the
//                   change feed's first-change time + replication.rpo_target) is ranked by it,
//                   any other key by the time it entered the queue; within the same second keys
//                   marked `first` (PVs of running VMs) go first, then FIFO. No deadline ever
//                   set: plain FIFO, as client-go
//   rate cap        a token bucket on the monotonic clock: get() hands out at most `rate` keys
//                   per second on average (bursts up to `burst`); it caps syncs started, so it
//                   applies to every key, not only to retries as in client-go
// All delays run on the injected Clock, so tests drive them with a ManualClock.
//
// Shutdown differs from client-go on purpose: after shutDown() get() returns nullopt at once
// (no new work starts) and the keys still queued or waiting stay readable through pending(), so
// `serve` can persist them; drain() waits until every key handed out has been done().
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/clock.h"
#include "core/metrics.h"

namespace ocpvdr::engine {

using Millis = std::chrono::milliseconds;

// When a failed key may run again (client-go's workqueue.TypedRateLimiter: When/Forget/
// NumRequeues). The queue takes one as a policy object. Implementations are thread-safe.
class RateLimiter {
 public:
  virtual ~RateLimiter() = default;
  // The delay before the next attempt of `key`; counts one more failure.
  virtual Millis when(const std::string& key) = 0;
  // Clears key's failures (call it on success and on errors that are not retried).
  virtual void forget(const std::string& key) = 0;
  virtual int numRequeues(const std::string& key) const = 0;
};

// Per-key exponential backoff: base * 2^failures, capped at max (client-go
// ItemExponentialFailureRateLimiter), optionally spread by +/- jitter (a fraction of the delay,
// 0..1) so keys that failed together do not retry in lockstep. jitter 0 gives exact delays.
class ExponentialRateLimiter final : public RateLimiter {
 public:
  ExponentialRateLimiter(Millis base, Millis max, double jitter = 0, std::uint64_t seed = 1)
      : base_(base), max_(max), jitter_(jitter), rng_(seed) {}
  Millis when(const std::string& key) override;
  void forget(const std::string& key) override;
  int numRequeues(const std::string& key) const override;

 private:
  Millis base_, max_;
  double jitter_;
  mutable std::mutex mu_;
  std::mt19937_64 rng_;
  std::unordered_map<std::string, int> failures_;
};

// Token bucket on monotonic time (client-go BucketRateLimiter, reservation style). Not
// thread-safe on its own; the queue calls it under its lock.
class TokenBucket {
 public:
  // Invariant: ratePerSecond > 0, burst >= 1. Starts full.
  TokenBucket(double ratePerSecond, double burst, SteadyTime start);
  // Takes one token and returns how long the caller must wait before using it (zero when a
  // token was available). Tokens may go negative: later callers queue up behind earlier ones.
  std::chrono::nanoseconds reserve(SteadyTime now);

 private:
  double rate_, burst_, tokens_;
  SteadyTime last_;
};

struct WorkQueueOptions {
  // The retry policy; null: ExponentialRateLimiter(backoffBase, backoffMax, backoffJitter).
  std::shared_ptr<RateLimiter> rateLimiter;
  Millis backoffBase{1000};
  Millis backoffMax{std::chrono::minutes(5)};
  double backoffJitter = 0;
  double ratePerSecond = 0;  // 0: no rate cap
  double burst = 0;          // 0: max(1, ratePerSecond)
  // The queue's own metrics (<prefix>queue_depth, <prefix>queue_waiting, <prefix>retries_total),
  // kept current on every change; null: none.
  MetricsRegistry* metrics = nullptr;
  std::string metricsPrefix = "ocpvdr_engine_";
};

class WorkQueue {
 public:
  WorkQueue(Clock& clock, WorkQueueOptions options = {});
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  // Marks `key` as needing processing. Ignored after shutDown().
  void add(const std::string& key);
  // add() once `delay` has passed (at once when delay <= 0).
  void addAfter(const std::string& key, std::chrono::nanoseconds delay);
  // addAfter(key, backoff delay of key); counts a failure of key.
  void addRateLimited(const std::string& key);
  // Clears key's failure count (its next addRateLimited() waits the base delay again).
  void forget(const std::string& key);
  int numRequeues(const std::string& key) const { return limiter_->numRequeues(key); }

  // Ranks `key` by `deadline` the next time it is queued (or now, if it is); an earlier
  // deadline than one already set wins; `first` sticks until the key is handed out.
  void setDeadline(const std::string& key, SteadyTime deadline, bool first = false);

  // Blocks until a key is ready and the rate cap allows it, then hands it out (the key is now
  // processing; call done(key) when finished). nullopt when shut down or `stop` is requested.
  [[nodiscard]] std::optional<std::string> get(std::stop_token stop = {});
  // The worker is finished with key; a key added meanwhile is queued again.
  void done(const std::string& key);

  // Stops handing out keys and accepting adds; wakes every blocked get().
  void shutDown();
  bool shuttingDown() const;
  // Waits until no key is being processed (true) or `stop` is requested (false).
  bool drain(std::stop_token stop = {});

  std::size_t len() const;         // keys queued and ready
  std::size_t waitingLen() const;  // keys waiting for their delay
  std::size_t processingLen() const;
  // Keys not yet handed out: queued, waiting, or re-added while processing (sorted, unique).
  std::vector<std::string> pending() const;
  // For tests driving a ManualClock: how many times the delay thread has gone to sleep. Once it
  // grew past a value read before an addAfter() and the clock shows the sleeper, the thread
  // sleeps towards the new deadline and advancing the clock is deterministic.
  std::uint64_t waiterCycles() const;

 private:
  void addLocked(const std::string& key);
  void pushLocked(const std::string& key);
  // Index in queue_ of the key to hand out next (earliest deadline first).
  std::size_t pickLocked() const;
  void waitLoop(std::stop_token stop);
  void publishLocked();

  Clock& clock_;
  WorkQueueOptions options_;
  std::shared_ptr<RateLimiter> limiter_;

  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  std::deque<std::string> queue_;
  std::unordered_set<std::string> dirty_;       // invariant: every queued key is dirty
  std::unordered_set<std::string> processing_;  // invariant: disjoint from queue_
  std::map<std::string, SteadyTime> waitingAt_;
  std::set<std::pair<SteadyTime, std::string>> waitingOrder_;  // same entries, by ready time
  struct Rank {
    SteadyTime deadline;
    bool first = false;
  };
  std::unordered_map<std::string, Rank> rank_;            // keys with a deadline
  std::unordered_map<std::string, SteadyTime> queuedAt_;  // queue_'s keys: when they entered
  std::optional<TokenBucket> bucket_;
  bool shuttingDown_ = false;
  std::stop_source shutdownSource_;
  std::stop_source wake_;  // interrupts the waiter's current sleep (an earlier key arrived)
  std::uint64_t waiterCycles_ = 0;
  std::jthread waiter_;
};

}  // namespace ocpvdr::engine
