// The failover workflow's steps that change the DR cluster: apply volumes, restore, start VMs,
// then cleanup and the report (see workflow.h).
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
  for (const auto& pv : pvs) {
    auto lock = replication::lockVolume(d_.config, pv, kSyncDrainWait, d_.clock, o_.stop);
    if (!lock.ok())
      return lock.error().wrap("waiting for a running sync of PV " + pv +
                               " to end before the DR volumes are created (resume the run once "
                               "it has ended)");
  }
  return Status::success();
}

// --point: the recovery point of each PV, chosen once (journaled in the step's details before
// anything is put in place, so a resumed step keeps the choice) and put in place by reflink.
// DR is active by now: no replication cycle writes these directories or adds points any more.
Result<Json> FailoverWorkflow::putPointsInPlace(Context& ctx) {
  if (ctx.pointSpec.empty()) return Json(nullptr);
  Json chosen = ctx.details("apply-volumes").value("points", Json(nullptr));
  if (!chosen.is_object()) {
    std::vector<PointTarget> targets;
    for (const auto& v : ctx.details("preflight")["volumes"])
      targets.push_back({str(v, "pv"), str(v, "drHostPath")});
    std::vector<std::string> problems;
    OCPVDR_ASSIGN_OR_RETURN(
        Json vols, choosePoints(d_.catalog, ctx.pointSpec, targets, d_.clock.now(), problems));
    if (!problems.empty()) return refusedError(joined(problems, "; "));
    chosen = {
        {"spec", ctx.pointSpec}, {"chosenAt", formatTimeMillis(d_.clock.now())}, {"volumes", vols}};
    ctx.progress["points"] = chosen;
    OCPVDR_TRY(journal_.stepDetails(ctx.runId, "apply-volumes", ctx.progress));
  }
  for (const auto& c : chosen["volumes"])
    if (c["point"].is_string())
      log::info("putting a recovery point in place", {{"run", ctx.runId},
                                                      {"pv", c["pv"]},
                                                      {"point", c["point"]},
                                                      {"dataTime", c["dataTime"]},
                                                      {"target", c["target"]}});
  OCPVDR_TRY(materializeChosen(chosen["volumes"]));
  ctx.progress["points"] = chosen;
  OCPVDR_TRY(journal_.stepDetails(ctx.runId, "apply-volumes", ctx.progress));
  checkpoint("mid:apply-volumes:points");
  return chosen;
}

Result<Json> FailoverWorkflow::applyVolumes(Context& ctx) {
  const auto& cfg = d_.config;
  Helpers h{cfg, d_.store, d_.dr, d_.clock, o_.stop};
  OCPVDR_ASSIGN_OR_RETURN(Json objects, h.loadObjects(ctx));
  {
    // The first step that changes the DR cluster: from here on the DR copies belong to the VMs.
    // DR PVs keep their primary names (rewriter.h): the names replication locks by.
    std::vector<std::string> pvs;
    for (const auto& pv : objects["persistentVolumes"]) pvs.push_back(str(pv, "metadata.name"));
    OCPVDR_TRY(markDrActive(ctx, pvs));
  }
  OCPVDR_ASSIGN_OR_RETURN(Json points, putPointsInPlace(ctx));
  kube::ApplyOptions ao;
  ao.fieldManager = cfg.failover.fieldManager;
  ao.force = true;
  Json applied = {{"namespaces", Json::array()},
                  {"persistentVolumes", Json::array()},
                  {"persistentVolumeClaims", Json::array()}};
  std::set<std::string> nsNeeded;
  for (const auto& pvc : objects["persistentVolumeClaims"])
    nsNeeded.insert(str(pvc, "metadata.namespace"));
  OCPVDR_ASSIGN_OR_RETURN(Json nsDone, drNamespaces(ctx, nsNeeded));
  applied["namespaces"] = nsDone["created"];
  applied["existingNamespaces"] = nsDone["existing"];
  bool first = true;
  for (const auto& pv : objects["persistentVolumes"]) {
    OCPVDR_TRY(checkOurs(d_.dr, res::persistentVolumes(), pv, o_.stop));
    auto r = d_.dr.apply(res::persistentVolumes(), pv, ao, o_.stop);
    if (!r.ok()) return r.error().wrap("applying PV " + str(pv, "metadata.name") + " at DR");
    applied["persistentVolumes"].push_back(str(pv, "metadata.name"));
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
    const std::string key = str(pvc, "metadata.namespace") + "/" + str(pvc, "metadata.name");
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
      const std::string ns = str(pvc, "metadata.namespace"), name = str(pvc, "metadata.name");
      OCPVDR_ASSIGN_OR_RETURN(Json cur,
                              d_.dr.get(res::persistentVolumeClaims(), ns, name, o_.stop));
      const std::string phase = str(cur, "status.phase");
      if (phase == "Bound") continue;
      const std::string vol = str(pvc, "spec.volumeName");
      auto pv = d_.dr.get(res::persistentVolumes(), "", vol, o_.stop);
      pending.push_back(
          ns + "/" + name + " (" + (phase.empty() ? "no phase" : phase) + "; PV " + vol + " " +
          (pv.ok() ? (str(*pv, "status.phase").empty() ? "without phase" : str(*pv, "status.phase"))
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
  Json done = {{"applied", applied},
               {"skipped", objects.value("skippedPersistentVolumeClaims", Json::array())},
               {"boundAt", formatTimeMillis(d_.clock.now())}};
  if (!points.is_null()) done["points"] = points;
  return done;
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
  const std::string name = str(want, "metadata.name");
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
    const std::string phase = str(cur, "status.phase");
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
      std::string why = str(cur, "status.failureReason");
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
    for (const auto& v : *l) journaled.insert(str(v, "namespace") + "/" + str(v, "name"));
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
    vms.push_back({str(v, "namespace"), str(v, "name")});
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
    const std::string ns = str(*m, "namespace"), name = str(*m, "name");
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

}  // namespace ocpvdr::failover
