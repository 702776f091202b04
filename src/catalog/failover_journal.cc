// The failover journal over the catalog's SQLite connection (see failover_journal.h).
#include "catalog/failover_journal.h"

#include <sqlite3.h>

#include "core/sqlite.h"

namespace ocpvdr::catalog {
namespace {

constexpr std::string_view kJournalComponent = "failover journal";

// The shared statement wrapper, naming the journal in its errors.
struct JournalStmt : sqlite::Stmt {
  JournalStmt(sqlite3* db, const std::string& sql) : sqlite::Stmt(db, sql, kJournalComponent) {}
};

// Worded from the connection's last result, so it serves prepare and step failures alike.
Error dbError(sqlite3* db, const std::string& what) {
  return sqlite::error(db, sqlite3_errcode(db), kJournalComponent, what);
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

Status FailoverJournal::createRun(const std::string& runId, const std::string& mode,
                                  const Json& options, SystemTime at) {
  return catalog_.withConnection([&](sqlite3* db) -> Status {
    JournalStmt s(db,
                  "INSERT INTO failover_runs (run_id, mode, state, started_at_ms, options_json) "
                  "VALUES (?1, ?2, 'running', ?3, ?4)");
    if (!s.prepared()) return dbError(db, "preparing insert of run " + runId);
    s.bind(runId);
    s.bind(mode);
    s.bind(toMillis(at));
    s.bind(options.dump());
    int rc = s.step();
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
      return conflictError("failover run " + runId + " already exists in the journal");
    if (rc != SQLITE_DONE) return dbError(db, "recording run " + runId);
    return Status::success();
  });
}

Result<std::vector<FailoverRunRecord>> FailoverJournal::query(const std::string& where,
                                                              const std::string& arg, int limit) {
  return catalog_.withConnection([&](sqlite3* db) -> Result<std::vector<FailoverRunRecord>> {
    std::vector<FailoverRunRecord> out;
    JournalStmt s(
        db,
        "SELECT run_id, mode, backup, state, started_at_ms, finished_at_ms, options_json, "
        "error_kind, error_message, abandoned_at_ms FROM failover_runs " +
            where + " ORDER BY started_at_ms DESC, rowid DESC LIMIT ?2");
    if (!s.prepared()) return dbError(db, "preparing run query");
    if (arg.empty()) {
      s.bindNull();
    } else {
      s.bind(arg);
    }
    s.bind(limit);
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      FailoverRunRecord r;
      r.runId = s.text(0);
      r.mode = s.text(1);
      r.backup = s.text(2);
      r.state = s.text(3);
      r.startedAt = fromMillis(s.i64(4));
      if (!s.isNull(5)) r.finishedAt = fromMillis(s.i64(5));
      r.options = parseDetails(s.text(6));
      r.errorKind = s.text(7);
      r.errorMessage = s.text(8);
      if (!s.isNull(9)) r.abandonedAt = fromMillis(s.i64(9));
      out.push_back(std::move(r));
    }
    if (rc != SQLITE_DONE) return dbError(db, "reading runs");
    for (auto& r : out) {
      JournalStmt st(
          db,
          "SELECT step, seq, state, started_at_ms, finished_at_ms, attempts, details_json, "
          "error_kind, error_message FROM failover_steps WHERE run_id = ?1 ORDER BY seq");
      if (!st.prepared()) return dbError(db, "preparing step query");
      st.bind(r.runId);
      while ((rc = st.step()) == SQLITE_ROW) {
        StepRecord sr;
        sr.step = st.text(0);
        sr.seq = static_cast<int>(st.i64(1));
        auto state = parseState(st.text(2));
        if (!state) return terminalError("failover journal: unknown step state " + st.text(2));
        sr.state = *state;
        sr.startedAt = fromMillis(st.i64(3));
        if (!st.isNull(4)) sr.finishedAt = fromMillis(st.i64(4));
        sr.attempts = static_cast<int>(st.i64(5));
        sr.details = parseDetails(st.text(6));
        sr.errorKind = st.text(7);
        sr.errorMessage = st.text(8);
        r.steps.push_back(std::move(sr));
      }
      if (rc != SQLITE_DONE) return dbError(db, "reading steps of " + r.runId);
    }
    return out;
  });
}

Result<std::optional<FailoverRunRecord>> FailoverJournal::run(const std::string& runId) {
  OCPVDR_ASSIGN_OR_RETURN(auto rs, query("WHERE run_id = ?1", runId, 1));
  if (rs.empty()) return std::optional<FailoverRunRecord>{};
  return std::optional<FailoverRunRecord>(std::move(rs.front()));
}

Result<std::optional<FailoverRunRecord>> FailoverJournal::latestRun() {
  OCPVDR_ASSIGN_OR_RETURN(auto rs, query("WHERE ?1 IS NULL", "", 1));
  if (rs.empty()) return std::optional<FailoverRunRecord>{};
  return std::optional<FailoverRunRecord>(std::move(rs.front()));
}

Result<std::optional<FailoverRunRecord>> FailoverJournal::latestUnfinishedRun() {
  OCPVDR_ASSIGN_OR_RETURN(
      auto rs, query("WHERE state != 'done' AND abandoned_at_ms IS NULL AND ?1 IS NULL", "", 1));
  if (rs.empty()) return std::optional<FailoverRunRecord>{};
  return std::optional<FailoverRunRecord>(std::move(rs.front()));
}

Result<std::vector<FailoverRunRecord>> FailoverJournal::runs(int limit) {
  return query("WHERE ?1 IS NULL", "", limit);
}

Status FailoverJournal::setBackup(const std::string& runId, const std::string& backup) {
  return catalog_.withConnection([&](sqlite3* db) -> Status {
    JournalStmt s(db, "UPDATE failover_runs SET backup = ?2 WHERE run_id = ?1");
    if (!s.prepared()) return dbError(db, "preparing backup update");
    s.bind(runId);
    s.bind(backup);
    if (s.step() != SQLITE_DONE) return dbError(db, "recording the backup of " + runId);
    return Status::success();
  });
}

Status FailoverJournal::setRunState(const std::string& runId, const std::string& state,
                                    std::optional<SystemTime> finishedAt,
                                    const std::optional<Error>& error) {
  return catalog_.withConnection([&](sqlite3* db) -> Status {
    JournalStmt s(db,
                  "UPDATE failover_runs SET state = ?2, finished_at_ms = ?3, error_kind = ?4, "
                  "error_message = ?5 WHERE run_id = ?1");
    if (!s.prepared()) return dbError(db, "preparing run update");
    s.bind(runId);
    s.bind(state);
    s.bind(finishedAt);
    s.bind(error ? std::string(ocpvdr::toString(error->kind)) : "");
    s.bind(error ? error->message : "");
    if (s.step() != SQLITE_DONE) return dbError(db, "updating run " + runId);
    return Status::success();
  });
}

Status FailoverJournal::stepStarted(const std::string& runId, const std::string& step, int seq,
                                    SystemTime at) {
  return catalog_.withConnection([&](sqlite3* db) -> Status {
    JournalStmt s(
        db,
        "INSERT INTO failover_steps (run_id, step, seq, state, started_at_ms) "
        "VALUES (?1, ?2, ?3, 'started', ?4) "
        "ON CONFLICT (run_id, step) DO UPDATE SET state = 'started', finished_at_ms = NULL, "
        "attempts = attempts + 1, error_kind = '', error_message = ''");
    if (!s.prepared()) return dbError(db, "preparing step start");
    s.bind(runId);
    s.bind(step);
    s.bind(seq);
    s.bind(toMillis(at));
    if (s.step() != SQLITE_DONE) return dbError(db, "recording the start of " + step);
    return Status::success();
  });
}

Status FailoverJournal::stepDetails(const std::string& runId, const std::string& step,
                                    const Json& details) {
  return catalog_.withConnection([&](sqlite3* db) -> Status {
    JournalStmt s(db,
                  "UPDATE failover_steps SET details_json = ?3 WHERE run_id = ?1 AND step = ?2");
    if (!s.prepared()) return dbError(db, "preparing step details");
    s.bind(runId);
    s.bind(step);
    s.bind(details.dump());
    if (s.step() != SQLITE_DONE) return dbError(db, "recording progress of " + step);
    return Status::success();
  });
}

Status FailoverJournal::stepFinished(const std::string& runId, const std::string& step,
                                     StepState state, SystemTime at, const Json& details,
                                     const std::optional<Error>& error) {
  return catalog_.withConnection([&](sqlite3* db) -> Status {
    JournalStmt s(db,
                  "UPDATE failover_steps SET state = ?3, finished_at_ms = ?4, details_json = ?5, "
                  "error_kind = ?6, error_message = ?7 WHERE run_id = ?1 AND step = ?2");
    if (!s.prepared()) return dbError(db, "preparing step end");
    s.bind(runId);
    s.bind(step);
    s.bind(toString(state));
    s.bind(toMillis(at));
    s.bind(details.dump());
    s.bind(error ? std::string(ocpvdr::toString(error->kind)) : "");
    s.bind(error ? error->message : "");
    if (s.step() != SQLITE_DONE) return dbError(db, "recording the end of " + step);
    if (sqlite3_changes(db) != 1)
      return terminalError("failover journal: step " + step + " of run " + runId +
                           " was never started");
    return Status::success();
  });
}

Status FailoverJournal::markAbandoned(const std::string& runId, SystemTime at, bool forced,
                                      const std::string& reason, const Json& details) {
  return catalog_.withConnection([&](sqlite3* db) -> Status {
    auto exec = [&](const char* sql) { return sqlite3_exec(db, sql, nullptr, nullptr, nullptr); };
    if (exec("BEGIN IMMEDIATE") != SQLITE_OK) return dbError(db, "starting the abandon");
    auto rollback = [&](Error e) -> Status {
      exec("ROLLBACK");
      return e;
    };
    JournalStmt u(
        db,
        "UPDATE failover_runs SET state = 'failed', finished_at_ms = COALESCE(finished_at_ms, "
        "?2), abandoned_at_ms = ?2, error_kind = 'refused', error_message = ?3 "
        "WHERE run_id = ?1 AND state != 'done' AND abandoned_at_ms IS NULL");
    if (!u.prepared()) return rollback(dbError(db, "preparing the abandon"));
    u.bind(runId);
    u.bind(toMillis(at));
    u.bind("abandoned by the operator: " + reason);
    if (u.step() != SQLITE_DONE) return rollback(dbError(db, "abandoning run " + runId));
    if (sqlite3_changes(db) != 1)
      return rollback(conflictError("failover run " + runId +
                                    " is not unfinished (done or already abandoned)"));
    JournalStmt a(
        db,
        "INSERT INTO failover_actions (run_id, action, at_ms, forced, reason, details_json) "
        "VALUES (?1, 'abandon', ?2, ?3, ?4, ?5)");
    if (!a.prepared()) return rollback(dbError(db, "preparing the abandon record"));
    a.bind(runId);
    a.bind(toMillis(at));
    a.bind(forced ? 1 : 0);
    a.bind(reason);
    a.bind(details.dump());
    if (a.step() != SQLITE_DONE) return rollback(dbError(db, "journaling the abandon"));
    if (exec("COMMIT") != SQLITE_OK) return rollback(dbError(db, "committing the abandon"));
    return Status::success();
  });
}

}  // namespace ocpvdr::catalog
