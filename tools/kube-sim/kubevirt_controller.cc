// KubeVirt VM lifecycle (see kubevirt_controller.h).
#include "kubevirt_controller.h"

#include <set>
#include <vector>

namespace kubesim {
namespace {

const ResourceType& vmType(const Store& s) {
  return *s.table().find("kubevirt.io", "v1", "virtualmachines");
}
const ResourceType& vmiType(const Store& s) {
  return *s.table().find("kubevirt.io", "v1", "virtualmachineinstances");
}
const ResourceType& claimType(const Store& s) {
  return *s.table().find("", "v1", "persistentvolumeclaims");
}

WriteOptions asVirtController(const std::string& subresource = "") {
  WriteOptions o;
  o.fieldManager = "virt-controller";
  o.subresource = subresource;
  return o;
}

// spec.runStrategy, else the deprecated spec.running as Always/Halted.
std::string runStrategyOf(const Json& vm) {
  const Json& spec = child(vm, "spec");
  if (const std::string rs = str(spec, "runStrategy"); !rs.empty()) return rs;
  const Json& running = child(spec, "running");
  if (running.is_boolean()) return running.get<bool>() ? "Always" : "Halted";
  return "Halted";
}

// The claims a VM's disks need: persistentVolumeClaim.claimName, and dataVolume.name (CDI names
// a DataVolume's PVC after the DataVolume).
std::vector<std::string> claimsOf(const Json& vm) {
  std::vector<std::string> out;
  const Json& volumes = child(child(child(child(vm, "spec"), "template"), "spec"), "volumes");
  if (!volumes.is_array()) return out;
  for (const auto& v : volumes) {
    if (auto c = str(child(v, "persistentVolumeClaim"), "claimName"); !c.empty()) out.push_back(c);
    if (auto d = str(child(v, "dataVolume"), "name"); !d.empty()) out.push_back(d);
  }
  return out;
}

// "" when every claim exists and is Bound; otherwise the printableStatus KubeVirt shows.
std::string volumeProblem(const Store& store, const std::string& ns, const Json& vm) {
  bool waiting = false;
  for (const auto& claim : claimsOf(vm)) {
    auto pvc = store.get(claimType(store), ns, claim);
    if (!pvc.ok()) return "ErrorPvcNotFound";
    if (str(child(pvc.value()->object, "status"), "phase") != "Bound") waiting = true;
  }
  return waiting ? "WaitingForVolumeBinding" : "";
}

void setVmStatus(Store& store, const std::string& ns, const std::string& name,
                 const std::string& printable, bool ready, bool created) {
  (void)store.modify(
      vmType(store), ns, name,
      [&](Json& o) {
        Json& st = o["status"];
        if (!st.is_object()) st = Json::object();
        st["printableStatus"] = printable;
        st["ready"] = ready;
        st["created"] = created;
        st["conditions"] = Json::array({{{"type", "Ready"},
                                         {"status", ready ? "True" : "False"},
                                         {"reason", ready ? "" : printable}}});
      },
      asVirtController("status"));
}

bool ownedByVm(const Json& vmi, const std::string& vmName) {
  const Json& refs = child(child(vmi, "metadata"), "ownerReferences");
  if (!refs.is_array()) return false;
  for (const auto& r : refs)
    if (str(r, "kind") == "VirtualMachine" && str(r, "name") == vmName) return true;
  return false;
}

}  // namespace

bool KubevirtController::delayPassed(Stamps& stamps, const std::string& key,
                                     std::chrono::milliseconds delay,
                                     std::optional<ocpvdr::SystemTime> now) {
  auto it = stamps.find(key);
  if (it == stamps.end()) return true;
  if (!it->second) {
    if (now) it->second = now;
    return false;
  }
  return now && *now - *it->second >= delay;
}

void KubevirtController::reconcileVm(Store& store, const std::string& ns, const std::string& name,
                                     std::optional<ocpvdr::SystemTime> now) {
  const std::string key = ns + "/" + name;
  auto vmGot = store.get(vmType(store), ns, name);
  auto vmiGot = store.get(vmiType(store), ns, name);
  const bool haveVmi = vmiGot.ok();
  if (!vmGot.ok()) {
    // The VM is gone: its VMI goes with it (the owner reference's garbage collection).
    if (haveVmi && ownedByVm(vmiGot.value()->object, name))
      (void)store.remove(vmiType(store), ns, name);
    startedAt_.erase(key);
    stoppingSince_.erase(key);
    return;
  }
  const Json& vm = vmGot.value()->object;
  if (child(vm, "metadata").contains("deletionTimestamp")) return;
  const std::string strategy = runStrategyOf(vm);

  bool want = false;
  if (strategy == "Always" || strategy == "RerunOnFailure" || strategy == "Once") {
    want = true;
  } else if (strategy == "Manual") {
    want = haveVmi && !stoppingSince_.count(key);
    const Json& reqs = child(child(vm, "status"), "stateChangeRequests");
    if (reqs.is_array() && !reqs.empty()) {
      for (const auto& r : reqs) {
        if (str(r, "action") == "Start") want = true;
        if (str(r, "action") == "Stop") want = false;
      }
      (void)store.modify(
          vmType(store), ns, name, [](Json& o) { o["status"].erase("stateChangeRequests"); },
          asVirtController("status"));
    }
  }

  if (want) {
    stoppingSince_.erase(key);
    if (!haveVmi) {
      if (auto problem = volumeProblem(store, ns, vm); !problem.empty()) {
        setVmStatus(store, ns, name, problem, false, false);
        return;
      }
      const Json& tmpl = child(child(vm, "spec"), "template");
      Json vmi = {{"apiVersion", "kubevirt.io/v1"},
                  {"kind", "VirtualMachineInstance"},
                  {"metadata",
                   {{"name", name},
                    {"namespace", ns},
                    {"ownerReferences", Json::array({{{"apiVersion", "kubevirt.io/v1"},
                                                      {"kind", "VirtualMachine"},
                                                      {"name", name},
                                                      {"uid", str(child(vm, "metadata"), "uid")},
                                                      {"controller", true},
                                                      {"blockOwnerDeletion", true}}})}}},
                  {"spec", child(tmpl, "spec").is_object() ? child(tmpl, "spec") : Json::object()},
                  {"status", {{"phase", "Scheduling"}}}};
      Json labels = child(child(tmpl, "metadata"), "labels");
      if (!labels.is_object()) labels = Json::object();
      labels["kubevirt.io/vm"] = name;
      vmi["metadata"]["labels"] = labels;
      auto created = store.create(vmiType(store), ns, vmi, asVirtController());
      if (!created.ok()) return;  // e.g. a concurrent create; the VMI event brings us back
      startedAt_[key] = now;
      setVmStatus(store, ns, name, "Starting", false, true);
      return;
    }
    const Json& vmiObj = vmiGot.value()->object;
    if (child(vmiObj, "metadata").contains("deletionTimestamp")) return;
    if (str(child(vmiObj, "status"), "phase") == "Running") {
      setVmStatus(store, ns, name, "Running", true, true);
      return;
    }
    if (!delayPassed(startedAt_, key, startDelay_, now)) {
      setVmStatus(store, ns, name, "Starting", false, true);
      return;
    }
    const bool agent = guestAgent_;
    (void)store.modify(
        vmiType(store), ns, name,
        [agent](Json& o) {
          o["status"]["phase"] = "Running";
          o["status"]["nodeName"] = "kube-sim-node";
          // virt-handler sets Ready once the domain runs and AgentConnected while the guest
          // agent answers (pkg/virt-handler/vm.go, pkg/virt-controller/watch/vmi.go).
          Json conds = Json::array({{{"type", "Ready"}, {"status", "True"}}});
          if (agent) conds.push_back({{"type", "AgentConnected"}, {"status", "True"}});
          o["status"]["conditions"] = conds;
        },
        asVirtController());
    setVmStatus(store, ns, name, "Running", true, true);
    return;
  }

  startedAt_.erase(key);
  if (!haveVmi) {
    stoppingSince_.erase(key);
    setVmStatus(store, ns, name, "Stopped", false, false);
    return;
  }
  if (!stoppingSince_.count(key)) stoppingSince_[key] = now;
  if (!delayPassed(stoppingSince_, key, stopDelay_, now)) {
    setVmStatus(store, ns, name, "Stopping", false, true);
    return;
  }
  (void)store.remove(vmiType(store), ns, name);
  stoppingSince_.erase(key);
  setVmStatus(store, ns, name, "Stopped", false, false);
}

void KubevirtController::onEvent(const Event& event, Store& store) {
  const ResourceType* type = event.type;
  if (type == &vmType(store) || type == &vmiType(store)) {
    reconcileVm(store, event.object->ns, event.object->name, std::nullopt);
    return;
  }
  if (type == &claimType(store)) {
    // A claim changed: VMs in its namespace that use it may now start (or not).
    ListRequest req;
    req.filter.ns = event.object->ns;
    auto vms = store.list(vmType(store), req);
    if (!vms.ok()) return;
    for (const auto& vm : vms.value().items) {
      for (const auto& claim : claimsOf(vm->object)) {
        if (claim == event.object->name) {
          reconcileVm(store, vm->ns, vm->name, std::nullopt);
          break;
        }
      }
    }
  }
}

std::optional<ApiResult<ActionResponse>> KubevirtController::onAction(const ActionRequest& request,
                                                                      Store& store) {
  return freeze_.handle(request, store);
}

std::optional<ApiResult<Json>> KubevirtController::onAdmin(const std::string& what,
                                                           const std::string& method,
                                                           const Json& body, Store& store) {
  if (what != "guest-agent") return std::nullopt;
  if (method == "GET") return ApiResult<Json>(freeze_.stats(store.clock().now()));
  if (method != "POST") return ApiResult<Json>(methodNotAllowed());
  if (!body.is_object() || !child(body, "connected").is_boolean() || str(body, "name").empty())
    return ApiResult<Json>(badRequest(
        "guest-agent: the body must be {\"namespace\": ..., \"name\": ..., \"connected\": bool}"));
  const std::string ns = str(body, "namespace").empty() ? "default" : str(body, "namespace");
  auto st = freeze_.setAgentConnected(store, ns, str(body, "name"), body["connected"].get<bool>());
  if (!st.ok()) return ApiResult<Json>(st.error());
  return ApiResult<Json>(Json{{"namespace", ns},
                              {"name", str(body, "name")},
                              {"connected", body["connected"].get<bool>()}});
}

void KubevirtController::tick(Store& store, ocpvdr::SystemTime now) {
  freeze_.tick(store, now);
  ListRequest req;
  auto vms = store.list(vmType(store), req);
  if (!vms.ok()) return;
  std::set<std::string> seen;
  for (const auto& vm : vms.value().items) {
    reconcileVm(store, vm->ns, vm->name, now);
    seen.insert(vm->ns + "/" + vm->name);
  }
  // VMIs whose VM is gone.
  auto vmis = store.list(vmiType(store), req);
  if (!vmis.ok()) return;
  for (const auto& vmi : vmis.value().items)
    if (!seen.count(vmi->ns + "/" + vmi->name) && ownedByVm(vmi->object, vmi->name))
      reconcileVm(store, vmi->ns, vmi->name, now);
}

}  // namespace kubesim
