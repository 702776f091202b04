// The serve engine (see engine.h).
#include "engine/engine.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "catalog/backup.h"
#include "core/files.h"
#include "core/log.h"
#include "core/secret_file.h"
#include "core/text.h"
#include "core/time.h"
#include "engine/notify.h"
#include "engine/replica_status.h"
#include "kube/reflector.h"
#include "kube/resource_type.h"
#include "replication/trash.h"

namespace ocpvdr::engine {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t kLatencySamples = 10'000;

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
                                   const std::string& reportRoot, HttpClient* notifyHttp,
                                   const config::Notify& notify) {
  ReconcileReport report = reconciler.run(opts);
  const std::string dir = (fs::path(reportRoot) /
                           (compactUtc(report.startedAt) + "-run" + std::to_string(report.runId)))
                              .string();
  if (Status s = writeReportFiles(report, dir); !s.ok()) {
    report.notes.push_back("the report files could not be written: " + s.error().message);
    log::error("reconcile: cannot write the report", {{"dir", dir}, {"error", s.error().message}});
  }
  if (notifyHttp != nullptr && !notify.urls.empty()) {
    report.notify = notifyAll(*notifyHttp, notify, report.summary());
    // report.json again, now with the notification results.
    if (!report.files.json.empty())
      (void)writeFileAtomic(report.files.json, report.toJson().dump(2) + "\n");
  }
  return report;
}

// The serve endpoint's token or HMAC secret (core/secret_file.h): checked on every request, so a
// rotated Secret takes effect at once; a missing or empty file refuses the request.
class Engine::SecretFile {
 public:
  SecretFile(std::string path, Clock& clock) : file_(std::move(path), clock, Millis(0)) {}
  [[nodiscard]] Result<std::string> get() {
    if (Status st = file_.refresh(); !st.ok()) return terminalError(st.error().message);
    std::string v = file_.value();
    if (v.empty()) return invalidError(file_.path() + " is empty");
    return v;
  }

 private:
  ocpvdr::SecretFile file_;
};

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
  WorkQueueOptions q;
  q.backoffBase = opts_.backoffBase;
  q.backoffMax = opts_.backoffMax;
  q.ratePerSecond = opts_.ratePerSecond;
  queue_ = std::make_unique<WorkQueue>(clock_, q);

  metrics_.describe("ocpvdr_engine_events_total", "counter",
                    "POST /v1/events requests by result (accepted, duplicate, ignored, rejected, "
                    "unauthorized, unavailable)");
  metrics_.describe("ocpvdr_engine_syncs_total", "counter",
                    "Handler runs by key kind (pv, snapshot), action and result");
  metrics_.describe("ocpvdr_engine_retries_total", "counter", "Keys re-queued with backoff");
  metrics_.describe("ocpvdr_engine_delete_breaker_tripped", "gauge",
                    "1 once the event path's delete breaker holds every delete (by kind)");
  metrics_.describe("ocpvdr_engine_syncs_in_flight", "gauge", "Handlers running now");
  metrics_.describe("ocpvdr_engine_syncs_in_flight_max", "gauge",
                    "Most handlers that ran at once since start");
  metrics_.describe("ocpvdr_engine_queue_depth", "gauge", "Keys queued and ready");
  metrics_.describe("ocpvdr_engine_queue_waiting", "gauge",
                    "Keys waiting for their settle or backoff delay");
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
  metrics_.describe("ocpvdr_replica_rpo_seconds", "gauge",
                    "Current RPO per active replica: now minus the end of its last successful "
                    "sync");
  metrics_.describe("ocpvdr_replica_rpo_exceeded", "gauge",
                    "1 when the replica's RPO is above replication.rpo_target (or it never "
                    "synced)");
}

Engine::~Engine() {
  shutdown();
}

Status Engine::start() {
  if (started_.exchange(true)) return Status::success();
  // Secrets and schedule are checked before anything listens: a misconfiguration stops startup.
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
  pruneEventsSeen(true);

  server::ServerOptions so;
  so.listen = opts_.listen;
  so.certFile = cfg_.server.tls.certFile;
  so.keyFile = cfg_.server.tls.keyFile;
  so.maxBodyBytes = static_cast<std::size_t>(opts_.maxBodyBytes);
  so.threads = opts_.httpThreads;
  http_ = std::make_unique<server::HttpServer>(so);
  registerRoutes();
  auto port = http_->start();
  if (!port.ok()) return port.error().wrap("server.listen");

  for (int i = 0; i < std::max(1, opts_.workers); ++i)
    workers_.emplace_back([this](std::stop_token st) { worker(st); });
  if (opts_.watchPrimary) startWatches();
  if (opts_.maintenanceInterval.count() > 0)
    maintenance_ = std::jthread([this](std::stop_token st) {
      (void)runMaintenance();
      while (clock_.sleepFor(opts_.maintenanceInterval, st) && !draining_) (void)runMaintenance();
    });
  if (schedule) {
    scheduler_ = std::make_unique<CronScheduler>(
        clock_, std::move(*schedule),
        [this](const ScheduledRun&, std::stop_token) {
          // The scheduler's own token would stop rsyncs at once; shutdown grants a grace period
          // and then stops them through syncStop_.
          if (!draining_) (void)runReconcile("schedule", syncStop_.get_token());
        },
        opts_.scheduleMaxNap);
    scheduler_->start();
  }
  log::info("serve: listening", {{"listen", opts_.listen},
                                 {"port", *port},
                                 {"workers", opts_.workers},
                                 {"schedule", opts_.schedule ? cfg_.schedule.cron : "off"},
                                 {"watch_primary", opts_.watchPrimary}});
  return Status::success();
}

void Engine::registerRoutes() {
  // PV names in /metrics (ocpvdr_replica_*{pv=...}) are for authenticated readers, as in
  // /v1/status, unless server.public_metrics_labels says otherwise (docs/security.md).
  http_->setPrivateMetricLabels({"pv"}, [this](const httplib::Request& req) {
    if (cfg_.server.publicMetricsLabels) return true;
    return token_ != nullptr && req.has_header("Authorization") && authorize(req, false).ok();
  });
  http_->addStandardEndpoints(
      metrics_, [this] { return readiness(); }, [this] { refreshGauges(); });
  http_->post("/v1/events", [this](const httplib::Request& req, httplib::Response& res) {
    handleEvent(req, res);
  });
  http_->get("/v1/status", [this](const httplib::Request& req, httplib::Response& res) {
    handleStatus(req, res);
  });
}

std::string Engine::readiness() const {
  if (draining_) return "shutting down";
  for (const auto& r : reflectors_->list)
    if (!r->hasSynced()) return "the primary watch has not listed yet";
  return {};
}

Status Engine::authorize(const httplib::Request& req, bool requireSignature) {
  auto token = token_->get();
  if (!token.ok())
    return terminalError("the server token cannot be read: " + token.error().message);
  std::optional<std::string> auth;
  if (req.has_header("Authorization")) auth = req.get_header_value("Authorization");
  OCPVDR_TRY(checkBearer(auth, *token));
  if (requireSignature && hmacSecret_) {
    auto secret = hmacSecret_->get();
    if (!secret.ok())
      return terminalError("the HMAC secret cannot be read: " + secret.error().message);
    std::optional<std::string> sig;
    if (req.has_header("x-hub-signature-256")) sig = req.get_header_value("x-hub-signature-256");
    OCPVDR_TRY(checkSignature(sig, req.body, *secret));
  }
  return Status::success();
}

void Engine::handleEvent(const httplib::Request& req, httplib::Response& res) {
  auto count = [&](const char* result) {
    metrics_.inc("ocpvdr_engine_events_total", {{"result", result}});
  };
  if (draining_) {
    count("unavailable");
    server::respondError(res, 503, "shutting down: not accepting events");
    return;
  }
  if (!token_) {
    count("unavailable");
    server::respondError(res, 503,
                         "events are disabled: server.token_file is not set on this engine");
    return;
  }
  if (Status a = authorize(req, true); !a.ok()) {
    const bool serverSide = a.error().kind == ErrorKind::Terminal;
    count(serverSide ? "unavailable" : "unauthorized");
    if (!serverSide) res.set_header("WWW-Authenticate", "Bearer");
    server::respondError(res, serverSide ? 503 : 401, a.error().message);
    return;
  }
  auto ev = parseEventPayload(req.body);
  if (!ev.ok()) {
    count("rejected");
    {
      std::lock_guard lock(mu_);
      ++stats_.eventsRejected;
    }
    server::respondError(res, 400, ev.error().message);
    return;
  }
  if (Status c = checkEventCluster(*ev, cfg_.server.expectedCluster, cfg_.primary.name); !c.ok()) {
    count("rejected");
    {
      std::lock_guard lock(mu_);
      ++stats_.eventsRejected;
    }
    server::respondError(res, 400, c.error().message);
    return;
  }
  if (std::string why = outOfScope(*ev); !why.empty()) {
    // The forwarder applies the same filters; anything else that sends events must not widen
    // what is replicated (or deleted) here.
    count("ignored");
    server::respondJson(
        res, 200, Json{{"accepted", false}, {"ignored", why}, {"id", ev->id}, {"key", ev->key}});
    return;
  }
  if (acceptEvent(*ev) == Accepted::Duplicate) {
    count("duplicate");
    server::respondJson(
        res, 200, Json{{"accepted", false}, {"duplicate", true}, {"id", ev->id}, {"key", ev->key}});
    return;
  }
  count("accepted");
  server::respondJson(res, 202, Json{{"accepted", true}, {"id", ev->id}, {"key", ev->key}});
}

void Engine::handleStatus(const httplib::Request& req, httplib::Response& res) {
  // Replica paths and PV names are not for anonymous readers when the engine has a token.
  if (token_) {
    if (Status a = authorize(req, false); !a.ok()) {
      res.set_header("WWW-Authenticate", "Bearer");
      server::respondError(res, a.error().kind == ErrorKind::Terminal ? 503 : 401,
                           a.error().message);
      return;
    }
  }
  server::respondJson(res, 200, statusDocument());
}

std::string Engine::outOfScope(const EventPayload& ev) const {
  if (ev.kind == "PersistentVolume") {
    if (storageClassSelected(cfg_, ev.resource)) return {};
    auto sc = jsonOptString(ev.resource, "spec.storageClassName");
    return "storage class \"" + (sc.ok() ? sc->value_or("") : std::string()) +
           "\" is not in replication.storage_classes";
  }
  const auto& nss = cfg_.replication.namespaces;
  if (nss.empty() || std::find(nss.begin(), nss.end(), ev.ns) != nss.end()) return {};
  return "namespace \"" + ev.ns + "\" is not in replication.namespaces";
}

Engine::Accepted Engine::acceptEvent(const EventPayload& ev) {
  if (!ev.id.empty()) {
    {
      std::lock_guard lock(mu_);
      if (pendingIds_.count(ev.id) != 0) {
        ++stats_.eventsDuplicate;
        return Accepted::Duplicate;
      }
    }
    // A catalog that cannot answer now (locked) is not a reason to wait: the key is
    // level-triggered, so a repeat of a handled event costs an "unchanged" sync at most.
    auto seen = readCatalog().eventProcessed(ev.id);
    if (seen.ok() && *seen) {
      std::lock_guard lock(mu_);
      ++stats_.eventsDuplicate;
      return Accepted::Duplicate;
    }
  }
  acceptObject(ev.kind, ev.key, ev.type, ev.resource, ev.id);
  std::lock_guard lock(mu_);
  ++stats_.eventsAccepted;
  return Accepted::Queued;
}

void Engine::acceptObject(const std::string& kind, const std::string& key, const std::string& type,
                          const Json& object, const std::string& id) {
  {
    std::lock_guard lock(mu_);
    if (!id.empty() && !pendingIds_.insert(id).second) return;  // raced with a duplicate
    Known& k = known_[key];
    k.kind = kind;
    k.type = type;
    k.object = object;
    if (!id.empty()) k.ids.push_back(id);
    ++k.generation;
    k.pending = true;
    if (!k.firstPendingAt) k.firstPendingAt = clock_.monotonic();
  }
  queue_->addAfter(key, opts_.settle);
}

void Engine::worker(std::stop_token stop) {
  while (auto key = queue_->get(stop)) {
    processKey(*key);
    queue_->done(*key);
  }
}

Engine::KeyOutcome Engine::reconcileKey(const std::string& key, const Known& k) {
  KeyOutcome out;
  auto fromReport = [&](const Result<replication::SyncReport>& r, const std::string& action) {
    out.action = action;
    if (!r.ok()) {
      out.error = r.error();
      out.result = "failed";
      return;
    }
    out.result = std::string(replication::toString(r->result));
    // A PV that is not NFS is out of scope, not a failure to retry.
    out.ok = r->ok() || r->result == replication::Outcome::NotReplicable;
    if (!out.ok) out.error = r->error;
  };
  // A key queued without its object (resync, restart) reads it now. No tombstone and gone at the
  // primary: the reconcile's orphan check (with its breaker) decides about the DR copy, not a key
  // without an object. False when `out` is already the outcome.
  auto fetched = [&](Result<Json> got, const std::string& what, Json& object,
                     std::string& type) -> bool {
    if (got.ok()) {
      object = std::move(*got);
      type = "MODIFIED";
      return true;
    }
    if (got.error().kind == ErrorKind::NotFound) {
      out.ok = true;
      out.action = "gone";
      out.result = "gone";
      return false;
    }
    out.error = got.error().wrap(what);
    out.result = "failed";
    out.action = "sync";
    return false;
  };
  const std::stop_token stop = syncStop_.get_token();
  if (key.rfind("pv/", 0) == 0) {
    const std::string name = key.substr(3);
    Json object = k.object;
    std::string type = k.type;
    if (object.is_null() &&
        !fetched(deps_.objects->getPersistentVolume(name),
                 "reading PersistentVolume " + name + " from the primary", object, type))
      return out;
    if (type == "DELETED") {
      replication::DeleteOptions o;
      o.reason = "PersistentVolume " + name + " DELETED at the primary (serve)";
      o.verify = true;
      o.breaker = pvBreaker_.get();
      fromReport(deps_.replicator->deletePv(object, o), "delete");
      metrics_.set("ocpvdr_engine_delete_breaker_tripped", pvBreaker_->tripped() ? 1 : 0,
                   {{"kind", "pv"}});
    } else if (type == "LEFT_SELECTION") {
      // Not a delete: the PV still exists, it is just no longer replicated. The DR copy stays.
      out.ok = true;
      out.action = "left-selection";
      out.result = std::string(replication::toString(replication::Outcome::LeftSelection));
      log::warn("serve: PV left the label selection; replication stops, its DR copy is kept",
                {{"pv", name}});
    } else {
      replication::SyncOptions o;
      o.stop = stop;
      fromReport(deps_.replicator->syncPv(object, o), "sync");
    }
    return out;
  }
  // snap/<ns>/<name>
  const std::string rest = key.substr(5);
  const auto slash = rest.find('/');
  const std::string ns = rest.substr(0, slash);
  const std::string name = slash == std::string::npos ? std::string() : rest.substr(slash + 1);
  Json object = k.object;
  std::string type = k.type;
  if (object.is_null() && !fetched(deps_.lister->getVolumeSnapshot(ns, name, stop),
                                   "reading VolumeSnapshot " + ns + "/" + name, object, type))
    return out;
  if (type == "DELETED") {
    replication::DeleteOptions o;
    o.reason = "VolumeSnapshot " + ns + "/" + name + " DELETED at the primary (serve)";
    o.verify = true;
    o.breaker = snapshotBreaker_.get();
    fromReport(deps_.replicator->deleteSnapshot(object, o), "delete");
    metrics_.set("ocpvdr_engine_delete_breaker_tripped", snapshotBreaker_->tripped() ? 1 : 0,
                 {{"kind", "snapshot"}});
  } else {
    replication::SnapshotOptions o;
    o.stop = stop;
    fromReport(deps_.replicator->syncSnapshot(object, o), "sync");
  }
  return out;
}

void Engine::recordIds(const std::string& key, const std::vector<std::string>& ids,
                       const std::string& result, bool ok) {
  const SystemTime now = clock_.now();
  for (const auto& id : ids) {
    Status s = deps_.catalog->recordEvent(id, key, result, ok, now);
    if (!s.ok())
      log::warn("serve: could not record the event id", {{"id", id}, {"error", s.error().message}});
  }
  if (!ids.empty()) pruneEventsSeen(false);
}

void Engine::pruneEventsSeen(bool force) {
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

void Engine::processKey(const std::string& key) {
  Known snapshot;
  std::vector<std::string> ids;
  {
    std::lock_guard lock(mu_);
    Known& k = known_[key];
    if (k.kind.empty()) k.kind = key.rfind("pv/", 0) == 0 ? "PersistentVolume" : "VolumeSnapshot";
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
    snapshot = k;
    ++stats_.syncsStarted;
    ++stats_.syncsPerKey[key];
    ++stats_.inFlight;
    stats_.maxInFlight = std::max(stats_.maxInFlight, stats_.inFlight);
    metrics_.set("ocpvdr_engine_syncs_in_flight", stats_.inFlight);
    metrics_.set("ocpvdr_engine_syncs_in_flight_max", stats_.maxInFlight);
  }

  KeyOutcome out = reconcileKey(key, snapshot);

  const bool retry =
      !out.ok && out.error &&
      (out.error->kind == ErrorKind::Retryable || out.error->kind == ErrorKind::Conflict) &&
      !syncStop_.stop_requested();
  const bool stoppedMidway = !out.ok && syncStop_.stop_requested();
  const std::string kindLabel = key.rfind("pv/", 0) == 0 ? "pv" : "snapshot";
  metrics_.inc("ocpvdr_engine_syncs_total",
               {{"kind", kindLabel}, {"action", out.action}, {"result", out.result}});
  if (retry) {
    metrics_.inc("ocpvdr_engine_retries_total");
    log::warn("serve: will retry", {{"key", key},
                                    {"attempt", queue_->numRequeues(key) + 1},
                                    {"error", out.error->describe()}});
    queue_->addRateLimited(key);
  } else {
    queue_->forget(key);
    if (!out.ok && out.error && !stoppedMidway)
      log::error("serve: not retried", {{"key", key}, {"error", out.error->describe()}});
  }
  if (!retry && !stoppedMidway) recordIds(key, ids, out.result, out.ok);

  std::lock_guard lock(mu_);
  Known& k = known_[key];
  if (retry || stoppedMidway) {
    // The ids stay pending: recorded once a later attempt covers them.
    k.ids.insert(k.ids.begin(), ids.begin(), ids.end());
  } else {
    for (const auto& id : ids) pendingIds_.erase(id);
    if (k.generation == snapshot.generation) k.pending = false;
  }
  if (retry) ++stats_.retries;
  --stats_.inFlight;
  metrics_.set("ocpvdr_engine_syncs_in_flight", stats_.inFlight);
}

void Engine::startWatches() {
  auto& client = *deps_.kube;
  auto pvHandler = [this](kube::WatchEventType t, const Json& obj, bool) {
    if (!storageClassSelected(cfg_, obj)) return;
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

void Engine::refreshGauges() {
  metrics_.set("ocpvdr_engine_queue_depth", static_cast<double>(queue_->len()));
  metrics_.set("ocpvdr_engine_queue_waiting", static_cast<double>(queue_->waitingLen()));
  {
    std::lock_guard lock(mu_);
    for (double q : {0.5, 0.9, 0.99}) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "%g", q);
      metrics_.set("ocpvdr_engine_event_to_start_seconds", quantile(latencies_, q),
                   {{"quantile", buf}});
    }
  }
  if (scheduler_)
    if (auto n = scheduler_->nextRun())
      metrics_.set("ocpvdr_engine_reconcile_next_timestamp_seconds",
                   std::chrono::duration<double>(n->time_since_epoch()).count());
  auto rows = replicaStatuses(readCatalog(), clock_.now(), cfg_.replication.rpoTarget);
  if (rows.ok())
    for (const auto& r : *rows) {
      if (!(r.state == "active" || r.state == "restored")) continue;
      if (r.rpo) metrics_.set("ocpvdr_replica_rpo_seconds", r.rpo->count(), {{"pv", r.pv}});
      metrics_.set("ocpvdr_replica_rpo_exceeded", r.rpoExceeded ? 1 : 0, {{"pv", r.pv}});
    }
  for (const auto& r : reflectors_->list) kube::publishReflectorMetrics(metrics_, *r, "primary");
}

ReconcileReport Engine::runReconcile(const std::string& trigger, std::stop_token stop) {
  std::lock_guard lock(reconcileMu_);
  Reconciler reconciler(cfg_, *deps_.replicator, *deps_.catalog, *deps_.lister, *deps_.objects,
                        clock_);
  ReconcileOptions ro;
  ro.trigger = trigger;
  ro.stop = stop;
  ro.lockWait = opts_.reconcileLockWait;
  ReconcileReport report =
      reconcileAndReport(reconciler, ro, opts_.reportDir, deps_.notifyHttp, cfg_.notify);
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
  auto rows = replicaStatuses(readCatalog(), now, cfg_.replication.rpoTarget);
  if (rows.ok()) {
    doc = statusJson(*rows, now, cfg_.replication.rpoTarget);
  } else {
    doc = Json{{"generated_at", formatTime(now)}, {"error", rows.error().message}};
  }
  doc["queue"] = {{"depth", queue_->len()},
                  {"waiting", queue_->waitingLen()},
                  {"processing", queue_->processingLen()}};
  doc["draining"] = draining_.load();
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
  std::lock_guard lock(mu_);
  return stats_;
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
    if (key.rfind("pv/", 0) != 0 && key.rfind("snap/", 0) != 0) continue;
    {
      std::lock_guard lock(mu_);
      Known& k = known_[key];
      k.kind = e.value("kind", key.rfind("pv/", 0) == 0 ? "PersistentVolume" : "VolumeSnapshot");
      k.type = e.value("type", std::string());
      k.object = e.contains("object") ? e["object"] : Json(nullptr);
      if (e.contains("ids") && e["ids"].is_array())
        for (const auto& id : e["ids"])
          if (id.is_string() && pendingIds_.insert(id.get<std::string>()).second)
            k.ids.push_back(id);
      k.pending = true;
      ++k.generation;
    }
    queue_->add(key);
    ++n;
  }
  fs::remove(opts_.stateFile, ec);
  log::info("serve: resumed unfinished keys from the state file",
            {{"file", opts_.stateFile}, {"keys", n}});
  return Status::success();
}

void Engine::saveState() {
  Json keys = Json::array();
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, k] : known_) {
      if (!k.pending) continue;
      keys.push_back(Json{
          {"key", key}, {"kind", k.kind}, {"type", k.type}, {"object", k.object}, {"ids", k.ids}});
    }
  }
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
  queue_->shutDown();
  {
    // Running syncs and a running reconcile get the grace period, then their rsyncs are
    // stopped (SIGTERM to the process group) through syncStop_.
    std::jthread grace([this](std::stop_token st) {
      if (clock_.sleepFor(opts_.shutdownGrace, st)) {
        log::warn("serve: grace period over; stopping running syncs");
        syncStop_.request_stop();
      }
    });
    for (auto& w : workers_)
      if (w.joinable()) w.join();
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
