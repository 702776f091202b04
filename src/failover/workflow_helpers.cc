// The failover workflow's shared helpers (see workflow_internal.h).
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

namespace detail {

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

std::string str(const Json& j, std::string_view path) {
  const Json* v = jsonAt(j, path);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

std::string joined(const std::vector<std::string>& v, const std::string& sep) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

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

Status checkOurs(kube::KubeClient& dr, const kube::ResourceType& type, const Json& obj,
                 std::stop_token stop) {
  const std::string ns = str(obj, "metadata.namespace"), name = str(obj, "metadata.name");
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

Status Helpers::ensureBackup(FailoverWorkflow::Context& ctx) {
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

Result<std::string> Helpers::ensureTarball(FailoverWorkflow::Context& ctx) {
  OCPVDR_TRY(ensureBackup(ctx));
  std::error_code ec;
  fs::create_directories(ctx.workDir, ec);
  if (ec) return terminalError("cannot create " + ctx.workDir + ": " + ec.message());
  const std::string path = ctx.workDir + "/" + ctx.backup->name + ".tar.gz";
  if (fs::exists(path, ec)) {
    auto head = store.head(ctx.backup->tarballKey, stop);
    if (head.ok() && static_cast<std::int64_t>(fs::file_size(path, ec)) == head->size) return path;
  }
  BackupDiscovery discovery(store, cfg.backupStore.prefix);
  return discovery.downloadTarball(*ctx.backup, ctx.workDir, stop);
}

Status Helpers::ensureContents(FailoverWorkflow::Context& ctx) {
  if (ctx.contents) return Status::success();
  OCPVDR_ASSIGN_OR_RETURN(std::string path, ensureTarball(ctx));
  auto c = readVeleroTarball(path);
  if (!c.ok()) return c.error().wrap("backup " + ctx.backup->name);
  ctx.contents = std::move(c).value();
  return Status::success();
}

Status Helpers::ensureNamespaces(FailoverWorkflow::Context& ctx) {
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
      return invalidError("failover.protected_namespaces is empty and backup " + ctx.backup->name +
                          " names no namespaces: list the namespaces whose VMs fail over");
  }
  std::sort(ctx.namespaces.begin(), ctx.namespaces.end());
  return Status::success();
}

bool Helpers::isProtected(const FailoverWorkflow::Context& ctx, const std::string& ns) const {
  return std::binary_search(ctx.namespaces.begin(), ctx.namespaces.end(), ns);
}

Result<std::vector<VolumePlan>> Helpers::volumes(FailoverWorkflow::Context& ctx,
                                                 std::vector<std::string>& problems,
                                                 std::vector<std::string>& warnings,
                                                 Json* skipped) {
  OCPVDR_TRY(ensureContents(ctx));
  OCPVDR_TRY(ensureNamespaces(ctx));
  std::map<std::string, const TarballItem*> pvs;
  for (const auto* item : ctx.contents->of(kPersistentVolumes)) pvs[item->name] = item;
  std::vector<VolumePlan> out;
  for (const auto* item : ctx.contents->of(kPersistentVolumeClaims)) {
    if (!isProtected(ctx, item->ns)) continue;
    const std::string volumeName = str(item->object, "spec.volumeName");
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
      problems.push_back("PVC " + claim + " names PV " + volumeName + ", which is not in backup " +
                         ctx.backup->name + " (was the backup taken with PVs included?)");
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

std::vector<VmRef> Helpers::backupVms(const FailoverWorkflow::Context& ctx) const {
  std::vector<VmRef> vms;
  for (const auto* item : ctx.contents->of(kVirtualMachines))
    if (isProtected(ctx, item->ns)) vms.push_back({item->ns, item->name});
  std::sort(vms.begin(), vms.end());
  return vms;
}

Result<Json> Helpers::buildObjects(FailoverWorkflow::Context& ctx) {
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

Result<Json> Helpers::loadObjects(FailoverWorkflow::Context& ctx) {
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

}  // namespace detail

}  // namespace ocpvdr::failover
