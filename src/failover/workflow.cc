// The failover workflow (see workflow.h and docs/failover.md).
#include "failover/workflow.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "core/log.h"
#include "failover/backup_discovery.h"
#include "failover/dr_namespaces.h"
#include "failover/failover_report.h"
#include "failover/fencing.h"
#include "failover/final_sync.h"
#include "failover/preflight.h"
#include "failover/restore_modifiers.h"
#include "failover/rewriter.h"
#include "failover/velero_tarball.h"
#include "failover/vm_control.h"
#include "kube/api_status.h"
#include "kube/resource_type.h"
#include "kube/views.h"
#include "replication/lock.h"
#include "replication/path_map.h"
#include "replication/pv_source.h"
#include "replication/ssh.h"

namespace ocpvdr::failover {

namespace fs = std::filesystem;
namespace res = kube::resources;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

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

// ---------------------------------------------------------------------------------------------

struct FailoverWorkflow::Context {
  std::string runId;
  Mode mode = Mode::Planned;
  std::string requestedBackup;
  bool dryRun = false;
  std::string workDir;  // <work_dir>/<run id> (a temporary directory for plan)
  FailoverRunRecord record;
  std::optional<BackupSummary> backup;
  std::optional<TarballContents> contents;
  std::vector<std::string> namespaces;
  Json warnings = Json::array();   // of the step running now
  Json progress = Json::object();  // details written so far by the step running now

  // Details of a finished (or partly done) step of this run.
  const Json& details(std::string_view step) const {
    static const Json kEmpty = Json::object();
    const StepRecord* s = record.step(step);
    return s ? s->details : kEmpty;
  }
};

namespace {

std::string newRunId(SystemTime now) {
  std::string t = formatTime(now);  // 2026-11-24T02:15:00Z
  std::string id;
  for (char c : t)
    if (std::isdigit(static_cast<unsigned char>(c))) id += c;
  id = id.substr(0, 8) + "-" + id.substr(8, 6);
  std::random_device rd;
  static const char* hex = "0123456789abcdef";
  id += "-";
  for (int i = 0; i < 4; ++i) id += hex[rd() & 15];
  return id;
}

std::string strAt(const Json& j, std::string_view path) {
  const Json* v = jsonAt(j, path);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

std::string joined(const std::vector<std::string>& v, const std::string& sep = ", ") {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

// One volume of the failover: the backup's PVC and PV, their DR versions and where the data is.
struct VolumePlan {
  std::string pv, pvcNs, pvcName;
  Json pvObject, pvcObject;  // as in the backup
  Json drPv, drPvc;          // rewritten
  replication::VolumePaths paths;
  std::string sourceKind;
};

Json volumeJson(const VolumePlan& v, bool dirExists) {
  return {{"pv", v.pv},
          {"claim", v.pvcNs + "/" + v.pvcName},
          {"sourceKind", v.sourceKind},
          {"primaryServer", v.paths.primaryServer},
          {"primaryExportPath", v.paths.primaryExportPath},
          {"primaryHostPath", v.paths.primaryHostPath},
          {"primaryRoot", v.paths.primaryRoot},
          {"drServer", v.paths.drServer},
          {"drExportPath", v.paths.drExportPath},
          {"drHostPath", v.paths.drHostPath},
          {"drDirExists", dirExists}};
}

std::string backupPhaseProblem(const BackupSummary& b) {
  if (!b.problem.empty()) return "backup " + b.name + " cannot be used: " + b.problem;
  if (b.phase == "Completed") return "";
  if (b.phase == "PartiallyFailed")
    return "backup " + b.name + " is PartiallyFailed (" + std::to_string(b.errors) +
           " errors): some items are missing from it; choose a Completed backup with --backup";
  if (b.phase == "Failed" || b.phase == "FailedValidation")
    return "backup " + b.name + " is " + b.phase + ": choose another with --backup";
  return "backup " + b.name + " is still " + (b.phase.empty() ? std::string("New") : b.phase) +
         " (not Completed): wait until Velero finishes it, or choose a Completed backup with "
         "--backup";
}

}  // namespace

FailoverWorkflow::FailoverWorkflow(WorkflowDeps deps, WorkflowOptions options)
    : d_(deps), o_(std::move(options)), journal_(d_.catalog) {}

FailoverWorkflow::~FailoverWorkflow() = default;

void FailoverWorkflow::checkpoint(std::string_view point) const {
  if (o_.checkpoint) o_.checkpoint(point);
}

// --- shared helpers (members of the Context's world) ---------------------------------------

namespace {

struct Helpers {
  const config::Config& cfg;
  ObjectStore& store;
  kube::KubeClient& dr;
  Clock& clock;
  std::stop_token stop;

  Status ensureBackup(FailoverWorkflow::Context& ctx) {
    if (ctx.backup) return Status::success();
    BackupDiscovery discovery(store, cfg.backupStore.prefix);
    const std::string name = !ctx.record.backup.empty() ? ctx.record.backup : ctx.requestedBackup;
    Result<BackupSummary> b =
        name.empty() ? discovery.latest(false, stop) : discovery.get(name, stop);
    if (!b.ok()) {
      if (b.error().kind == ErrorKind::NotFound && !name.empty())
        return notFoundError("backup " + name + " not found in " + store.describe() + " under " +
                             discovery.backupsPrefix() +
                             ": check the name (`ocpv-dr backup list`) and backup_store.prefix");
      return b.error().wrap("choosing the backup");
    }
    if (auto p = backupPhaseProblem(*b); !p.empty())
      return b->problem.empty() ? refusedError(p) : invalidError(p);
    ctx.backup = std::move(b).value();
    return Status::success();
  }

  // The tarball in the run's work directory, downloaded unless an intact copy is there.
  Result<std::string> ensureTarball(FailoverWorkflow::Context& ctx) {
    OCPVDR_TRY(ensureBackup(ctx));
    std::error_code ec;
    fs::create_directories(ctx.workDir, ec);
    if (ec) return terminalError("cannot create " + ctx.workDir + ": " + ec.message());
    const std::string path = ctx.workDir + "/" + ctx.backup->name + ".tar.gz";
    if (fs::exists(path, ec)) {
      auto head = store.head(ctx.backup->tarballKey, stop);
      if (head.ok() && static_cast<std::int64_t>(fs::file_size(path, ec)) == head->size)
        return path;
    }
    BackupDiscovery discovery(store, cfg.backupStore.prefix);
    return discovery.downloadTarball(*ctx.backup, ctx.workDir, stop);
  }

  Status ensureContents(FailoverWorkflow::Context& ctx) {
    if (ctx.contents) return Status::success();
    OCPVDR_ASSIGN_OR_RETURN(std::string path, ensureTarball(ctx));
    auto c = readVeleroTarball(path);
    if (!c.ok()) return c.error().wrap("backup " + ctx.backup->name);
    ctx.contents = std::move(c).value();
    return Status::success();
  }

  Status ensureNamespaces(FailoverWorkflow::Context& ctx) {
    if (!ctx.namespaces.empty()) return Status::success();
    ctx.namespaces = cfg.failover.protectedNamespaces;
    if (ctx.namespaces.empty()) {
      OCPVDR_TRY(ensureBackup(ctx));
      for (const auto& n : ctx.backup->includedNamespaces)
        if (n == "*")
          return invalidError("failover.protected_namespaces is empty and backup " +
                              ctx.backup->name +
                              " includes every namespace: list the namespaces whose VMs fail over");
      ctx.namespaces = ctx.backup->includedNamespaces;
      if (ctx.namespaces.empty())
        return invalidError("failover.protected_namespaces is empty and backup " +
                            ctx.backup->name +
                            " names no namespaces: list the namespaces whose VMs fail over");
    }
    std::sort(ctx.namespaces.begin(), ctx.namespaces.end());
    return Status::success();
  }

  bool isProtected(const FailoverWorkflow::Context& ctx, const std::string& ns) const {
    return std::binary_search(ctx.namespaces.begin(), ctx.namespaces.end(), ns);
  }

  // The volumes to fail over: every PVC of a protected namespace (that names a volume) with its
  // PV. `problems` collects refusals (unmapped servers, unpaired objects, ...). PVCs of
  // DataVolumes that were unfinished at backup are left out, each with a warning and, when
  // `skipped` is given, an entry {claim, pv, dataVolume, reason} there.
  Result<std::vector<VolumePlan>> volumes(FailoverWorkflow::Context& ctx,
                                          std::vector<std::string>& problems,
                                          std::vector<std::string>& warnings,
                                          Json* skipped = nullptr) {
    OCPVDR_TRY(ensureContents(ctx));
    OCPVDR_TRY(ensureNamespaces(ctx));
    std::map<std::string, const TarballItem*> pvs;
    for (const auto* item : ctx.contents->of(kPersistentVolumes)) pvs[item->name] = item;
    std::vector<VolumePlan> out;
    for (const auto* item : ctx.contents->of(kPersistentVolumeClaims)) {
      if (!isProtected(ctx, item->ns)) continue;
      const std::string volumeName = strAt(item->object, "spec.volumeName");
      const std::string claim = item->ns + "/" + item->name;
      // kubevirt-velero-plugin marked the DataVolume unfinished: its restore action skips this
      // PVC so that CDI imports it again from the restored DataVolume; ocpv-dr does the same
      // (a pre-created claim over a half-written disk would be taken as populated, or the DV
      // refused by CDI's webhook).
      if (const std::string dv = unfinishedDataVolume(item->object); !dv.empty()) {
        const std::string reason =
            "DataVolume " + dv + " had not finished when backup " + ctx.backup->name +
            " was taken (" + std::string(kInProgressAnnotation) +
            "): the PVC is not pre-created at DR; CDI populates it again from the restored "
            "DataVolume";
        warnings.push_back("PVC " + claim + ": " + reason);
        if (skipped)
          skipped->push_back({{"claim", claim},
                              {"pv", volumeName.empty() ? Json(nullptr) : Json(volumeName)},
                              {"dataVolume", dv},
                              {"reason", reason}});
        continue;
      }
      if (volumeName.empty()) {
        warnings.push_back("PVC " + claim +
                           " was not bound when the backup was taken (no spec.volumeName): it is "
                           "not failed over");
        continue;
      }
      auto pvIt = pvs.find(volumeName);
      if (pvIt == pvs.end()) {
        problems.push_back("PVC " + claim + " names PV " + volumeName +
                           ", which is not in backup " + ctx.backup->name +
                           " (was the backup taken with PVs included?)");
        continue;
      }
      VolumePlan v;
      v.pv = volumeName;
      v.pvcNs = item->ns;
      v.pvcName = item->name;
      v.pvObject = pvIt->second->object;
      v.pvcObject = item->object;
      if (auto st = checkVolumePairing(v.pvObject, v.pvcObject); !st.ok()) {
        problems.push_back(st.error().message);
        continue;
      }
      auto drPv = rewritePersistentVolume(v.pvObject, cfg, ctx.backup->name);
      if (!drPv.ok()) {
        problems.push_back(drPv.error().message);
        continue;
      }
      auto drPvc = rewritePersistentVolumeClaim(v.pvcObject, v.pvObject, ctx.backup->name);
      if (!drPvc.ok()) {
        problems.push_back(drPvc.error().message);
        continue;
      }
      v.drPv = std::move(drPv).value();
      v.drPvc = std::move(drPvc).value();
      auto info = replication::describePv(v.pvObject);
      if (!info.ok() || !info->nfs) {
        problems.push_back("PV " + volumeName + ": " +
                           (info.ok() ? info->notReplicableReason : info.error().message));
        continue;
      }
      auto paths = replication::mapVolume(cfg, info->nfs->server, info->nfs->exportPath);
      if (!paths.ok()) {
        problems.push_back("PV " + volumeName + ": " + paths.error().message);
        continue;
      }
      v.paths = std::move(paths).value();
      v.sourceKind = replication::toString(info->nfs->kind);
      out.push_back(std::move(v));
    }
    std::sort(out.begin(), out.end(),
              [](const VolumePlan& a, const VolumePlan& b) { return a.pv < b.pv; });
    return out;
  }

  std::vector<VmRef> backupVms(const FailoverWorkflow::Context& ctx) const {
    std::vector<VmRef> vms;
    for (const auto* item : ctx.contents->of(kVirtualMachines))
      if (isProtected(ctx, item->ns)) vms.push_back({item->ns, item->name});
    std::sort(vms.begin(), vms.end());
    return vms;
  }

  // objects.json: what apply-volumes and start-vms act on (written by download).
  Result<Json> buildObjects(FailoverWorkflow::Context& ctx) {
    std::vector<std::string> problems, warnings;
    Json skipped = Json::array();
    OCPVDR_ASSIGN_OR_RETURN(auto vols, volumes(ctx, problems, warnings, &skipped));
    if (!problems.empty()) return refusedError(joined(problems, "; "));
    Json o = {{"backup", ctx.backup->name},
              {"namespaces", ctx.namespaces},
              {"persistentVolumes", Json::array()},
              {"persistentVolumeClaims", Json::array()},
              {"skippedPersistentVolumeClaims", std::move(skipped)},
              {"virtualMachines", Json::array()}};
    for (const auto& v : vols) {
      o["persistentVolumes"].push_back(v.drPv);
      o["persistentVolumeClaims"].push_back(v.drPvc);
    }
    for (const auto& vm : backupVms(ctx))
      o["virtualMachines"].push_back({{"namespace", vm.ns}, {"name", vm.name}});
    return o;
  }

  Result<Json> loadObjects(FailoverWorkflow::Context& ctx) {
    const std::string path = ctx.workDir + "/objects.json";
    std::error_code ec;
    if (fs::exists(path, ec)) {
      OCPVDR_ASSIGN_OR_RETURN(std::string text, readFile(path));
      auto j = parseJson(text, path);
      if (j.ok()) {
        ctx.namespaces = (*j)["namespaces"].get<std::vector<std::string>>();
        return j;
      }
    }
    // Lost with the work directory: rebuilt from the backup (the same input, the same objects).
    OCPVDR_ASSIGN_OR_RETURN(Json o, buildObjects(ctx));
    std::filesystem::create_directories(ctx.workDir, ec);
    OCPVDR_TRY(writeFileAtomic(path, o.dump()));
    return o;
  }
};

}  // namespace

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
  ctx.requestedBackup = rec->backup.empty() ? strAt(rec->options, "backup") : rec->backup;
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
    Json options = {{"mode", std::string(toString(ctx.mode))}, {"backup", ctx.requestedBackup}};
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

// --- preflight --------------------------------------------------------------------------------

Result<Json> FailoverWorkflow::preflight(Context& ctx, bool dryRun) {
  const auto& cfg = d_.config;
  Helpers h{cfg, d_.store, d_.dr, d_.clock, o_.stop};
  Json details = Json::object();
  std::vector<std::string> problems, warnings;

  auto version = d_.dr.request("GET", "/version", "", "application/json", o_.stop);
  if (!version.ok())
    return version.error().wrap(
        "DR cluster API unreachable (sites.dr.kubernetes): every later step needs it");
  details["drApi"] = {{"reachable", true}, {"version", strAt(*version, "gitVersion")}};

  bool primaryUp = false;
  if (d_.primary) {
    auto pv = d_.primary->request("GET", "/version", "", "application/json", o_.stop);
    primaryUp = pv.ok();
    details["primaryApi"] = {{"reachable", primaryUp},
                             {"error", pv.ok() ? Json(nullptr) : Json(pv.error().message)}};
    if (!primaryUp && ctx.mode == Mode::Planned)
      problems.push_back("primary cluster API unreachable (" + pv.error().message +
                         "): a planned failover stops the VMs there first; if the primary site "
                         "is down, run an unplanned failover (--unplanned)");
  } else {
    details["primaryApi"] = {{"reachable", false}, {"error", "not configured"}};
    if (ctx.mode == Mode::Planned)
      problems.push_back(
          "a planned failover needs the primary cluster API (sites.primary.kubernetes)");
  }
  if (ctx.mode == Mode::Planned && !d_.replicator)
    problems.push_back("a planned failover needs the Replicator for the final sync");

  OCPVDR_TRY(h.ensureBackup(ctx));
  const BackupSummary& b = *ctx.backup;
  details["backup"] = {
      {"name", b.name},
      {"phase", b.phase},
      {"started", b.startTimestamp ? Json(formatTime(*b.startTimestamp)) : Json(nullptr)},
      {"completed",
       b.completionTimestamp ? Json(formatTime(*b.completionTimestamp)) : Json(nullptr)},
      {"tarballKey", b.tarballKey}};
  if (!dryRun) OCPVDR_TRY(journal_.setBackup(ctx.runId, b.name));
  checkpoint("mid:preflight");

  Json skipped = Json::array();
  OCPVDR_ASSIGN_OR_RETURN(auto vols, h.volumes(ctx, problems, warnings, &skipped));
  details["namespaces"] = ctx.namespaces;
  details["volumes"] = Json::array();
  // PVs in the backup: those failed over and those of unfinished DataVolumes (left out on
  // purpose, with their own warning — not "newer than the backup").
  std::set<std::string> inBackup;
  for (const auto& s : skipped)
    if (s["pv"].is_string()) inBackup.insert(s["pv"].get<std::string>());
  for (const auto& v : vols) {
    inBackup.insert(v.pv);
    std::error_code ec;
    const bool exists = fs::is_directory(v.paths.drHostPath, ec);
    details["volumes"].push_back(volumeJson(v, exists));
    if (exists) continue;
    if (ctx.mode == Mode::Unplanned) {
      problems.push_back("no replicated data for PV " + v.pv + " (claim " + v.pvcNs + "/" +
                         v.pvcName + "): " + v.paths.drHostPath +
                         " does not exist on this host — the VM would start on an empty disk. "
                         "Check replication of that PV (`ocpv-dr status`)");
    } else {
      warnings.push_back("DR directory " + v.paths.drHostPath + " of PV " + v.pv +
                         " does not exist yet; the final sync creates it");
    }
  }
  details["vms"] = Json::array();
  for (const auto& vm : h.backupVms(ctx))
    details["vms"].push_back({{"namespace", vm.ns}, {"name", vm.name}});
  if (vols.empty())
    warnings.push_back("no PVC of the protected namespaces (" + joined(ctx.namespaces) +
                       ") is in backup " + b.name);

  // PVs that are newer than the backup: their data is not in this failover.
  Json newer = Json::array();
  const SystemTime cut = b.startTimestamp.value_or(b.completionTimestamp.value_or(SystemTime{}));
  if (primaryUp) {
    auto list = d_.primary->listAll(res::persistentVolumes(), "", {}, o_.stop);
    if (list.ok()) {
      for (const auto& pv : list->items) {
        const std::string name = strAt(pv, "metadata.name");
        const std::string claimNs = strAt(pv, "spec.claimRef.namespace");
        if (inBackup.count(name) || !h.isProtected(ctx, claimNs)) continue;
        auto created = parseTime(strAt(pv, "metadata.creationTimestamp"));
        if (created.ok() && *created <= cut) continue;
        newer.push_back(name);
        warnings.push_back("PV " + name + " (claim " + claimNs + "/" +
                           strAt(pv, "spec.claimRef.name") + ") was created after backup " +
                           b.name + " and is not in it: its data is not failed over");
      }
    } else {
      warnings.push_back("could not list PVs at the primary: " + list.error().message);
    }
  } else {
    auto replicas = d_.catalog.replicas();
    if (replicas.ok()) {
      for (const auto& r : *replicas) {
        if (r.state != "active" || inBackup.count(r.pv) || !h.isProtected(ctx, r.claimNamespace))
          continue;
        newer.push_back(r.pv);
        warnings.push_back("PV " + r.pv + " (claim " + r.claimNamespace + "/" + r.claimName +
                           ") is replicated but not in backup " + b.name +
                           " (created after it?): its data is at DR but nothing will use it");
      }
    } else {
      warnings.push_back("could not read the catalog: " + replicas.error().message);
    }
  }
  details["newVolumes"] = newer;

  // The DR side (preflight.h): one row per check; a fail row stops the run here, before any
  // step changes either site.
  const std::string& oadp = cfg.failover.oadpNamespace;
  DrChecks checks = runDrChecks(DrCheckInput{cfg, d_.dr, *ctx.contents, ctx.namespaces, o_.stop});
  details["drChecks"] = Json::array();
  for (const auto& r : checks.rows) {
    details["drChecks"].push_back(toJson(r));
    if (r.status == CheckStatus::Fail)
      problems.push_back(r.check + ": " + r.summary + " — " + r.fix);
    else if (r.status == CheckStatus::Warn)
      warnings.push_back(r.check + ": " + r.summary + (r.fix.empty() ? "" : " — " + r.fix));
  }
  // Velero's backup sync imports the Backup from that location: without one there is nothing to
  // wait for.
  const std::string bslName = checks.location.name;
  const bool bslPresent = !bslName.empty() && checks.location.problem.empty();
  if (!bslName.empty())
    details["storageLocation"] = {{"name", bslName},
                                  {"namespace", oadp},
                                  {"foundBy", checks.location.how},
                                  {"phase", strAt(checks.location.object, "status.phase")}};

  // What is wrong already is reported now, without first waiting for the backup sync.
  if (!problems.empty() && !dryRun) {
    for (auto& w : warnings) ctx.warnings.push_back(w);
    details["problems"] = problems;
    ctx.progress = details;
    return refusedError("preflight found " + std::to_string(problems.size()) + " problem" +
                        (problems.size() == 1 ? "" : "s") + ": " + joined(problems, "; "));
  }

  // The Backup CR at DR: Velero's backup sync must have imported it, or the Restore fails
  // validation.
  const auto deadline = d_.clock.monotonic() + cfg.failover.timeouts.backupSync;
  const auto waitStart = d_.clock.monotonic();
  while (bslPresent) {
    auto cr = d_.dr.get(res::backups(), oadp, b.name, o_.stop);
    if (cr.ok()) {
      const std::string phase = strAt(*cr, "status.phase");
      details["backupCr"] = {
          {"namespace", oadp},
          {"phase", phase},
          {"waitedMs", duration_cast<milliseconds>(d_.clock.monotonic() - waitStart).count()}};
      if (phase != "Completed")
        problems.push_back("the Backup " + oadp + "/" + b.name + " at DR is " +
                           (phase.empty() ? std::string("without a phase") : phase) +
                           ", not Completed: a Restore from it would fail validation");
      const std::string location = strAt(*cr, "spec.storageLocation");
      details["backupCr"]["storageLocation"] = location;
      if (!location.empty() && location != bslName)
        problems.push_back("the Backup " + oadp + "/" + b.name + " at DR belongs to " +
                           "BackupStorageLocation " + location + ", not " + bslName +
                           " (found by " + checks.location.how +
                           "): check which location reads the primary's bucket and prefix, or "
                           "name it in failover.storage_location");
      break;
    }
    if (!kube::isNotFound(cr.error())) return cr.error().wrap("reading the Backup at DR");
    if (dryRun || d_.clock.monotonic() >= deadline) {
      const std::string msg =
          "Backup " + b.name + " is not in namespace " + oadp + " of the DR cluster" +
          (dryRun
               ? std::string(" yet")
               : " after " +
                     humanDuration(duration_cast<milliseconds>(cfg.failover.timeouts.backupSync))) +
          ": check that the DR cluster's BackupStorageLocation reads the same bucket and prefix "
          "and is Available (`oc -n " +
          oadp + " get backupstoragelocations`), then wait for Velero's backup sync";
      if (dryRun) {
        warnings.push_back(msg);
        details["backupCr"] = nullptr;
        break;
      }
      problems.push_back(msg);
      break;
    }
    if (!d_.clock.sleepFor(o_.pollInterval, o_.stop))
      return terminalError("stopped while waiting for the Backup at DR");
  }

  for (auto& w : warnings) ctx.warnings.push_back(w);
  if (!problems.empty()) {
    details["problems"] = problems;
    if (dryRun) return details;
    ctx.progress = details;
    return refusedError("preflight found " + std::to_string(problems.size()) + " problem" +
                        (problems.size() == 1 ? "" : "s") + ": " + joined(problems, "; "));
  }
  return details;
}

// --- planned: stop VMs, fence, final sync ----------------------------------------------------

Result<Json> FailoverWorkflow::stopVms(Context& ctx) {
  const auto& cfg = d_.config;
  Helpers h{cfg, d_.store, d_.dr, d_.clock, o_.stop};
  OCPVDR_TRY(h.ensureNamespaces(ctx));
  if (!d_.primary) return invalidError("no primary cluster API configured");
  VmControl vmc(*d_.primary, d_.clock, o_.pollInterval);
  OCPVDR_ASSIGN_OR_RETURN(auto vms, vmc.list(ctx.namespaces, o_.stop));
  // What each VM ran as and showed before: from an earlier attempt when there was one (a redo
  // must not record "Halted" for a VM this run halted). start-vms starts at DR only the VMs
  // that were meant to run (restore_modifiers.h).
  std::map<std::string, Json> before;
  if (ctx.progress.contains("vms"))
    for (const auto& v : ctx.progress["vms"])
      before[strAt(v, "namespace") + "/" + strAt(v, "name")] = v;
  Json list = Json::array();
  bool first = true;
  for (const auto& vm : vms) {
    OCPVDR_ASSIGN_OR_RETURN(VmState st, vmc.state(vm, o_.stop));
    OCPVDR_ASSIGN_OR_RETURN(std::string was, vmc.stop(vm, cfg.failover.fieldManager, o_.stop));
    Json rec = {{"namespace", vm.ns},
                {"name", vm.name},
                {"runStrategyBefore", was},
                {"printableStatusBefore", st.printableStatus}};
    if (auto it = before.find(vm.key()); it != before.end()) {
      rec["runStrategyBefore"] = it->second["runStrategyBefore"];
      if (it->second.contains("printableStatusBefore"))
        rec["printableStatusBefore"] = it->second["printableStatusBefore"];
    }
    list.push_back(rec);
    ctx.progress["vms"] = list;
    OCPVDR_TRY(journal_.stepDetails(ctx.runId, "stop-vms", ctx.progress));
    if (first) checkpoint("mid:stop-vms");
    first = false;
  }
  OCPVDR_ASSIGN_OR_RETURN(auto states, vmc.waitStopped(vms, cfg.failover.timeouts.vmStop, o_.stop));
  (void)states;
  return Json{{"vms", list}, {"stoppedAt", formatTimeMillis(d_.clock.now())}};
}

namespace {

replication::SshCommand primarySsh(const config::Config& cfg) {
  return replication::SshCommand(
      cfg.primary.ssh, cfg.primary.nfsServer,
      replication::chooseControlDir(replication::effectiveLockDir(cfg) + "/ssh"));
}

}  // namespace

Result<Json> FailoverWorkflow::fence(Context& ctx) {
  const auto& cfg = d_.config;
  std::set<std::string> roots;
  for (const auto& v : ctx.details("preflight")["volumes"]) roots.insert(strAt(v, "primaryRoot"));
  roots.erase("");
  if (roots.empty()) {
    ctx.warnings.push_back("no volumes: nothing to fence");
    return Json::object();
  }
  auto ssh = primarySsh(cfg);
  if (ssh.multiplexing()) OCPVDR_TRY(replication::ensureControlDir(ssh.controlDir()));
  Fencer fencer(cfg.failover.fencing, ssh, d_.runner);
  OCPVDR_ASSIGN_OR_RETURN(
      FenceResult fr,
      fencer.fence(ctx.runId, std::vector<std::string>(roots.begin(), roots.end()), o_.stop));
  for (auto& w : fr.warnings) ctx.warnings.push_back(w);
  Json details = fr.details;
  details["method"] = fr.method;
  return details;
}

Result<Json> FailoverWorkflow::finalSync(Context& ctx) {
  const auto& cfg = d_.config;
  if (!d_.replicator) return invalidError("no Replicator: the final sync cannot run");
  Helpers h{cfg, d_.store, d_.dr, d_.clock, o_.stop};
  std::vector<std::string> problems, warnings;
  OCPVDR_ASSIGN_OR_RETURN(auto vols, h.volumes(ctx, problems, warnings));
  if (!problems.empty()) return refusedError(joined(problems, "; "));
  std::map<std::string, Json> done;
  if (ctx.progress.contains("volumes"))
    for (const auto& v : ctx.progress["volumes"]) done[strAt(v, "pv")] = v;
  Json list = Json::array();
  bool first = true;
  for (const auto& v : vols) {
    if (auto it = done.find(v.pv); it != done.end()) {
      // Synced by an earlier attempt, after the VMs were stopped and the export fenced:
      // nothing can have changed since.
      list.push_back(it->second);
      continue;
    }
    Json rec = {{"pv", v.pv}};
    auto diff = dryRunDiff(cfg, d_.replicator->ssh(), d_.runner, v.paths, 20, o_.stop);
    if (diff.ok()) {
      log::info("final sync dry run", {{"pv", v.pv},
                                       {"changes", diff->changes},
                                       {"deletions", diff->deletions},
                                       {"sample", diff->sample}});
      rec["dryRun"] = diff->toJson();
    } else {
      ctx.warnings.push_back("rsync dry run for PV " + v.pv + " failed: " + diff.error().message);
      rec["dryRun"] = nullptr;
    }
    replication::SyncOptions so;
    so.wait = std::chrono::minutes(5);
    so.stop = o_.stop;
    auto report = d_.replicator->syncPv(v.pvObject, so);
    if (!report.ok()) return report.error().wrap("final sync of PV " + v.pv);
    if (!report->ok())
      return Error{report->error->kind,
                   "final sync of PV " + v.pv + " failed: " + report->error->message +
                       " — the VMs are stopped and the export fenced; fix the cause and run "
                       "`ocpv-dr failover resume`"};
    rec["result"] = std::string(replication::toString(report->result));
    rec["bytes"] = report->bytes;
    rec["files"] = report->files;
    rec["syncedAt"] = formatTimeMillis(d_.clock.now());
    list.push_back(rec);
    ctx.progress["volumes"] = list;
    OCPVDR_TRY(journal_.stepDetails(ctx.runId, "final-sync", ctx.progress));
    if (first) checkpoint("mid:final-sync");
    first = false;
  }
  for (auto& w : warnings) ctx.warnings.push_back(w);
  return Json{{"volumes", list}};
}

// --- unplanned: data-loss window -------------------------------------------------------------

Result<Json> FailoverWorkflow::dataLoss(Context& ctx) {
  const SystemTime now = d_.clock.now();
  Json list = Json::array();
  for (const auto& v : ctx.details("preflight")["volumes"]) {
    const std::string pv = strAt(v, "pv");
    OCPVDR_ASSIGN_OR_RETURN(auto rec, d_.catalog.replica(pv));
    Json e = {{"pv", pv}, {"lastSuccess", nullptr}, {"dataLossSeconds", nullptr}};
    if (rec && rec->lastSuccess) {
      e["lastSuccess"] = formatTimeMillis(*rec->lastSuccess);
      e["dataLossSeconds"] = duration_cast<milliseconds>(now - *rec->lastSuccess).count() / 1000.0;
    } else {
      ctx.warnings.push_back("no successful sync of PV " + pv +
                             " is recorded in the catalog: the age of its DR data is unknown");
    }
    list.push_back(std::move(e));
  }
  return Json{{"at", formatTimeMillis(now)}, {"volumes", list}};
}

// --- download, apply, restore, start ---------------------------------------------------------

Result<Json> FailoverWorkflow::download(Context& ctx) {
  Helpers h{d_.config, d_.store, d_.dr, d_.clock, o_.stop};
  OCPVDR_ASSIGN_OR_RETURN(std::string path, h.ensureTarball(ctx));
  checkpoint("mid:download");
  OCPVDR_TRY(h.ensureContents(ctx));
  OCPVDR_ASSIGN_OR_RETURN(Json objects, h.buildObjects(ctx));
  OCPVDR_TRY(writeFileAtomic(ctx.workDir + "/objects.json", objects.dump()));
  std::error_code ec;
  return Json{{"tarball", path},
              {"bytes", static_cast<std::int64_t>(fs::file_size(path, ec))},
              {"formatVersion", ctx.contents->formatVersion},
              {"inventory", ctx.contents->inventory},
              {"persistentVolumes", objects["persistentVolumes"].size()},
              {"persistentVolumeClaims", objects["persistentVolumeClaims"].size()},
              {"virtualMachines", objects["virtualMachines"].size()}};
}

namespace {

// Refuses to take over an object of the same name that ocpv-dr did not create.
Status checkOurs(kube::KubeClient& dr, const kube::ResourceType& type, const Json& obj,
                 std::stop_token stop) {
  const std::string ns = strAt(obj, "metadata.namespace"), name = strAt(obj, "metadata.name");
  auto got = dr.get(type, ns, name, stop);
  if (!got.ok()) return kube::isNotFound(got.error()) ? Status::success() : Status(got.error());
  const Json* labels = jsonAt(*got, "metadata.labels");
  if (labels && labels->is_object() &&
      labels->value(std::string(kCreatedByLabel), "") == std::string(kCreatedByValue))
    return Status::success();
  return conflictError(type.kind + " " + (ns.empty() ? "" : ns + "/") + name +
                       " already exists at DR and was not created by ocpv-dr: remove it or "
                       "check that it is the volume you expect, then resume");
}

}  // namespace

Status FailoverWorkflow::markDrActive(Context& ctx, const std::vector<std::string>& pvs) {
  catalog::DrActiveRecord rec;
  rec.runId = ctx.runId;
  rec.backup = ctx.record.backup.empty() ? ctx.requestedBackup : ctx.record.backup;
  rec.mode = std::string(toString(ctx.mode));
  rec.since = d_.clock.now();
  OCPVDR_TRY(d_.catalog.setDrActive(rec));
  log::warn(
      "DR is active: replication from the primary is refused until `ocpv-dr failover "
      "release --run " +
          ctx.runId + "`",
      {{"run", ctx.runId}});
  // A barrier: a sync that started before the state was set may still be writing. Taking each
  // volume's replication lock once waits it out; every later sync sees the state under that lock.
  const std::string lockDir = replication::effectiveLockDir(d_.config);
  for (const auto& pv : pvs) {
    auto lock = replication::FileLock::acquire(lockDir, pv, kSyncDrainWait, d_.clock, o_.stop);
    if (!lock.ok())
      return lock.error().wrap("waiting for a running sync of PV " + pv +
                               " to end before the DR volumes are created (resume the run once "
                               "it has ended)");
  }
  return Status::success();
}

Result<Json> FailoverWorkflow::applyVolumes(Context& ctx) {
  const auto& cfg = d_.config;
  Helpers h{cfg, d_.store, d_.dr, d_.clock, o_.stop};
  OCPVDR_ASSIGN_OR_RETURN(Json objects, h.loadObjects(ctx));
  {
    // The first step that changes the DR cluster: from here on the DR copies belong to the VMs.
    // DR PVs keep their primary names (rewriter.h): the names replication locks by.
    std::vector<std::string> pvs;
    for (const auto& pv : objects["persistentVolumes"]) pvs.push_back(strAt(pv, "metadata.name"));
    OCPVDR_TRY(markDrActive(ctx, pvs));
  }
  kube::ApplyOptions ao;
  ao.fieldManager = cfg.failover.fieldManager;
  ao.force = true;
  Json applied = {{"namespaces", Json::array()},
                  {"persistentVolumes", Json::array()},
                  {"persistentVolumeClaims", Json::array()}};
  std::set<std::string> nsNeeded;
  for (const auto& pvc : objects["persistentVolumeClaims"])
    nsNeeded.insert(strAt(pvc, "metadata.namespace"));
  OCPVDR_ASSIGN_OR_RETURN(Json nsDone, drNamespaces(ctx, nsNeeded));
  applied["namespaces"] = nsDone["created"];
  applied["existingNamespaces"] = nsDone["existing"];
  bool first = true;
  for (const auto& pv : objects["persistentVolumes"]) {
    OCPVDR_TRY(checkOurs(d_.dr, res::persistentVolumes(), pv, o_.stop));
    auto r = d_.dr.apply(res::persistentVolumes(), pv, ao, o_.stop);
    if (!r.ok()) return r.error().wrap("applying PV " + strAt(pv, "metadata.name") + " at DR");
    applied["persistentVolumes"].push_back(strAt(pv, "metadata.name"));
    ctx.progress["applied"] = applied;
    if (first) {
      OCPVDR_TRY(journal_.stepDetails(ctx.runId, "apply-volumes", ctx.progress));
      checkpoint("mid:apply-volumes");
    }
    first = false;
  }
  for (const auto& pvc : objects["persistentVolumeClaims"]) {
    OCPVDR_TRY(checkOurs(d_.dr, res::persistentVolumeClaims(), pvc, o_.stop));
    auto r = d_.dr.apply(res::persistentVolumeClaims(), pvc, ao, o_.stop);
    const std::string key = strAt(pvc, "metadata.namespace") + "/" + strAt(pvc, "metadata.name");
    if (!r.ok()) return r.error().wrap("applying PVC " + key + " at DR");
    applied["persistentVolumeClaims"].push_back(key);
  }
  ctx.progress["applied"] = applied;
  OCPVDR_TRY(journal_.stepDetails(ctx.runId, "apply-volumes", ctx.progress));

  // Every PVC Bound to its PV.
  const auto deadline = d_.clock.monotonic() + cfg.failover.timeouts.pvcBind;
  for (;;) {
    std::vector<std::string> pending;
    for (const auto& pvc : objects["persistentVolumeClaims"]) {
      const std::string ns = strAt(pvc, "metadata.namespace"), name = strAt(pvc, "metadata.name");
      OCPVDR_ASSIGN_OR_RETURN(Json cur,
                              d_.dr.get(res::persistentVolumeClaims(), ns, name, o_.stop));
      const std::string phase = strAt(cur, "status.phase");
      if (phase == "Bound") continue;
      const std::string vol = strAt(pvc, "spec.volumeName");
      auto pv = d_.dr.get(res::persistentVolumes(), "", vol, o_.stop);
      pending.push_back(
          ns + "/" + name + " (" + (phase.empty() ? "no phase" : phase) + "; PV " + vol + " " +
          (pv.ok()
               ? (strAt(*pv, "status.phase").empty() ? "without phase" : strAt(*pv, "status.phase"))
               : "missing") +
          ")");
    }
    if (pending.empty()) break;
    if (d_.clock.monotonic() >= deadline)
      return terminalError(
          "PVCs not Bound at DR after " +
          humanDuration(duration_cast<milliseconds>(cfg.failover.timeouts.pvcBind)) + ": " +
          joined(pending, "; ") +
          " — check each PV's spec.claimRef names its PVC and that no other claim took it "
          "(`oc get pv <name> -o yaml`), then resume");
    if (!d_.clock.sleepFor(o_.pollInterval, o_.stop))
      return terminalError("stopped while waiting for PVCs to bind");
  }
  // Not pre-created (unfinished DataVolumes): said in the step's details, as the plan said.
  return Json{{"applied", applied},
              {"skipped", objects.value("skippedPersistentVolumeClaims", Json::array())},
              {"boundAt", formatTimeMillis(d_.clock.now())}};
}

Result<Json> FailoverWorkflow::drNamespaces(Context& ctx, const std::set<std::string>& names) {
  if (names.empty()) return Json{{"created", Json::array()}, {"existing", Json::array()}};
  Helpers h{d_.config, d_.store, d_.dr, d_.clock, o_.stop};
  OCPVDR_ASSIGN_OR_RETURN(std::string tarball, h.ensureTarball(ctx));
  OCPVDR_ASSIGN_OR_RETURN(auto fromBackup, backupNamespaces(tarball));
  std::vector<std::string> warnings;
  OCPVDR_ASSIGN_OR_RETURN(Json done,
                          ensureDrNamespaces(d_.dr, names, fromBackup, warnings, o_.stop));
  for (auto& w : warnings) ctx.warnings.push_back(w);
  return done;
}

Result<Json> FailoverWorkflow::restore(Context& ctx) {
  const auto& cfg = d_.config;
  Helpers h{cfg, d_.store, d_.dr, d_.clock, o_.stop};
  OCPVDR_ASSIGN_OR_RETURN(Json objects, h.loadObjects(ctx));
  const std::string backupName = objects["backup"].get<std::string>();
  Json want = restoreObject(cfg, ctx.runId, backupName, ctx.namespaces);
  const std::string name = strAt(want, "metadata.name");
  const std::string& ns = cfg.failover.oadpNamespace;
  auto existing = d_.dr.get(res::restores(), ns, name, o_.stop);
  if (!existing.ok() && !kube::isNotFound(existing.error()))
    return existing.error().wrap("reading Restore " + name);
  if (!existing.ok()) {
    // The resource modifier first (journaled before it exists, so that cleanup finds it even
    // after a crash here): Velero fails validation of a Restore whose modifier is missing.
    ctx.progress["resourceModifier"] = {{"namespace", ns},
                                        {"name", resourceModifierName(ctx.runId)}};
    OCPVDR_TRY(journal_.stepDetails(ctx.runId, "restore", ctx.progress));
    OCPVDR_TRY(ensureResourceModifier(d_.dr, cfg, ctx.runId, ctx.namespaces, o_.stop));
    auto created = d_.dr.create(res::restores(), want, ns, o_.stop);
    if (!created.ok() && !kube::isAlreadyExists(created.error()))
      return created.error().wrap("creating Velero Restore " + ns + "/" + name);
    existing = d_.dr.get(res::restores(), ns, name, o_.stop);
    if (!existing.ok()) return existing.error().wrap("reading Restore " + name);
    log::info("velero restore created", {{"restore", ns + "/" + name}, {"backup", backupName}});
  }
  const Json* labels = jsonAt(*existing, "metadata.labels");
  const std::string owner = labels && labels->is_object()
                                ? labels->value(std::string(kRunLabel), std::string())
                                : std::string();
  if (owner != ctx.runId)
    return conflictError("Restore " + ns + "/" + name +
                         " exists but was not created by this failover run: remove it, then "
                         "resume");
  ctx.progress["restore"] = {{"namespace", ns}, {"name", name}};
  OCPVDR_TRY(journal_.stepDetails(ctx.runId, "restore", ctx.progress));
  checkpoint("mid:restore");
  const Json modifier =
      ctx.progress.contains("resourceModifier") ? ctx.progress["resourceModifier"] : Json(nullptr);

  const std::string describe = "`velero -n " + ns + " restore describe " + name +
                               " --details` / `oc -n " + ns + " get restore " + name +
                               " -o yaml` (status.errors, status.warnings)";
  const auto deadline = d_.clock.monotonic() + cfg.failover.timeouts.restore;
  for (;;) {
    OCPVDR_ASSIGN_OR_RETURN(Json cur, d_.dr.get(res::restores(), ns, name, o_.stop));
    const std::string phase = strAt(cur, "status.phase");
    Json details = {
        {"namespace", ns},
        {"name", name},
        {"backup", backupName},
        {"phase", phase},
        {"errors", jsonAt(cur, "status.errors") ? *jsonAt(cur, "status.errors") : Json(0)},
        {"warnings", jsonAt(cur, "status.warnings") ? *jsonAt(cur, "status.warnings") : Json(0)},
        {"resourceModifier", modifier}};
    if (phase == "Completed") return details;
    if (phase == "PartiallyFailed") {
      ctx.warnings.push_back("Velero Restore " + name + " is PartiallyFailed (" +
                             details["errors"].dump() +
                             " errors): some objects were not "
                             "restored; check " +
                             describe + ". The VMs are checked one by one next");
      return details;
    }
    if (phase == "Failed" || phase == "FailedValidation") {
      std::string why = strAt(cur, "status.failureReason");
      if (const Json* ve = jsonAt(cur, "status.validationErrors"); ve && ve->is_array())
        for (const auto& e : *ve)
          if (e.is_string()) why += (why.empty() ? "" : "; ") + e.get<std::string>();
      return terminalError("Velero Restore " + name + " is " + phase +
                           (why.empty() ? "" : " (" + why + ")") + ": check " + describe +
                           "; after fixing the cause, delete the Restore and resume");
    }
    if (d_.clock.monotonic() >= deadline)
      return terminalError(
          "Velero Restore " + name + " is still " + (phase.empty() ? "New" : phase) + " after " +
          humanDuration(duration_cast<milliseconds>(cfg.failover.timeouts.restore)) +
          ": check that Velero runs at DR and " + describe + ", then resume");
    if (!d_.clock.sleepFor(o_.pollInterval, o_.stop))
      return terminalError("stopped while waiting for the Restore");
  }
}

Result<std::vector<VmStartDecision>> FailoverWorkflow::vmStartDecisions(
    Context& ctx, const std::vector<VmRef>& vms) {
  const Json& stopped = ctx.details("stop-vms");
  std::set<std::string> journaled;
  if (const Json* l = jsonAt(stopped, "vms"); l && l->is_array())
    for (const auto& v : *l) journaled.insert(strAt(v, "namespace") + "/" + strAt(v, "name"));
  std::map<std::string, Json> backupVms;
  const bool needBackup = std::any_of(vms.begin(), vms.end(),
                                      [&](const VmRef& vm) { return !journaled.count(vm.key()); });
  if (needBackup) {
    Helpers h{d_.config, d_.store, d_.dr, d_.clock, o_.stop};
    OCPVDR_TRY(h.ensureContents(ctx));
    for (const auto* item : ctx.contents->of(kVirtualMachines))
      backupVms[item->ns + "/" + item->name] = item->object;
  }
  return decideVmStarts(vms, stopped, backupVms);
}

Result<Json> FailoverWorkflow::startVms(Context& ctx) {
  const auto& cfg = d_.config;
  Helpers h{cfg, d_.store, d_.dr, d_.clock, o_.stop};
  OCPVDR_ASSIGN_OR_RETURN(Json objects, h.loadObjects(ctx));
  std::vector<VmRef> vms;
  for (const auto& v : objects["virtualMachines"])
    vms.push_back({strAt(v, "namespace"), strAt(v, "name")});
  VmControl vmc(d_.dr, d_.clock, o_.pollInterval);
  std::vector<std::string> missing;
  for (const auto& vm : vms) {
    OCPVDR_ASSIGN_OR_RETURN(VmState st, vmc.state(vm, o_.stop));
    if (!st.exists) missing.push_back(vm.key());
  }
  if (!missing.empty())
    return terminalError(
        "VMs of the backup are missing at DR after the restore: " + joined(missing) +
        " — check the Restore's errors (`velero restore "
        "describe`); restore them by hand, then resume");
  // Only the VMs that were meant to run are started and waited for; the others stay Halted.
  OCPVDR_ASSIGN_OR_RETURN(auto decisions, vmStartDecisions(ctx, vms));
  const std::string strategy = cfg.failover.runStrategyAfterRestore;
  if (strategy == "Halted")
    ctx.warnings.push_back(
        "failover.run_strategy_after_restore is Halted: the VMs were left stopped");
  std::vector<VmRef> toStart;
  std::set<std::string> starting, halted;
  for (const auto& d : decisions) {
    if (d.start && strategy != "Halted") {
      toStart.push_back(d.vm);
      starting.insert(d.vm.key());
      continue;
    }
    // Restored Halted by the modifier and the label; a Velero that applied neither (older than
    // 1.12 with a plugin older than v0.7.1) restored the backup's strategy: halt it here.
    OCPVDR_ASSIGN_OR_RETURN(VmState st, vmc.state(d.vm, o_.stop));
    if (st.runStrategy != "Halted") {
      OCPVDR_ASSIGN_OR_RETURN(std::string was, vmc.stop(d.vm, cfg.failover.fieldManager, o_.stop));
      (void)was;
      halted.insert(d.vm.key());
      ctx.warnings.push_back("VM " + d.vm.key() + " was restored with runStrategy " +
                             (st.runStrategy.empty() ? std::string("(none)") : st.runStrategy) +
                             " although it is not meant to run: set to Halted (does Velero at DR "
                             "apply resource modifiers?)");
    }
  }
  bool first = true;
  for (const auto& vm : toStart) {
    OCPVDR_TRY(vmc.start(vm, strategy, cfg.failover.fieldManager, o_.stop));
    if (first) checkpoint("mid:start-vms");
    first = false;
  }
  auto describe = [&](const VmState& st) {
    Json j = st.toJson();
    for (const auto& d : decisions)
      if (d.vm == st.vm) {
        j["runStrategyBefore"] = d.runStrategyBefore;
        j["wasRunning"] = d.wasRunning;
        j["decidedFrom"] = d.source;
      }
    j["started"] = starting.count(st.vm.key()) > 0;
    j["waitedFor"] = starting.count(st.vm.key()) > 0;
    if (halted.count(st.vm.key())) j["haltedAtDr"] = true;
    return j;
  };
  std::map<std::string, VmState> ready;
  if (!toStart.empty()) {
    auto r = vmc.waitReady(toStart, cfg.failover.timeouts.vmReady, o_.stop,
                           cfg.failover.requireGuestAgent);
    if (!r.ok()) {
      // Keep what each VM showed, for the report of the failed run.
      Json partial = Json::array();
      for (const auto& vm : vms)
        if (auto st = vmc.state(vm, o_.stop); st.ok()) partial.push_back(describe(*st));
      ctx.progress["vms"] = partial;
      return r.error();
    }
    for (auto& st : *r) ready[st.vm.key()] = st;
  }
  Json list = Json::array();
  for (const auto& vm : vms) {
    if (auto it = ready.find(vm.key()); it != ready.end()) {
      list.push_back(describe(it->second));
      continue;
    }
    OCPVDR_ASSIGN_OR_RETURN(VmState st, vmc.state(vm, o_.stop));
    list.push_back(describe(st));
  }
  return Json{{"runStrategy", strategy},
              {"requireGuestAgent", cfg.failover.requireGuestAgent},
              {"started", static_cast<std::int64_t>(toStart.size())},
              {"leftHalted", static_cast<std::int64_t>(vms.size() - toStart.size())},
              {"vms", list},
              {"readyAt", formatTimeMillis(d_.clock.now())}};
}

Result<Json> FailoverWorkflow::cleanup(Context& ctx) {
  Json out = {{"workDir", ctx.workDir}};
  // The Restore's resource modifier, as the restore step journaled it. The Restore itself stays
  // (Velero's record of what was restored); its modifier is only read while it runs.
  if (const Json* m = jsonAt(ctx.details("restore"), "resourceModifier"); m && m->is_object()) {
    const std::string ns = strAt(*m, "namespace"), name = strAt(*m, "name");
    auto st = removeResourceModifier(d_.dr, ns, name, ctx.runId, o_.stop);
    if (!st.ok()) {
      if (st.error().kind != ErrorKind::Conflict) return st.error();
      ctx.warnings.push_back(st.error().message);
    }
    out["resourceModifierRemoved"] = st.ok() ? Json(ns + "/" + name) : Json(nullptr);
  }
  std::error_code ec;
  const auto removed = fs::remove_all(ctx.workDir, ec);
  if (ec) {
    ctx.warnings.push_back("could not remove " + ctx.workDir + ": " + ec.message());
    out["removed"] = false;
    return out;
  }
  out["removedEntries"] = static_cast<std::int64_t>(removed);
  return out;
}

Result<Json> FailoverWorkflow::writeReport(Context& ctx, std::vector<std::string>* files) {
  // The report as it will stand once this step is journaled done.
  FailoverRunRecord rec = ctx.record;
  const SystemTime now = d_.clock.now();
  for (auto& s : rec.steps)
    if (s.step == "report") {
      s.state = StepState::Done;
      s.finishedAt = now;
    }
  rec.state = "done";
  rec.finishedAt = now;
  Json report = buildReport(rec, now);
  const std::string dir =
      o_.reportDir.empty() ? d_.config.failover.workDir + "/reports/" + ctx.runId : o_.reportDir;
  OCPVDR_ASSIGN_OR_RETURN(auto written, writeReportFiles(report, dir));
  if (files) *files = written;
  return Json{{"dir", dir}, {"files", written}};
}

// --- plan -----------------------------------------------------------------------------------

Result<Json> FailoverWorkflow::plan() {
  const auto& cfg = d_.config;
  Context ctx;
  ctx.dryRun = true;
  ctx.mode = o_.mode;
  ctx.requestedBackup = o_.backup;
  ctx.runId = "<new run>";
  // The tarball goes to a private temporary directory, removed on return.
  std::string tmpl = (fs::temp_directory_path() / "ocpv-dr-plan-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) return terminalError("cannot create a temporary directory");
  ctx.workDir = tmpl;
  struct Remove {
    std::string dir;
    ~Remove() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } removeTmp{tmpl};

  Json doc = {{"mode", std::string(toString(o_.mode))},
              {"feasible", true},
              {"problems", Json::array()},
              {"warnings", Json::array()},
              {"steps", Json::array()}};
  auto pre = preflight(ctx, true);
  if (!pre.ok()) {
    doc["feasible"] = false;
    doc["problems"].push_back(pre.error().message);
    doc["error"] = {{"kind", std::string(toString(pre.error().kind))},
                    {"message", pre.error().message}};
    return doc;
  }
  Json pf = std::move(pre).value();
  for (const auto& w : ctx.warnings) doc["warnings"].push_back(w);
  if (pf.contains("problems")) {
    doc["feasible"] = false;
    for (const auto& p : pf["problems"]) doc["problems"].push_back(p);
  }
  // The DR checks' rows (preflight.h), also under the preflight step.
  doc["checks"] = pf.contains("drChecks") ? pf["drChecks"] : Json::array();
  doc["backup"] = pf["backup"];
  doc["namespaces"] = pf["namespaces"];
  Helpers h{cfg, d_.store, d_.dr, d_.clock, o_.stop};
  auto objects = h.buildObjects(ctx);
  auto& steps = doc["steps"];
  for (const auto& step : stepsFor(ctx.mode)) {
    Json s = {{"step", step}};
    if (step == "preflight") {
      s["checks"] = pf;
    } else if (step == "stop-vms") {
      if (d_.primary) {
        VmControl vmc(*d_.primary, d_.clock, o_.pollInterval);
        auto vms = vmc.list(ctx.namespaces, o_.stop);
        s["vms"] = Json::array();
        if (vms.ok()) {
          for (const auto& vm : *vms) {
            auto st = vmc.state(vm, o_.stop);
            s["vms"].push_back(
                {{"namespace", vm.ns},
                 {"name", vm.name},
                 {"runStrategy", st.ok() ? st->runStrategy : ""},
                 {"action", st.ok() && st->runStrategy == "Halted" ? "none (already Halted)"
                                                                   : "runStrategy: Halted"}});
          }
        } else {
          s["error"] = vms.error().message;
        }
      }
      s["waitUpTo"] = humanDuration(duration_cast<milliseconds>(cfg.failover.timeouts.vmStop));
    } else if (step == "fence") {
      std::set<std::string> roots;
      for (const auto& v : pf["volumes"]) roots.insert(strAt(v, "primaryRoot"));
      auto ssh = primarySsh(cfg);
      Fencer fencer(cfg.failover.fencing, ssh, d_.runner);
      if (cfg.failover.fencing.method == config::FencingMethod::Exportfs && ssh.multiplexing())
        (void)replication::ensureControlDir(ssh.controlDir());
      auto fr = fencer.preview(std::vector<std::string>(roots.begin(), roots.end()), o_.stop);
      s["method"] = config::toString(cfg.failover.fencing.method);
      if (fr.ok()) {
        s["changes"] = fr->details;
        for (const auto& w : fr->warnings) doc["warnings"].push_back(w);
      } else {
        s["error"] = fr.error().message;
        doc["warnings"].push_back("fence preview: " + fr.error().message);
      }
    } else if (step == "final-sync") {
      s["volumes"] = Json::array();
      for (const auto& v : pf["volumes"])
        s["volumes"].push_back({{"pv", v["pv"]},
                                {"from", strAt(v, "primaryHostPath")},
                                {"to", strAt(v, "drHostPath")}});
    } else if (step == "data-loss") {
      s["volumes"] = Json::array();
      for (const auto& v : pf["volumes"]) {
        auto rec = d_.catalog.replica(strAt(v, "pv"));
        Json e = {{"pv", v["pv"]}, {"lastSuccess", nullptr}};
        if (rec.ok() && *rec && (*rec)->lastSuccess)
          e["lastSuccess"] = formatTimeMillis(*(*rec)->lastSuccess);
        s["volumes"].push_back(e);
      }
    } else if (step == "download") {
      s["tarballKey"] = pf["backup"]["tarballKey"];
      s["workDir"] = cfg.failover.workDir + "/<run id>";
    } else if (step == "apply-volumes") {
      if (objects.ok()) {
        s["persistentVolumes"] = (*objects)["persistentVolumes"];
        s["persistentVolumeClaims"] = (*objects)["persistentVolumeClaims"];
        s["skippedPersistentVolumeClaims"] = (*objects)["skippedPersistentVolumeClaims"];
      } else {
        s["error"] = objects.error().message;
      }
      s["fieldManager"] = cfg.failover.fieldManager;
    } else if (step == "restore") {
      s["restore"] = restoreObject(cfg, "<run id>", strAt(pf, "backup.name"), ctx.namespaces);
      s["resourceModifier"] = resourceModifierConfigMap(cfg, "<run id>", ctx.namespaces);
    } else if (step == "start-vms") {
      s["runStrategy"] = cfg.failover.runStrategyAfterRestore;
      s["vms"] = pf["vms"];
    } else if (step == "cleanup") {
      s["remove"] = cfg.failover.workDir + "/<run id>";
    } else if (step == "report") {
      s["dir"] = o_.reportDir.empty() ? cfg.failover.workDir + "/reports/<run id>" : o_.reportDir;
    }
    steps.push_back(std::move(s));
  }
  return doc;
}

// --- abandon / release -------------------------------------------------------------------------

namespace {

// Held for the whole of abandon/release: a run executing on this host holds the same lock.
Result<replication::FileLock> notExecuting(const config::Config& cfg, Clock& clock,
                                           const std::string& what) {
  std::error_code ec;
  fs::create_directories(cfg.failover.workDir, ec);
  if (ec)
    return terminalError("cannot create failover.work_dir " + cfg.failover.workDir + ": " +
                         ec.message());
  auto lock =
      replication::FileLock::acquire(cfg.failover.workDir, "failover", milliseconds(0), clock);
  if (!lock.ok())
    return conflictError("an ocpv-dr failover is running on this host (lock " +
                         cfg.failover.workDir + "/failover.lock): " + what +
                         " only once it has ended or stopped");
  return lock;
}

}  // namespace

Result<Json> abandonRun(const config::Config& cfg, catalog::Catalog& catalog, Clock& clock,
                        const std::string& runId, bool force, const std::string& reason) {
  if (runId.empty()) return invalidError("name the run to abandon (--run ID)");
  OCPVDR_ASSIGN_OR_RETURN(auto lock, notExecuting(cfg, clock, "abandon a run"));
  Journal journal(catalog);
  OCPVDR_ASSIGN_OR_RETURN(auto rec, journal.run(runId));
  if (!rec) return notFoundError("no failover run " + runId + " in the journal");
  if (rec->finished())
    return conflictError("failover run " + runId + " is done; there is nothing to abandon");
  if (rec->abandoned())
    return conflictError("failover run " + runId + " was already abandoned at " +
                         formatTime(*rec->abandonedAt));
  OCPVDR_ASSIGN_OR_RETURN(auto actions, catalog.failoverActions(runId));
  bool setDrActive = false;
  for (const auto& a : actions)
    if (a.action == "dr-active") setDrActive = true;
  const bool changed = setDrActive || rec->changedDr();
  OCPVDR_ASSIGN_OR_RETURN(auto active, catalog.drActive());
  const bool holdsDrActive = active && active->runId == runId;
  if (changed && !force) {
    std::string where;
    for (const auto& st : rec->steps)
      if (st.state != StepState::Done && st.state != StepState::Skipped) where = st.step;
    return refusedError(
        "failover run " + runId + " has already changed the DR cluster" +
        (where.empty() ? std::string() : " (it stopped at step " + where + ")") +
        ": its volumes, restored objects or VMs may exist at DR. Finish it with `ocpv-dr "
        "failover resume --run " +
        runId +
        "`, or clean up at DR yourself and abandon it with --force (DR stays active until "
        "`ocpv-dr failover release --run " +
        runId + "`)");
  }
  const std::string why = reason.empty() ? std::string("no reason given") : reason;
  Json details = {{"changedDr", changed},
                  {"runState", rec->state},
                  {"backup", rec->backup},
                  {"drActive", holdsDrActive}};
  OCPVDR_TRY(journal.markAbandoned(runId, clock.now(), force, why, details));
  log::warn("failover run abandoned",
            {{"run", runId}, {"forced", force}, {"changed_dr", changed}, {"reason", why}});
  return Json{{"run", runId},         {"abandoned", true},         {"forced", force},
              {"changedDr", changed}, {"drActive", holdsDrActive}, {"reason", why}};
}

Result<Json> releaseDrActive(const config::Config& cfg, catalog::Catalog& catalog, Clock& clock,
                             const std::string& runId, const std::string& reason) {
  if (runId.empty())
    return invalidError("name the failover run whose DR-active state to lift (--run ID)");
  OCPVDR_ASSIGN_OR_RETURN(auto lock, notExecuting(cfg, clock, "release DR"));
  OCPVDR_ASSIGN_OR_RETURN(auto active, catalog.drActive());
  if (!active) return notFoundError("DR is not active: nothing to release");
  Journal journal(catalog);
  OCPVDR_ASSIGN_OR_RETURN(auto rec, journal.run(runId));
  const std::string why = reason.empty() ? std::string("no reason given") : reason;
  OCPVDR_TRY(catalog.releaseDrActive(runId, clock.now(), why));
  log::warn("DR active released: replication from the primary may write DR again",
            {{"run", runId}, {"reason", why}});
  return Json{{"run", runId},
              {"released", true},
              {"since", formatTime(active->since)},
              {"runState", rec ? Json(rec->abandoned() ? std::string("abandoned") : rec->state)
                               : Json(nullptr)},
              {"reason", why}};
}

}  // namespace ocpvdr::failover
