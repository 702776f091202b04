// The failover journal's storage: one row per failover run and one per step of it, in the DR
// catalog's SQLite database (tables failover_runs / failover_steps, catalog migration step 2).
// The failover workflow (failover/journal.h) reads and writes it only through this API.
//
// The workflow writes a step "started" before it acts and "done" (with its details JSON) when it
// has finished, so after a crash the journal says exactly which steps are finished (never
// redone) and which one was cut short (redone: every step is idempotent). Each write is a single
// statement on the catalog's WAL database, so a crash leaves either the old or the new row.
// Times are integer milliseconds since the epoch, as everywhere in the catalog.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/catalog.h"
#include "core/clock.h"
#include "core/json_util.h"
#include "core/result.h"

namespace ocpvdr::catalog {

enum class StepState { Started, Done, Failed, Skipped };
std::string_view toString(StepState s);

struct StepRecord {
  std::string step;  // stable step name ("preflight", "apply-volumes", ...)
  int seq = 0;       // position in the run's plan (1-based)
  StepState state = StepState::Started;
  SystemTime startedAt;                  // first start (kept across resumes)
  std::optional<SystemTime> finishedAt;  // set with done / failed / skipped
  int attempts = 1;                      // times the step was started
  Json details = Json::object();         // what the step found and did (see docs/failover.md)
  std::string errorKind, errorMessage;   // of the last failure
};

struct FailoverRunRecord {
  std::string runId;
  std::string mode;    // planned | unplanned
  std::string backup;  // the backup the run restores from (set by preflight)
  std::string state;   // running | done | failed (an abandoned run stays failed)
  SystemTime startedAt;
  std::optional<SystemTime> finishedAt;
  Json options = Json::object();  // what `run` was asked for (resume reuses it)
  std::string errorKind, errorMessage;
  std::vector<StepRecord> steps;          // in seq order
  std::optional<SystemTime> abandonedAt;  // `failover abandon`: neither resumable nor blocking

  const StepRecord* step(std::string_view name) const;
  bool finished() const { return state == "done"; }
  bool abandoned() const { return abandonedAt.has_value(); }
};

class FailoverJournal {
 public:
  explicit FailoverJournal(Catalog& catalog) : catalog_(catalog) {}

  // Conflict when the run id exists.
  [[nodiscard]] Status createRun(const std::string& runId, const std::string& mode,
                                 const Json& options, SystemTime at);
  [[nodiscard]] Result<std::optional<FailoverRunRecord>> run(const std::string& runId);
  // The most recently started run, or the most recent one not done.
  [[nodiscard]] Result<std::optional<FailoverRunRecord>> latestRun();
  // Not done and not abandoned.
  [[nodiscard]] Result<std::optional<FailoverRunRecord>> latestUnfinishedRun();
  [[nodiscard]] Result<std::vector<FailoverRunRecord>> runs(int limit = 20);

  // Marks an unfinished run abandoned (state failed, abandoned_at set, the reason as its error)
  // and journals an "abandon" action, in one transaction. The policy (refusing a run that
  // changed the DR cluster unless forced) is abandonRun() in failover/workflow.h.
  [[nodiscard]] Status markAbandoned(const std::string& runId, SystemTime at, bool forced,
                                     const std::string& reason, const Json& details);

  [[nodiscard]] Status setBackup(const std::string& runId, const std::string& backup);
  // running (resume), done or failed (with the error).
  [[nodiscard]] Status setRunState(const std::string& runId, const std::string& state,
                                   std::optional<SystemTime> finishedAt,
                                   const std::optional<Error>& error = std::nullopt);

  // Marks a step started: inserted with attempts 1, or (a redo) state reset with attempts + 1,
  // keeping the first start time and the details written so far.
  [[nodiscard]] Status stepStarted(const std::string& runId, const std::string& step, int seq,
                                   SystemTime at);
  // Progress inside a step (what has been done so far), kept for the redo after a crash.
  [[nodiscard]] Status stepDetails(const std::string& runId, const std::string& step,
                                   const Json& details);
  [[nodiscard]] Status stepFinished(const std::string& runId, const std::string& step,
                                    StepState state, SystemTime at, const Json& details,
                                    const std::optional<Error>& error = std::nullopt);

 private:
  [[nodiscard]] Result<std::vector<FailoverRunRecord>> query(const std::string& where,
                                                             const std::string& arg, int limit);
  Catalog& catalog_;
};

}  // namespace ocpvdr::catalog
