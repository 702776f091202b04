// The Restore's resource modifier and start-vms' per-VM decisions (see restore_modifiers.h).
#include "failover/restore_modifiers.h"

#include "failover/rewriter.h"
#include "failover/workflow.h"
#include "kube/api_status.h"

namespace ocpvdr::failover {

namespace {

std::string textAt(const Json& j, std::string_view path) {
  const Json* v = jsonAt(j, path);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

}  // namespace

const kube::ResourceType& configMapsType() {
  static const kube::ResourceType t{"", "v1", "configmaps", "ConfigMap", true, "", ""};
  return t;
}

std::string resourceModifierName(const std::string& runId) {
  return "ocpv-dr-" + runId + "-vm-halted";
}

std::string resourceModifierDocument(const std::vector<std::string>& namespaces) {
  // Namespace names are DNS labels: plain YAML scalars, no quoting needed. The patch is JSON
  // in a single-quoted scalar (Velero converts patchData from YAML to JSON either way).
  std::string doc =
      "version: v1\n"
      "resourceModifierRules:\n"
      "- conditions:\n"
      "    groupResource: virtualmachines.kubevirt.io\n";
  if (!namespaces.empty()) {
    doc += "    namespaces:\n";
    for (const auto& ns : namespaces) doc += "    - " + ns + "\n";
  }
  doc +=
      "  mergePatches:\n"
      "  - patchData: '{\"spec\":{\"runStrategy\":\"Halted\",\"running\":null}}'\n";
  return doc;
}

Json resourceModifierConfigMap(const config::Config& cfg, const std::string& runId,
                               const std::vector<std::string>& namespaces) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata",
           {{"name", resourceModifierName(runId)},
            {"namespace", cfg.failover.oadpNamespace},
            {"labels",
             {{std::string(kRunLabel), runId},
              {std::string(kCreatedByLabel), std::string(kCreatedByValue)}}}}},
          // Velero reads the one data key, whatever its name.
          {"data", {{"vm-run-strategy.yaml", resourceModifierDocument(namespaces)}}}};
}

namespace {

bool ownedByRun(const Json& obj, const std::string& runId) {
  const Json* labels = jsonAt(obj, "metadata.labels");
  return labels && labels->is_object() &&
         labels->value(std::string(kRunLabel), std::string()) == runId;
}

}  // namespace

Result<Json> ensureResourceModifier(kube::KubeClient& dr, const config::Config& cfg,
                                    const std::string& runId,
                                    const std::vector<std::string>& namespaces,
                                    std::stop_token stop) {
  const Json want = resourceModifierConfigMap(cfg, runId, namespaces);
  const std::string& ns = cfg.failover.oadpNamespace;
  const std::string name = resourceModifierName(runId);
  const Json where = {{"namespace", ns}, {"name", name}};
  auto created = dr.create(configMapsType(), want, ns, stop);
  if (created.ok()) return where;
  if (!kube::isAlreadyExists(created.error()))
    return created.error().wrap("creating the resource modifier ConfigMap " + ns + "/" + name);
  auto cur = dr.get(configMapsType(), ns, name, stop);
  if (!cur.ok()) return cur.error().wrap("reading ConfigMap " + ns + "/" + name);
  if (!ownedByRun(*cur, runId))
    return conflictError("ConfigMap " + ns + "/" + name +
                         " exists but was not created by this failover run: remove it, then "
                         "resume");
  if (jsonAt(*cur, "data") && *jsonAt(*cur, "data") == want["data"]) return where;
  // A merge patch would keep data keys of an older document; Velero wants exactly one.
  Json replaced = *cur;
  replaced["data"] = want["data"];
  auto up = dr.update(configMapsType(), replaced, stop);
  if (!up.ok()) return up.error().wrap("updating ConfigMap " + ns + "/" + name);
  return where;
}

Status removeResourceModifier(kube::KubeClient& dr, const std::string& ns, const std::string& name,
                              const std::string& runId, std::stop_token stop) {
  auto cur = dr.get(configMapsType(), ns, name, stop);
  if (!cur.ok()) {
    if (kube::isNotFound(cur.error())) return Status::success();
    return cur.error().wrap("reading ConfigMap " + ns + "/" + name);
  }
  if (!ownedByRun(*cur, runId))
    return conflictError("ConfigMap " + ns + "/" + name +
                         " was not created by this failover run: left in place");
  auto r = dr.remove(configMapsType(), ns, name, {}, stop);
  if (!r.ok() && !kube::isNotFound(r.error()))
    return r.error().wrap("deleting ConfigMap " + ns + "/" + name);
  return Status::success();
}

std::string runStrategyOf(const Json& vm) {
  if (const Json* rs = jsonAt(vm, "spec.runStrategy"); rs && rs->is_string())
    return rs->get<std::string>();
  if (const Json* running = jsonAt(vm, "spec.running"); running && running->is_boolean())
    return running->get<bool>() ? "Always" : "Halted";
  return "";
}

bool statusIsRunning(const std::string& s) {
  return s == "Running" || s == "Starting" || s == "Migrating" || s == "Paused";
}

bool meantToRun(const std::string& runStrategy, bool wasRunning) {
  if (runStrategy == "Always" || runStrategy == "RerunOnFailure") return true;
  // Manual and Once have no "should run" of their own: what the VM did is what it should do.
  if (runStrategy == "Manual" || runStrategy == "Once") return wasRunning;
  return false;  // Halted, or nothing recorded
}

Json VmStartDecision::toJson() const {
  return {{"namespace", vm.ns},       {"name", vm.name},  {"runStrategyBefore", runStrategyBefore},
          {"wasRunning", wasRunning}, {"source", source}, {"start", start}};
}

std::vector<VmStartDecision> decideVmStarts(const std::vector<VmRef>& vms,
                                            const Json& stopVmsDetails,
                                            const std::map<std::string, Json>& backupVms) {
  std::map<std::string, const Json*> stopped;
  if (const Json* list = jsonAt(stopVmsDetails, "vms"); list && list->is_array())
    for (const auto& v : *list) stopped[v.value("namespace", "") + "/" + v.value("name", "")] = &v;
  std::vector<VmStartDecision> out;
  for (const auto& vm : vms) {
    VmStartDecision d;
    d.vm = vm;
    if (auto it = stopped.find(vm.key()); it != stopped.end()) {
      const Json& rec = *it->second;
      d.source = "stop-vms";
      d.runStrategyBefore = rec.value("runStrategyBefore", "");
      d.wasRunning = statusIsRunning(rec.value("printableStatusBefore", ""));
      // Journaled by a stop-vms that did not record the status: the backup's says whether a
      // Manual/Once VM was running.
      if (!rec.contains("printableStatusBefore"))
        if (auto b = backupVms.find(vm.key()); b != backupVms.end())
          d.wasRunning = statusIsRunning(textAt(b->second, "status.printableStatus"));
    } else if (auto b = backupVms.find(vm.key()); b != backupVms.end()) {
      d.source = "backup";
      d.runStrategyBefore = runStrategyOf(b->second);
      const Json* ready = jsonAt(b->second, "status.ready");
      d.wasRunning = statusIsRunning(textAt(b->second, "status.printableStatus")) ||
                     (ready && ready->is_boolean() && ready->get<bool>());
    } else {
      d.source = "none";
    }
    d.start = meantToRun(d.runStrategyBefore, d.wasRunning);
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace ocpvdr::failover
