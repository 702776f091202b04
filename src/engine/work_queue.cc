// WorkQueue, ExponentialRateLimiter and TokenBucket (see work_queue.h).
#include "engine/work_queue.h"

#include <algorithm>
#include <cmath>
#include <tuple>

#include "core/backoff.h"

namespace ocpvdr::engine {

using std::chrono::nanoseconds;

Millis ExponentialRateLimiter::when(const std::string& key) {
  std::lock_guard lock(mu_);
  // Equal spread both ways around the exponential base, then capped again: never past max_.
  const Backoff backoff{base_, max_, jitter_, jitter_};
  return std::min(backoff.delay(++failures_[key], rng_), max_);
}

void ExponentialRateLimiter::forget(const std::string& key) {
  std::lock_guard lock(mu_);
  failures_.erase(key);
}

int ExponentialRateLimiter::numRequeues(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

TokenBucket::TokenBucket(double ratePerSecond, double burst, SteadyTime start)
    : rate_(ratePerSecond), burst_(std::max(1.0, burst)), tokens_(burst_), last_(start) {}

nanoseconds TokenBucket::reserve(SteadyTime now) {
  if (now > last_) {
    double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
    last_ = now;
  }
  tokens_ -= 1;
  if (tokens_ >= 0) return nanoseconds(0);
  return std::chrono::duration_cast<nanoseconds>(std::chrono::duration<double>(-tokens_ / rate_));
}

WorkQueue::WorkQueue(Clock& clock, WorkQueueOptions options)
    : clock_(clock), options_(std::move(options)), limiter_(options_.rateLimiter) {
  if (!limiter_)
    limiter_ = std::make_shared<ExponentialRateLimiter>(options_.backoffBase, options_.backoffMax,
                                                        options_.backoffJitter);
  if (auto* m = options_.metrics) {
    const std::string& p = options_.metricsPrefix;
    m->describe(p + "retries_total", "counter", "Keys re-queued with backoff");
    m->describe(p + "queue_depth", "gauge", "Keys queued and ready");
    m->describe(p + "queue_waiting", "gauge", "Keys waiting for their settle or backoff delay");
  }
  if (options_.ratePerSecond > 0)
    bucket_.emplace(options_.ratePerSecond,
                    options_.burst > 0 ? options_.burst : std::max(1.0, options_.ratePerSecond),
                    clock_.monotonic());
  waiter_ = std::jthread([this](std::stop_token st) { waitLoop(st); });
}

WorkQueue::~WorkQueue() {
  shutDown();
  waiter_.request_stop();
  if (waiter_.joinable()) waiter_.join();
}

void WorkQueue::addLocked(const std::string& key) {
  if (shuttingDown_ || dirty_.count(key) != 0) return;
  dirty_.insert(key);
  if (processing_.count(key) != 0) return;  // done() queues it again
  pushLocked(key);
  publishLocked();
  cv_.notify_all();
}

void WorkQueue::pushLocked(const std::string& key) {
  queue_.push_back(key);
  queuedAt_[key] = clock_.monotonic();
}

void WorkQueue::setDeadline(const std::string& key, SteadyTime deadline, bool first) {
  std::lock_guard lock(mu_);
  auto [it, fresh] = rank_.try_emplace(key, Rank{deadline, first});
  if (!fresh) {
    it->second.deadline = std::min(it->second.deadline, deadline);
    it->second.first = it->second.first || first;
  }
}

std::size_t WorkQueue::pickLocked() const {
  if (rank_.empty()) return 0;
  std::size_t best = 0;
  auto key = [&](std::size_t i) {
    const std::string& k = queue_[i];
    SteadyTime d{};
    bool first = false;
    if (auto r = rank_.find(k); r != rank_.end()) {
      d = r->second.deadline;
      first = r->second.first;
    } else if (auto q = queuedAt_.find(k); q != queuedAt_.end()) {
      d = q->second;
    }
    const auto sec = std::chrono::duration_cast<std::chrono::seconds>(d.time_since_epoch());
    return std::make_tuple(sec.count(), first ? 0 : 1, i);
  };
  auto bestKey = key(0);
  for (std::size_t i = 1; i < queue_.size(); ++i)
    if (auto k = key(i); k < bestKey) {
      bestKey = k;
      best = i;
    }
  return best;
}

void WorkQueue::add(const std::string& key) {
  std::lock_guard lock(mu_);
  addLocked(key);
}

void WorkQueue::addAfter(const std::string& key, nanoseconds delay) {
  std::lock_guard lock(mu_);
  if (shuttingDown_) return;
  if (delay <= nanoseconds(0)) {
    addLocked(key);
    return;
  }
  const SteadyTime readyAt = clock_.monotonic() + delay;
  auto it = waitingAt_.find(key);
  if (it != waitingAt_.end()) {
    if (it->second <= readyAt) return;  // the earlier ready time wins
    waitingOrder_.erase({it->second, key});
    it->second = readyAt;
  } else {
    waitingAt_.emplace(key, readyAt);
  }
  waitingOrder_.insert({readyAt, key});
  publishLocked();
  if (waitingOrder_.begin()->second == key) wake_.request_stop();  // new earliest deadline
}

void WorkQueue::addRateLimited(const std::string& key) {
  if (options_.metrics != nullptr) options_.metrics->inc(options_.metricsPrefix + "retries_total");
  addAfter(key, limiter_->when(key));
}

void WorkQueue::forget(const std::string& key) {
  limiter_->forget(key);
}

void WorkQueue::publishLocked() {
  if (options_.metrics == nullptr) return;
  options_.metrics->set(options_.metricsPrefix + "queue_depth", static_cast<double>(queue_.size()));
  options_.metrics->set(options_.metricsPrefix + "queue_waiting",
                        static_cast<double>(waitingAt_.size()));
}

void WorkQueue::waitLoop(std::stop_token stop) {
  while (!stop.stop_requested()) {
    std::stop_source wake;
    nanoseconds nap{0};
    {
      std::lock_guard lock(mu_);
      if (shuttingDown_) return;  // waiting keys stay for pending()
      const SteadyTime now = clock_.monotonic();
      while (!waitingOrder_.empty() && waitingOrder_.begin()->first <= now) {
        std::string key = waitingOrder_.begin()->second;
        waitingOrder_.erase(waitingOrder_.begin());
        waitingAt_.erase(key);
        addLocked(key);
      }
      publishLocked();
      nap = waitingOrder_.empty() ? nanoseconds(std::chrono::hours(1))
                                  : waitingOrder_.begin()->first - now;
      wake_ = wake;
      ++waiterCycles_;
    }
    std::stop_callback onStop(stop, [&wake] { wake.request_stop(); });
    (void)clock_.sleepFor(nap, wake.get_token());
  }
}

std::optional<std::string> WorkQueue::get(std::stop_token stop) {
  std::unique_lock lock(mu_);
  cv_.wait(lock, stop, [&] { return !queue_.empty() || shuttingDown_; });
  if (stop.stop_requested() || shuttingDown_) return std::nullopt;
  const std::size_t at = pickLocked();
  std::string key = std::move(queue_[at]);
  queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(at));
  queuedAt_.erase(key);
  std::optional<Rank> rank;
  if (auto r = rank_.find(key); r != rank_.end()) {
    rank = r->second;
    rank_.erase(r);
  }
  publishLocked();
  processing_.insert(key);
  dirty_.erase(key);
  if (!bucket_) return key;
  const nanoseconds wait = bucket_->reserve(clock_.monotonic());
  if (wait <= nanoseconds(0)) return key;

  // Wait for the token outside the lock; shutDown() or `stop` interrupts the wait.
  std::stop_source interrupt;
  std::stop_token shutdownToken = shutdownSource_.get_token();
  lock.unlock();
  bool slept = false;
  {
    std::stop_callback a(stop, [&interrupt] { interrupt.request_stop(); });
    std::stop_callback b(shutdownToken, [&interrupt] { interrupt.request_stop(); });
    slept = clock_.sleepFor(wait, interrupt.get_token());
  }
  lock.lock();
  if (slept && !shuttingDown_) return key;
  // Interrupted before the key started: put it back at the front, as if never handed out.
  processing_.erase(key);
  dirty_.insert(key);
  queue_.push_front(key);
  queuedAt_[key] = clock_.monotonic();
  if (rank && rank_.count(key) == 0) rank_.emplace(key, *rank);
  publishLocked();
  cv_.notify_all();
  return std::nullopt;
}

void WorkQueue::done(const std::string& key) {
  std::lock_guard lock(mu_);
  processing_.erase(key);
  if (dirty_.count(key) != 0 && !shuttingDown_) pushLocked(key);
  publishLocked();
  cv_.notify_all();
}

void WorkQueue::shutDown() {
  {
    std::lock_guard lock(mu_);
    if (shuttingDown_) return;
    shuttingDown_ = true;
    wake_.request_stop();
    cv_.notify_all();
  }
  shutdownSource_.request_stop();
}

bool WorkQueue::shuttingDown() const {
  std::lock_guard lock(mu_);
  return shuttingDown_;
}

bool WorkQueue::drain(std::stop_token stop) {
  std::unique_lock lock(mu_);
  return cv_.wait(lock, stop, [&] { return processing_.empty(); });
}

std::size_t WorkQueue::len() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

std::size_t WorkQueue::waitingLen() const {
  std::lock_guard lock(mu_);
  return waitingAt_.size();
}

std::size_t WorkQueue::processingLen() const {
  std::lock_guard lock(mu_);
  return processing_.size();
}

std::uint64_t WorkQueue::waiterCycles() const {
  std::lock_guard lock(mu_);
  return waiterCycles_;
}

std::vector<std::string> WorkQueue::pending() const {
  std::lock_guard lock(mu_);
  std::set<std::string> keys(queue_.begin(), queue_.end());
  for (const auto& [key, at] : waitingAt_) keys.insert(key);
  for (const auto& key : dirty_) keys.insert(key);
  return {keys.begin(), keys.end()};
}

}  // namespace ocpvdr::engine
