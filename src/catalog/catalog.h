// The DR catalog: a SQLite database on the DR NFS host recording what has been replicated.
//
// Tables (see migrations.cc for the exact schema):
//   schema_version  one row per applied migration step
//   replicas        one row per PV: source, DR path, last sync times, last result, counters
//   snapshots       one row per VolumeSnapshot uid: identity, source PVC/PV, content, handle,
//                   creation time, restore size, readiness, replicated archive location
//   runs, run_items reconcile/failover runs and their per-key outcomes
//   events_seen     event ids already handled successfully (dedupe of webhook/EDA deliveries)
//   dr_active       at most one row: the failover run whose VMs now run on the DR copies. While
//                   it exists every replication path that would write or remove DR data refuses
//                   (docs/failover.md "DR active"); `ocpv-dr failover release` removes it
//   failover_actions operator and workflow acts on failover runs (dr-active, release, abandon)
//
// Several processes (CLI invocations started by AAP, `serve`, `reconcile`) use one file at once:
// the database runs in WAL mode with a busy timeout, every write is a single statement or an
// IMMEDIATE transaction, and schema migrations are applied under that same lock. A Catalog object
// is safe to share between threads (calls are serialised on one connection).
// Times are stored as integer milliseconds since the Unix epoch (UTC).
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/json_util.h"
#include "core/result.h"
#include "core/sqlite.h"

namespace ocpvdr::catalog {

// One schema step. Steps are applied in `version` order, each in its own transaction, and never
// edited once shipped: to change the schema, APPEND a step to migrations() in migrations.cc.
struct Migration {
  int version = 0;  // 1, 2, 3, ... without gaps
  std::string description;
  std::string sql;  // one or more statements
};

// The ordered list of schema steps this build knows.
const std::vector<Migration>& migrations();

// The state of the DR copy of one PV.
struct ReplicaRecord {
  std::string pv;               // PersistentVolume name (key)
  std::string uid;              // metadata.uid of the PV last seen
  std::string sourceKind;       // "nfs" (in-tree) | "csi" (nfs.csi.k8s.io)
  std::string sourceServer;     // spec.nfs.server / volumeAttributes.server
  std::string sourcePath;       // export path as the PV names it
  std::string primaryHostPath;  // where rsync reads on the primary NFS host
  std::string drPath;           // DR host path (where the data lives at DR)
  std::string drExportPath;     // what a DR PV would mount
  std::string storageClass;
  std::string claimNamespace, claimName;
  // active | quarantined | kept | deleted | restored
  std::string state = "active";
  std::optional<SystemTime> lastSyncStart;  // set when a sync begins
  std::optional<SystemTime> lastSyncEnd;    // set when it ends, whatever the outcome
  std::optional<SystemTime> lastSuccess;    // data time DR holds: newest point's / rsync's start
  std::string result;  // last result word (synced, unchanged, refused, failed, ...)
  std::int64_t bytes = 0, files = 0, deletions = 0;  // of the last sync
  std::string errorKind, errorMessage;               // of the last sync; empty when it succeeded
  bool forced = false;    // the last sync overrode the empty-source guard
  std::string trashPath;  // where the DR copy went on quarantine
};

// What the catalog knows about one VolumeSnapshot (by uid).
struct SnapshotRecord {
  std::string uid;  // VolumeSnapshot metadata.uid (key)
  std::string ns, name;
  std::string sourcePvc, sourcePv;          // sourcePv may be empty when it could not be resolved
  std::string contentName;                  // status.boundVolumeSnapshotContentName
  std::string snapshotHandle;               // VolumeSnapshotContent status.snapshotHandle
  std::string driver;                       // VolumeSnapshotContent spec.driver
  std::string className;                    // spec.volumeSnapshotClassName
  std::optional<SystemTime> creationTime;   // normalised from either representation
  std::optional<std::int64_t> restoreSize;  // bytes, normalised from either representation
  bool ready = false;
  std::string state = "pending";  // pending | ready | deleted
  std::string dataPrimaryPath;    // archive directory on the primary host (csi-driver-nfs)
  std::string dataDrPath;         // archive directory at DR
  std::string trashPath;          // where the archive directory went on delete
  std::optional<SystemTime> firstSeen, readyAt, deletedAt, lastSyncEnd;
  std::string result;
  std::int64_t bytes = 0;
  std::string errorKind, errorMessage;
};

struct RunRecord {
  std::int64_t id = 0;
  std::string kind;  // reconcile | failover | ...
  std::optional<SystemTime> startedAt, finishedAt;
  std::string result;       // empty while running
  std::string summaryJson;  // free-form JSON written by the run's owner
};

// The DR-active state: set by a failover run right before it first changes the DR cluster.
struct DrActiveRecord {
  std::string runId;
  std::string backup;
  std::string mode;  // planned | unplanned
  SystemTime since{};
};

// One journaled act on a failover run (table failover_actions).
struct FailoverAction {
  std::int64_t id = 0;
  std::string runId;
  std::string action;  // dr-active | release | abandon
  SystemTime at{};
  bool forced = false;
  std::string reason;
  std::string detailsJson = "{}";
};

class Catalog {
 public:
  // Opens (creating parent-less file as needed), checks (PRAGMA quick_check, catalog/backup.h)
  // and migrates the database. Fails Terminal when the file cannot be opened, is corrupt (the
  // message begins "catalog <path> is corrupt" and says how to recover) or its schema is newer
  // than this build knows; Retryable when it is locked past the busy timeout.
  [[nodiscard]] static Result<std::unique_ptr<Catalog>> open(
      const std::string& path, std::chrono::milliseconds busyTimeout = std::chrono::seconds(30));
  ~Catalog();
  Catalog(const Catalog&) = delete;
  Catalog& operator=(const Catalog&) = delete;

  const std::string& path() const { return path_; }
  [[nodiscard]] Result<int> schemaVersion();

  // Replicas.
  [[nodiscard]] Result<std::optional<ReplicaRecord>> replica(std::string_view pv);
  [[nodiscard]] Result<std::vector<ReplicaRecord>> replicas();
  // The non-deleted replica whose claim is ns/name (snapshot → source PV).
  [[nodiscard]] Result<std::optional<ReplicaRecord>> replicaByClaim(std::string_view ns,
                                                                    std::string_view name);
  [[nodiscard]] Status putReplica(const ReplicaRecord& r);  // insert or replace by pv

  // Snapshots.
  [[nodiscard]] Result<std::optional<SnapshotRecord>> snapshot(std::string_view uid);
  // The most recently seen snapshot record for ns/name (any state).
  [[nodiscard]] Result<std::optional<SnapshotRecord>> snapshotByName(std::string_view ns,
                                                                     std::string_view name);
  [[nodiscard]] Result<std::vector<SnapshotRecord>> snapshots();
  [[nodiscard]] Status putSnapshot(const SnapshotRecord& s);  // insert or replace by uid

  // Event dedupe: true when `eventId` was recorded with ok = true.
  [[nodiscard]] Result<bool> eventProcessed(std::string_view eventId);
  [[nodiscard]] Status recordEvent(std::string_view eventId, std::string_view key,
                                   std::string_view result, bool ok, SystemTime at);
  // Forgets event ids recorded before `before` (catalog.events_seen_retention): the table would
  // otherwise grow with every event forever. Returns how many were removed.
  [[nodiscard]] Result<std::int64_t> pruneEventsSeen(SystemTime before);

  // Runs.
  [[nodiscard]] Result<std::int64_t> beginRun(std::string_view kind, SystemTime at);
  [[nodiscard]] Status finishRun(std::int64_t id, std::string_view result,
                                 std::string_view summaryJson, SystemTime at);
  [[nodiscard]] Status addRunItem(std::int64_t runId, std::string_view key, std::string_view result,
                                  std::string_view detailJson);
  [[nodiscard]] Result<std::vector<RunRecord>> runs(int limit = 50);
  // The same for many items in one transaction (a pass over thousands of PVs).
  struct RunItem {
    std::string key, result, detailJson;
  };
  [[nodiscard]] Status addRunItems(std::int64_t runId, const std::vector<RunItem>& items);
  // The reconcile's full pass found these replicas unchanged since their newest point (manifest
  // digest equal): DR holds what the primary holds as of `dataTime` (the manifest's start). One
  // transaction: last_success = max(last_success, dataTime), last_sync_end = at, result
  // "unchanged" — only for rows still active, without an error, and whose last sync end is still
  // the one the pass read (a sync that ran meanwhile, serve's, keeps its own record). Returns the
  // PVs whose rows were updated.
  struct ReplicaSeen {
    std::string pv;
    std::optional<SystemTime> lastSyncEnd;  // as the pass read it
  };
  [[nodiscard]] Result<std::vector<std::string>> markReplicasCurrent(
      const std::vector<ReplicaSeen>& pvs, SystemTime dataTime, SystemTime at);

  // DR active (see DrActiveRecord). set: inserts the row and journals a "dr-active" action in one
  // transaction; the same run again is a no-op (resume); another run holding it is a Conflict.
  [[nodiscard]] Result<std::optional<DrActiveRecord>> drActive();
  [[nodiscard]] Status setDrActive(const DrActiveRecord& r);
  // Removes the row and journals a "release" action. NotFound when DR is not active; Conflict
  // when another run holds it (the message names it).
  [[nodiscard]] Status releaseDrActive(std::string_view runId, SystemTime at,
                                       std::string_view reason);
  [[nodiscard]] Status recordFailoverAction(const FailoverAction& a);
  // Oldest first; an empty runId lists every run's actions.
  [[nodiscard]] Result<std::vector<FailoverAction>> failoverActions(std::string_view runId = {});

  // For the catalog's own files (backup.cc, failover_journal.cc) and its tests: runs `fn` with
  // the connection while holding the catalog's lock. Other modules use the typed API.
  template <class F>
  auto withConnection(F&& fn) {
    std::lock_guard lock(mu_);
    return fn(db_);
  }

 private:
  Catalog(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}
  [[nodiscard]] Status migrate();
  [[nodiscard]] Status checkIntegrity();  // quick_check at open (catalog/backup.h)

  std::string path_;
  sqlite3* db_ = nullptr;
  std::mutex mu_;
};

// What every refused replication path says while DR is active: which run, since when, why, and
// how to lift it.
std::string drActiveMessage(const DrActiveRecord& r);
// Refused (with drActiveMessage) while DR is active; the catalog's own error when it cannot be
// read (fails closed: no sync on an unreadable state). `what` names the refused act.
[[nodiscard]] Status refuseIfDrActive(Catalog& catalog, std::string_view what);
// {"active": false} or {"active": true, "run", "backup", "mode", "since", "message"}.
Json drActiveJson(const std::optional<DrActiveRecord>& r);

// Milliseconds since the epoch <-> time point, as stored (core/sqlite.h).
using sqlite::fromMillis;
using sqlite::toMillis;

}  // namespace ocpvdr::catalog
