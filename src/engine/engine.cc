// The serve engine (see engine.h).
#include "engine/engine.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "catalog/backup.h"
#include "core/files.h"
#include "core/log.h"
#include "core/text.h"
#include "core/time.h"
#include "engine/engine_secret.h"
#include "engine/notify.h"
#include "engine/replica_status.h"
#include "events/selection.h"
#include "events/signature.h"
#include "events/work_key.h"
#include "kube/reflector.h"
#include "kube/resource_type.h"
#include "replication/trash.h"
#include "server/http_server.h"

namespace ocpvdr::engine {
using events::checkBearer;
using events::checkSignature;
using events::parseEventPayload;
using events::pvKey;
using events::snapshotKey;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::string catalogDir(const config::Config& cfg) {
  fs::path dir = fs::path(cfg.catalog.path).parent_path();
  return (dir.empty() ? fs::path(".") : dir).string();
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto idx = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
  idx = std::min(v.size() - 1, idx == 0 ? 0 : idx - 1);
  return v[idx];
}

}  // namespace

EngineOptions EngineOptions::fromConfig(const config::Config& cfg) {
  EngineOptions o;
  o.listen = cfg.server.listen;
  o.workers = cfg.server.workers;
  o.settle = cfg.server.settle;
  o.ratePerSecond = cfg.server.rateLimitPerSecond;
  o.shutdownGrace = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.server.shutdownGrace);
  o.maxBodyBytes = cfg.server.maxBodyBytes;
  o.schedule = cfg.schedule.enabled;
  o.watchPrimary = cfg.server.watchPrimary;
  return o;
}

std::string defaultReportDir(const config::Config& cfg) {
  return (fs::path(catalogDir(cfg)) / "reports").string();
}

ReconcileReport reconcileAndReport(Reconciler& reconciler, const ReconcileOptions& opts,
                                   const std::string& reportRoot, NotifyChannels channels,
                                   const config::Notify& notify) {
  ReconcileReport report = reconciler.run(opts);
  const std::string dir = (fs::path(reportRoot) /
                           (compactUtc(report.startedAt) + "-run" + std::to_string(report.runId)))
                              .string();
  if (Status s = writeReportFiles(report, dir); !s.ok()) {
    report.notes.push_back("the report files could not be written: " + s.error().message);
    log::error("reconcile: cannot write the report", {{"dir", dir}, {"error", s.error().message}});
  }
  const bool post = channels.http != nullptr && !notify.urls.empty();
  const bool mail = channels.mail != nullptr && !notify.email.smtpUrl.empty();
  if (post || mail) {
    const Json summary = report.summary();
    report.notify = post ? notifyAll(*channels.http, notify, summary) : Json::array();
    if (mail)
      report.notify.push_back(mailReport(*channels.mail, notify.email,
                                         reconcileMailSubject(notify.email, summary),
                                         report.toMarkdown()));
    // report.json again, now with the notification results.
    if (!report.files.json.empty())
      (void)writeFileAtomic(report.files.json, report.toJson().dump(2) + "\n");
  }
  return report;
}

struct Engine::Reflectors {
  std::vector<std::unique_ptr<kube::Reflector>> list;
};

Engine::Engine(const config::Config& cfg, EngineDeps deps, EngineOptions opts)
    : cfg_(cfg),
      deps_(deps),
      opts_(std::move(opts)),
      clock_(*deps.clock),
      metrics_(*deps.metrics),
      reflectors_(std::make_unique<Reflectors>()) {
  if (opts_.reportDir.empty()) opts_.reportDir = defaultReportDir(cfg_);
  if (opts_.stateFile.empty())
    opts_.stateFile = (fs::path(catalogDir(cfg_)) / "serve-state.json").string();
  if (!cfg_.server.tokenFile.empty())
    token_ = std::make_unique<SecretFile>(cfg_.server.tokenFile, clock_);
  if (!cfg_.server.hmacSecretFile.empty())
    hmacSecret_ = std::make_unique<SecretFile>(cfg_.server.hmacSecretFile, clock_);
  replication::DeleteBreakerLimits limits;
  limits.maxDeletes = cfg_.replication.deleteBreakerMaxDeletes;
  limits.maxShare = cfg_.replication.deleteBreakerMaxShare;
  limits.window = cfg_.replication.deleteBreakerWindow;
  pvBreaker_ = std::make_unique<replication::DeleteBreaker>(clock_, limits, "PV");
  snapshotBreaker_ = std::make_unique<replication::DeleteBreaker>(clock_, limits, "snapshot");
  KeyHandler* handler = deps_.handler;
  if (handler == nullptr) {
    ReplicatorKeyHandler::Deps hd;
    hd.replicator = deps_.replicator;
    hd.objects = deps_.objects;
    hd.lister = deps_.lister;
    hd.pvBreaker = pvBreaker_.get();
    hd.snapshotBreaker = snapshotBreaker_.get();
    hd.metrics = &metrics_;
    hd.alert = [this](std::string_view name, const Json& fields) {
      if (deps_.notifyHttp == nullptr || cfg_.notify.urls.empty()) return;
      (void)notifyAll(*deps_.notifyHttp, cfg_.notify, alertDocument(name, fields, clock_.now()));
    };
    ownHandler_ = std::make_unique<ReplicatorKeyHandler>(hd);
    handler = ownHandler_.get();
  }
  KeyWorkersOptions wo;
  wo.workers = opts_.workers;
  wo.queue.backoffBase = opts_.backoffBase;
  wo.queue.backoffMax = opts_.backoffMax;
  wo.queue.ratePerSecond = opts_.ratePerSecond;
  workers_ = std::make_unique<KeyWorkers>(
      cfg_, KeyWorkersDeps{&clock_, handler, deps_.catalog, &metrics_}, std::move(wo));
  describeMetrics();
}

void Engine::describeMetrics() {
  metrics_.describe("ocpvdr_engine_events_total", "counter",
                    "POST /v1/events requests by result (accepted, duplicate, ignored, rejected, "
                    "unauthorized, unavailable)");
  metrics_.describe("ocpvdr_extent_checksum_mismatch_total", "counter",
                    "Extent cycles whose stream failed a range checksum (the point was discarded "
                    "and an alert sent to notify.urls), by PV");
  metrics_.describe("ocpvdr_engine_delete_breaker_tripped", "gauge",
                    "1 once the event path's delete breaker holds every delete (by kind)");
  metrics_.describe("ocpvdr_engine_event_to_start_seconds", "gauge",
                    "Time from an accepted event to the start of the sync that covers it "
                    "(quantiles over the last 10000 syncs)");
  metrics_.describe("ocpvdr_engine_reconcile_runs_total", "counter",
                    "Scheduled/API reconcile runs by result");
  metrics_.describe("ocpvdr_engine_reconcile_last_finish_timestamp_seconds", "gauge",
                    "End of the last reconcile (Unix time)");
  metrics_.describe("ocpvdr_engine_reconcile_next_timestamp_seconds", "gauge",
                    "Next scheduled reconcile (Unix time)");
  metrics_.describe("ocpvdr_trash_purged_total", "counter",
                    "Trash entries purged by serve's maintenance (older than "
                    "replication.trash_retention)");
  metrics_.describe("ocpvdr_trash_unknown_age_entries", "gauge",
                    "Trash entries kept because their age cannot be established");
  metrics_.describe("ocpvdr_engine_data_changes_total", "counter",
                    "PVs queued by the change feed (source: watch = a changed record, rescan = "
                    "a rescan of a whole export root)");
  metrics_.describe("ocpvdr_replica_rpo_seconds", "gauge",
                    "Current RPO per active replica: now minus the end of its last successful "
                    "sync");
  metrics_.describe("ocpvdr_replica_data_age_seconds", "gauge",
                    "Per active replica: now minus the data time DR holds (the newest point's "
                    "snapshot time, an rsync's start)");
  metrics_.describe("ocpvdr_replica_behind_seconds", "gauge",
                    "Per active replica: age of its oldest change not yet at DR (change feed), "
                    "or its data age beyond the target without the feed; 0 when caught up");
  metrics_.describe("ocpvdr_replica_caught_up", "gauge",
                    "1 when no change newer than the data DR holds is known (change feed) or, "
                    "without the feed, when the data age is within replication.rpo_target");
  metrics_.describe("ocpvdr_replica_rpo_target_missed_total", "counter",
                    "Changes of the replica that reached DR later than replication.rpo_target "
                    "after they were made (change feed)");
  metrics_.describe("ocpvdr_replica_rpo_exceeded", "gauge",
                    "1 when the replica's RPO is above replication.rpo_target (or it never "
                    "synced)");
}

Engine::~Engine() {
  shutdown();
}

Status Engine::checkSecrets() {
  if (token_) {
    auto t = token_->get();
    if (!t.ok()) return t.error().wrap("server.token_file");
  } else {
    log::warn("server.token_file is not set: POST /v1/events is disabled (answers 503)");
  }
  if (hmacSecret_) {
    auto h = hmacSecret_->get();
    if (!h.ok()) return h.error().wrap("server.hmac_secret_file");
  }
  return Status::success();
}

Status Engine::start() {
  if (started_.exchange(true)) return Status::success();
  // Secrets and schedule are checked before anything listens: a misconfiguration stops startup.
  OCPVDR_TRY(checkSecrets());
  std::optional<CronSchedule> schedule;
  if (opts_.schedule) {
    auto s = CronSchedule::create(cfg_.schedule.cron, cfg_.schedule.timeZone);
    if (!s.ok()) return s.error().wrap("schedule");
    schedule = std::move(*s);
  }
  if (opts_.watchPrimary && deps_.kube == nullptr)
    return invalidError("server.watch_primary needs access to the primary API");
  OCPVDR_TRY(loadState());
  {
    auto rc = catalog::Catalog::open(deps_.catalog->path(), opts_.intakeBusyTimeout);
    if (!rc.ok()) return rc.error().wrap("catalog (connection of the HTTP side)");
    readCatalog_ = std::move(rc).value();
  }
  workers_->pruneEventsSeen(true);
  OCPVDR_TRY(startHttp());

  workers_->start();
  if (opts_.watchPrimary) startWatches();
  if (cfg_.replication.watch.enabled) startChangeFeed();
  if (opts_.maintenanceInterval.count() > 0)
    maintenance_ = std::jthread([this](std::stop_token st) {
      (void)runMaintenance();
      while (clock_.sleepFor(opts_.maintenanceInterval, st) && !draining_) (void)runMaintenance();
    });
  if (schedule) startSchedule(std::move(*schedule));
  log::info("serve: listening", {{"listen", opts_.listen},
                                 {"port", port()},
                                 {"workers", opts_.workers},
                                 {"schedule", opts_.schedule ? cfg_.schedule.cron : "off"},
                                 {"watch_primary", opts_.watchPrimary}});
  return Status::success();
}

void Engine::startSchedule(CronSchedule schedule) {
  scheduler_ = std::make_unique<CronScheduler>(
      clock_, std::move(schedule),
      [this](const ScheduledRun&, std::stop_token) {
        // The scheduler's own token would end the pass at once; shutdown lets the pass's running
        // keys finish within the grace period (the workers' stop token stops their rsyncs).
        if (!draining_) (void)runReconcile("schedule");
      },
      opts_.scheduleMaxNap);
  scheduler_->start();
}

std::string Engine::readiness() const {
  if (draining_) return "shutting down";
  for (const auto& r : reflectors_->list)
    if (!r->hasSynced()) return "the primary watch has not listed yet";
  return {};
}

std::string Engine::outOfScope(const EventPayload& ev) const {
  if (ev.kind == "PersistentVolume") {
    if (events::storageClassSelected(cfg_.replication.storageClasses, ev.resource)) return {};
    auto sc = jsonOptString(ev.resource, "spec.storageClassName");
    return "storage class \"" + (sc.ok() ? sc->value_or("") : std::string()) +
           "\" is not in replication.storage_classes";
  }
  const auto& nss = cfg_.replication.namespaces;
  if (nss.empty() || std::find(nss.begin(), nss.end(), ev.ns) != nss.end()) return {};
  return "namespace \"" + ev.ns + "\" is not in replication.namespaces";
}

void Engine::countEvent(const char* result) {
  metrics_.inc("ocpvdr_engine_events_total", {{"result", result}});
}

Engine::Accepted Engine::acceptEvent(const EventPayload& ev) {
  auto duplicate = [&] {
    std::lock_guard lock(mu_);
    ++stats_.eventsDuplicate;
    return Accepted::Duplicate;
  };
  if (!ev.id.empty()) {
    if (workers_->idPending(ev.id)) return duplicate();
    // A catalog that cannot answer now (locked) is not a reason to wait: the key is
    // level-triggered, so a repeat of a handled event costs an "unchanged" sync at most.
    auto seen = readCatalog().eventProcessed(ev.id);
    if (seen.ok() && *seen) return duplicate();
  }
  acceptObject(ev.kind, ev.key, ev.type, ev.resource, ev.id);
  std::lock_guard lock(mu_);
  ++stats_.eventsAccepted;
  return Accepted::Queued;
}

void Engine::acceptObject(const std::string& kind, const std::string& key, const std::string& type,
                          const Json& object, const std::string& id) {
  // False: raced with a duplicate of `id`.
  (void)workers_->offer(key, KeyObject{kind, type, object}, id, opts_.settle);
}

void Engine::startWatches() {
  auto& client = *deps_.kube;
  auto pvHandler = [this](kube::WatchEventType t, const Json& obj, bool) {
    if (!events::storageClassSelected(cfg_.replication.storageClasses, obj)) return;
    auto name = jsonString(obj, "metadata.name");
    if (!name.ok()) return;
    acceptObject("PersistentVolume", pvKey(*name), std::string(kube::toString(t)), obj, "");
  };
  auto snapHandler = [this](kube::WatchEventType t, const Json& obj, bool) {
    auto name = jsonString(obj, "metadata.name");
    auto ns = jsonString(obj, "metadata.namespace");
    if (!name.ok() || !ns.ok()) return;
    acceptObject("VolumeSnapshot", snapshotKey(*ns, *name), std::string(kube::toString(t)), obj,
                 "");
  };
  kube::ReflectorOptions po;
  po.labelSelector = cfg_.replication.labelSelector;
  po.name = "primary-pvs";
  reflectors_->list.push_back(std::make_unique<kube::Reflector>(
      client, clock_, kube::resources::persistentVolumes(), po, pvHandler));
  std::vector<std::string> nss = cfg_.replication.namespaces;
  if (nss.empty()) nss.push_back("");
  for (const auto& ns : nss) {
    kube::ReflectorOptions so;
    so.ns = ns;
    so.name = "primary-snapshots" + (ns.empty() ? std::string() : "-" + ns);
    reflectors_->list.push_back(std::make_unique<kube::Reflector>(
        client, clock_, kube::resources::volumeSnapshots(), so, snapHandler));
  }
  for (auto& r : reflectors_->list) {
    kube::Reflector* rp = r.get();
    watchThreads_.emplace_back([rp, tok = watchStop_.get_token()] { rp->run(tok); });
  }
}

void Engine::startChangeFeed() {
  if (deps_.runner == nullptr) {
    log::warn("serve: replication.watch is enabled but no process runner was given");
    return;
  }
  feed_ =
      std::make_unique<ChangeFeed>(ChangeFeedOptions::fromConfig(cfg_), clock_, *deps_.runner,
                                   *deps_.replicator, ChangeFeed::activeReplicas(readCatalog()),
                                   [this](const std::string& pv, SystemTime since,
                                          const std::string& why) { dataChanged(pv, since, why); });
  feed_->start();
  // PVs of running VMs go first on deadline ties: which claims running VMIs use, every 30 s.
  if (deps_.kube != nullptr)
    watchThreads_.emplace_back([this, tok = watchStop_.get_token()] {
      do refreshRunningVms(tok);
      while (clock_.sleepFor(std::chrono::seconds(30), tok));
    });
}

void Engine::refreshRunningVms(std::stop_token stop) {
  auto vmis = deps_.kube->listAll(kube::resources::virtualMachineInstances(), "", {}, stop);
  if (!vmis.ok()) return;  // no KubeVirt, no access: nothing is ranked first
  std::set<std::pair<std::string, std::string>> claims;
  for (const auto& vmi : vmis->items) {
    if (jsonOptString(vmi, "status.phase").valueOr(std::nullopt).value_or("") != "Running")
      continue;
    const std::string ns =
        jsonOptString(vmi, "metadata.namespace").valueOr(std::nullopt).value_or("");
    if (!vmi.contains("spec") || !vmi["spec"].contains("volumes")) continue;
    if (!vmi["spec"]["volumes"].is_array()) continue;
    for (const auto& v : vmi["spec"]["volumes"]) {
      for (const char* path : {"persistentVolumeClaim.claimName", "dataVolume.name"}) {
        auto claim = jsonOptString(v, path);
        if (claim.ok() && claim->has_value()) claims.emplace(ns, **claim);
      }
    }
  }
  auto rows = readCatalog().replicas();
  if (!rows.ok()) return;
  std::set<std::string> pvs;
  for (const auto& r : *rows)
    if (claims.count({r.claimNamespace, r.claimName}) != 0) pvs.insert(r.pv);
  std::lock_guard lock(mu_);
  runningVmPvs_ = std::move(pvs);
}

void Engine::dataChanged(const std::string& pv, SystemTime since, const std::string& why) {
  if (draining_) return;
  const std::string key = pvKey(pv);
  bool first = false;
  {
    std::lock_guard lock(mu_);
    auto [it, fresh] = changedSince_.try_emplace(pv, since);
    if (!fresh && since < it->second) it->second = since;
    first = runningVmPvs_.count(pv) != 0;
  }
  // Earliest deadline first: the change's time plus the target, on the monotonic clock.
  const auto target =
      std::chrono::duration_cast<std::chrono::nanoseconds>(cfg_.replication.rpoTarget);
  const auto untilDeadline = (since + target) - clock_.now();
  workers_->queue().setDeadline(
      key, clock_.monotonic() + std::chrono::duration_cast<std::chrono::nanoseconds>(untilDeadline),
      first);
  metrics_.inc("ocpvdr_engine_data_changes_total",
               {{"source", why == "changed" ? "watch" : "rescan"}});
  workers_->touch(key, std::chrono::milliseconds(0));
}

Result<std::vector<ReplicaStatus>> Engine::replicaRows(SystemTime now) {
  ChangeView view;
  view.trusted = feed_ && feed_->trusted();
  {
    std::lock_guard lock(mu_);
    view.pending = changedSince_;
  }
  OCPVDR_ASSIGN_OR_RETURN(auto rows,
                          replicaStatuses(readCatalog(), now, cfg_.replication.rpoTarget, &view));
  std::lock_guard lock(mu_);
  std::set<std::string> live;
  for (const auto& r : rows) {
    const bool active = r.state == "active" || r.state == "restored";
    if (active) live.insert(r.pv);
    auto it = changedSince_.find(r.pv);
    if (it == changedSince_.end() || !active) continue;
    // Covered: the data DR holds (a point's snapshot time, rsync's start) is after the change.
    if (r.lastSuccess && *r.lastSuccess > it->second) {
      if (r.lastSyncEnd && *r.lastSyncEnd - it->second > cfg_.replication.rpoTarget)
        metrics_.inc("ocpvdr_replica_rpo_target_missed_total", {{"pv", r.pv}});
      changedSince_.erase(it);
    }
  }
  for (auto it = changedSince_.begin(); it != changedSince_.end();)
    it = live.count(it->first) != 0 ? std::next(it) : changedSince_.erase(it);
  return rows;
}

void Engine::refreshGauges() {
  const std::vector<double> latencies = workers_->latencies();
  for (double q : {0.5, 0.9, 0.99}) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%g", q);
    metrics_.set("ocpvdr_engine_event_to_start_seconds", quantile(latencies, q),
                 {{"quantile", buf}});
  }
  if (scheduler_)
    if (auto n = scheduler_->nextRun())
      metrics_.set("ocpvdr_engine_reconcile_next_timestamp_seconds",
                   std::chrono::duration<double>(n->time_since_epoch()).count());
  auto rows = replicaRows(clock_.now());
  if (rows.ok()) {
    std::set<std::string> now;
    for (const auto& r : *rows) {
      if (!(r.state == "active" || r.state == "restored")) continue;
      now.insert(r.pv);
      const Labels pv{{"pv", r.pv}};
      if (r.rpo) {
        metrics_.set("ocpvdr_replica_rpo_seconds", r.rpo->count(), pv);
        metrics_.set("ocpvdr_replica_data_age_seconds", r.rpo->count(), pv);
      }
      metrics_.set("ocpvdr_replica_rpo_exceeded", r.rpoExceeded ? 1 : 0, pv);
      if (r.behind) metrics_.set("ocpvdr_replica_behind_seconds", r.behind->count(), pv);
      metrics_.set("ocpvdr_replica_caught_up", r.caughtUp ? 1 : 0, pv);
    }
    // Series of PVs that are gone (or no longer active) go too: cardinality follows the PVs.
    std::lock_guard lock(mu_);
    for (const auto& gone : publishedPvs_) {
      if (now.count(gone) != 0) continue;
      for (const char* m : {"ocpvdr_replica_rpo_seconds", "ocpvdr_replica_data_age_seconds",
                            "ocpvdr_replica_rpo_exceeded", "ocpvdr_replica_behind_seconds",
                            "ocpvdr_replica_caught_up", "ocpvdr_replica_rpo_target_missed_total"})
        metrics_.remove(m, {{"pv", gone}});
    }
    publishedPvs_ = std::move(now);
  }
  for (const auto& r : reflectors_->list) kube::publishReflectorMetrics(metrics_, *r, "primary");
}

ReconcileReport Engine::runReconcile(const std::string& trigger, std::stop_token stop) {
  std::lock_guard lock(reconcileMu_);
  Reconciler reconciler(cfg_, *deps_.replicator, *deps_.catalog, *deps_.lister, *deps_.objects,
                        clock_, workers_.get());
  ReconcileOptions ro;
  ro.trigger = trigger;
  ro.stop = stop;
  ro.lockWait = opts_.reconcileLockWait;
  ReconcileReport report =
      reconcileAndReport(reconciler, ro, opts_.reportDir,
                         NotifyChannels{deps_.notifyHttp, deps_.notifyMail}, cfg_.notify);
  metrics_.inc("ocpvdr_engine_reconcile_runs_total", {{"result", report.resultWord()}});
  metrics_.set("ocpvdr_engine_reconcile_last_finish_timestamp_seconds",
               std::chrono::duration<double>(report.finishedAt.time_since_epoch()).count());
  (void)catalog::backupAfter(*deps_.catalog, "reconcile");
  std::lock_guard l2(mu_);
  lastReconcile_ = report.summary();
  return report;
}

catalog::Catalog& Engine::readCatalog() {
  return readCatalog_ ? *readCatalog_ : *deps_.catalog;
}

Json Engine::runMaintenance() {
  std::lock_guard one(maintenanceMu_);
  const SystemTime now = clock_.now();
  Json doc{{"at", formatTime(now)}};
  auto purged = deps_.replicator->trash().purge({});
  if (purged.ok()) {
    doc["trash"] = purged->summary(now);
    for (const auto& e : purged->purged)
      log::info("serve: trash entry purged (older than replication.trash_retention)",
                {{"id", e.id}, {"path", e.entryPath}});
    for (const auto& u : doc["trash"]["unknown_age"])
      log::warn(
          "serve: trash entry of unknown age kept (remove it by hand or with `ocpv-dr "
          "trash purge --all` once checked)",
          {{"id", u["id"]}, {"path", u["path"]}, {"why", u["why"]}});
    metrics_.inc("ocpvdr_trash_purged_total", {}, static_cast<double>(purged->purged.size()));
    metrics_.set("ocpvdr_trash_unknown_age_entries",
                 static_cast<double>(purged->unknownAge.size()));
  } else {
    doc["trash"] = {{"error", purged.error().message}};
    log::error("serve: trash purge failed", {{"error", purged.error().message}});
  }
  Status b = catalog::backupAfter(*deps_.catalog, "maintenance");
  doc["catalog_backup"] =
      b.ok() ? Json{{"ok", true}, {"path", catalog::defaultBackupPath(deps_.catalog->path())}}
             : Json{{"ok", false}, {"error", b.error().message}};
  std::lock_guard lock(mu_);
  ++stats_.maintenanceRuns;
  lastMaintenance_ = doc;
  return doc;
}

Json Engine::statusDocument() {
  const SystemTime now = clock_.now();
  Json doc;
  auto rows = replicaRows(now);
  if (rows.ok()) {
    doc = statusJson(*rows, now, cfg_.replication.rpoTarget);
  } else {
    doc = Json{{"generated_at", formatTime(now)}, {"error", rows.error().message}};
  }
  doc["queue"] = {{"depth", queue().len()},
                  {"waiting", queue().waitingLen()},
                  {"processing", queue().processingLen()}};
  doc["draining"] = draining_.load();
  doc["change_feed"] = feed_ ? feed_->status() : Json{{"enabled", false}};
  doc["delete_breaker"] = {{"pv", pvBreaker_->toJson()}, {"snapshot", snapshotBreaker_->toJson()}};
  // After a failover nothing syncs: events are acknowledged, every sync refused (docs/serve.md).
  if (auto active = readCatalog().drActive(); active.ok())
    doc["dr_active"] = catalog::drActiveJson(*active);
  else
    doc["dr_active"] = Json{{"active", nullptr}, {"error", active.error().message}};
  Json sched = {{"enabled", scheduler_ != nullptr},
                {"cron", cfg_.schedule.cron},
                {"time_zone", cfg_.schedule.timeZone}};
  if (scheduler_) {
    if (auto n = scheduler_->nextRun()) sched["next_run"] = formatTime(*n);
    sched["running"] = scheduler_->running();
  }
  doc["schedule"] = sched;
  if (deps_.statusExtra) {
    const Json extra = deps_.statusExtra();
    for (const auto& [k, v] : extra.items()) doc[k] = v;
  }
  {
    std::lock_guard lock(mu_);
    doc["maintenance"] = lastMaintenance_.is_null() ? Json::object() : lastMaintenance_;
    doc["maintenance"]["runs"] = stats_.maintenanceRuns;
  }
  std::lock_guard lock(mu_);
  doc["last_reconcile"] = lastReconcile_;
  return doc;
}

EngineStats Engine::stats() const {
  WorkerStats w = workers_->stats();
  std::lock_guard lock(mu_);
  EngineStats s = stats_;
  s.syncsStarted = w.syncsStarted;
  s.retries = w.retries;
  s.inFlight = w.inFlight;
  s.maxInFlight = w.maxInFlight;
  s.syncsPerKey = std::move(w.syncsPerKey);
  return s;
}

Status Engine::loadState() {
  std::error_code ec;
  if (!fs::exists(opts_.stateFile, ec)) return Status::success();
  auto text = readFile(opts_.stateFile);
  if (!text.ok()) return text.error().wrap("reading the serve state file");
  auto doc = parseJson(*text, opts_.stateFile);
  if (!doc.ok() || !doc->is_object() || !doc->contains("keys") || !(*doc)["keys"].is_array()) {
    // A damaged state file must not stop the engine: reconcile catches up on anything lost.
    log::error("serve: ignoring a malformed state file", {{"file", opts_.stateFile}});
    fs::rename(opts_.stateFile, opts_.stateFile + ".bad", ec);
    return Status::success();
  }
  int n = 0;
  for (const auto& e : (*doc)["keys"]) {
    if (!e.is_object() || !e.contains("key") || !e["key"].is_string()) continue;
    const std::string key = e["key"];
    const std::string_view kind = events::kindOfKey(key);
    if (kind.empty()) continue;
    UnfinishedKey u;
    u.key = key;
    u.object.kind = e.value("kind", std::string(kind));
    u.object.type = e.value("type", std::string());
    u.object.object = e.contains("object") ? e["object"] : Json(nullptr);
    if (e.contains("ids") && e["ids"].is_array())
      for (const auto& id : e["ids"])
        if (id.is_string()) u.ids.push_back(id);
    workers_->resume(std::move(u));
    ++n;
  }
  fs::remove(opts_.stateFile, ec);
  log::info("serve: resumed unfinished keys from the state file",
            {{"file", opts_.stateFile}, {"keys", n}});
  return Status::success();
}

void Engine::saveState() {
  Json keys = Json::array();
  for (const auto& u : workers_->unfinished())
    keys.push_back(Json{{"key", u.key},
                        {"kind", u.object.kind},
                        {"type", u.object.type},
                        {"object", u.object.object},
                        {"ids", u.ids}});
  std::error_code ec;
  if (keys.empty()) {
    fs::remove(opts_.stateFile, ec);
    return;
  }
  Json doc{{"version", 1}, {"saved_at", formatTime(clock_.now())}, {"keys", keys}};
  Status s = writeFileAtomic(opts_.stateFile, doc.dump() + "\n", 0600);
  if (s.ok())
    log::info("serve: unfinished keys saved", {{"file", opts_.stateFile}, {"keys", keys.size()}});
  else
    log::error("serve: cannot save unfinished keys",
               {{"file", opts_.stateFile}, {"error", s.error().message}});
}

void Engine::shutdown() {
  if (!started_.load() || draining_.exchange(true)) return;
  log::info("serve: shutting down", {{"grace_ms", opts_.shutdownGrace.count()}});
  watchStop_.request_stop();
  for (auto& t : watchThreads_)
    if (t.joinable()) t.join();
  if (feed_) feed_->stop();
  workers_->shutDown();
  {
    // Running syncs (a running reconcile's included: they are the same workers) get the grace
    // period, then their rsyncs are stopped (SIGTERM to the process group).
    std::jthread grace([this](std::stop_token st) {
      if (clock_.sleepFor(opts_.shutdownGrace, st)) {
        log::warn("serve: grace period over; stopping running syncs");
        workers_->stopSyncs();
      }
    });
    workers_->join();
    if (scheduler_) scheduler_->stop();
    if (maintenance_.joinable()) {
      maintenance_.request_stop();
      maintenance_.join();
    }
    grace.request_stop();
  }
  saveState();
  if (http_) http_->stop();
  deps_.replicator->closeConnections();
  log::info("serve: stopped");
}

}  // namespace ocpvdr::engine
