// The failover workflow: modes, plans of steps, run / resume and the step loop (see workflow.h
// and docs/failover.md). The steps are in workflow_<group>.cc, their shared state in
// workflow_internal.h.
#include "failover/workflow.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "backup/backup_discovery.h"
#include "backup/velero_tarball.h"
#include "core/log.h"
#include "failover/dr_namespaces.h"
#include "failover/failover_report.h"
#include "failover/fencing.h"
#include "failover/final_sync.h"
#include "failover/point_choice.h"
#include "failover/preflight.h"
#include "failover/restore_modifiers.h"
#include "failover/rewriter.h"
#include "failover/vm_control.h"
#include "failover/workflow_internal.h"
#include "kube/api_status.h"
#include "kube/resource_type.h"
#include "kube/views.h"
#include "replication/lock.h"
#include "replication/path_map.h"
#include "replication/pv_source.h"
#include "replication/ssh.h"
#include "replication/volume_lock.h"

namespace ocpvdr::failover {

namespace fs = std::filesystem;
namespace res = kube::resources;
using std::chrono::duration_cast;
using std::chrono::milliseconds;
using namespace detail;  // NOLINT: the workflow's own helpers (workflow_internal.h)

std::string_view toString(Mode m) {
  return m == Mode::Planned ? "planned" : "unplanned";
}

Result<Mode> parseMode(std::string_view s) {
  if (s == "planned") return Mode::Planned;
  if (s == "unplanned") return Mode::Unplanned;
  return invalidError("unknown failover mode \"" + std::string(s) + "\" (planned | unplanned)");
}

const std::vector<std::string>& stepsFor(Mode mode) {
  static const std::vector<std::string> planned = {
      "preflight",     "stop-vms", "fence",     "final-sync", "download",
      "apply-volumes", "restore",  "start-vms", "cleanup",    "report"};
  static const std::vector<std::string> unplanned = {"preflight",     "data-loss", "download",
                                                     "apply-volumes", "restore",   "start-vms",
                                                     "cleanup",       "report"};
  return mode == Mode::Planned ? planned : unplanned;
}

Json restoreObject(const config::Config& cfg, const std::string& runId,
                   const std::string& backupName, const std::vector<std::string>& namespaces) {
  // The restored VMs come up Halted — by the plugin's label (kubevirt-velero-plugin >= v0.7.1)
  // and by the resource modifier (every plugin version; restore_modifiers.h); start-vms starts
  // those meant to run once the restore's outcome has been checked, as a journaled step of its
  // own. preserveNodePorts keeps Services reachable on the ports clients know.
  return {{"apiVersion", "velero.io/v1"},
          {"kind", "Restore"},
          {"metadata",
           {{"name", "ocpv-dr-" + runId},
            {"namespace", cfg.failover.oadpNamespace},
            {"labels",
             {{std::string(kRestoreRunStrategyLabel), "Halted"},
              {std::string(kRunLabel), runId},
              {std::string(kCreatedByLabel), std::string(kCreatedByValue)}}}}},
          {"spec",
           {{"backupName", backupName},
            {"includedNamespaces", namespaces},
            {"excludedResources", {"persistentvolumes", "persistentvolumeclaims"}},
            {"restorePVs", false},
            {"existingResourcePolicy", "none"},
            {"preserveNodePorts", true},
            {"resourceModifier", {{"kind", "ConfigMap"}, {"name", resourceModifierName(runId)}}}}}};
}

FailoverWorkflow::FailoverWorkflow(WorkflowDeps deps, WorkflowOptions options)
    : d_(deps), o_(std::move(options)), journal_(d_.catalog) {}

FailoverWorkflow::~FailoverWorkflow() = default;

void FailoverWorkflow::checkpoint(std::string_view point) const {
  if (o_.checkpoint) o_.checkpoint(point);
}

// --- run / resume / plan ----------------------------------------------------------------------

Result<RunOutcome> FailoverWorkflow::run() {
  OCPVDR_ASSIGN_OR_RETURN(auto unfinished, journal_.latestUnfinishedRun());
  if (unfinished) {
    const auto& u = *unfinished;
    std::string where;
    for (const auto& s : u.steps)
      if (s.state != StepState::Done && s.state != StepState::Skipped) where = s.step;
    return conflictError("failover run " + u.runId + " (" + u.mode + ") is unfinished" +
                         (where.empty() ? "" : " at step " + where) +
                         (u.errorMessage.empty() ? "" : ": " + u.errorMessage) +
                         ". Continue it with `ocpv-dr failover resume` (after fixing the cause), "
                         "or give it up with `ocpv-dr failover abandon --run " +
                         u.runId + "`");
  }
  Context ctx;
  ctx.runId = o_.runId.empty() ? newRunId(d_.clock.now()) : o_.runId;
  ctx.mode = o_.mode;
  ctx.requestedBackup = o_.backup;
  ctx.pointSpec = o_.point;
  OCPVDR_TRY(validatePointSpec(ctx.pointSpec));
  // Run ids name a directory, a Restore and a label value: the object-name rules fit all three.
  if (auto st = validateBackupName(ctx.runId); !st.ok())
    return invalidError("run id \"" + ctx.runId + "\": " + st.error().message);
  return execute(ctx);
}

Result<RunOutcome> FailoverWorkflow::resume() {
  std::optional<FailoverRunRecord> rec;
  if (o_.runId.empty()) {
    OCPVDR_ASSIGN_OR_RETURN(rec, journal_.latestUnfinishedRun());
    if (!rec)
      return notFoundError("no unfinished failover run to resume (see `ocpv-dr failover report`)");
  } else {
    OCPVDR_ASSIGN_OR_RETURN(rec, journal_.run(o_.runId));
    if (!rec) return notFoundError("no failover run " + o_.runId + " in the journal");
    if (rec->finished())
      return conflictError("failover run " + o_.runId + " is already done; nothing to resume");
    if (rec->abandoned())
      return conflictError("failover run " + o_.runId +
                           " was abandoned (`ocpv-dr failover abandon`); start a new run instead");
  }
  Context ctx;
  ctx.runId = rec->runId;
  OCPVDR_ASSIGN_OR_RETURN(ctx.mode, parseMode(rec->mode));
  ctx.requestedBackup = rec->backup.empty() ? str(rec->options, "backup") : rec->backup;
  ctx.pointSpec = str(rec->options, "point");
  ctx.record = std::move(*rec);
  return execute(ctx);
}

Result<RunOutcome> FailoverWorkflow::execute(Context& ctx) {
  const auto& cfg = d_.config;
  std::error_code ec;
  fs::create_directories(cfg.failover.workDir, ec);
  if (ec)
    return terminalError("cannot create failover.work_dir " + cfg.failover.workDir + ": " +
                         ec.message());
  auto lock = replication::FileLock::acquire(cfg.failover.workDir, "failover", milliseconds(0),
                                             d_.clock, o_.stop);
  if (!lock.ok())
    return conflictError("another ocpv-dr failover is running on this host (lock " +
                         cfg.failover.workDir + "/failover.lock): wait for it to end");
  ctx.workDir = cfg.failover.workDir + "/" + ctx.runId;

  if (ctx.record.runId.empty()) {
    Json options = {{"mode", std::string(toString(ctx.mode))},
                    {"backup", ctx.requestedBackup},
                    {"point", ctx.pointSpec}};
    OCPVDR_TRY(
        journal_.createRun(ctx.runId, std::string(toString(ctx.mode)), options, d_.clock.now()));
    log::info("failover run started",
              {{"run", ctx.runId}, {"mode", std::string(toString(ctx.mode))}});
  } else {
    OCPVDR_TRY(journal_.setRunState(ctx.runId, "running", std::nullopt));
    log::info("failover run resumed", {{"run", ctx.runId}, {"mode", ctx.record.mode}});
  }
  auto reload = [&]() -> Status {
    OCPVDR_ASSIGN_OR_RETURN(auto r, journal_.run(ctx.runId));
    if (!r) return terminalError("failover run " + ctx.runId + " vanished from the journal");
    ctx.record = std::move(*r);
    return Status::success();
  };
  OCPVDR_TRY(reload());
  if (!ctx.record.backup.empty()) ctx.requestedBackup = ctx.record.backup;

  RunOutcome outcome;
  outcome.runId = ctx.runId;
  const auto& steps = stepsFor(ctx.mode);
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const std::string& step = steps[i];
    if (const StepRecord* done = ctx.record.step(step);
        done && (done->state == StepState::Done || done->state == StepState::Skipped))
      continue;
    OCPVDR_TRY(journal_.stepStarted(ctx.runId, step, static_cast<int>(i + 1), d_.clock.now()));
    OCPVDR_TRY(reload());
    log::info("failover step started", {{"run", ctx.runId}, {"step", step}});
    ctx.warnings = Json::array();
    ctx.progress = ctx.details(step);
    Result<Json> r = step == "report" ? writeReport(ctx, &outcome.reportFiles) : runStep(step, ctx);
    if (!r.ok()) {
      Error e = r.error();
      Json details = ctx.progress.is_object() ? ctx.progress : Json::object();
      if (!ctx.warnings.empty()) details["warnings"] = ctx.warnings;
      OCPVDR_TRY(
          journal_.stepFinished(ctx.runId, step, StepState::Failed, d_.clock.now(), details, e));
      OCPVDR_TRY(journal_.setRunState(ctx.runId, "failed", d_.clock.now(), e));
      log::error("failover step failed",
                 {{"run", ctx.runId}, {"step", step}, {"error", e.message}});
      OCPVDR_TRY(reload());
      outcome.error = e.wrap("step " + step);
      outcome.failedStep = step;
      outcome.report = buildReport(ctx.record, d_.clock.now());
      return outcome;
    }
    Json details = std::move(r).value();
    if (!ctx.warnings.empty()) details["warnings"] = ctx.warnings;
    for (const auto& w : ctx.warnings)
      log::warn("failover warning", {{"step", step}, {"message", w}});
    OCPVDR_TRY(journal_.stepFinished(ctx.runId, step, StepState::Done, d_.clock.now(), details));
    OCPVDR_TRY(reload());
    log::info("failover step done", {{"run", ctx.runId}, {"step", step}});
    checkpoint("after:" + step);
  }
  OCPVDR_TRY(journal_.setRunState(ctx.runId, "done", d_.clock.now()));
  OCPVDR_TRY(reload());
  outcome.report = buildReport(ctx.record, d_.clock.now());
  log::info("failover run done", {{"run", ctx.runId}});
  return outcome;
}

Result<Json> FailoverWorkflow::runStep(const std::string& step, Context& ctx) {
  if (step == "preflight") return preflight(ctx, false);
  if (step == "stop-vms") return stopVms(ctx);
  if (step == "fence") return fence(ctx);
  if (step == "final-sync") return finalSync(ctx);
  if (step == "data-loss") return dataLoss(ctx);
  if (step == "download") return download(ctx);
  if (step == "apply-volumes") return applyVolumes(ctx);
  if (step == "restore") return restore(ctx);
  if (step == "start-vms") return startVms(ctx);
  if (step == "cleanup") return cleanup(ctx);
  return terminalError("unknown failover step " + step);
}

}  // namespace ocpvdr::failover
