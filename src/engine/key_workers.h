// KeyWorkers: the one data path. A WorkQueue of keys, the newest known state of each key, and N
// workers that run the per-key reconcile (engine/key_sync.h) — for everything:
//
//   live changes   serve's POST /v1/events, its own watch, the state file  → offer()
//   full passes    the scheduled reconcile in serve, `ocpv-dr reconcile`   → runPass()
//
// A pass goes through the same pipe as live changes (client-go's reflector resync): it queues
// every selected key and waits for their syncs, so the queue's per-key exclusion (a key is held
// by one worker at a time; a change during processing runs once more afterwards) covers the
// pass too — a scheduled pass and a live event never sync one PV at once. `ocpv-dr reconcile`
// outside serve creates KeyWorkers for the run (parallelism = workers, no retries).
//
// Level-triggered: each key keeps only its newest known object. A pass's listed object replaces
// it unless a live change of the key is still pending (that one is newer); either way the pass
// waits for a sync that starts after it queued the key.
//
// Event ids: kept with their key until the sync that covered them finished (not for retryable
// failures), then recorded in the catalog (events_seen) and pruned by
// catalog.events_seen_retention.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "catalog/catalog.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/metrics.h"
#include "engine/key_sync.h"
#include "engine/work_queue.h"

namespace ocpvdr::engine {

struct KeyWorkersOptions {
  int workers = 4;
  WorkQueueOptions queue;
  bool retryFailures = true;  // false: a failed key is reported, not queued again (one-off pass)
};

struct KeyWorkersDeps {
  Clock* clock = nullptr;
  KeyHandler* handler = nullptr;
  catalog::Catalog* catalog = nullptr;  // event ids (events_seen); null: ids are not recorded
  MetricsRegistry* metrics = nullptr;   // null: no metrics
};

struct WorkerStats {
  std::uint64_t syncsStarted = 0, retries = 0;
  int inFlight = 0, maxInFlight = 0;
  std::map<std::string, int> syncsPerKey;  // handler calls per key
};

struct PassKey {
  std::string key;
  KeyObject object;
};

struct PassResult {
  std::map<std::string, KeyOutcome> outcomes;  // keys whose sync finished
  bool interrupted = false;                    // stopped or shut down before every key finished
};

// A key not finished at shutdown, with its newest object and pending event ids.
struct UnfinishedKey {
  std::string key;
  KeyObject object;
  std::vector<std::string> ids;
};

class KeyWorkers {
 public:
  using OnKeyDone = std::function<void(const std::string& key, const KeyOutcome&)>;

  KeyWorkers(const config::Config& cfg, KeyWorkersDeps deps, KeyWorkersOptions opts);
  ~KeyWorkers();
  KeyWorkers(const KeyWorkers&) = delete;
  KeyWorkers& operator=(const KeyWorkers&) = delete;

  void start();
  // No new key starts; waiting passes return once their running keys finished.
  void shutDown();
  // Stops running rsyncs (SIGTERM to the process group) through the handlers' stop token.
  void stopSyncs() { syncStop_.request_stop(); }
  // Waits for the workers (after shutDown()).
  void join();

  // A live change: the key's newest known state, queued after `delay`. False when `id` is
  // already pending here (a duplicate).
  bool offer(const std::string& key, KeyObject object, const std::string& id,
             std::chrono::milliseconds delay);
  // The key's data changed (serve's change feed, engine/change_feed.h): queued after `delay`
  // with its newest known object kept (none known: the handler reads the primary).
  void touch(const std::string& key, std::chrono::milliseconds delay);
  bool idPending(const std::string& id) const;
  // Queues an unfinished key of the last run again (state file).
  void resume(UnfinishedKey u);
  std::vector<UnfinishedKey> unfinished() const;

  // A full pass: queues every key now and waits for a sync of each that started after this
  // call, or until `stop` (keys not finished are missing) or shutDown() (keys already running
  // are waited for). `onDone` runs once per key as its sync finishes (serialised).
  PassResult runPass(const std::vector<PassKey>& keys, std::chrono::milliseconds lockWait,
                     std::stop_token stop, const OnKeyDone& onDone = {});

  WorkerStats stats() const;
  // Event → sync start, seconds (the last kLatencySamples syncs that covered an event).
  std::vector<double> latencies() const;
  WorkQueue& queue() { return *queue_; }
  // Forgets event ids older than catalog.events_seen_retention: `force`, or at most once an hour.
  void pruneEventsSeen(bool force);

  static constexpr std::size_t kLatencySamples = 10'000;

 private:
  struct Known {
    KeyObject object;
    std::vector<std::string> ids;              // event ids not yet recorded
    std::uint64_t generation = 0;              // bumped by every accepted change and every pass
    bool pending = false;                      // a live change accepted but not finished
    std::optional<SteadyTime> firstPendingAt;  // earliest event not yet picked up
    std::chrono::milliseconds lockWait{0};     // the longest a waiting pass asked for
  };
  struct Pass;

  void worker(std::stop_token stop);
  void processKey(const std::string& key);
  // Takes the key's state for a sync (under mu_); records latency and stats.
  Known begin(const std::string& key, std::vector<std::string>& ids);
  void finish(const std::string& key, const Known& ran, const std::vector<std::string>& ids,
              const KeyOutcome& out, bool retry, bool stoppedMidway);
  void recordIds(const std::string& key, const std::vector<std::string>& ids,
                 const std::string& result, bool ok);
  void publishInFlight();

  const config::Config& cfg_;
  KeyWorkersDeps deps_;
  KeyWorkersOptions opts_;
  Clock& clock_;
  std::unique_ptr<WorkQueue> queue_;

  mutable std::mutex mu_;  // everything below
  std::condition_variable_any passCv_;
  std::map<std::string, Known> known_;
  std::unordered_set<std::string> pendingIds_;
  std::set<std::string> running_;
  std::vector<Pass*> passes_;
  WorkerStats stats_;
  std::vector<double> latencies_;  // ring of kLatencySamples
  std::size_t latencyNext_ = 0;
  std::optional<SystemTime> lastPrune_;
  bool shutDown_ = false;

  std::stop_source syncStop_;
  std::vector<std::jthread> workers_;
};

}  // namespace ocpvdr::engine
