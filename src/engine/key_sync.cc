// The per-key reconcile (see key_sync.h).
#include "engine/key_sync.h"

#include "core/log.h"
#include "events/work_key.h"

namespace ocpvdr::engine {

bool succeeded(const replication::SyncReport& r) {
  // A PV that is not NFS is out of scope, not a failure to retry.
  return r.ok() || r.result == replication::Outcome::NotReplicable;
}

bool retryable(const Error& e) {
  return e.kind == ErrorKind::Retryable || e.kind == ErrorKind::Conflict;
}

bool KeyOutcome::retry() const {
  return !ok && error && retryable(*error);
}

namespace {

KeyOutcome fromReport(Result<replication::SyncReport> r, const std::string& action) {
  KeyOutcome out;
  out.action = action;
  if (!r.ok()) {
    out.error = r.error();
    out.result = "failed";
    return out;
  }
  out.result = std::string(replication::toString(r->result));
  out.ok = succeeded(*r);
  if (!out.ok) out.error = r->error;
  out.report = std::move(*r);
  return out;
}

// A key without its object reads it now; false (and `out` is the outcome) when it cannot.
bool fetched(Result<Json> got, const std::string& what, KeyObject& k, KeyOutcome& out) {
  if (got.ok()) {
    k.object = std::move(*got);
    k.type = "MODIFIED";
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
}

}  // namespace

KeyOutcome ReplicatorKeyHandler::handle(const std::string& key, const KeyObject& k,
                                        const KeySyncOptions& opts) {
  if (events::isPvKey(key)) return handlePv(key.substr(events::kPvKeyPrefix.size()), k, opts);
  // snap/<ns>/<name>
  const std::string rest = key.substr(events::kSnapshotKeyPrefix.size());
  const auto slash = rest.find('/');
  const std::string ns = rest.substr(0, slash);
  const std::string name = slash == std::string::npos ? std::string() : rest.substr(slash + 1);
  return handleSnapshot(ns, name, k, opts);
}

KeyOutcome ReplicatorKeyHandler::handlePv(const std::string& name, KeyObject k,
                                          const KeySyncOptions& opts) {
  KeyOutcome out;
  if (k.object.is_null() &&
      !fetched(deps_.objects->getPersistentVolume(name),
               "reading PersistentVolume " + name + " from the primary", k, out))
    return out;
  if (k.type == "DELETED") {
    replication::DeleteOptions o;
    o.reason = "PersistentVolume " + name + " DELETED at the primary (serve)";
    o.verify = true;
    o.breaker = deps_.pvBreaker;
    o.wait = opts.lockWait;
    out = fromReport(deps_.replicator->deletePv(k.object, o), "delete");
    publishBreaker(deps_.pvBreaker, "pv");
    return out;
  }
  if (k.type == "LEFT_SELECTION") {
    // Not a delete: the PV still exists, it is just no longer replicated. The DR copy stays.
    out.ok = true;
    out.action = "left-selection";
    out.result = std::string(replication::toString(replication::Outcome::LeftSelection));
    log::warn("serve: PV left the label selection; replication stops, its DR copy is kept",
              {{"pv", name}});
    return out;
  }
  replication::SyncOptions o;
  o.stop = opts.stop;
  o.wait = opts.lockWait;
  out = fromReport(deps_.replicator->syncPv(k.object, o), "sync");
  if (out.report) alertOnChecksumMismatch(name, *out.report);
  return out;
}

KeyOutcome ReplicatorKeyHandler::handleSnapshot(const std::string& ns, const std::string& name,
                                                KeyObject k, const KeySyncOptions& opts) {
  KeyOutcome out;
  if (k.object.is_null() && !fetched(deps_.lister->getVolumeSnapshot(ns, name, opts.stop),
                                     "reading VolumeSnapshot " + ns + "/" + name, k, out))
    return out;
  if (k.type == "DELETED") {
    replication::DeleteOptions o;
    o.reason = "VolumeSnapshot " + ns + "/" + name + " DELETED at the primary (serve)";
    o.verify = true;
    o.breaker = deps_.snapshotBreaker;
    o.wait = opts.lockWait;
    out = fromReport(deps_.replicator->deleteSnapshot(k.object, o), "delete");
    publishBreaker(deps_.snapshotBreaker, "snapshot");
    return out;
  }
  replication::SnapshotOptions o;
  o.stop = opts.stop;
  o.wait = opts.lockWait;
  return fromReport(deps_.replicator->syncSnapshot(k.object, o), "sync");
}

void ReplicatorKeyHandler::publishBreaker(const replication::DeleteBreaker* b, const char* kind) {
  if (b != nullptr && deps_.metrics != nullptr)
    deps_.metrics->set("ocpvdr_engine_delete_breaker_tripped", b->tripped() ? 1 : 0,
                       {{"kind", kind}});
}

void ReplicatorKeyHandler::alertOnChecksumMismatch(const std::string& pv,
                                                   const replication::SyncReport& r) {
  auto it = r.details.find("checksum_mismatch");
  if (it == r.details.end() || !it->is_object()) return;
  if (deps_.metrics != nullptr)
    deps_.metrics->inc("ocpvdr_extent_checksum_mismatch_total", {{"pv", pv}});
  Json alert = *it;
  alert["pv"] = pv;
  alert["message"] = r.error ? r.error->message : std::string();
  log::error("extent cycle: checksum mismatch, the point was discarded",
             {{"pv", pv}, {"file", alert.value("file", "")}, {"offset", alert["offset"]}});
  if (deps_.alert) deps_.alert("extent-checksum-mismatch", alert);
}

}  // namespace ocpvdr::engine
