// Reflector: keeps a local view of one resource collection in step with the API server and
// reports every change exactly as a controller needs it (client-go tools/cache/reflector.go
// semantics):
//   list (paged) → diff against the known set → watch from the list's resourceVersion with
//   bookmarks and a randomised timeout → on a clean end re-watch from the last resourceVersion
//   (no re-list) → on 410 re-list and diff: vanished → DELETED (last known object), changed
//   resourceVersion → MODIFIED, new → ADDED, unchanged → nothing → watch again.
// Errors back off (0.8 s doubling to 30 s, jittered, on the injected Clock) and re-watch from the
// last resourceVersion; a 410 on that re-watch leads to the re-list. The backoff resets after a
// watch that delivered events or ended cleanly.
//
// The known set can be seeded from a checkpoint (key → resourceVersion) so that, after a restart,
// the first list reports only what changed relative to the checkpoint instead of every object as
// ADDED (the forwarder persists the checkpoint).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <stop_token>
#include <string>

#include "core/clock.h"
#include "core/json_util.h"
#include "core/metrics.h"
#include "kube/kube_client.h"
#include "kube/resource_type.h"

namespace ocpvdr::kube {

struct ReflectorOptions {
  std::string ns;  // "" : all namespaces (or a cluster-scoped type)
  std::string labelSelector;
  std::string fieldSelector;
  std::int64_t pageSize = 500;
  // Each watch asks the server to end it after a random time in [min, max] (spreads reconnects).
  std::chrono::seconds watchTimeoutMin{300};
  std::chrono::seconds watchTimeoutMax{600};
  std::chrono::milliseconds backoffInitial{800};
  std::chrono::milliseconds backoffMax{30'000};
  // A clean end with no events sooner than this counts as a failure (a server or proxy that drops
  // every watch at once must not be hammered).
  std::chrono::milliseconds minHealthyWatch{1'000};
  std::uint64_t seed = 0;  // watch timeout and jitter RNG; 0: std::random_device
  std::string name;        // for logs; default: the type's group resource
  // Keep each object's last state, so that a deletion found by a re-list is reported with it.
  // false keeps only name, uid and resourceVersion per object (a few hundred bytes instead of the
  // parsed object); such a deletion then carries the minimal object described below, as for keys
  // known only from seed(). For callers that store the objects themselves (the forwarder keeps
  // them in its on-disk checkpoint).
  bool keepObjects = true;
};

// type is ADDED, MODIFIED or DELETED. fromRelist: produced by a list diff (the first list, or a
// re-list after 410) rather than a live watch event. For DELETED the object is the last one known;
// for a key known only from seed() it is a minimal object carrying metadata.name, namespace,
// resourceVersion (and uid when seeded).
using ReflectorHandler =
    std::function<void(WatchEventType type, const Json& object, bool fromRelist)>;

struct ReflectorCounters {
  std::uint64_t lists = 0;          // completed (re-)lists, the first included
  std::uint64_t relists = 0;        // lists after the first (after a 410)
  std::uint64_t watches = 0;        // watch requests started
  std::uint64_t watchRestarts = 0;  // watches that ended (any way) and were started again
  std::uint64_t expired = 0;        // 410s seen (HTTP or ERROR event)
  std::uint64_t errors = 0;         // failed lists/watches (each followed by a backoff)
  std::uint64_t events = 0;         // events handed to the handler
  std::uint64_t skipped = 0;        // malformed objects ignored
};

struct SeedEntry {
  std::string resourceVersion;
  std::string uid;  // optional
};

class Reflector {
 public:
  Reflector(KubeClient& client, Clock& clock, ResourceType type, ReflectorOptions opts,
            ReflectorHandler handler);

  // Before run(): what a previous run knew, key ("ns/name" or "name") → resourceVersion.
  void seed(const std::map<std::string, std::string>& keyToResourceVersion);
  void seed(const std::map<std::string, SeedEntry>& entries);

  // Lists and watches until stop is requested. The handler runs on this thread.
  void run(std::stop_token stop);

  bool hasSynced() const { return synced_.load(); }  // the first list has been delivered
  // The last list or watch failure while it lasts (the next successful list or watch clears it);
  // nullopt when healthy. A Refused one (401/403) will not heal by retrying: callers report it.
  std::optional<Error> lastFailure() const;
  std::string lastResourceVersion() const;
  ReflectorCounters counters() const;
  // The current view: key → resourceVersion (for checkpoints and tests).
  std::map<std::string, std::string> knownVersions() const;
  std::size_t knownCount() const;

 private:
  struct Known {
    std::string uid;
    std::string resourceVersion;
    Json object;  // null when known only from seed()
  };

  // Returns false when stopped while waiting.
  bool backoff(std::stop_token stop);
  void resetBackoff();
  Status relist(std::stop_token stop);
  void handleWatchEvent(WatchEvent& ev);
  Json minimalObject(const std::string& key, const Known& k) const;
  void deliver(WatchEventType type, const Json& obj, bool fromRelist);
  std::int64_t nextWatchTimeout();

  KubeClient& client_;
  Clock& clock_;
  ResourceType type_;
  ReflectorOptions opts_;
  ReflectorHandler handler_;
  std::string name_;
  std::mt19937_64 rng_;  // used only on the run() thread
  int failures_;         // backoffs since the last reset

  mutable std::mutex mu_;  // guards known_, lastRv_, counters_, lastFailure_
  std::map<std::string, Known> known_;
  std::optional<Error> lastFailure_;
  std::string lastRv_;
  ReflectorCounters counters_;
  std::atomic<bool> synced_{false};
};

// Copies a reflector's state into a metrics registry (call it when serving /metrics):
//   ocpvdr_kube_reflector_lists_total, _relists_total, _watches_total, _watch_restarts_total,
//   _expired_total, _errors_total, _events_total, _skipped_total (counters) and
//   ocpvdr_kube_reflector_synced, ocpvdr_kube_reflector_objects (gauges), all labelled
//   {resource="<group resource>"}.
void publishReflectorMetrics(MetricsRegistry& metrics, const Reflector& reflector,
                             const std::string& resource);

}  // namespace ocpvdr::kube
