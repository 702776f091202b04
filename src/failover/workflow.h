// The failover workflow: `ocpv-dr failover plan|run|resume` (docs/failover.md is the runbook).
//
// A run is a fixed list of steps, each idempotent and journaled (journal.h):
//   planned:   preflight, stop-vms, fence, final-sync, download, apply-volumes, restore,
//              start-vms, cleanup, report
//   unplanned: preflight, data-loss, download, apply-volumes, restore, start-vms, cleanup, report
//
//   preflight      DR API reachable; backup chosen (--backup NAME or the latest Completed) and
//                  Completed; its tarball downloaded into <work_dir>/<run>/ and read; every PV of
//                  the protected namespaces' PVCs rewritable (NFS, mapped server and path) and
//                  its DR directory present on this host (missing: an error when unplanned, a
//                  warning when planned — the final sync creates it); the Backup CR present in
//                  the OADP namespace at DR (waits up to timeouts.backup_sync for Velero's
//                  backup sync); PVs newer than the backup listed as warnings (primary API when
//                  reachable, else catalog rows). Planned mode needs the primary API.
//   stop-vms       (planned) runStrategy Halted on every VM of the protected namespaces at the
//                  primary — never a delete — then waits until their VMIs are gone (vm_stop).
//   fence          (planned) the primary export made read-only (fencing.h).
//   final-sync     (planned) per PV: an rsync dry run (-n, itemized) logged, then the real sync
//                  through the Replicator.
//   data-loss      (unplanned) per PV: now − last successful sync end, from the catalog.
//   download       the tarball (re-fetched if the work dir lost it) parsed into objects.json:
//                  the DR PVs and PVCs (rewriter.h) and the VMs to start.
//   apply-volumes  first sets the catalog's DR-active state (catalog.h DrActiveRecord) and waits
//                  out any sync still holding a volume's replication lock: from here on every
//                  replication path refuses until `ocpv-dr failover release`. With --point,
//                  each PV's chosen recovery point is journaled and put in place in its DR
//                  directory by reflink (point_choice.h; preflight previews the choice). Then the
//                  missing namespaces, from the backup's (dr_namespaces.h), then PVs, then
//                  PVCs, by server-side apply (failover.field_manager,
//                  force); refuses objects of the same name not created by ocpv-dr; waits until
//                  every PVC is Bound (pvc_bind). PVCs of DataVolumes unfinished at backup
//                  (kvp.kubevirt.io/storage.inprogress) and their PVs are skipped and listed
//                  with the reason (CDI populates them again from the restored DataVolume).
//   restore        the resource modifier ConfigMap (restore_modifiers.h; journaled first), then
//                  Velero Restore `ocpv-dr-<run id>` in the OADP namespace (an existing one of
//                  this run is reused): includedNamespaces = protected namespaces, PVs and PVCs
//                  excluded, restorePVs false, existingResourcePolicy none, preserveNodePorts,
//                  resourceModifier, label velero.kubevirt.io/restore-run-strategy: Halted
//                  (start-vms starts them); waits for Completed / PartiallyFailed (restore);
//                  Failed / FailedValidation stop the run.
//   start-vms      runStrategy failover.run_strategy_after_restore on each VM of the backup
//                  that was meant to run (restore_modifiers.h: stop-vms' journal, else the
//                  backup's VM); the others stay Halted and are not waited for (Halted: all
//                  left stopped); waits until each started VM is Running and ready (vm_ready),
//                  with failover.require_guest_agent also AgentConnected.
//   cleanup        the resource modifier ConfigMap deleted, <work_dir>/<run>/ removed.
//   report         JSON, Markdown and HTML report written (failover_report.h).
// `resume` continues a run: finished steps are skipped, the step that was cut short is redone.
// A failure stops the run with a message that says what to check; `resume` retries from there.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/catalog.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/json_util.h"
#include "core/process.h"
#include "core/result.h"
#include "failover/journal.h"
#include "failover/restore_modifiers.h"
#include "kube/kube_client.h"
#include "replication/replicator.h"
#include "s3/object_store.h"

namespace ocpvdr::failover {

enum class Mode { Planned, Unplanned };
std::string_view toString(Mode m);
[[nodiscard]] Result<Mode> parseMode(std::string_view s);

// The steps of a run in `mode`, in order.
const std::vector<std::string>& stepsFor(Mode mode);

struct WorkflowDeps {
  const config::Config& config;
  kube::KubeClient& dr;
  // The primary cluster's API; null when it is not configured. Unreachable is found out by
  // calling it (unplanned failovers expect that).
  kube::KubeClient* primary = nullptr;
  s3::ObjectStore& store;
  catalog::Catalog& catalog;
  ProcessRunner& runner;
  Clock& clock;
  // Final sync (planned). Null: planned mode fails its preflight.
  replication::Replicator* replicator = nullptr;
};

struct WorkflowOptions {
  Mode mode = Mode::Planned;
  std::string backup;  // empty: the latest Completed backup
  // --point: "" (the DR PV directories as they are), "latest" or an RFC 3339 time: the recovery
  // point each PV is brought to (point_choice.h). Kept in the run's options for resume.
  std::string point;
  std::chrono::milliseconds pollInterval{2000};
  // Called at named points: "after:<step>" once a step is journaled done, "mid:<step>" part-way
  // through a step. The CLI uses it for crash injection (docs/failover.md, testing).
  std::function<void(std::string_view point)> checkpoint;
  std::string reportDir;  // empty: <work_dir>/reports/<run id>
  std::string runId;      // run: empty = generated; resume: empty = the latest unfinished run
  std::stop_token stop;
};

struct RunOutcome {
  std::string runId;
  std::optional<Error> error;  // the step failure that stopped the run
  std::string failedStep;
  Json report;                           // the report document (also when the run failed)
  std::vector<std::string> reportFiles;  // written by the report step
  bool ok() const { return !error.has_value(); }
};

class FailoverWorkflow {
 public:
  FailoverWorkflow(WorkflowDeps deps, WorkflowOptions options);
  ~FailoverWorkflow();
  FailoverWorkflow(const FailoverWorkflow&) = delete;
  FailoverWorkflow& operator=(const FailoverWorkflow&) = delete;

  // What `run` would do, changing nothing anywhere (the tarball is read from a temporary
  // directory that is removed again). {"feasible", "problems", "warnings", "steps": [...]}.
  [[nodiscard]] Result<Json> plan();
  // A new run. Conflict when an unfinished run exists (resume it instead).
  [[nodiscard]] Result<RunOutcome> run();
  // Continues the run options.runId (or the latest unfinished one).
  [[nodiscard]] Result<RunOutcome> resume();

  struct Context;  // per-run state (workflow.cc)

 private:
  [[nodiscard]] Result<RunOutcome> execute(Context& ctx);
  [[nodiscard]] Result<Json> runStep(const std::string& step, Context& ctx);

  [[nodiscard]] Result<Json> preflight(Context& ctx, bool dryRun);
  [[nodiscard]] Result<Json> stopVms(Context& ctx);
  [[nodiscard]] Result<Json> fence(Context& ctx);
  [[nodiscard]] Result<Json> finalSync(Context& ctx);
  [[nodiscard]] Result<Json> dataLoss(Context& ctx);
  [[nodiscard]] Result<Json> download(Context& ctx);
  [[nodiscard]] Result<Json> applyVolumes(Context& ctx);
  [[nodiscard]] Status markDrActive(Context& ctx, const std::vector<std::string>& pvs);
  [[nodiscard]] Result<Json> putPointsInPlace(Context& ctx);
  // The namespaces PVCs go into, created from the backup's Namespace objects when missing
  // (dr_namespaces.h); {"created", "existing"}.
  [[nodiscard]] Result<Json> drNamespaces(Context& ctx, const std::set<std::string>& names);
  [[nodiscard]] Result<Json> restore(Context& ctx);
  [[nodiscard]] Result<Json> startVms(Context& ctx);
  [[nodiscard]] Result<std::vector<VmStartDecision>> vmStartDecisions(
      Context& ctx, const std::vector<VmRef>& vms);
  [[nodiscard]] Result<Json> cleanup(Context& ctx);
  [[nodiscard]] Result<Json> writeReport(Context& ctx, std::vector<std::string>* files);

  void checkpoint(std::string_view point) const;

  WorkflowDeps d_;
  WorkflowOptions o_;
  Journal journal_;
};

// How long apply-volumes waits for a sync that still holds a volume's replication lock.
inline constexpr std::chrono::minutes kSyncDrainWait{10};

// `ocpv-dr failover abandon`: gives up an unfinished run so that a new one may start. Conflict
// while the run is executing (the failover lock in work_dir is held), when it is done or already
// abandoned; Refused when it has already changed the DR cluster (it set DR active, or a step
// from apply-volumes on ran) unless `force`. Journaled (failover_actions) with the reason. The
// DR-active state is NOT lifted (that is `release`). Returns {"run", "abandoned", "forced",
// "changedDr", "drActive"}.
[[nodiscard]] Result<Json> abandonRun(const config::Config& cfg, catalog::Catalog& catalog,
                                      Clock& clock, const std::string& runId, bool force,
                                      const std::string& reason);

// `ocpv-dr failover release`: lifts the DR-active state held by `runId` (after failback), so
// that replication from the primary may write DR again. Conflict while that run is executing or
// when another run holds the state; NotFound when DR is not active. Journaled. Returns
// {"run", "released", "since", "runState"}.
[[nodiscard]] Result<Json> releaseDrActive(const config::Config& cfg, catalog::Catalog& catalog,
                                           Clock& clock, const std::string& runId,
                                           const std::string& reason);

// The Restore a run creates (exposed for plan output and tests).
Json restoreObject(const config::Config& cfg, const std::string& runId,
                   const std::string& backupName, const std::vector<std::string>& namespaces);

inline constexpr std::string_view kRunLabel = "ocpv-dr.io/failover-run";
inline constexpr std::string_view kRestoreRunStrategyLabel =
    "velero.kubevirt.io/restore-run-strategy";

}  // namespace ocpvdr::failover
