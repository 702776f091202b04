// Engine: `ocpv-dr serve` — the standalone engine without AAP (docs/serve.md).
//
//   triggers                    →  object cache + WorkQueue key  →  N workers  →  per-key reconcile
//   POST /v1/events (forwarder)     "pv/<name>", "snap/<ns>/<name>"    (engine/key_sync.h: the
//   own watch (server.watch_primary)                                   newest known object of the
//   cron schedule → Reconciler: list, queue every selected key,        key; a DELETED tombstone
//     wait for their syncs, orphan sweep, reports, notify              → delete)
// One data path (engine/key_workers.h): the scheduled pass queues its keys into the same queue
// and workers as events, so one PV is never synced by two workers at once.
//
// HTTP: POST /v1/events, GET /v1/status, /healthz, /readyz, /metrics (server/http_server.h; the
// handlers are in engine_http.cc, the only part of the engine that sees httplib).
// Results drive the queue (engine/key_sync.h, the failure rule): success → forget;
// Retryable/Conflict (lock busy, network, rsync 23/24) → per-key backoff (the queue's
// RateLimiter); Invalid/Refused/Terminal/NotFound → not retried (logged, recorded).
// DELETED tombstones (events and the own watch) go through the Replicator's delete verification
// (replicator.h: catalog row, uid, a GET at the primary) and the delete breaker
// (replication/delete_breaker.h, one for PVs, one for snapshots); /v1/status shows the breakers.
// LEFT_SELECTION (a PV that left the forwarder's label selection) stops nothing and moves nothing:
// the outcome "left-selection" is recorded; the DR copy stays (reconcile reports it).
// Event ids: a duplicate of an id already handled successfully (catalog events_seen) or still
// pending here is answered 200 {"duplicate": true} and dropped; ids are recorded in the catalog
// once the sync that covered them finished (not for retryable failures).
//
// Maintenance (every maintenance_interval on the injected clock, and once at start): trash entries
// older than replication.trash_retention are purged (entries of unknown age are kept and
// reported, replication/trash.h) and the catalog gets its backup copy (catalog/backup.h; also
// after every reconcile). Results in /v1/status "maintenance" and the ocpvdr_trash_* metrics.
//
// The catalog and the HTTP side: POST /v1/events (dedupe), /v1/status and /metrics read the
// catalog on a connection of their own with a short busy timeout, so a worker waiting on a locked
// catalog (its connection, its mutex) never holds up the intake; the worker's own catalog errors
// on a lock are Retryable and its key is retried with backoff.
//
// Shutdown (SIGTERM → shutdown()): /v1/events answers 503 and /readyz fails at once; watches
// stop; no new key starts; running syncs (and a running reconcile) get server.shutdown_grace to
// finish, then their rsyncs are stopped (SIGTERM to the process group via the stop token); keys
// not finished are persisted to the state file with their newest object and event ids, and
// queued again by the next start.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "catalog/catalog.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/http.h"
#include "core/metrics.h"
#include "engine/change_feed.h"
#include "engine/key_sync.h"
#include "engine/key_workers.h"
#include "engine/notify.h"
#include "engine/primary_api.h"
#include "engine/reconcile.h"
#include "engine/replica_status.h"
#include "engine/scheduler.h"
#include "engine/work_queue.h"
#include "events/intake.h"
#include "kube/kube_client.h"
#include "replication/delete_breaker.h"
#include "replication/primary_objects.h"
#include "replication/replicator.h"

namespace ocpvdr::kube {
class KubeClient;
}
namespace ocpvdr::server {
class HttpServer;
}

namespace ocpvdr::engine {

class SecretFile;  // engine_secret.h
using events::EventPayload;

struct EngineOptions {
  std::string listen;  // host:port (server.listen)
  int workers = 4;
  std::chrono::milliseconds settle{2000};
  double ratePerSecond = 20;
  std::chrono::milliseconds shutdownGrace{60'000};
  std::chrono::milliseconds backoffBase{1000};
  std::chrono::milliseconds backoffMax{std::chrono::minutes(5)};
  std::int64_t maxBodyBytes = 1 << 20;
  bool schedule = true;       // run the reconcile on schedule.cron
  bool watchPrimary = false;  // server.watch_primary
  std::string reportDir;      // reports of scheduled runs; <catalog dir>/reports when empty
  std::string stateFile;      // unfinished keys; <catalog dir>/serve-state.json when empty
  // How long a pass's sync waits for the per-PV lock another process holds (an AAP job).
  std::chrono::milliseconds reconcileLockWait{std::chrono::minutes(10)};
  std::chrono::milliseconds scheduleMaxNap{60'000};
  int httpThreads = 8;
  std::chrono::milliseconds maintenanceInterval{std::chrono::hours(1)};  // 0: no maintenance
  std::chrono::milliseconds intakeBusyTimeout{250};  // the HTTP side's catalog connection

  static EngineOptions fromConfig(const config::Config& cfg);
};

// The seams, owned by the caller (cmd_serve.cc wires the real ones; tests substitute).
struct EngineDeps {
  Clock* clock = nullptr;
  catalog::Catalog* catalog = nullptr;
  replication::Replicator* replicator = nullptr;
  replication::PrimaryObjects* objects = nullptr;
  PrimaryLister* lister = nullptr;
  MetricsRegistry* metrics = nullptr;
  HttpClient* notifyHttp = nullptr;  // null: no notify POSTs
  MailSender* notifyMail = nullptr;  // null: no report mail
  kube::KubeClient* kube = nullptr;  // needed only with watchPrimary
  // The per-key reconcile the workers run; null: the Replicator's (ReplicatorKeyHandler over the
  // deps above and the engine's delete breakers). Tests wrap that one to observe every sync.
  KeyHandler* handler = nullptr;
  // Runs serve's change feed (replication.watch.enabled, engine/change_feed.h): the long-lived
  // `ssh primary ocpv-dr-mover watch`. Null: no change feed.
  ProcessRunner* runner = nullptr;
  // Extra sections of /v1/status, e.g. {"leader_election": ...} from cmd_serve; may be empty.
  std::function<Json()> statusExtra;
};

struct EngineStats {
  std::uint64_t eventsAccepted = 0, eventsDuplicate = 0, eventsRejected = 0;
  std::uint64_t syncsStarted = 0, retries = 0;
  int inFlight = 0, maxInFlight = 0;
  std::uint64_t maintenanceRuns = 0;       // finished maintenance passes
  std::map<std::string, int> syncsPerKey;  // handler calls per key
};

class Engine {
 public:
  Engine(const config::Config& cfg, EngineDeps deps, EngineOptions opts);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Validates the schedule and the secrets, loads the state file, starts HTTP, workers,
  // watches and the scheduler. Invalid (bad cron / zone / unreadable token file) or Terminal
  // (cannot listen).
  [[nodiscard]] Status start();
  int port() const;
  // The SIGTERM path (see the header comment). Idempotent.
  void shutdown();
  bool draining() const { return draining_.load(); }

  enum class Accepted { Queued, Duplicate };
  // An event's object becomes the newest known state of its key, and the key is queued after
  // the settle delay. What POST /v1/events does after authentication and parsing.
  Accepted acceptEvent(const EventPayload& ev);
  // One full reconcile now, through the engine's queue and workers: report files under the
  // report dir, notify POSTs, metrics.
  ReconcileReport runReconcile(const std::string& trigger, std::stop_token stop = {});
  Json statusDocument();
  // One maintenance pass now (trash purge by retention, catalog backup); its summary.
  Json runMaintenance();

  EngineStats stats() const;
  WorkQueue& queue() { return workers_->queue(); }
  const CronScheduler* scheduler() const { return scheduler_.get(); }
  const ChangeFeed* changeFeed() const { return feed_.get(); }

 private:
  struct Routes;  // the HTTP handlers (engine_http.cc)
  struct Reflectors;

  // Why an event is outside replication.storage_classes / replication.namespaces ("" if inside).
  std::string outOfScope(const EventPayload& ev) const;
  void acceptObject(const std::string& kind, const std::string& key, const std::string& type,
                    const Json& object, const std::string& id);
  void countEvent(const char* result);
  void describeMetrics();
  [[nodiscard]] Status checkSecrets();
  [[nodiscard]] Status startHttp();
  void startSchedule(CronSchedule schedule);
  void startWatches();
  void startChangeFeed();
  void refreshRunningVms(std::stop_token stop);
  // A PV's data changed at `since` (the change feed): the PV is queued.
  void dataChanged(const std::string& pv, SystemTime since, const std::string& why);
  // The replica rows with the change feed's view; drops the changes the data at DR now covers
  // (counting those that reached DR later than the target).
  Result<std::vector<ReplicaStatus>> replicaRows(SystemTime now);
  void refreshGauges();
  // The catalog as the HTTP side reads it (see the header comment); the workers' one until
  // start() opened it.
  catalog::Catalog& readCatalog();
  [[nodiscard]] Status loadState();
  void saveState();
  std::string readiness() const;

  const config::Config& cfg_;
  EngineDeps deps_;
  EngineOptions opts_;
  Clock& clock_;
  MetricsRegistry& metrics_;

  std::unique_ptr<SecretFile> token_, hmacSecret_;

  std::unique_ptr<replication::DeleteBreaker> pvBreaker_, snapshotBreaker_;
  std::unique_ptr<ReplicatorKeyHandler> ownHandler_;
  std::unique_ptr<KeyWorkers> workers_;
  std::unique_ptr<server::HttpServer> http_;
  std::unique_ptr<CronScheduler> scheduler_;

  mutable std::mutex mu_;  // stats_, lastReconcile_, lastMaintenance_
  EngineStats stats_;      // the event and maintenance counters (the rest: workers_->stats())
  Json lastReconcile_;
  Json lastMaintenance_;
  // The change feed: per PV the oldest change not yet known to be at DR (dropped once the
  // replica's data time passes it), and PVs of running VMs (ranked first on deadline ties).
  std::map<std::string, SystemTime> changedSince_;
  std::set<std::string> runningVmPvs_;
  std::set<std::string> publishedPvs_;  // PVs with per-PV series in /metrics

  std::mutex reconcileMu_;    // one reconcile at a time
  std::mutex maintenanceMu_;  // one maintenance pass at a time
  std::unique_ptr<catalog::Catalog> readCatalog_;
  std::atomic<bool> draining_{false};
  std::atomic<bool> started_{false};
  std::stop_source watchStop_;  // ends the watches
  std::vector<std::jthread> watchThreads_;
  std::jthread maintenance_;
  std::unique_ptr<Reflectors> reflectors_;
  std::unique_ptr<ChangeFeed> feed_;
};

// Runs the reconcile, writes its three report files under <reportRoot>/<UTC time>-run<id>/ and
// POSTs the summary to the notify URLs and mails report.md to notify.email.to (each when its
// channel is given and configured).
ReconcileReport reconcileAndReport(Reconciler& reconciler, const ReconcileOptions& opts,
                                   const std::string& reportRoot, NotifyChannels channels,
                                   const config::Notify& notify);

// <directory of catalog.path>/reports
std::string defaultReportDir(const config::Config& cfg);

}  // namespace ocpvdr::engine
