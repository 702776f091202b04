// The failover workflow's preflight step (see workflow.h).
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

// --- preflight --------------------------------------------------------------------------------
//
// A list of named checks over one shared state, run in order: each adds what it found to the
// details and to the problems (refusals) or warnings; an error stops preflight at once (the DR
// API unreachable, the backup missing). Later checks read what earlier ones found (the backup, the
// volumes), so the order of the list matters; otherwise each check stands alone.

namespace {

struct Preflight {
  const WorkflowDeps& d;
  const WorkflowOptions& o;
  Journal& journal;
  FailoverWorkflow::Context& ctx;
  const bool dryRun;
  Helpers h;
  Json details = Json::object();
  std::vector<std::string> problems, warnings;
  bool primaryUp = false;
  std::set<std::string> inBackup;  // PVs in the backup (see checkVolumes)
  std::string bslName;             // the BackupStorageLocation found by the DR checks
  std::string bslHow;
  bool bslPresent = false;

  void checkpoint(std::string_view point) const {
    if (o.checkpoint) o.checkpoint(point);
  }
  Error refusal() const {
    return refusedError("preflight found " + std::to_string(problems.size()) + " problem" +
                        (problems.size() == 1 ? "" : "s") + ": " + join(problems, "; "));
  }
};

Status checkDrApi(Preflight& p) {
  auto version = p.d.dr.request("GET", "/version", "", "application/json", p.o.stop);
  if (!version.ok())
    return version.error().wrap(
        "DR cluster API unreachable (sites.dr.kubernetes): every later step needs it");
  p.details["drApi"] = {{"reachable", true}, {"version", str(*version, "gitVersion")}};
  return Status::success();
}

Status checkPrimaryApi(Preflight& p) {
  auto& ctx = p.ctx;
  if (p.d.primary) {
    auto pv = p.d.primary->request("GET", "/version", "", "application/json", p.o.stop);
    p.primaryUp = pv.ok();
    p.details["primaryApi"] = {{"reachable", p.primaryUp},
                               {"error", pv.ok() ? Json(nullptr) : Json(pv.error().message)}};
    if (!p.primaryUp && ctx.mode == Mode::Planned)
      p.problems.push_back("primary cluster API unreachable (" + pv.error().message +
                           "): a planned failover stops the VMs there first; if the primary site "
                           "is down, run an unplanned failover (--unplanned)");
  } else {
    p.details["primaryApi"] = {{"reachable", false}, {"error", "not configured"}};
    if (ctx.mode == Mode::Planned)
      p.problems.push_back(
          "a planned failover needs the primary cluster API (sites.primary.kubernetes)");
  }
  if (ctx.mode == Mode::Planned && !p.d.replicator)
    p.problems.push_back("a planned failover needs the Replicator for the final sync");
  return Status::success();
}

Status checkBackup(Preflight& p) {
  OCPVDR_TRY(p.h.ensureBackup(p.ctx));
  const BackupSummary& b = *p.ctx.backup;
  p.details["backup"] = {
      {"name", b.name},
      {"phase", b.phase},
      {"started", b.startTimestamp ? Json(formatTime(*b.startTimestamp)) : Json(nullptr)},
      {"completed",
       b.completionTimestamp ? Json(formatTime(*b.completionTimestamp)) : Json(nullptr)},
      {"tarballKey", b.tarballKey}};
  if (!p.dryRun) OCPVDR_TRY(p.journal.setBackup(p.ctx.runId, b.name));
  p.checkpoint("mid:preflight");
  return Status::success();
}

Status checkVolumes(Preflight& p) {
  auto& ctx = p.ctx;
  const BackupSummary& b = *ctx.backup;
  Json skipped = Json::array();
  OCPVDR_ASSIGN_OR_RETURN(auto vols, p.h.volumes(ctx, p.problems, p.warnings, &skipped));
  p.details["namespaces"] = ctx.namespaces;
  p.details["volumes"] = Json::array();
  // PVs in the backup: those failed over and those of unfinished DataVolumes (left out on
  // purpose, with their own warning — not "newer than the backup").
  for (const auto& s : skipped)
    if (s["pv"].is_string()) p.inBackup.insert(s["pv"].get<std::string>());
  for (const auto& v : vols) {
    p.inBackup.insert(v.pv);
    std::error_code ec;
    const bool exists = fs::is_directory(v.paths.drHostPath, ec);
    p.details["volumes"].push_back(volumeJson(v, exists));
    if (exists) continue;
    if (ctx.mode == Mode::Unplanned) {
      p.problems.push_back("no replicated data for PV " + v.pv + " (claim " + v.pvcNs + "/" +
                           v.pvcName + "): " + v.paths.drHostPath +
                           " does not exist on this host — the VM would start on an empty disk. "
                           "Check replication of that PV (`ocpv-dr status`)");
    } else {
      p.warnings.push_back("DR directory " + v.paths.drHostPath + " of PV " + v.pv +
                           " does not exist yet; the final sync creates it");
    }
  }
  if (vols.empty())
    p.warnings.push_back("no PVC of the protected namespaces (" + join(ctx.namespaces, ", ") +
                         ") is in backup " + b.name);
  return Status::success();
}

Status listVms(Preflight& p) {
  p.details["vms"] = Json::array();
  for (const auto& vm : p.h.backupVms(p.ctx))
    p.details["vms"].push_back({{"namespace", vm.ns}, {"name", vm.name}});
  return Status::success();
}

// PVs that are newer than the backup: their data is not in this failover.
Status checkNewVolumes(Preflight& p) {
  auto& ctx = p.ctx;
  const BackupSummary& b = *ctx.backup;
  Json newer = Json::array();
  const SystemTime cut = b.startTimestamp.value_or(b.completionTimestamp.value_or(SystemTime{}));
  if (p.primaryUp) {
    auto list = p.d.primary->listAll(res::persistentVolumes(), "", {}, p.o.stop);
    if (list.ok()) {
      for (const auto& pv : list->items) {
        const std::string name = str(pv, "metadata.name");
        const std::string claimNs = str(pv, "spec.claimRef.namespace");
        if (p.inBackup.count(name) || !p.h.isProtected(ctx, claimNs)) continue;
        auto created = parseTime(str(pv, "metadata.creationTimestamp"));
        if (created.ok() && *created <= cut) continue;
        newer.push_back(name);
        p.warnings.push_back("PV " + name + " (claim " + claimNs + "/" +
                             str(pv, "spec.claimRef.name") + ") was created after backup " +
                             b.name + " and is not in it: its data is not failed over");
      }
    } else {
      p.warnings.push_back("could not list PVs at the primary: " + list.error().message);
    }
  } else {
    auto replicas = p.d.catalog.replicas();
    if (replicas.ok()) {
      for (const auto& r : *replicas) {
        if (r.state != "active" || p.inBackup.count(r.pv) ||
            !p.h.isProtected(ctx, r.claimNamespace))
          continue;
        newer.push_back(r.pv);
        p.warnings.push_back("PV " + r.pv + " (claim " + r.claimNamespace + "/" + r.claimName +
                             ") is replicated but not in backup " + b.name +
                             " (created after it?): its data is at DR but nothing will use it");
      }
    } else {
      p.warnings.push_back("could not read the catalog: " + replicas.error().message);
    }
  }
  p.details["newVolumes"] = newer;
  return Status::success();
}

// The DR side (preflight.h): one row per check; a fail row stops the run here, before any step
// changes either site.
Status checkDrSide(Preflight& p) {
  const std::string& oadp = p.d.config.failover.oadpNamespace;
  DrChecks checks =
      runDrChecks(DrCheckInput{p.d.config, p.d.dr, *p.ctx.contents, p.ctx.namespaces, p.o.stop});
  p.details["drChecks"] = Json::array();
  for (const auto& r : checks.rows) {
    p.details["drChecks"].push_back(toJson(r));
    if (r.status == CheckStatus::Fail)
      p.problems.push_back(r.check + ": " + r.summary + " — " + r.fix);
    else if (r.status == CheckStatus::Warn)
      p.warnings.push_back(r.check + ": " + r.summary + (r.fix.empty() ? "" : " — " + r.fix));
  }
  // Velero's backup sync imports the Backup from that location: without one there is nothing to
  // wait for.
  p.bslName = checks.location.name;
  p.bslHow = checks.location.how;
  p.bslPresent = !p.bslName.empty() && checks.location.problem.empty();
  if (!p.bslName.empty())
    p.details["storageLocation"] = {{"name", p.bslName},
                                    {"namespace", oadp},
                                    {"foundBy", checks.location.how},
                                    {"phase", str(checks.location.object, "status.phase")}};
  return Status::success();
}

// What is wrong already is reported now, without first waiting for the backup sync.
Status refuseEarly(Preflight& p) {
  if (p.problems.empty() || p.dryRun) return Status::success();
  for (auto& w : p.warnings) p.ctx.warnings.push_back(w);
  p.details["problems"] = p.problems;
  p.ctx.progress = p.details;
  return p.refusal();
}

// The Backup CR at DR: Velero's backup sync must have imported it, or the Restore fails
// validation.
Status waitForBackupCr(Preflight& p) {
  const auto& cfg = p.d.config;
  const std::string& oadp = cfg.failover.oadpNamespace;
  const BackupSummary& b = *p.ctx.backup;
  const bool dryRun = p.dryRun;
  auto& details = p.details;
  auto& problems = p.problems;
  const auto deadline = p.d.clock.monotonic() + cfg.failover.timeouts.backupSync;
  const auto waitStart = p.d.clock.monotonic();
  while (p.bslPresent) {
    auto cr = p.d.dr.get(res::backups(), oadp, b.name, p.o.stop);
    if (cr.ok()) {
      const std::string phase = str(*cr, "status.phase");
      details["backupCr"] = {
          {"namespace", oadp},
          {"phase", phase},
          {"waitedMs", duration_cast<milliseconds>(p.d.clock.monotonic() - waitStart).count()}};
      if (phase != "Completed")
        problems.push_back("the Backup " + oadp + "/" + b.name + " at DR is " +
                           (phase.empty() ? std::string("without a phase") : phase) +
                           ", not Completed: a Restore from it would fail validation");
      const std::string location = str(*cr, "spec.storageLocation");
      details["backupCr"]["storageLocation"] = location;
      if (!location.empty() && location != p.bslName)
        problems.push_back("the Backup " + oadp + "/" + b.name + " at DR belongs to " +
                           "BackupStorageLocation " + location + ", not " + p.bslName +
                           " (found by " + p.bslHow +
                           "): check which location reads the primary's bucket and prefix, or "
                           "name it in failover.storage_location");
      break;
    }
    if (!kube::isNotFound(cr.error())) return cr.error().wrap("reading the Backup at DR");
    if (dryRun || p.d.clock.monotonic() >= deadline) {
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
        p.warnings.push_back(msg);
        details["backupCr"] = nullptr;
        break;
      }
      problems.push_back(msg);
      break;
    }
    if (!p.d.clock.sleepFor(p.o.pollInterval, p.o.stop))
      return terminalError("stopped while waiting for the Backup at DR");
  }
  return Status::success();
}

// --point: the recovery point each volume would be brought to (apply-volumes chooses again
// when it runs, from the same spec: a planned run's final sync may add a newer point).
Status checkPoints(Preflight& p) {
  if (p.ctx.pointSpec.empty()) return Status::success();
  std::vector<PointTarget> targets;
  for (const auto& v : p.details["volumes"])
    targets.push_back({str(v, "pv"), str(v, "drHostPath")});
  OCPVDR_ASSIGN_OR_RETURN(Json chosen, choosePoints(p.d.catalog, p.ctx.pointSpec, targets,
                                                    p.d.clock.now(), p.problems));
  for (const auto& c : chosen)
    if (!c["point"].is_string() &&
        c.value("note", std::string()).rfind("no recovery points", 0) == 0)
      p.warnings.push_back("PV " + c["pv"].get<std::string>() +
                           " has no recovery points: its DR directory is used as it is");
  for (const auto& c : chosen)
    if (c.contains("warning") && c["warning"].is_string()) {
      const std::string w = c["warning"].get<std::string>();
      if (std::find(p.warnings.begin(), p.warnings.end(), w) == p.warnings.end())
        p.warnings.push_back(w);
    }
  p.details["points"] = {
      {"spec", p.ctx.pointSpec}, {"volumes", chosen}, {"groups", pointGroups(chosen)}};
  return Status::success();
}

struct PreflightCheck {
  std::string_view name;
  Status (*run)(Preflight&);
};

// In order (see above).
constexpr PreflightCheck kPreflightChecks[] = {
    {"dr-api", checkDrApi},
    {"primary-api", checkPrimaryApi},
    {"backup", checkBackup},
    {"volumes", checkVolumes},
    {"points", checkPoints},  // --point only
    {"vms", listVms},
    {"new-volumes", checkNewVolumes},
    {"dr-side", checkDrSide},
    {"refuse-early", refuseEarly},
    {"backup-cr", waitForBackupCr},
};

}  // namespace

Result<Json> FailoverWorkflow::preflight(Context& ctx, bool dryRun) {
  Preflight p{d_,  o_,     journal_,
              ctx, dryRun, Helpers{d_.config, d_.store, d_.dr, d_.clock, o_.stop}};
  for (const auto& check : kPreflightChecks) OCPVDR_TRY(check.run(p));
  for (auto& w : p.warnings) ctx.warnings.push_back(w);
  if (!p.problems.empty()) {
    p.details["problems"] = p.problems;
    if (dryRun) return p.details;
    ctx.progress = p.details;
    return p.refusal();
  }
  return p.details;
}

}  // namespace ocpvdr::failover
