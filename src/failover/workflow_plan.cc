// `failover plan`: what a run would do, changing nothing (see workflow.h).
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

// --- plan -----------------------------------------------------------------------------------
//
// The plan runs preflight in dry-run mode, then describes each step of the mode from what
// preflight found: one describer per step, looked up by the step's name.

namespace {

// What the step describers read, and the plan document they may add warnings to.
struct PlanInput {
  const WorkflowDeps& d;
  const WorkflowOptions& o;
  const FailoverWorkflow::Context& ctx;
  Json& pf;               // the preflight details
  Result<Json>& objects;  // objects.json as download would write it
  Json& doc;
};

void describePreflight(const PlanInput& in, Json& s) {
  s["checks"] = in.pf;
}

void describeStopVms(const PlanInput& in, Json& s) {
  const auto& cfg = in.d.config;
  if (in.d.primary) {
    VmControl vmc(*in.d.primary, in.d.clock, in.o.pollInterval);
    auto vms = vmc.list(in.ctx.namespaces, in.o.stop);
    s["vms"] = Json::array();
    if (vms.ok()) {
      for (const auto& vm : *vms) {
        auto st = vmc.state(vm, in.o.stop);
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
}

void describeFence(const PlanInput& in, Json& s) {
  const auto& cfg = in.d.config;
  std::set<std::string> roots;
  for (const auto& v : in.pf["volumes"]) roots.insert(str(v, "primaryRoot"));
  auto ssh = replication::primarySsh(cfg);
  Fencer fencer(cfg.failover.fencing, ssh, in.d.runner);
  if (cfg.failover.fencing.method == config::FencingMethod::Exportfs && ssh.multiplexing())
    (void)replication::ensureControlDir(ssh.controlDir());
  auto fr = fencer.preview(std::vector<std::string>(roots.begin(), roots.end()), in.o.stop);
  s["method"] = config::toString(cfg.failover.fencing.method);
  if (fr.ok()) {
    s["changes"] = fr->details;
    for (const auto& w : fr->warnings) in.doc["warnings"].push_back(w);
  } else {
    s["error"] = fr.error().message;
    in.doc["warnings"].push_back("fence preview: " + fr.error().message);
  }
}

void describeFinalSync(const PlanInput& in, Json& s) {
  s["volumes"] = Json::array();
  for (const auto& v : in.pf["volumes"])
    s["volumes"].push_back(
        {{"pv", v["pv"]}, {"from", str(v, "primaryHostPath")}, {"to", str(v, "drHostPath")}});
}

void describeDataLoss(const PlanInput& in, Json& s) {
  s["volumes"] = Json::array();
  for (const auto& v : in.pf["volumes"]) {
    auto rec = in.d.catalog.replica(str(v, "pv"));
    Json e = {{"pv", v["pv"]}, {"lastSuccess", nullptr}};
    if (rec.ok() && *rec && (*rec)->lastSuccess)
      e["lastSuccess"] = formatTimeMillis(*(*rec)->lastSuccess);
    s["volumes"].push_back(e);
  }
}

void describeDownload(const PlanInput& in, Json& s) {
  s["tarballKey"] = in.pf["backup"]["tarballKey"];
  s["workDir"] = in.d.config.failover.workDir + "/<run id>";
}

void describeApplyVolumes(const PlanInput& in, Json& s) {
  if (in.objects.ok()) {
    s["persistentVolumes"] = (*in.objects)["persistentVolumes"];
    s["persistentVolumeClaims"] = (*in.objects)["persistentVolumeClaims"];
    s["skippedPersistentVolumeClaims"] = (*in.objects)["skippedPersistentVolumeClaims"];
  } else {
    s["error"] = in.objects.error().message;
  }
  s["fieldManager"] = in.d.config.failover.fieldManager;
  // --point: per PV the recovery point put in place first (as preflight chose it; a planned
  // run's final sync may add a newer point that `latest` then takes).
  if (in.pf.contains("points")) s["recoveryPoints"] = in.pf["points"];
}

void describeRestore(const PlanInput& in, Json& s) {
  const auto& cfg = in.d.config;
  s["restore"] = restoreObject(cfg, "<run id>", str(in.pf, "backup.name"), in.ctx.namespaces);
  s["resourceModifier"] = resourceModifierConfigMap(cfg, "<run id>", in.ctx.namespaces);
}

void describeStartVms(const PlanInput& in, Json& s) {
  s["runStrategy"] = in.d.config.failover.runStrategyAfterRestore;
  s["vms"] = in.pf["vms"];
}

void describeCleanup(const PlanInput& in, Json& s) {
  s["remove"] = in.d.config.failover.workDir + "/<run id>";
}

void describeReport(const PlanInput& in, Json& s) {
  const auto& cfg = in.d.config;
  s["dir"] = in.o.reportDir.empty() ? cfg.failover.workDir + "/reports/<run id>" : in.o.reportDir;
}

struct StepDescriber {
  std::string_view step;
  void (*describe)(const PlanInput&, Json&);
};

constexpr StepDescriber kStepDescribers[] = {
    {"preflight", describePreflight},
    {"stop-vms", describeStopVms},
    {"fence", describeFence},
    {"final-sync", describeFinalSync},
    {"data-loss", describeDataLoss},
    {"download", describeDownload},
    {"apply-volumes", describeApplyVolumes},
    {"restore", describeRestore},
    {"start-vms", describeStartVms},
    {"cleanup", describeCleanup},
    {"report", describeReport},
};

// The plan's own temporary directory, removed when the plan returns.
struct TempDir {
  std::string dir;
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

}  // namespace

Result<Json> FailoverWorkflow::plan() {
  const auto& cfg = d_.config;
  Context ctx;
  ctx.dryRun = true;
  ctx.mode = o_.mode;
  ctx.requestedBackup = o_.backup;
  ctx.pointSpec = o_.point;
  OCPVDR_TRY(validatePointSpec(ctx.pointSpec));
  ctx.runId = "<new run>";
  // The tarball goes to a private temporary directory, removed on return.
  std::string tmpl = (fs::temp_directory_path() / "ocpv-dr-plan-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) return terminalError("cannot create a temporary directory");
  ctx.workDir = tmpl;
  TempDir removeTmp{tmpl};

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
  if (pf.contains("points")) doc["points"] = pf["points"];
  Helpers h{cfg, d_.store, d_.dr, d_.clock, o_.stop};
  auto objects = h.buildObjects(ctx);
  const PlanInput in{d_, o_, ctx, pf, objects, doc};
  for (const auto& step : stepsFor(ctx.mode)) {
    Json s = {{"step", step}};
    for (const auto& d : kStepDescribers)
      if (d.step == step) d.describe(in, s);
    doc["steps"].push_back(std::move(s));
  }
  return doc;
}

}  // namespace ocpvdr::failover
