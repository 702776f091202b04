// The failover workflow's steps before the DR cluster changes: planned (stop VMs, fence, final
// sync), unplanned (the data-loss window), and the backup download (see workflow.h).
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
      before[str(v, "namespace") + "/" + str(v, "name")] = v;
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

Result<Json> FailoverWorkflow::fence(Context& ctx) {
  const auto& cfg = d_.config;
  std::set<std::string> roots;
  for (const auto& v : ctx.details("preflight")["volumes"]) roots.insert(str(v, "primaryRoot"));
  roots.erase("");
  if (roots.empty()) {
    ctx.warnings.push_back("no volumes: nothing to fence");
    return Json::object();
  }
  auto ssh = replication::primarySsh(cfg);
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
    for (const auto& v : ctx.progress["volumes"]) done[str(v, "pv")] = v;
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
    const std::string pv = str(v, "pv");
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
  // --point: the data lost is what came after the chosen point's data time (point_choice.h).
  for (const auto& c :
       ctx.details("preflight").value("points", Json::object()).value("volumes", Json::array())) {
    if (!c["point"].is_string()) continue;
    for (auto& e : list) {
      if (e["pv"] != c["pv"]) continue;
      e["point"] = c["point"];
      e["pointDataTime"] = c["dataTime"];
      e["dataLossSeconds"] = c["dataAgeSeconds"];
    }
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

}  // namespace ocpvdr::failover
