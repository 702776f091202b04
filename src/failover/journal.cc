// The failover journal over the catalog's SQLite connection (see journal.h).
#include "failover/journal.h"

#include <sqlite3.h>

namespace ocpvdr::failover {
namespace {

// A prepared statement that finalizes itself; bind/step helpers report SQLite's message.
class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &st_, nullptr);
  }
  ~Stmt() { sqlite3_finalize(st_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  bool ok() const { return rc_ == SQLITE_OK; }
  std::string error() const { return sqlite3_errmsg(db_); }
  void text(int i, std::string_view v) {
    sqlite3_bind_text(st_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void i64(int i, std::int64_t v) { sqlite3_bind_int64(st_, i, v); }
  void null(int i) { sqlite3_bind_null(st_, i); }
  int step() { return sqlite3_step(st_); }
  std::string col(int i) const {
    const unsigned char* t = sqlite3_column_text(st_, i);
    return t ? reinterpret_cast<const char*>(t) : "";
  }
  std::int64_t colI64(int i) const { return sqlite3_column_int64(st_, i); }
  bool colNull(int i) const { return sqlite3_column_type(st_, i) == SQLITE_NULL; }

 private:
  sqlite3* db_;
  sqlite3_stmt* st_ = nullptr;
  int rc_ = SQLITE_ERROR;
};

Error dbError(sqlite3* db, const std::string& what) {
  const int code = sqlite3_errcode(db);
  std::string msg = "failover journal: " + what + ": " + sqlite3_errmsg(db);
  // A locked database is another process's write in progress: worth retrying.
  if ((code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED) return retryableError(msg);
  return terminalError(msg);
}

Json parseDetails(const std::string& text) {
  Json j = Json::parse(text, nullptr, false);
  return j.is_discarded() ? Json::object() : j;
}

std::optional<StepState> parseState(const std::string& s) {
  if (s == "started") return StepState::Started;
  if (s == "done") return StepState::Done;
  if (s == "failed") return StepState::Failed;
  if (s == "skipped") return StepState::Skipped;
  return std::nullopt;
}

}  // namespace

std::string_view toString(StepState s) {
  switch (s) {
    case StepState::Started:
      return "started";
    case StepState::Done:
      return "done";
    case StepState::Failed:
      return "failed";
    case StepState::Skipped:
      return "skipped";
  }
  return "started";
}

const StepRecord* FailoverRunRecord::step(std::string_view name) const {
  for (const auto& s : steps)
    if (s.step == name) return &s;
  return nullptr;
}

bool FailoverRunRecord::changedDr() const {
  // Steps are journaled "started" before they act, so a started row is enough.
  static const char* kDrChanging[] = {"apply-volumes", "restore", "start-vms"};
  for (const char* name : kDrChanging)
    if (step(name) != nullptr) return true;
  return false;
}

Status Journal::createRun(const std::string& runId, const std::string& mode, const Json& options,
                          SystemTime at) {
  return catalog_.withConnection([&](sqlite3* db) -> Status {
    Stmt s(db,
           "INSERT INTO failover_runs (run_id, mode, state, started_at_ms, options_json) "
           "VALUES (?1, ?2, 'running', ?3, ?4)");
    if (!s.ok()) return dbError(db, "preparing insert of run " + runId);
    s.text(1, runId);
    s.text(2, mode);
    s.i64(3, catalog::toMillis(at));
    s.text(4, options.dump());
    int rc = s.step();
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
      return conflictError("failover run " + runId + " already exists in the journal");
    if (rc != SQLITE_DONE) return dbError(db, "recording run " + runId);
    return Status::success();
  });
}

Result<std::vector<FailoverRunRecord>> Journal::query(const std::string& where,
                                                      const std::string& arg, int limit) {
  return catalog_.withConnection([&](sqlite3* db) -> Result<std::vector<FailoverRunRecord>> {
    std::vector<FailoverRunRecord> out;
    Stmt s(db,
           "SELECT run_id, mode, backup, state, started_at_ms, finished_at_ms, options_json, "
           "error_kind, error_message, abandoned_at_ms FROM failover_runs " +
               where + " ORDER BY started_at_ms DESC, rowid DESC LIMIT ?2");
    if (!s.ok()) return dbError(db, "preparing run query");
    if (!arg.empty()) s.text(1, arg);
    s.i64(2, limit);
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      FailoverRunRecord r;
      r.runId = s.col(0);
      r.mode = s.col(1);
      r.backup = s.col(2);
      r.state = s.col(3);
      r.startedAt = catalog::fromMillis(s.colI64(4));
      if (!s.colNull(5)) r.finishedAt = catalog::fromMillis(s.colI64(5));
      r.options = parseDetails(s.col(6));
      r.errorKind = s.col(7);
      r.errorMessage = s.col(8);
      if (!s.colNull(9)) r.abandonedAt = catalog::fromMillis(s.colI64(9));
      out.push_back(std::move(r));
    }
    if (rc != SQLITE_DONE) return dbError(db, "reading runs");
    for (auto& r : out) {
      Stmt st(db,
              "SELECT step, seq, state, started_at_ms, finished_at_ms, attempts, details_json, "
              "error_kind, error_message FROM failover_steps WHERE run_id = ?1 ORDER BY seq");
      if (!st.ok()) return dbError(db, "preparing step query");
      st.text(1, r.runId);
      while ((rc = st.step()) == SQLITE_ROW) {
        StepRecord sr;
        sr.step = st.col(0);
        sr.seq = static_cast<int>(st.colI64(1));
        auto state = parseState(st.col(2));
        if (!state) return terminalError("failover journal: unknown step state " + st.col(2));
        sr.state = *state;
        sr.startedAt = catalog::fromMillis(st.colI64(3));
        if (!st.colNull(4)) sr.finishedAt = catalog::fromMillis(st.colI64(4));
        sr.attempts = static_cast<int>(st.colI64(5));
        sr.details = parseDetails(st.col(6));
        sr.errorKind = st.col(7);
        sr.errorMessage = st.col(8);
        r.steps.push_back(std::move(sr));
      }
      if (rc != SQLITE_DONE) return dbError(db, "reading steps of " + r.runId);
    }
    return out;
  });
}

Result<std::optional<FailoverRunRecord>> Journal::run(const std::string& runId) {
  OCPVDR_ASSIGN_OR_RETURN(auto rs, query("WHERE run_id = ?1", runId, 1));
  if (rs.empty()) return std::optional<FailoverRunRecord>{};
  return std::optional<FailoverRunRecord>(std::move(rs.front()));
}

Result<std::optional<FailoverRunRecord>> Journal::latestRun() {
  OCPVDR_ASSIGN_OR_RETURN(auto rs, query("WHERE ?1 IS NULL", "", 1));
  if (rs.empty()) return std::optional<FailoverRunRecord>{};
  return std::optional<FailoverRunRecord>(std::move(rs.front()));
}

Result<std::optional<FailoverRunRecord>> Journal::latestUnfinishedRun() {
  OCPVDR_ASSIGN_OR_RETURN(
      auto rs, query("WHERE state != 'done' AND abandoned_at_ms IS NULL AND ?1 IS NULL", "", 1));
  if (rs.empty()) return std::optional<FailoverRunRecord>{};
  return std::optional<FailoverRunRecord>(std::move(rs.front()));
}

Result<std::vector<FailoverRunRecord>> Journal::runs(int limit) {
  return query("WHERE ?1 IS NULL", "", limit);
}

Status Journal::setBackup(const std::string& runId, const std::string& backup) {
  return catalog_.withConnection([&](sqlite3* db) -> Status {
    Stmt s(db, "UPDATE failover_runs SET backup = ?2 WHERE run_id = ?1");
    if (!s.ok()) return dbError(db, "preparing backup update");
    s.text(1, runId);
    s.text(2, backup);
    if (s.step() != SQLITE_DONE) return dbError(db, "recording the backup of " + runId);
    return Status::success();
  });
}

Status Journal::setRunState(const std::string& runId, const std::string& state,
                            std::optional<SystemTime> finishedAt,
                            const std::optional<Error>& error) {
  return catalog_.withConnection([&](sqlite3* db) -> Status {
    Stmt s(db,
           "UPDATE failover_runs SET state = ?2, finished_at_ms = ?3, error_kind = ?4, "
           "error_message = ?5 WHERE run_id = ?1");
    if (!s.ok()) return dbError(db, "preparing run update");
    s.text(1, runId);
    s.text(2, state);
    if (finishedAt) {
      s.i64(3, catalog::toMillis(*finishedAt));
    } else {
      s.null(3);
    }
    s.text(4, error ? std::string(ocpvdr::toString(error->kind)) : "");
    s.text(5, error ? error->message : "");
    if (s.step() != SQLITE_DONE) return dbError(db, "updating run " + runId);
    return Status::success();
  });
}

Status Journal::stepStarted(const std::string& runId, const std::string& step, int seq,
                            SystemTime at) {
  return catalog_.withConnection([&](sqlite3* db) -> Status {
    Stmt s(db,
           "INSERT INTO failover_steps (run_id, step, seq, state, started_at_ms) "
           "VALUES (?1, ?2, ?3, 'started', ?4) "
           "ON CONFLICT (run_id, step) DO UPDATE SET state = 'started', finished_at_ms = NULL, "
           "attempts = attempts + 1, error_kind = '', error_message = ''");
    if (!s.ok()) return dbError(db, "preparing step start");
    s.text(1, runId);
    s.text(2, step);
    s.i64(3, seq);
    s.i64(4, catalog::toMillis(at));
    if (s.step() != SQLITE_DONE) return dbError(db, "recording the start of " + step);
    return Status::success();
  });
}

Status Journal::stepDetails(const std::string& runId, const std::string& step,
                            const Json& details) {
  return catalog_.withConnection([&](sqlite3* db) -> Status {
    Stmt s(db, "UPDATE failover_steps SET details_json = ?3 WHERE run_id = ?1 AND step = ?2");
    if (!s.ok()) return dbError(db, "preparing step details");
    s.text(1, runId);
    s.text(2, step);
    s.text(3, details.dump());
    if (s.step() != SQLITE_DONE) return dbError(db, "recording progress of " + step);
    return Status::success();
  });
}

Status Journal::stepFinished(const std::string& runId, const std::string& step, StepState state,
                             SystemTime at, const Json& details,
                             const std::optional<Error>& error) {
  return catalog_.withConnection([&](sqlite3* db) -> Status {
    Stmt s(db,
           "UPDATE failover_steps SET state = ?3, finished_at_ms = ?4, details_json = ?5, "
           "error_kind = ?6, error_message = ?7 WHERE run_id = ?1 AND step = ?2");
    if (!s.ok()) return dbError(db, "preparing step end");
    s.text(1, runId);
    s.text(2, step);
    s.text(3, toString(state));
    s.i64(4, catalog::toMillis(at));
    s.text(5, details.dump());
    s.text(6, error ? std::string(ocpvdr::toString(error->kind)) : "");
    s.text(7, error ? error->message : "");
    if (s.step() != SQLITE_DONE) return dbError(db, "recording the end of " + step);
    if (sqlite3_changes(db) != 1)
      return terminalError("failover journal: step " + step + " of run " + runId +
                           " was never started");
    return Status::success();
  });
}

Status Journal::markAbandoned(const std::string& runId, SystemTime at, bool forced,
                              const std::string& reason, const Json& details) {
  return catalog_.withConnection([&](sqlite3* db) -> Status {
    auto exec = [&](const char* sql) { return sqlite3_exec(db, sql, nullptr, nullptr, nullptr); };
    if (exec("BEGIN IMMEDIATE") != SQLITE_OK) return dbError(db, "starting the abandon");
    auto rollback = [&](Error e) -> Status {
      exec("ROLLBACK");
      return e;
    };
    Stmt u(db,
           "UPDATE failover_runs SET state = 'failed', finished_at_ms = COALESCE(finished_at_ms, "
           "?2), abandoned_at_ms = ?2, error_kind = 'refused', error_message = ?3 "
           "WHERE run_id = ?1 AND state != 'done' AND abandoned_at_ms IS NULL");
    if (!u.ok()) return rollback(dbError(db, "preparing the abandon"));
    u.text(1, runId);
    u.i64(2, catalog::toMillis(at));
    u.text(3, "abandoned by the operator: " + reason);
    if (u.step() != SQLITE_DONE) return rollback(dbError(db, "abandoning run " + runId));
    if (sqlite3_changes(db) != 1)
      return rollback(conflictError("failover run " + runId +
                                    " is not unfinished (done or already abandoned)"));
    Stmt a(db,
           "INSERT INTO failover_actions (run_id, action, at_ms, forced, reason, details_json) "
           "VALUES (?1, 'abandon', ?2, ?3, ?4, ?5)");
    if (!a.ok()) return rollback(dbError(db, "preparing the abandon record"));
    a.text(1, runId);
    a.i64(2, catalog::toMillis(at));
    a.i64(3, forced ? 1 : 0);
    a.text(4, reason);
    a.text(5, details.dump());
    if (a.step() != SQLITE_DONE) return rollback(dbError(db, "journaling the abandon"));
    if (exec("COMMIT") != SQLITE_OK) return rollback(dbError(db, "committing the abandon"));
    return Status::success();
  });
}

}  // namespace ocpvdr::failover
