// The one per-key reconcile: what a worker does with a work-queue key ("pv/<name>",
// "snap/<ns>/<name>"), whoever queued it — a forwarder event, the engine's own watch, the state
// file of the last run, or a scheduled/CLI reconcile pass (engine/key_workers.h).
//
//   pv/<name>     DELETED tombstone  → Replicator::deletePv with delete verification and the
//                                      PV delete breaker
//                 LEFT_SELECTION     → nothing moves; recorded as "left-selection"
//                 anything else      → Replicator::syncPv
//   snap/<ns>/<n> DELETED            → Replicator::deleteSnapshot (verified, snapshot breaker)
//                 anything else      → Replicator::syncSnapshot
// A key queued without its object (resync, restart) reads it from the primary first; gone there
// (404) and no tombstone is "gone": the reconcile pass's orphan check (with its breaker) decides
// about the DR copy, never a key without an object.
//
// What counts as a failure is written here once (succeeded(), retryable()): a report without an
// error, or "not-replicable" (out of scope, not a failure), is a success; Retryable and Conflict
// errors are retried with backoff, every other kind is final.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>

#include "core/json_util.h"
#include "core/metrics.h"
#include "core/result.h"
#include "engine/primary_api.h"
#include "replication/delete_breaker.h"
#include "replication/primary_objects.h"
#include "replication/replicator.h"

namespace ocpvdr::engine {

// The newest known state of a key (level-triggered: only the newest matters).
struct KeyObject {
  std::string kind;  // PersistentVolume | VolumeSnapshot
  std::string type;  // ADDED | MODIFIED | DELETED | LEFT_SELECTION ("" when listed or read)
  Json object;       // null: not known here; the handler reads the primary API
};

struct KeyOutcome {
  bool ok = false;
  std::optional<Error> error;
  std::string result;                             // result word
  std::string action;                             // sync | delete | gone | left-selection
  std::optional<replication::SyncReport> report;  // the Replicator's report, when one ran

  // Whether the key goes back to the queue with backoff.
  bool retry() const;
};

// The failure rule, once.
bool succeeded(const replication::SyncReport& r);
bool retryable(const Error& e);

struct KeySyncOptions {
  std::stop_token stop;                   // stops running rsyncs
  std::chrono::milliseconds lockWait{0};  // for the per-PV lock another process holds
};

// The seam the workers call (tests wrap the real one to observe every sync).
class KeyHandler {
 public:
  virtual ~KeyHandler() = default;
  virtual KeyOutcome handle(const std::string& key, const KeyObject& k,
                            const KeySyncOptions& opts) = 0;
};

// The real handler over the Replicator. Breakers and metrics may be null (a CLI pass deletes
// nothing through keys; its orphans go through the pass's own breaker).
class ReplicatorKeyHandler final : public KeyHandler {
 public:
  struct Deps {
    replication::Replicator* replicator = nullptr;
    replication::PrimaryObjects* objects = nullptr;
    PrimaryLister* lister = nullptr;
    replication::DeleteBreaker* pvBreaker = nullptr;
    replication::DeleteBreaker* snapshotBreaker = nullptr;
    MetricsRegistry* metrics = nullptr;  // ocpvdr_engine_delete_breaker_tripped, ocpvdr_extent_*
    // Called with an alert's name and fields (engine/notify.h alertDocument) when a sync hit
    // something an operator must hear about now: an extent stream that failed its checksum
    // (ocpvdr_extent_checksum_mismatch_total counts them). Null: logged and counted only.
    std::function<void(std::string_view name, const Json& fields)> alert;
  };
  explicit ReplicatorKeyHandler(Deps deps) : deps_(deps) {}
  KeyOutcome handle(const std::string& key, const KeyObject& k,
                    const KeySyncOptions& opts) override;

 private:
  KeyOutcome handlePv(const std::string& name, KeyObject k, const KeySyncOptions& opts);
  KeyOutcome handleSnapshot(const std::string& ns, const std::string& name, KeyObject k,
                            const KeySyncOptions& opts);
  void publishBreaker(const replication::DeleteBreaker* b, const char* kind);
  // The checksum-mismatch alert of an extent cycle's report (a no-op for any other report).
  void alertOnChecksumMismatch(const std::string& pv, const replication::SyncReport& r);

  Deps deps_;
};

}  // namespace ocpvdr::engine
