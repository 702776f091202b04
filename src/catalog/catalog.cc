// SQLite implementation of the DR catalog (see catalog.h).
#include "catalog/catalog.h"

#include <filesystem>
#include <utility>

#include "catalog/backup.h"
#include "core/sqlite.h"
#include "core/time.h"

namespace ocpvdr::catalog {
namespace {

using Clock = std::chrono::system_clock;

constexpr std::string_view kCatalogDbComponent = "catalog";

Error sqlError(sqlite3* db, int rc, std::string_view what) {
  return sqlite::error(db, rc, kCatalogDbComponent, what);
}

Status execAll(sqlite3* db, const std::string& sql, std::string_view what) {
  return sqlite::exec(db, sql, kCatalogDbComponent, what);
}

// The shared statement wrapper, naming the catalog in its errors.
struct Stmt : sqlite::Stmt {
  Stmt(sqlite3* db, std::string_view sql) : sqlite::Stmt(db, sql, kCatalogDbComponent) {}
};

constexpr const char* kReplicaColumns =
    "pv, uid, source_kind, source_server, source_path, primary_host_path, dr_path, "
    "dr_export_path, storage_class, claim_namespace, claim_name, state, last_sync_start_ms, "
    "last_sync_end_ms, last_success_ms, result, bytes, files, deletions, error_kind, "
    "error_message, forced, trash_path";

ReplicaRecord readReplica(const Stmt& s) {
  ReplicaRecord r;
  int c = 0;
  r.pv = s.text(c++);
  r.uid = s.text(c++);
  r.sourceKind = s.text(c++);
  r.sourceServer = s.text(c++);
  r.sourcePath = s.text(c++);
  r.primaryHostPath = s.text(c++);
  r.drPath = s.text(c++);
  r.drExportPath = s.text(c++);
  r.storageClass = s.text(c++);
  r.claimNamespace = s.text(c++);
  r.claimName = s.text(c++);
  r.state = s.text(c++);
  r.lastSyncStart = s.time(c++);
  r.lastSyncEnd = s.time(c++);
  r.lastSuccess = s.time(c++);
  r.result = s.text(c++);
  r.bytes = s.i64(c++);
  r.files = s.i64(c++);
  r.deletions = s.i64(c++);
  r.errorKind = s.text(c++);
  r.errorMessage = s.text(c++);
  r.forced = s.i64(c++) != 0;
  r.trashPath = s.text(c++);
  return r;
}

constexpr const char* kSnapshotColumns =
    "uid, namespace, name, source_pvc, source_pv, content_name, snapshot_handle, driver, "
    "class_name, creation_time_ms, restore_size, ready, state, data_primary_path, data_dr_path, "
    "trash_path, first_seen_ms, ready_at_ms, deleted_at_ms, last_sync_end_ms, result, bytes, "
    "error_kind, error_message";

SnapshotRecord readSnapshot(const Stmt& s) {
  SnapshotRecord r;
  int c = 0;
  r.uid = s.text(c++);
  r.ns = s.text(c++);
  r.name = s.text(c++);
  r.sourcePvc = s.text(c++);
  r.sourcePv = s.text(c++);
  r.contentName = s.text(c++);
  r.snapshotHandle = s.text(c++);
  r.driver = s.text(c++);
  r.className = s.text(c++);
  r.creationTime = s.time(c++);
  r.restoreSize = s.optI64(c++);
  r.ready = s.i64(c++) != 0;
  r.state = s.text(c++);
  r.dataPrimaryPath = s.text(c++);
  r.dataDrPath = s.text(c++);
  r.trashPath = s.text(c++);
  r.firstSeen = s.time(c++);
  r.readyAt = s.time(c++);
  r.deletedAt = s.time(c++);
  r.lastSyncEnd = s.time(c++);
  r.result = s.text(c++);
  r.bytes = s.i64(c++);
  r.errorKind = s.text(c++);
  r.errorMessage = s.text(c++);
  return r;
}

std::string placeholders(int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += i ? ", ?" : "?";
  return out;
}

// Switching a fresh file to WAL needs an exclusive lock, and SQLite answers BUSY at once (without
// its busy handler) when another connection is mid-way through the same switch. Retry with
// SQLite's own sleep until the busy timeout is used up.
Status enableWal(sqlite3* db, const std::string& path, std::chrono::milliseconds busyTimeout) {
  constexpr int kStepMs = 20;
  for (long waited = 0;; waited += kStepMs) {
    Status s = execAll(db, "PRAGMA journal_mode=WAL", "enabling WAL on " + path);
    if (s.ok() || s.error().kind != ErrorKind::Retryable || waited >= busyTimeout.count()) return s;
    sqlite3_sleep(kStepMs);
  }
}

}  // namespace

Result<std::unique_ptr<Catalog>> Catalog::open(const std::string& path,
                                               std::chrono::milliseconds busyTimeout) {
  if (path.empty()) return invalidError("catalog.path is empty");
  std::error_code ec;
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::filesystem::create_directories(parent, ec);
    if (ec)
      return terminalError("catalog: cannot create directory " + parent.string() + ": " +
                           ec.message());
  }
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Error e = terminalError("catalog: cannot open " + path + ": " +
                            (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
    sqlite3_close(db);
    return e;
  }
  std::unique_ptr<Catalog> cat(new Catalog(path, db));
  sqlite3_busy_timeout(db, static_cast<int>(busyTimeout.count()));
  sqlite3_extended_result_codes(db, 1);
  OCPVDR_TRY(cat->checkIntegrity());
  // WAL lets readers proceed while one writer works; NORMAL sync is durable across process
  // crashes in WAL mode (only an OS crash may lose the last transactions).
  OCPVDR_TRY(enableWal(db, path, busyTimeout));
  OCPVDR_TRY(execAll(db, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON",
                     "setting pragmas on " + path));
  // Every CLI call is a short-lived connection: checkpointing (and fsyncing) the WAL on each close
  // would cost more than the work itself. The WAL stays; SQLite's auto-checkpoint (1000 pages)
  // keeps it bounded.
  sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  OCPVDR_TRY(cat->migrate());
  return cat;
}

Status Catalog::checkIntegrity() {
  std::lock_guard lock(mu_);
  OCPVDR_ASSIGN_OR_RETURN(std::string findings, quickCheck(db_));
  if (!findings.empty()) return corruptCatalogError(path_, findings);
  return Status::success();
}

Catalog::~Catalog() {
  sqlite3_close_v2(db_);
}

Status Catalog::migrate() {
  std::lock_guard lock(mu_);
  const int latest = migrations().empty() ? 0 : migrations().back().version;
  {
    // Fast path without a write transaction: an up-to-date file needs no lock at all.
    Stmt s(db_, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
    if (s.prepared() && s.step() == SQLITE_ROW && s.i64(0) == latest) return Status::success();
  }
  OCPVDR_TRY(execAll(db_,
                     "CREATE TABLE IF NOT EXISTS schema_version ("
                     " version INTEGER PRIMARY KEY, description TEXT NOT NULL,"
                     " applied_at_ms INTEGER NOT NULL)",
                     "creating schema_version"));
  const auto& steps = migrations();
  for (const auto& step : steps) {
    // IMMEDIATE takes the write lock up front, so two processes opening a fresh file at once
    // serialise here and the second sees the first one's rows.
    OCPVDR_TRY(execAll(db_, "BEGIN IMMEDIATE", "starting migration"));
    int current = 0;
    {
      Stmt s(db_, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
      if (!s.prepared() || s.step() != SQLITE_ROW) {
        Error e = sqlError(db_, sqlite3_errcode(db_), "reading schema_version");
        (void)execAll(db_, "ROLLBACK", "rollback");
        return e;
      }
      current = static_cast<int>(s.i64(0));
    }
    if (current > latest) {
      (void)execAll(db_, "ROLLBACK", "rollback");
      return terminalError("catalog " + path_ + " has schema version " + std::to_string(current) +
                           ", newer than this ocpv-dr knows (" + std::to_string(latest) +
                           "): upgrade ocpv-dr");
    }
    if (current >= step.version) {
      (void)execAll(db_, "COMMIT", "commit");
      continue;
    }
    Status applied = execAll(db_, step.sql, "migration " + std::to_string(step.version));
    if (applied.ok()) {
      Stmt ins(db_,
               "INSERT INTO schema_version (version, description, applied_at_ms) VALUES (?, ?, ?)");
      ins.bind(step.version).bind(step.description).bind(toMillis(Clock::now()));
      applied = ins.run("recording migration");
    }
    if (!applied.ok()) {
      (void)execAll(db_, "ROLLBACK", "rollback");
      return applied.error();
    }
    OCPVDR_TRY(execAll(db_, "COMMIT", "committing migration " + std::to_string(step.version)));
  }
  return Status::success();
}

Result<int> Catalog::schemaVersion() {
  std::lock_guard lock(mu_);
  Stmt s(db_, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
  OCPVDR_TRY(s.checkPrepared("reading schema_version"));
  int rc = s.step();
  if (rc != SQLITE_ROW) return sqlError(db_, rc, "reading schema_version");
  return static_cast<int>(s.i64(0));
}

Result<std::optional<ReplicaRecord>> Catalog::replica(std::string_view pv) {
  std::lock_guard lock(mu_);
  Stmt s(db_, std::string("SELECT ") + kReplicaColumns + " FROM replicas WHERE pv = ?");
  OCPVDR_TRY(s.checkPrepared("reading replica"));
  s.bind(pv);
  int rc = s.step();
  if (rc == SQLITE_DONE) return std::optional<ReplicaRecord>{};
  if (rc != SQLITE_ROW) return sqlError(db_, rc, "reading replica");
  return std::optional<ReplicaRecord>{readReplica(s)};
}

Result<std::vector<ReplicaRecord>> Catalog::replicas() {
  std::lock_guard lock(mu_);
  Stmt s(db_, std::string("SELECT ") + kReplicaColumns + " FROM replicas ORDER BY pv");
  OCPVDR_TRY(s.checkPrepared("listing replicas"));
  std::vector<ReplicaRecord> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back(readReplica(s));
  if (rc != SQLITE_DONE) return sqlError(db_, rc, "listing replicas");
  return out;
}

Result<std::optional<ReplicaRecord>> Catalog::replicaByClaim(std::string_view ns,
                                                             std::string_view name) {
  std::lock_guard lock(mu_);
  Stmt s(db_, std::string("SELECT ") + kReplicaColumns +
                  " FROM replicas WHERE claim_namespace = ? AND claim_name = ? AND state = "
                  "'active' ORDER BY last_sync_start_ms DESC LIMIT 1");
  OCPVDR_TRY(s.checkPrepared("reading replica by claim"));
  s.bind(ns).bind(name);
  int rc = s.step();
  if (rc == SQLITE_DONE) return std::optional<ReplicaRecord>{};
  if (rc != SQLITE_ROW) return sqlError(db_, rc, "reading replica by claim");
  return std::optional<ReplicaRecord>{readReplica(s)};
}

Status Catalog::putReplica(const ReplicaRecord& r) {
  if (r.pv.empty()) return invalidError("catalog: replica without a PV name");
  std::lock_guard lock(mu_);
  Stmt s(db_, std::string("INSERT OR REPLACE INTO replicas (") + kReplicaColumns + ") VALUES (" +
                  placeholders(23) + ")");
  s.bind(r.pv)
      .bind(r.uid)
      .bind(r.sourceKind)
      .bind(r.sourceServer)
      .bind(r.sourcePath)
      .bind(r.primaryHostPath)
      .bind(r.drPath)
      .bind(r.drExportPath)
      .bind(r.storageClass)
      .bind(r.claimNamespace)
      .bind(r.claimName)
      .bind(r.state)
      .bind(r.lastSyncStart)
      .bind(r.lastSyncEnd)
      .bind(r.lastSuccess)
      .bind(r.result)
      .bind(r.bytes)
      .bind(r.files)
      .bind(r.deletions)
      .bind(r.errorKind)
      .bind(r.errorMessage)
      .bind(r.forced)
      .bind(r.trashPath);
  return s.run("writing replica " + r.pv);
}

Result<std::optional<SnapshotRecord>> Catalog::snapshot(std::string_view uid) {
  std::lock_guard lock(mu_);
  Stmt s(db_, std::string("SELECT ") + kSnapshotColumns + " FROM snapshots WHERE uid = ?");
  OCPVDR_TRY(s.checkPrepared("reading snapshot"));
  s.bind(uid);
  int rc = s.step();
  if (rc == SQLITE_DONE) return std::optional<SnapshotRecord>{};
  if (rc != SQLITE_ROW) return sqlError(db_, rc, "reading snapshot");
  return std::optional<SnapshotRecord>{readSnapshot(s)};
}

Result<std::optional<SnapshotRecord>> Catalog::snapshotByName(std::string_view ns,
                                                              std::string_view name) {
  std::lock_guard lock(mu_);
  Stmt s(db_, std::string("SELECT ") + kSnapshotColumns +
                  " FROM snapshots WHERE namespace = ? AND name = ?"
                  " ORDER BY COALESCE(first_seen_ms, 0) DESC LIMIT 1");
  OCPVDR_TRY(s.checkPrepared("reading snapshot by name"));
  s.bind(ns).bind(name);
  int rc = s.step();
  if (rc == SQLITE_DONE) return std::optional<SnapshotRecord>{};
  if (rc != SQLITE_ROW) return sqlError(db_, rc, "reading snapshot by name");
  return std::optional<SnapshotRecord>{readSnapshot(s)};
}

Result<std::vector<SnapshotRecord>> Catalog::snapshots() {
  std::lock_guard lock(mu_);
  Stmt s(db_,
         std::string("SELECT ") + kSnapshotColumns + " FROM snapshots ORDER BY namespace, name");
  OCPVDR_TRY(s.checkPrepared("listing snapshots"));
  std::vector<SnapshotRecord> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back(readSnapshot(s));
  if (rc != SQLITE_DONE) return sqlError(db_, rc, "listing snapshots");
  return out;
}

Status Catalog::putSnapshot(const SnapshotRecord& r) {
  if (r.uid.empty()) return invalidError("catalog: snapshot without a uid");
  std::lock_guard lock(mu_);
  Stmt s(db_, std::string("INSERT OR REPLACE INTO snapshots (") + kSnapshotColumns + ") VALUES (" +
                  placeholders(24) + ")");
  s.bind(r.uid)
      .bind(r.ns)
      .bind(r.name)
      .bind(r.sourcePvc)
      .bind(r.sourcePv)
      .bind(r.contentName)
      .bind(r.snapshotHandle)
      .bind(r.driver)
      .bind(r.className)
      .bind(r.creationTime)
      .bind(r.restoreSize)
      .bind(r.ready)
      .bind(r.state)
      .bind(r.dataPrimaryPath)
      .bind(r.dataDrPath)
      .bind(r.trashPath)
      .bind(r.firstSeen)
      .bind(r.readyAt)
      .bind(r.deletedAt)
      .bind(r.lastSyncEnd)
      .bind(r.result)
      .bind(r.bytes)
      .bind(r.errorKind)
      .bind(r.errorMessage);
  return s.run("writing snapshot " + r.ns + "/" + r.name);
}

Result<bool> Catalog::eventProcessed(std::string_view eventId) {
  std::lock_guard lock(mu_);
  Stmt s(db_, "SELECT ok FROM events_seen WHERE event_id = ?");
  OCPVDR_TRY(s.checkPrepared("reading events_seen"));
  s.bind(eventId);
  int rc = s.step();
  if (rc == SQLITE_DONE) return false;
  if (rc != SQLITE_ROW) return sqlError(db_, rc, "reading events_seen");
  return s.i64(0) != 0;
}

Status Catalog::recordEvent(std::string_view eventId, std::string_view key, std::string_view result,
                            bool ok, SystemTime at) {
  if (eventId.empty()) return invalidError("catalog: empty event id");
  std::lock_guard lock(mu_);
  // A success is sticky: a late failure report for the same id must not make it run again.
  Stmt s(db_,
         "INSERT INTO events_seen (event_id, key, result, ok, processed_at_ms) VALUES (?, ?, ?, "
         "?, ?) ON CONFLICT (event_id) DO UPDATE SET key = excluded.key, result = "
         "excluded.result, ok = MAX(ok, excluded.ok), processed_at_ms = excluded.processed_at_ms "
         "WHERE events_seen.ok = 0");
  s.bind(eventId).bind(key).bind(result).bind(ok).bind(toMillis(at));
  return s.run("recording event");
}

Result<std::int64_t> Catalog::pruneEventsSeen(SystemTime before) {
  std::lock_guard lock(mu_);
  Stmt s(db_, "DELETE FROM events_seen WHERE processed_at_ms < ?");
  s.bind(toMillis(before));
  OCPVDR_TRY(s.run("pruning events_seen"));
  return static_cast<std::int64_t>(sqlite3_changes(db_));
}

Result<std::int64_t> Catalog::beginRun(std::string_view kind, SystemTime at) {
  std::lock_guard lock(mu_);
  Stmt s(db_, "INSERT INTO runs (kind, started_at_ms) VALUES (?, ?)");
  s.bind(kind).bind(toMillis(at));
  OCPVDR_TRY(s.run("starting run"));
  return static_cast<std::int64_t>(sqlite3_last_insert_rowid(db_));
}

Status Catalog::finishRun(std::int64_t id, std::string_view result, std::string_view summaryJson,
                          SystemTime at) {
  std::lock_guard lock(mu_);
  Stmt s(db_, "UPDATE runs SET finished_at_ms = ?, result = ?, summary_json = ? WHERE id = ?");
  s.bind(toMillis(at)).bind(result).bind(summaryJson).bind(id);
  OCPVDR_TRY(s.run("finishing run"));
  if (sqlite3_changes(db_) == 0)
    return notFoundError("catalog: no run with id " + std::to_string(id));
  return Status::success();
}

Status Catalog::addRunItem(std::int64_t runId, std::string_view key, std::string_view result,
                           std::string_view detailJson) {
  std::lock_guard lock(mu_);
  Stmt s(db_,
         "INSERT OR REPLACE INTO run_items (run_id, key, result, detail_json) VALUES (?, ?, ?, ?)");
  s.bind(runId).bind(key).bind(result).bind(detailJson);
  return s.run("recording run item");
}

Result<std::vector<RunRecord>> Catalog::runs(int limit) {
  std::lock_guard lock(mu_);
  Stmt s(db_,
         "SELECT id, kind, started_at_ms, finished_at_ms, result, summary_json FROM runs ORDER BY "
         "id DESC LIMIT ?");
  OCPVDR_TRY(s.checkPrepared("listing runs"));
  s.bind(limit);
  std::vector<RunRecord> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    RunRecord r;
    r.id = s.i64(0);
    r.kind = s.text(1);
    r.startedAt = s.time(2);
    r.finishedAt = s.time(3);
    r.result = s.text(4);
    r.summaryJson = s.text(5);
    out.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return sqlError(db_, rc, "listing runs");
  return out;
}

// --- DR active and failover actions ----------------------------------------------------------

namespace {

Status insertAction(sqlite3* db, const FailoverAction& a) {
  Stmt s(db,
         "INSERT INTO failover_actions (run_id, action, at_ms, forced, reason, details_json) "
         "VALUES (?, ?, ?, ?, ?, ?)");
  s.bind(a.runId)
      .bind(a.action)
      .bind(toMillis(a.at))
      .bind(a.forced)
      .bind(a.reason)
      .bind(a.detailsJson.empty() ? std::string("{}") : a.detailsJson);
  return s.run("journaling " + a.action + " of failover run " + a.runId);
}

Result<std::optional<DrActiveRecord>> readDrActive(sqlite3* db) {
  Stmt s(db, "SELECT run_id, backup, mode, set_at_ms FROM dr_active WHERE id = 1");
  OCPVDR_TRY(s.checkPrepared("reading the DR-active state"));
  int rc = s.step();
  if (rc == SQLITE_DONE) return std::optional<DrActiveRecord>{};
  if (rc != SQLITE_ROW) return sqlError(db, rc, "reading the DR-active state");
  DrActiveRecord r;
  r.runId = s.text(0);
  r.backup = s.text(1);
  r.mode = s.text(2);
  r.since = fromMillis(s.i64(3));
  return std::optional<DrActiveRecord>{std::move(r)};
}

// Runs `fn` inside BEGIN IMMEDIATE ... COMMIT (ROLLBACK when it fails).
template <class F>
Status inTransaction(sqlite3* db, std::string_view what, F&& fn) {
  OCPVDR_TRY(execAll(db, "BEGIN IMMEDIATE", std::string("starting ") + std::string(what)));
  Status st = fn();
  if (!st.ok()) {
    (void)execAll(db, "ROLLBACK", "rollback");
    return st;
  }
  return execAll(db, "COMMIT", std::string("committing ") + std::string(what));
}

}  // namespace

Result<std::optional<DrActiveRecord>> Catalog::drActive() {
  std::lock_guard lock(mu_);
  return readDrActive(db_);
}

Status Catalog::setDrActive(const DrActiveRecord& r) {
  if (r.runId.empty()) return invalidError("catalog: DR-active state without a run id");
  std::lock_guard lock(mu_);
  return inTransaction(db_, "setting DR active", [&]() -> Status {
    OCPVDR_ASSIGN_OR_RETURN(auto cur, readDrActive(db_));
    if (cur) {
      if (cur->runId == r.runId) return Status::success();
      return conflictError("DR is already active for failover run " + cur->runId + " (since " +
                           formatTime(cur->since) + "): its VMs run on the DR copies. " +
                           "Fail back and lift it with `ocpv-dr failover release --run " +
                           cur->runId + "` before another failover");
    }
    Stmt s(db_,
           "INSERT INTO dr_active (id, run_id, backup, mode, set_at_ms) VALUES (1, ?, ?, ?, ?)");
    s.bind(r.runId).bind(r.backup).bind(r.mode).bind(toMillis(r.since));
    OCPVDR_TRY(s.run("setting DR active"));
    FailoverAction a;
    a.runId = r.runId;
    a.action = "dr-active";
    a.at = r.since;
    a.reason = "failover run is about to change the DR cluster (apply-volumes)";
    a.detailsJson = Json{{"backup", r.backup}, {"mode", r.mode}}.dump();
    return insertAction(db_, a);
  });
}

Status Catalog::releaseDrActive(std::string_view runId, SystemTime at, std::string_view reason) {
  std::lock_guard lock(mu_);
  return inTransaction(db_, "releasing DR active", [&]() -> Status {
    OCPVDR_ASSIGN_OR_RETURN(auto cur, readDrActive(db_));
    if (!cur) return notFoundError("DR is not active: nothing to release");
    if (cur->runId != runId)
      return conflictError("DR is active for failover run " + cur->runId + ", not " +
                           std::string(runId) + ": release it with --run " + cur->runId);
    Stmt s(db_, "DELETE FROM dr_active WHERE id = 1");
    OCPVDR_TRY(s.run("releasing DR active"));
    FailoverAction a;
    a.runId = cur->runId;
    a.action = "release";
    a.at = at;
    a.reason = std::string(reason);
    a.detailsJson =
        Json{{"backup", cur->backup}, {"mode", cur->mode}, {"since", formatTime(cur->since)}}
            .dump();
    return insertAction(db_, a);
  });
}

Status Catalog::recordFailoverAction(const FailoverAction& a) {
  std::lock_guard lock(mu_);
  return insertAction(db_, a);
}

Result<std::vector<FailoverAction>> Catalog::failoverActions(std::string_view runId) {
  std::lock_guard lock(mu_);
  Stmt s(db_,
         "SELECT id, run_id, action, at_ms, forced, reason, details_json FROM failover_actions "
         "WHERE ? = '' OR run_id = ? ORDER BY id");
  OCPVDR_TRY(s.checkPrepared("listing failover actions"));
  // A std::string: an empty string_view may carry a null pointer, which SQLite binds as NULL.
  const std::string run(runId);
  s.bind(run).bind(run);
  std::vector<FailoverAction> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    FailoverAction a;
    a.id = s.i64(0);
    a.runId = s.text(1);
    a.action = s.text(2);
    a.at = fromMillis(s.i64(3));
    a.forced = s.i64(4) != 0;
    a.reason = s.text(5);
    a.detailsJson = s.text(6);
    out.push_back(std::move(a));
  }
  if (rc != SQLITE_DONE) return sqlError(db_, rc, "listing failover actions");
  return out;
}

std::string drActiveMessage(const DrActiveRecord& r) {
  return "DR is active since " + formatTime(r.since) + ": failover run " + r.runId +
         (r.backup.empty() ? std::string() : " (backup " + r.backup + ")") +
         " runs the VMs on the DR copies, and replication from the primary would overwrite "
         "their disks. After failing back, lift it with `ocpv-dr failover release --run " +
         r.runId + "`";
}

Status refuseIfDrActive(Catalog& catalog, std::string_view what) {
  auto cur = catalog.drActive();
  if (!cur.ok())
    return cur.error().wrap("checking the DR-active state before " + std::string(what));
  if (!*cur) return Status::success();
  return refusedError(std::string(what) + " refused: " + drActiveMessage(**cur));
}

Json drActiveJson(const std::optional<DrActiveRecord>& r) {
  if (!r) return Json{{"active", false}};
  return Json{{"active", true},
              {"run", r->runId},
              {"backup", r->backup},
              {"mode", r->mode},
              {"since", formatTime(r->since)},
              {"message", drActiveMessage(*r)}};
}

Status Catalog::addRunItems(std::int64_t runId, const std::vector<RunItem>& items) {
  std::lock_guard lock(mu_);
  return inTransaction(db_, "recording run items", [&]() -> Status {
    Stmt s(db_,
           "INSERT OR REPLACE INTO run_items (run_id, key, result, detail_json) VALUES (?, ?, ?, "
           "?)");
    for (const auto& it : items) {
      s.bind(runId).bind(it.key).bind(it.result).bind(it.detailJson);
      OCPVDR_TRY(s.run("recording run item"));
    }
    return Status::success();
  });
}

Result<std::vector<std::string>> Catalog::markReplicasCurrent(const std::vector<ReplicaSeen>& pvs,
                                                              SystemTime dataTime, SystemTime at) {
  std::lock_guard lock(mu_);
  std::vector<std::string> updated;
  Status st = inTransaction(db_, "recording unchanged replicas", [&]() -> Status {
    Stmt s(db_,
           "UPDATE replicas SET last_success_ms = max(coalesce(last_success_ms, 0), ?), "
           "last_sync_end_ms = ?, result = 'unchanged' "
           "WHERE pv = ? AND state = 'active' AND error_kind = '' "
           "AND coalesce(last_sync_end_ms, -1) = coalesce(?, -1)");
    const std::optional<SystemTime> data = dataTime, end = at;
    for (const auto& p : pvs) {
      s.bind(data).bind(end).bind(p.pv).bind(p.lastSyncEnd);
      OCPVDR_TRY(s.run("recording unchanged replica " + p.pv));
      if (sqlite3_changes(db_) > 0) updated.push_back(p.pv);
    }
    return Status::success();
  });
  if (!st.ok()) return st.error();
  return updated;
}

}  // namespace ocpvdr::catalog
