// The forwarder's threads: watches → committer (spool) → senders (webhook). See forwarder.h.
#include "forwarder/forwarder.h"

#include <pthread.h>

#include <algorithm>
#include <map>
#include <optional>

#include "core/log.h"
#include "kube/resource_type.h"
#include "kube/views.h"

namespace ocpvdr::forwarder {

using events::readObjectMeta;
namespace {

constexpr const char* kPrefix = "ocpvdr_forwarder_";

std::string metric(const char* name) {
  return std::string(kPrefix) + name;
}

// Names show in top -H, perf and core dumps (at most 15 characters).
void nameThread(const char* name) {
  pthread_setname_np(pthread_self(), name);
}

ChangeType changeTypeOf(kube::WatchEventType t) {
  switch (t) {
    case kube::WatchEventType::Added:
      return ChangeType::Added;
    case kube::WatchEventType::Deleted:
      return ChangeType::Deleted;
    default:
      return ChangeType::Modified;
  }
}

}  // namespace

struct Forwarder::Watch {
  std::string name;  // "persistentvolumes", "volumesnapshots.snapshot.storage.k8s.io[/<ns>]"
  std::string kind;
  std::string apiVersion;
  std::unique_ptr<kube::Reflector> reflector;
  std::unique_ptr<SpoolReader> reader;    // checkpoint look-ups on the watch's own thread
  std::atomic<std::uint64_t> skipped{0};  // objects this forwarder dropped for bad metadata
};

Forwarder::Forwarder(kube::KubeClient& kube, HttpClient& http, WebhookOptions webhook,
                     SecretSource& token, SecretSource& hmac, Clock& clock,
                     MetricsRegistry& metrics, ForwarderOptions options)
    : kube_(kube),
      webhook_(http, std::move(webhook), token, hmac),
      token_(token),
      hmac_(hmac),
      clock_(clock),
      metrics_(metrics),
      options_(std::move(options)),
      queue_(EventQueue::Options{options_.settle, options_.spoolMaxEvents}, clock),
      gate_(options_.backoff) {
  if (options_.senders < 1) options_.senders = 1;
  if (options_.ingestLimit < 1) options_.ingestLimit = 1;
}

Forwarder::~Forwarder() {
  (void)stop();
}

void Forwarder::describeMetrics() {
  metrics_.describe(metric("events_observed_total"), "counter",
                    "Changes observed (after filtering), by kind and type");
  metrics_.describe(metric("events_forwarded_total"), "counter",
                    "Events the webhook accepted (2xx), by kind and type");
  metrics_.describe(metric("send_errors_total"), "counter",
                    "Failed webhook POSTs by HTTP status code (\"connection\": no response)");
  metrics_.describe(
      metric("dead_letters_total"), "counter",
      "Events the webhook refused for good (4xx) and written to the dead-letter file");
  metrics_.describe(metric("spool_depth"), "gauge", "Events in the spool not yet acknowledged");
  metrics_.describe(metric("spool_folded_total"), "counter",
                    "Events replaced by a newer state of the same object, by reason "
                    "(settle window, spool limit)");
  metrics_.describe(metric("objects_skipped_total"), "counter",
                    "Objects from the API without usable metadata, logged and skipped");
  metrics_.describe(metric("watch_restarts_total"), "counter", "Watches that ended and restarted");
  metrics_.describe(metric("relists_total"), "counter", "Re-lists after a 410 (Expired) watch");
  metrics_.describe(metric("last_forward_timestamp_seconds"), "gauge",
                    "Unix time of the last event the webhook accepted");
  metrics_.describe(metric("in_flight"), "gauge", "POSTs in flight");
  metrics_.describe(metric("ready"), "gauge", "1 when /readyz reports ready");
  metrics_.describe(metric("spool_commit_failures_total"), "counter",
                    "Spool transactions that failed (retried)");
  for (const char* k : {"PersistentVolume", "VolumeSnapshot"}) {
    for (const char* t : {"ADDED", "MODIFIED", "DELETED"}) {
      metrics_.inc(metric("events_observed_total"), {{"kind", k}, {"type", t}}, 0);
      metrics_.inc(metric("events_forwarded_total"), {{"kind", k}, {"type", t}}, 0);
    }
  }
  metrics_.inc(metric("dead_letters_total"), {}, 0);
  metrics_.set(metric("last_forward_timestamp_seconds"), 0);
}

// The events still in the spool, back in the queue (in their order, with their ids); how many.
Result<std::size_t> Forwarder::restoreSpooledEvents() {
  OCPVDR_ASSIGN_OR_RETURN(auto rows, spool_->pending());
  std::vector<QueuedEvent> restored;
  restored.reserve(rows.size());
  for (auto& r : rows) {
    QueuedEvent q;
    q.seq = r.seq;
    q.key = std::move(r.key);
    q.uid = std::move(r.uid);
    // id = "<uid>:<rv>:<TYPE>"; uids and types hold no ':'.
    const auto last = r.id.rfind(':');
    const auto first = r.id.find(':', r.uid.size());
    q.rv = last != std::string::npos && first < last ? r.id.substr(first + 1, last - first - 1)
                                                     : std::string();
    q.kind = internKind(r.kind);
    q.type = r.type;
    restored.push_back(std::move(q));
  }
  queue_.restore(restored);
  queued_ = queue_.size();
  return restored.size();
}

Status Forwarder::start() {
  if (started_) return Status::success();
  describeMetrics();
  OCPVDR_ASSIGN_OR_RETURN(spool_, Spool::open(options_.spoolDir));
  deadLetters_ = std::make_unique<DeadLetterFile>(options_.deadLetterPath.empty()
                                                      ? options_.spoolDir + "/dead-letter.ndjson"
                                                      : options_.deadLetterPath);

  OCPVDR_ASSIGN_OR_RETURN(const std::size_t restored, restoreSpooledEvents());
  OCPVDR_ASSIGN_OR_RETURN(auto checkpoint, spool_->checkpoint());
  OCPVDR_ASSIGN_OR_RETURN(auto versions, spool_->watchVersions());

  auto addWatch = [&](const kube::ResourceType& type, const std::string& ns,
                      const std::string& selector) -> Status {
    auto w = std::make_unique<Watch>();
    w->name = type.groupResource() + (ns.empty() ? "" : "/" + ns);
    w->kind = type.kind;
    w->apiVersion = type.apiVersion();
    kube::ReflectorOptions ro = options_.reflector;
    // The checkpoint keeps every forwarded object on disk; holding them parsed in memory as well
    // would cost kilobytes per object for nothing.
    ro.keepObjects = false;
    ro.ns = ns;
    ro.labelSelector = selector;
    ro.name = w->name;
    Watch* raw = w.get();
    w->reflector = std::make_unique<kube::Reflector>(
        kube_, clock_, type, ro, [this, raw](kube::WatchEventType t, const Json& obj, bool relist) {
          onChange(*raw, t, obj, relist);
        });
    std::map<std::string, kube::SeedEntry> seed;
    for (const auto& e : checkpoint) {
      if (e.kind != type.kind) continue;
      if (!ns.empty() && e.objectKey.rfind(ns + "/", 0) != 0) continue;
      seed[e.objectKey] = kube::SeedEntry{e.resourceVersion, e.uid};
    }
    w->reflector->seed(seed);
    OCPVDR_ASSIGN_OR_RETURN(w->reader, spool_->reader());
    const auto v = versions.find(w->name);
    log::info("forwarder: watch configured",
              {{"watch", w->name},
               {"labelSelector", selector},
               {"checkpointObjects", seed.size()},
               {"checkpointResourceVersion", v == versions.end() ? "" : v->second}});
    watches_.push_back(std::move(w));
    return Status::success();
  };
  OCPVDR_TRY(addWatch(kube::resources::persistentVolumes(), "", options_.labelSelector));
  if (options_.watchSnapshots) {
    if (options_.filter.namespaces.empty()) {
      OCPVDR_TRY(addWatch(kube::resources::volumeSnapshots(), "", ""));
    } else {
      for (const auto& ns : options_.filter.namespaces) {
        OCPVDR_TRY(addWatch(kube::resources::volumeSnapshots(), ns, ""));
      }
    }
  }
  for (int i = 0; i < options_.senders; ++i) {
    OCPVDR_ASSIGN_OR_RETURN(auto r, spool_->reader());
    senderReaders_.push_back(std::move(r));
  }
  log::info("forwarder: starting", {{"spool", spool_->path()},
                                    {"spooledEvents", restored},
                                    {"checkpointObjects", checkpoint.size()},
                                    {"senders", options_.senders},
                                    {"settleMs", options_.settle.count()},
                                    {"spoolMaxEvents", options_.spoolMaxEvents}});

  started_ = true;
  committer_ = std::thread([this] {
    nameThread("fwd-commit");
    committerLoop();
  });
  for (int i = 0; i < options_.senders; ++i) {
    SpoolReader* reader = senderReaders_[static_cast<std::size_t>(i)].get();
    senders_.emplace_back([this, reader](std::stop_token st) {
      nameThread("fwd-send");
      senderLoop(st, *reader);
    });
  }
  for (auto& w : watches_) {
    kube::Reflector* r = w->reflector.get();
    watchThreads_.emplace_back([r, st = watchStop_.get_token()] {
      nameThread("fwd-watch");
      r->run(st);
    });
  }
  return Status::success();
}

std::string Forwarder::boundContent(const Json& snapshot, const std::string& watch) {
  kube::VolumeSnapshotView vs(snapshot);
  auto ready = vs.readyToUse();
  auto bound = vs.boundContentName();
  if (!ready.ok() || !*ready || !bound.ok() || !bound->has_value()) return "";
  auto content =
      kube_.get(kube::resources::volumeSnapshotContents(), "", **bound, watchStop_.get_token());
  if (!content.ok()) {
    // Sent without it: the DR handler reports the snapshot not ready (retryable) instead of
    // recording it without its data; reconcile reads the content from the API later.
    log::warn(
        "forwarder: cannot read the bound VolumeSnapshotContent; forwarding the snapshot "
        "without it",
        {{"watch", watch}, {"content", **bound}, {"error", content.error().message}});
    return "";
  }
  return content->dump(-1, ' ', false, Json::error_handler_t::replace);
}

void Forwarder::onChange(Watch& w, kube::WatchEventType type, const Json& object, bool fromRelist) {
  auto meta = readObjectMeta(object);
  if (!meta) {
    ++w.skipped;
    log::warn("forwarder: object without usable metadata skipped",
              {{"watch", w.name},
               {"type", std::string(kube::toString(type))},
               {"problem", meta.error().message}});
    return;
  }
  Change c;
  c.kind = w.kind;
  c.apiVersion = w.apiVersion;
  c.type = changeTypeOf(type);
  c.meta = std::move(*meta);
  c.initial = fromRelist;
  c.observedAt = clock_.now();
  bool fromCheckpoint = false;
  if (c.type == ChangeType::Deleted && !object.contains("spec")) {
    // A deletion the watch did not deliver (found by a list diff, or a new uid under the same
    // name): the reflector keeps no objects (keepObjects = false), so it knows only the name and
    // version; the checkpoint has the object as it was last forwarded.
    auto e = w.reader->object(changeKey(c.kind, c.meta));
    if (!e) {
      log::warn(
          "forwarder: cannot read the checkpoint; forwarding the deletion without the "
          "object's last state",
          {{"watch", w.name}, {"error", e.error().message}});
    } else if (*e && (*e)->uid == c.meta.uid) {
      c.resource = std::move((*e)->object);
      fromCheckpoint = true;
    }
  }
  if (!fromCheckpoint) {
    if (!accepts(options_.filter, c.kind, object)) return;
    c.resource = object.dump(-1, ' ', false, Json::error_handler_t::replace);
  }
  if (c.kind == "VolumeSnapshot" && c.type != ChangeType::Deleted)
    c.content = boundContent(object, w.name);
  if (c.type == ChangeType::Deleted && c.kind == "PersistentVolume") {
    const Presence p = presence(c.meta);
    if (p == Presence::StillThere) {
      c.type = ChangeType::LeftSelection;
      log::warn(
          "forwarder: PV left the label selection (it still exists): forwarded as "
          "LEFT_SELECTION, not DELETED",
          {{"pv", c.meta.name}, {"uid", c.meta.uid}, {"labelSelector", options_.labelSelector}});
    } else if (p == Presence::Unknown) {
      // Never let an unconfirmed DELETED look like a confirmed one.
      c.unconfirmed = true;
    }
  }
  metrics_.inc(metric("events_observed_total"),
               {{"kind", c.kind}, {"type", std::string(toString(c.type))}});
  std::unique_lock lk(ingestMu_);
  auto room = [&] {
    if (watchesStopping_) return true;
    if (ingest_.size() >= options_.ingestLimit) return false;
    return !deliveringWell_ || queued_ + ingest_.size() < options_.readAhead;
  };
  // Senders do not signal every acknowledgement; the read-ahead check polls.
  while (!room()) spaceCv_.wait_for(lk, std::chrono::milliseconds(5));
  if (watchesStopping_) return;  // not checkpointed either: the next start finds it again
  const bool wasEmpty = ingest_.empty();
  ingest_.push_back(Pending{std::move(c), w.name});
  lk.unlock();
  if (wasEmpty) committerCv_.notify_one();
}

Forwarder::Presence Forwarder::presence(const ObjectMeta& meta) {
  // A watch with a label selector reports an object that stops matching as DELETED, and a
  // restart with another selector finds the checkpoint's objects missing from the list: neither
  // is a deletion. Only a GET can tell. If the GET fails (the client has retried already) the
  // DELETED goes out marked `unconfirmed` — DR verifies every delete against the primary itself
  // (replication/replicator.h), and a receiver can tell the two apart.
  auto got = kube_.get(kube::resources::persistentVolumes(), "", meta.name);
  if (!got.ok()) {
    if (got.error().kind == ErrorKind::NotFound) return Presence::Gone;
    log::warn(
        "forwarder: cannot confirm a PV deletion; forwarding it as DELETED marked unconfirmed",
        {{"pv", meta.name}, {"error", got.error().message}});
    return Presence::Unknown;
  }
  const Json* uid = jsonAt(*got, "metadata.uid");
  return uid != nullptr && uid->is_string() && uid->get<std::string>() == meta.uid
             ? Presence::StillThere
             : Presence::Gone;
}

Status Forwarder::commitBatch(std::vector<Pending>& changes, std::vector<std::int64_t>& acks) {
  SpoolBatch batch;
  std::vector<std::string> bodies;
  bodies.reserve(changes.size());
  for (const auto& p : changes) bodies.push_back(buildPayload(p.change, options_.cluster));

  std::map<std::int64_t, SpoolRow> rows;
  std::map<std::string, std::optional<CheckpointEntry>> objects;
  {
    std::lock_guard lk(queueMu_);
    for (std::size_t i = 0; i < changes.size(); ++i) {
      Change& c = changes[i].change;
      const std::string key = changeKey(c.kind, c.meta);
      QueuedEvent q;
      q.key = key;
      q.uid = c.meta.uid;
      q.rv = c.meta.resourceVersion;
      q.kind = internKind(c.kind);
      q.type = c.type;
      Placement pl = queue_.add(q);
      for (std::int64_t s : pl.compacted) {
        rows.erase(s);
        batch.deletes.push_back(s);
      }
      SpoolRow& row = rows[pl.seq];
      row.seq = pl.seq;
      row.key = key;
      row.uid = c.meta.uid;
      row.id = eventId(c);
      row.kind = c.kind;
      row.type = c.type;
      row.body = std::move(bodies[i]);
      if (c.type == ChangeType::Deleted || c.type == ChangeType::LeftSelection) {
        objects[key] = std::nullopt;
      } else {
        CheckpointEntry e;
        e.kind = c.kind;
        e.key = key;
        e.uid = c.meta.uid;
        e.resourceVersion = c.meta.resourceVersion;
        e.object = std::move(c.resource);
        objects[key] = std::move(e);
      }
      batch.watchVersions[changes[i].watch] = c.meta.resourceVersion;
    }
  }
  std::vector<std::int64_t> published;
  published.reserve(rows.size());
  for (auto& [seq, row] : rows) {
    published.push_back(seq);
    batch.upserts.push_back(std::move(row));
  }
  for (auto& [key, e] : objects) {
    if (e) {
      batch.objectUpserts.push_back(std::move(*e));
    } else {
      batch.objectDeletes.push_back(key);
    }
  }
  batch.deletes.insert(batch.deletes.end(), acks.begin(), acks.end());

  // The queue already counts these events, so the batch cannot be dropped: retry until it is
  // durable (a full disk, say, gets fixed) or the process is told to stop.
  for (int attempt = 0;; ++attempt) {
    Status st = spool_->commit(batch);
    if (st.ok()) break;
    metrics_.inc(metric("spool_commit_failures_total"));
    commitFailing_ = true;
    log::error("forwarder: spool write failed; retrying",
               {{"error", st.error().message}, {"attempt", attempt + 1}});
    bool stopping;
    {
      std::lock_guard lk(ingestMu_);
      stopping = committerStop_;
    }
    if (stopping) return st;
    clock_.sleepFor(std::chrono::seconds(1));
  }
  commitFailing_ = false;
  {
    std::lock_guard lk(queueMu_);
    queue_.publish(published);
    ++wakeGen_;
    queued_ = queue_.size();
  }
  sendCv_.notify_all();
  return Status::success();
}

void Forwarder::committerLoop() {
  while (true) {
    std::vector<Pending> changes;
    std::vector<std::int64_t> acks;
    bool stopNow = false;
    {
      std::unique_lock lk(ingestMu_);
      // Changes are written at once; acknowledgements when enough have gathered or every 50 ms.
      committerCv_.wait_for(lk, std::chrono::milliseconds(50), [&] {
        return !ingest_.empty() || acks_.size() >= kAckBatch || committerStop_;
      });
      changes.swap(ingest_);
      acks.swap(acks_);
      stopNow = committerStop_;
    }
    spaceCv_.notify_all();  // watch threads blocked on a full ingest list may go on
    if (!changes.empty() || !acks.empty()) {
      Status st = commitBatch(changes, acks);
      if (!st.ok()) {
        committerStatus_ = st;
        return;
      }
    }
    {
      std::lock_guard lk(queueMu_);
      metrics_.set(metric("spool_depth"), static_cast<double>(queue_.size()));
    }
    if (stopNow) return;
  }
}

// The oldest eligible event, waiting for one (and for the gate) as long as needed; nullopt once
// `stop` is requested.
std::optional<QueuedEvent> Forwarder::nextEvent(std::stop_token stop) {
  std::unique_lock lk(queueMu_);
  for (;;) {
    if (stop.stop_requested()) return std::nullopt;
    if (gate_.authBlocked()) {
      const std::uint64_t g = token_.generation() + hmac_.generation();
      if (g != credentialsGeneration_) {
        credentialsGeneration_ = g;
        gate_.onCredentialsChanged();
        log::info("forwarder: webhook credentials changed; retrying now");
      }
    }
    const SteadyTime now = clock_.monotonic();
    std::optional<SteadyTime> wake;
    if (gate_.tryBegin(now)) {
      if (auto e = queue_.take()) return e;
      gate_.onAbandoned();
      wake = queue_.nextDue();
    } else {
      wake = gate_.pausedUntil();
    }
    if (gate_.authBlocked()) {
      const SteadyTime recheck = now + std::chrono::milliseconds(500);
      if (!wake || recheck < *wake) wake = recheck;
    }
    const std::uint64_t gen = wakeGen_;
    if (wake) {
      sendCv_.wait_until(lk, stop, *wake, [&] { return wakeGen_ != gen; });
    } else {
      sendCv_.wait(lk, stop, [&] { return wakeGen_ != gen; });
    }
  }
}

// An event the webhook refused for good, written to the dead-letter file; when that fails the
// event stays (the result becomes Retry).
void Forwarder::deadLetter(const QueuedEvent& ev, DeliveryResult& result, const std::string& body) {
  Status st = deadLetters_->append(clock_.now(), result.status, result.detail, body);
  if (st.ok()) {
    log::error("forwarder: webhook refused an event for good; written to the dead-letter file",
               {{"id", ev.id()},
                {"status", result.status},
                {"response", result.detail.substr(0, 512)},
                {"file", deadLetters_->path()}});
    metrics_.inc(metric("dead_letters_total"));
    metrics_.inc(metric("send_errors_total"), {{"code", std::to_string(result.status)}});
  } else {
    log::error("forwarder: cannot write the dead-letter file; keeping the event",
               {{"id", ev.id()}, {"error", st.error().message}});
    result.disposition = Disposition::Retry;
  }
}

// A webhook's answer for the queue, the gate and the metrics (queueMu_ held); true when the event
// is done with (acknowledged).
bool Forwarder::recordDelivery(const QueuedEvent& ev, const DeliveryResult& result, SteadyTime now,
                               bool wasHealthy) {
  const std::string code =
      result.status == 0 ? std::string("connection") : std::to_string(result.status);
  switch (result.disposition) {
    case Disposition::Delivered:
      queue_.ack(ev.seq);
      gate_.onSuccess();
      metrics_.inc(metric("events_forwarded_total"),
                   {{"kind", std::string(ev.kind)}, {"type", std::string(toString(ev.type))}});
      lastForwardMs_ =
          std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now().time_since_epoch())
              .count();
      return true;
    case Disposition::DeadLetter:
      queue_.ack(ev.seq);
      gate_.onSuccess();
      return true;
    case Disposition::Retry: {
      queue_.release(ev.seq);
      const Millis wait = gate_.onFailure(now, result.retryAfter);
      metrics_.inc(metric("send_errors_total"), {{"code", code}});
      if (wasHealthy || ev.attempts % 10 == 0) {
        log::warn("forwarder: webhook POST failed; retrying with backoff",
                  {{"id", ev.id()},
                   {"status", result.status},
                   {"error", result.detail.substr(0, 512)},
                   {"retryInMs", wait.count()}});
      }
      return false;
    }
    case Disposition::AuthRetry: {
      queue_.release(ev.seq);
      const Millis wait = gate_.onAuthFailure(now);
      credentialsGeneration_ = token_.generation() + hmac_.generation();
      metrics_.inc(metric("send_errors_total"), {{"code", code}});
      log::error("forwarder: the webhook refused the request (status " +
                     std::to_string(result.status) +
                     "); check forwarder.token_file / token_env, forwarder.hmac_secret_file and "
                     "forwarder.webhook_url. No event is dropped; retrying slowly, and at once "
                     "when the token file changes",
                 {{"id", ev.id()},
                  {"status", result.status},
                  {"response", result.detail.substr(0, 256)},
                  {"retryInMs", wait.count()}});
      return false;
    }
  }
  return false;
}

void Forwarder::senderLoop(std::stop_token stop, SpoolReader& reader) {
  while (!stop.stop_requested()) {
    std::optional<QueuedEvent> next = nextEvent(stop);
    if (!next) return;
    QueuedEvent ev = std::move(*next);

    auto body = reader.body(ev.seq);
    std::optional<DeliveryResult> result;
    bool missing = false;
    if (!body) {
      log::error("forwarder: cannot read a spooled event; retrying",
                 {{"id", ev.id()}, {"error", body.error().message}});
    } else if (!*body) {
      missing = true;  // cannot happen while the queue and the spool agree; do not wedge on it
      log::error("forwarder: spooled event vanished from the spool; skipping", {{"id", ev.id()}});
    } else {
      result = webhook_.deliver(**body, stop);
    }

    bool acked = false;
    bool reopened = false;
    if (result && result->disposition == Disposition::DeadLetter) deadLetter(ev, *result, **body);
    {
      std::lock_guard lk(queueMu_);
      const SteadyTime now = clock_.monotonic();
      const bool wasHealthy = gate_.healthy();
      if (missing) {
        queue_.ack(ev.seq);
        gate_.onAbandoned();
        acked = true;
      } else if (!result) {
        queue_.release(ev.seq);
        (void)gate_.onFailure(now);
      } else if (result->cancelled) {
        queue_.release(ev.seq);
        gate_.onAbandoned();
      } else {
        acked = recordDelivery(ev, *result, now, wasHealthy);
      }
      reopened = !wasHealthy && gate_.healthy();
      queued_ = queue_.size();
      deliveringWell_ = gate_.healthy();
      if (reopened) ++wakeGen_;
    }
    // The sender that finished takes the next eligible event itself; the others need waking only
    // when the gate reopened for everyone.
    if (reopened) sendCv_.notify_all();
    if (acked) {
      bool full;
      {
        std::lock_guard lk(ingestMu_);
        acks_.push_back(ev.seq);
        full = acks_.size() >= kAckBatch;
      }
      if (full) committerCv_.notify_one();
    }
  }
}

std::string Forwarder::readiness() const {
  if (!started_) return "not started";
  for (const auto& w : watches_) {
    // A 401/403 does not heal by retrying (missing RBAC, a revoked token): say so instead of
    // looking ready while this watch forwards nothing.
    if (auto f = w->reflector->lastFailure(); f && f->kind == ErrorKind::Refused) {
      return "watch " + w->name + " refused by the API server: " + f->message;
    }
    if (!w->reflector->hasSynced()) return "watch " + w->name + " has not completed its list";
  }
  if (commitFailing_) return "spool writes are failing";
  const std::size_t depth = spoolDepth();
  const double high = options_.highWaterShare * static_cast<double>(options_.spoolMaxEvents);
  if (static_cast<double>(depth) > high) {
    return "spool holds " + std::to_string(depth) + " events, above its high-water mark of " +
           std::to_string(static_cast<std::int64_t>(high));
  }
  return "";
}

std::size_t Forwarder::spoolDepth() const {
  std::lock_guard lk(queueMu_);
  return queue_.size();
}

void Forwarder::publishMetrics() {
  for (const auto& w : watches_) {
    kube::publishReflectorMetrics(metrics_, *w->reflector, w->name);
    const auto c = w->reflector->counters();
    metrics_.set(metric("watch_restarts_total"), static_cast<double>(c.watchRestarts),
                 {{"watch", w->name}});
    metrics_.set(metric("relists_total"), static_cast<double>(c.relists), {{"watch", w->name}});
    // The reflector drops objects without name or resourceVersion before they reach us; we drop
    // those without a uid.
    metrics_.set(metric("objects_skipped_total"), static_cast<double>(c.skipped + w->skipped),
                 {{"watch", w->name}});
  }
  {
    std::lock_guard lk(queueMu_);
    metrics_.set(metric("spool_depth"), static_cast<double>(queue_.size()));
    metrics_.set(metric("spool_folded_total"),
                 static_cast<double>(queue_.folded(FoldReason::Settle)), {{"reason", "settle"}});
    metrics_.set(metric("spool_folded_total"),
                 static_cast<double>(queue_.folded(FoldReason::Limit)), {{"reason", "limit"}});
    metrics_.set(metric("in_flight"), static_cast<double>(queue_.inFlight()));
  }
  if (const std::int64_t ms = lastForwardMs_; ms > 0) {
    metrics_.set(metric("last_forward_timestamp_seconds"), static_cast<double>(ms) / 1000.0);
  }
  metrics_.set(metric("ready"), readiness().empty() ? 1 : 0);
}

Status Forwarder::stop() {
  if (!started_ || stopped_) return committerStatus_;
  stopped_ = true;
  watchesStopping_ = true;
  watchStop_.request_stop();
  spaceCv_.notify_all();
  watchThreads_.clear();  // jthread joins
  for (auto& s : senders_) s.request_stop();
  sendCv_.notify_all();
  senders_.clear();
  {
    std::lock_guard lk(ingestMu_);
    committerStop_ = true;
  }
  committerCv_.notify_all();
  if (committer_.joinable()) committer_.join();
  log::info("forwarder: stopped", {{"spooledEvents", spoolDepth()}});
  return committerStatus_;
}

}  // namespace ocpvdr::forwarder
