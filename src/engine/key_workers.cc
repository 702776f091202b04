// The one data path (see key_workers.h).
#include "engine/key_workers.h"

#include <algorithm>

#include "core/log.h"
#include "events/work_key.h"

namespace ocpvdr::engine {

struct KeyWorkers::Pass {
  std::map<std::string, std::uint64_t> want;  // key → the generation this pass queued
  std::map<std::string, KeyOutcome> got;
  const OnKeyDone* onDone = nullptr;
};

KeyWorkers::KeyWorkers(const config::Config& cfg, KeyWorkersDeps deps, KeyWorkersOptions opts)
    : cfg_(cfg), deps_(deps), opts_(std::move(opts)), clock_(*deps.clock) {
  if (opts_.queue.metrics == nullptr) opts_.queue.metrics = deps_.metrics;
  queue_ = std::make_unique<WorkQueue>(clock_, opts_.queue);
  if (auto* m = deps_.metrics) {
    m->describe("ocpvdr_engine_syncs_total", "counter",
                "Handler runs by key kind (pv, snapshot), action and result");
    m->describe("ocpvdr_engine_syncs_in_flight", "gauge", "Handlers running now");
    m->describe("ocpvdr_engine_syncs_in_flight_max", "gauge",
                "Most handlers that ran at once since start");
  }
}

KeyWorkers::~KeyWorkers() {
  shutDown();
  join();
}

void KeyWorkers::start() {
  for (int i = 0; i < std::max(1, opts_.workers); ++i)
    workers_.emplace_back([this](std::stop_token st) { worker(st); });
}

void KeyWorkers::shutDown() {
  {
    std::lock_guard lock(mu_);
    shutDown_ = true;
  }
  passCv_.notify_all();
  queue_->shutDown();
}

void KeyWorkers::join() {
  for (auto& w : workers_)
    if (w.joinable()) w.join();
}

bool KeyWorkers::offer(const std::string& key, KeyObject object, const std::string& id,
                       std::chrono::milliseconds delay) {
  {
    std::lock_guard lock(mu_);
    if (!id.empty() && !pendingIds_.insert(id).second) return false;
    Known& k = known_[key];
    k.object = std::move(object);
    if (!id.empty()) k.ids.push_back(id);
    ++k.generation;
    k.pending = true;
    if (!k.firstPendingAt) k.firstPendingAt = clock_.monotonic();
  }
  queue_->addAfter(key, delay);
  return true;
}

void KeyWorkers::touch(const std::string& key, std::chrono::milliseconds delay) {
  {
    std::lock_guard lock(mu_);
    Known& k = known_[key];
    ++k.generation;
    k.pending = true;
    if (!k.firstPendingAt) k.firstPendingAt = clock_.monotonic();
  }
  queue_->addAfter(key, delay);
}

bool KeyWorkers::idPending(const std::string& id) const {
  std::lock_guard lock(mu_);
  return pendingIds_.count(id) != 0;
}

void KeyWorkers::resume(UnfinishedKey u) {
  {
    std::lock_guard lock(mu_);
    Known& k = known_[u.key];
    k.object = std::move(u.object);
    for (auto& id : u.ids)
      if (pendingIds_.insert(id).second) k.ids.push_back(std::move(id));
    k.pending = true;
    ++k.generation;
  }
  queue_->add(u.key);
}

std::vector<UnfinishedKey> KeyWorkers::unfinished() const {
  std::lock_guard lock(mu_);
  std::vector<UnfinishedKey> out;
  for (const auto& [key, k] : known_)
    if (k.pending) out.push_back({key, k.object, k.ids});
  return out;
}

PassResult KeyWorkers::runPass(const std::vector<PassKey>& keys, std::chrono::milliseconds lockWait,
                               std::stop_token stop, const OnKeyDone& onDone) {
  Pass p;
  p.onDone = &onDone;
  std::unique_lock lock(mu_);
  if (shutDown_ || stop.stop_requested()) return PassResult{{}, !keys.empty()};
  for (const auto& pk : keys) {
    Known& k = known_[pk.key];
    // A live change still pending is newer than the list; the pass waits for its sync.
    if (!k.pending) k.object = pk.object;
    k.lockWait = std::max(k.lockWait, lockWait);
    p.want[pk.key] = ++k.generation;
  }
  passes_.push_back(&p);
  lock.unlock();
  for (const auto& pk : keys) queue_->add(pk.key);
  lock.lock();
  auto runningWanted = [&] {
    return std::any_of(p.want.begin(), p.want.end(), [&](const auto& w) {
      return p.got.count(w.first) == 0 && running_.count(w.first) != 0;
    });
  };
  passCv_.wait(lock, stop,
               [&] { return p.got.size() == p.want.size() || (shutDown_ && !runningWanted()); });
  passes_.erase(std::find(passes_.begin(), passes_.end(), &p));
  PassResult r;
  r.interrupted = p.got.size() < p.want.size();
  r.outcomes = std::move(p.got);
  return r;
}

void KeyWorkers::worker(std::stop_token stop) {
  while (auto key = queue_->get(stop)) {
    processKey(*key);
    queue_->done(*key);
  }
}

KeyWorkers::Known KeyWorkers::begin(const std::string& key, std::vector<std::string>& ids) {
  std::lock_guard lock(mu_);
  Known& k = known_[key];
  if (k.object.kind.empty())
    k.object.kind = events::isPvKey(key) ? "PersistentVolume" : "VolumeSnapshot";
  if (k.firstPendingAt) {
    double secs = std::chrono::duration<double>(clock_.monotonic() - *k.firstPendingAt).count();
    if (latencies_.size() < kLatencySamples) {
      latencies_.push_back(secs);
    } else {
      latencies_[latencyNext_] = secs;
      latencyNext_ = (latencyNext_ + 1) % kLatencySamples;
    }
    k.firstPendingAt.reset();
  }
  ids = std::move(k.ids);
  k.ids.clear();
  Known ran = k;
  k.lockWait = std::chrono::milliseconds(0);
  running_.insert(key);
  ++stats_.syncsStarted;
  ++stats_.syncsPerKey[key];
  ++stats_.inFlight;
  stats_.maxInFlight = std::max(stats_.maxInFlight, stats_.inFlight);
  publishInFlight();
  return ran;
}

void KeyWorkers::processKey(const std::string& key) {
  std::vector<std::string> ids;
  const Known ran = begin(key, ids);
  KeySyncOptions o;
  o.stop = syncStop_.get_token();
  o.lockWait = ran.lockWait;
  const KeyOutcome out = deps_.handler->handle(key, ran.object, o);

  const bool stopped = syncStop_.stop_requested();
  const bool retry = out.retry() && !stopped;
  const bool stoppedMidway = !out.ok && stopped;
  if (deps_.metrics != nullptr)
    deps_.metrics->inc("ocpvdr_engine_syncs_total",
                       {{"kind", events::isPvKey(key) ? "pv" : "snapshot"},
                        {"action", out.action},
                        {"result", out.result}});
  if (retry && opts_.retryFailures) {
    log::warn("serve: will retry", {{"key", key},
                                    {"attempt", queue_->numRequeues(key) + 1},
                                    {"error", out.error->describe()}});
    queue_->addRateLimited(key);
  } else {
    queue_->forget(key);
    if (!out.ok && out.error && !stoppedMidway && opts_.retryFailures)
      log::error("serve: not retried", {{"key", key}, {"error", out.error->describe()}});
  }
  if (!retry && !stoppedMidway) recordIds(key, ids, out.result, out.ok);
  finish(key, ran, ids, out, retry, stoppedMidway);
}

void KeyWorkers::finish(const std::string& key, const Known& ran,
                        const std::vector<std::string>& ids, const KeyOutcome& out, bool retry,
                        bool stoppedMidway) {
  {
    std::lock_guard lock(mu_);
    Known& k = known_[key];
    if (retry || stoppedMidway) {
      // The ids stay pending: recorded once a later attempt covers them.
      k.ids.insert(k.ids.begin(), ids.begin(), ids.end());
    } else {
      for (const auto& id : ids) pendingIds_.erase(id);
      if (k.generation == ran.generation) k.pending = false;
    }
    if (retry && opts_.retryFailures) ++stats_.retries;
    --stats_.inFlight;
    running_.erase(key);
    publishInFlight();
    // Every pass that queued this key before the sync started gets its outcome.
    for (Pass* p : passes_) {
      auto w = p->want.find(key);
      if (w == p->want.end() || w->second > ran.generation || p->got.count(key) != 0) continue;
      p->got.emplace(key, out);
      if (p->onDone != nullptr && *p->onDone) (*p->onDone)(key, out);
    }
  }
  passCv_.notify_all();
}

void KeyWorkers::publishInFlight() {
  if (deps_.metrics == nullptr) return;
  deps_.metrics->set("ocpvdr_engine_syncs_in_flight", stats_.inFlight);
  deps_.metrics->set("ocpvdr_engine_syncs_in_flight_max", stats_.maxInFlight);
}

void KeyWorkers::recordIds(const std::string& key, const std::vector<std::string>& ids,
                           const std::string& result, bool ok) {
  if (deps_.catalog == nullptr) return;
  const SystemTime now = clock_.now();
  for (const auto& id : ids) {
    Status s = deps_.catalog->recordEvent(id, key, result, ok, now);
    if (!s.ok())
      log::warn("serve: could not record the event id", {{"id", id}, {"error", s.error().message}});
  }
  if (!ids.empty()) pruneEventsSeen(false);
}

void KeyWorkers::pruneEventsSeen(bool force) {
  if (deps_.catalog == nullptr) return;
  const SystemTime now = clock_.now();
  {
    std::lock_guard lock(mu_);
    if (!force && lastPrune_ && now - *lastPrune_ < std::chrono::hours(1)) return;
    lastPrune_ = now;
  }
  auto removed = deps_.catalog->pruneEventsSeen(now - cfg_.catalog.eventsSeenRetention);
  if (!removed.ok()) {
    log::warn("serve: could not prune old event ids", {{"error", removed.error().message}});
  } else if (*removed > 0) {
    log::info(
        "serve: forgot old event ids",
        {{"removed", *removed}, {"retention_seconds", cfg_.catalog.eventsSeenRetention.count()}});
  }
}

WorkerStats KeyWorkers::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

std::vector<double> KeyWorkers::latencies() const {
  std::lock_guard lock(mu_);
  return latencies_;
}

}  // namespace ocpvdr::engine
