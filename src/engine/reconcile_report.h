// The reconcile report: what one full pass found and did, and its three renderings —
//   JSON      the whole report (report.json) and a short summary (stdout, notify POSTs, the
//             catalog's run row, the Ansible artifact)
//   Markdown  report.md: totals, breaker verdict, failures first, orphans, untracked DR dirs
//   HTML      report.html: one self-contained page (inline CSS, no scripts, no external assets,
//             every value HTML-escaped), a row per PV with status, last sync, bytes, duration and
//             current RPO; failures first
// and the exit code the run ends with (docs/reconcile.md "Exit codes").
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/json_util.h"
#include "core/result.h"
#include "core/text.h"  // htmlEscape, which the HTML rendering uses

namespace ocpvdr::engine {

// One selected PV (or a PV the run could not even read).
struct PvRow {
  std::string pv;
  std::string status;   // synced | unchanged | failed | refused | busy | not-replicable | stopped
  bool failed = false;  // counts towards the exit code
  std::string errorKind, errorMessage;
  std::string source, destination;
  std::optional<SystemTime> lastSyncEnd, lastSuccess;  // from the catalog after the run
  std::int64_t bytes = 0, files = 0;                   // of this run's sync
  std::chrono::milliseconds duration{0};               // of this run's sync
  std::optional<std::chrono::seconds> rpo;             // now - lastSuccess
  bool rpoExceeded = false;                            // rpo > target, or never synced
  bool neverSynced = false;                            // no successful sync recorded at all
  // How the run decided: "manifest" (the full pass's digest equalled the newest point's: no
  // cycle), "sync" (a sync ran through the queue), "" (neither: refused, not replicable, ...).
  std::string checkedBy;
  // status with how it was reached, for people: "unchanged (manifest)".
  std::string statusText() const {
    return checkedBy == "manifest" ? status + " (manifest)" : status;
  }
};

// The cheap full pass (reconcile.h step 2): one manifest session per primary export root of the
// extent-mover PVs, compared with the digests DR recorded with their newest points.
struct ManifestPass {
  bool ran = false;
  int roots = 0, sessionsFailed = 0;
  int checked = 0;    // extent-mover PVs the manifest covered
  int unchanged = 0;  // skipped: digest equal to the newest point's
  int cycles = 0;     // sent through the queue: digest differed, or no record / no digest
  std::chrono::milliseconds duration{0};
  std::vector<std::string> errors;  // per failed session: root and why
};

struct SnapshotRow {
  std::string snapshot;  // ns/name
  std::string uid, sourcePv;
  std::string status;  // synced | unchanged | not-ready | skipped | failed | refused | ...
  bool failed = false;
  std::string errorKind, errorMessage;
  std::int64_t bytes = 0;
};

// A catalog row (or snapshot record) whose object the primary positively lists as absent.
struct OrphanRow {
  std::string kind = "pv";  // pv | snapshot
  std::string name;         // PV name, or ns/name
  std::string drPath;
  bool drDataPresent = false;
  std::string action;  // quarantined | kept | deleted | unchanged | held (breaker) | failed
  std::string detail;
};

struct BreakerVerdict {
  bool tripped = false;
  std::string reason;  // why it tripped (empty otherwise)
  int candidates = 0;  // orphans found
  int replicas = 0;    // replicas (records) DR holds
  double maxShare = 0.1;
};

struct ReconcileTotals {
  int selected = 0, synced = 0, unchanged = 0, failed = 0, notReplicable = 0;
  int unchangedByManifest = 0;  // of `unchanged`: decided by the manifest, no cycle
  int neverSynced = 0, rpoExceeded = 0;
  int snapshots = 0, snapshotsFailed = 0;
  int orphans = 0, orphansHandled = 0, orphanSnapshots = 0, untrackedDirs = 0;
  std::int64_t bytes = 0;
};

struct ReconcileReport {
  std::int64_t runId = 0;
  std::string trigger = "cli";  // cli | schedule | api
  SystemTime startedAt{}, finishedAt{};
  std::chrono::seconds rpoTarget{3600};
  std::string deletePolicy;

  bool pvListOk = false;
  std::string pvListError;  // why the PV list failed (then no orphan check ran)
  bool snapshotListOk = false;
  std::string snapshotListError;
  bool stopped = false;  // the run was interrupted (shutdown)
  // catalog::drActiveJson when DR was active (a failover ran): nothing was synced or quarantined,
  // every PV and snapshot is "refused" with the reason. Null otherwise.
  Json drActive = nullptr;

  std::vector<PvRow> pvs;  // failures first (sortRows)
  std::vector<SnapshotRow> snapshots;
  std::vector<OrphanRow> orphans;           // PVs and snapshots
  std::vector<std::string> untrackedDirs;   // DR directories no record ties to a PV
  std::vector<std::string> notes;           // things the operator should know
  BreakerVerdict breaker, snapshotBreaker;  // PV replicas / snapshot records
  ReconcileTotals totals;
  ManifestPass manifest;

  struct Files {
    std::string json, markdown, html;
  } files;                      // set once written
  Json notify = Json::array();  // one {"url","status"|"error"} per notify URL

  // Failures first, then RPO exceeded, then by name.
  void sortRows();
  void computeTotals();
  // 0: everything synced, no breaker; otherwise the documented codes (docs/reconcile.md).
  int exitCode() const;
  // {"kind","message"} of what made the run fail, or null.
  Json errorJson() const;
  std::string resultWord() const;  // ok | failed | breaker | list-failed | stopped

  Json toJson() const;   // the full report
  Json summary() const;  // totals, names of failed/stale/orphaned, breaker, files, error
  std::string toMarkdown() const;
  std::string toHtml() const;
};

// Writes report.json, report.md and report.html into `dir` (created as needed) and records the
// paths in report.files.
[[nodiscard]] Status writeReportFiles(ReconcileReport& report, const std::string& dir);

}  // namespace ocpvdr::engine
