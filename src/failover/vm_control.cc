// VM stop/start and the waits (see vm_control.h).
#include "failover/vm_control.h"

#include <algorithm>

#include "core/text.h"
#include "kube/api_status.h"
#include "kube/resource_type.h"
#include "kube/views.h"

namespace ocpvdr::failover {

namespace res = kube::resources;

Json VmState::toJson() const {
  Json j = {{"namespace", vm.ns},
            {"name", vm.name},
            {"exists", exists},
            {"runStrategy", runStrategy},
            {"printableStatus", printableStatus},
            {"ready", ready}};
  if (agentConnected) j["agentConnected"] = *agentConnected;
  return j;
}

namespace {

// The VMI condition virt-handler sets while the guest agent answers.
bool agentConnectedIn(const Json& vmi) {
  const Json* conds = jsonAt(vmi, "status.conditions");
  if (!conds || !conds->is_array()) return false;
  for (const auto& c : *conds)
    if (c.is_object() && c.value("type", "") == "AgentConnected")
      return c.value("status", "") == "True";
  return false;
}

}  // namespace

std::string hintForVmStatus(const std::string& s) {
  if (s == "WaitingForVolumeBinding")
    return "its PVCs at DR are not Bound: check `oc -n <ns> get pvc` and the PVs' claimRef";
  if (s == "ErrorPvcNotFound")
    return "a PVC it mounts does not exist at DR: was it in the backup and in a protected "
           "namespace?";
  if (s == "DataVolumeError" || s == "Provisioning")
    return "CDI is (re)importing a disk: the PVC should carry "
           "cdi.kubevirt.io/storage.populatedFor";
  if (s == "ErrorUnschedulable") return "no node can run it: check node resources and affinity";
  if (s == "ErrImagePull" || s == "ImagePullBackOff")
    return "a container disk image cannot be pulled at DR";
  if (s == "CrashLoopBackOff") return "the virt-launcher pod keeps failing: check its logs";
  if (s == "Stopped" || s == "Halted" || s.empty())
    return "it was never started: check its spec.runStrategy";
  return "check `oc -n <ns> describe vm` and its VMI";
}

Result<std::vector<VmRef>> VmControl::list(const std::vector<std::string>& namespaces,
                                           std::stop_token stop) {
  std::vector<VmRef> out;
  for (const auto& ns : namespaces) {
    OCPVDR_ASSIGN_OR_RETURN(auto l, client_.listAll(res::virtualMachines(), ns, {}, stop));
    for (const auto& item : l.items) {
      kube::ObjectView v(item);
      OCPVDR_ASSIGN_OR_RETURN(auto name, v.name());
      out.push_back({ns, name});
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<VmState> VmControl::state(const VmRef& vm, std::stop_token stop) {
  VmState st;
  st.vm = vm;
  auto got = client_.get(res::virtualMachines(), vm.ns, vm.name, stop);
  if (!got.ok()) {
    if (kube::isNotFound(got.error())) return st;
    return got.error();
  }
  st.exists = true;
  kube::VirtualMachineView v(*got);
  OCPVDR_ASSIGN_OR_RETURN(auto rs, v.runStrategy());
  st.runStrategy = rs.value_or("");
  OCPVDR_ASSIGN_OR_RETURN(auto ps, v.printableStatus());
  st.printableStatus = ps.value_or("");
  OCPVDR_ASSIGN_OR_RETURN(st.ready, v.ready());
  return st;
}

Result<std::string> VmControl::stop(const VmRef& vm, const std::string& fieldManager,
                                    std::stop_token stop) {
  OCPVDR_ASSIGN_OR_RETURN(Json obj, client_.get(res::virtualMachines(), vm.ns, vm.name, stop));
  kube::VirtualMachineView v(obj);
  OCPVDR_ASSIGN_OR_RETURN(auto rs, v.runStrategy());
  const std::string before = rs.value_or("");
  if (before == "Halted") return before;
  const bool legacy = jsonAt(obj, "spec.running") != nullptr && !jsonAt(obj, "spec.runStrategy");
  Json patch =
      legacy ? Json{{"spec", {{"running", false}}}} : Json{{"spec", {{"runStrategy", "Halted"}}}};
  kube::PatchOptions po;
  po.fieldManager = fieldManager;
  auto r = client_.mergePatch(res::virtualMachines(), vm.ns, vm.name, patch, po, stop);
  if (!r.ok()) return r.error().wrap("stopping VM " + vm.key());
  return before;
}

Status VmControl::start(const VmRef& vm, const std::string& runStrategy,
                        const std::string& fieldManager, std::stop_token stop) {
  Json patch = {{"spec", {{"runStrategy", runStrategy}, {"running", nullptr}}}};
  kube::PatchOptions po;
  po.fieldManager = fieldManager;
  auto r = client_.mergePatch(res::virtualMachines(), vm.ns, vm.name, patch, po, stop);
  if (!r.ok()) return r.error().wrap("setting runStrategy " + runStrategy + " on VM " + vm.key());
  if (runStrategy == "Manual") {
    auto s = client_.putSubresource(res::virtualMachines(), vm.ns, vm.name, "start", nullptr, stop);
    if (!s.ok() && kube::statusCode(s.error()) != 409)
      return s.error().wrap("starting VM " + vm.key());
  }
  return Status::success();
}

Result<std::vector<VmState>> VmControl::waitStopped(const std::vector<VmRef>& vms,
                                                    std::chrono::milliseconds timeout,
                                                    std::stop_token stop) {
  const auto deadline = clock_.monotonic() + timeout;
  for (;;) {
    std::vector<VmState> states;
    std::vector<std::string> running;
    for (const auto& vm : vms) {
      OCPVDR_ASSIGN_OR_RETURN(VmState st, state(vm, stop));
      auto vmi = client_.get(res::virtualMachineInstances(), vm.ns, vm.name, stop);
      if (vmi.ok()) {
        st.vmiExists = true;
        running.push_back(vm.key() + " (" +
                          (st.printableStatus.empty() ? "no status" : st.printableStatus) + ")");
      } else if (!kube::isNotFound(vmi.error())) {
        return vmi.error();
      }
      states.push_back(std::move(st));
    }
    if (running.empty()) return states;
    if (clock_.monotonic() >= deadline) {
      std::string list;
      for (const auto& r : running) list += (list.empty() ? "" : ", ") + r;
      return terminalError("VMs still have a running VMI after " + humanDuration(timeout) + ": " +
                           list +
                           " — check why they do not shut down (`oc describe vmi`); raise "
                           "failover.timeouts.vm_stop or stop them by hand, then resume");
    }
    if (!clock_.sleepFor(poll_, stop)) return terminalError("stopped while waiting for VMs");
  }
}

Result<std::vector<VmState>> VmControl::waitReady(const std::vector<VmRef>& vms,
                                                  std::chrono::milliseconds timeout,
                                                  std::stop_token stop, bool requireAgent) {
  const auto deadline = clock_.monotonic() + timeout;
  for (;;) {
    std::vector<VmState> states;
    std::vector<std::string> notReady;
    for (const auto& vm : vms) {
      OCPVDR_ASSIGN_OR_RETURN(VmState st, state(vm, stop));
      if (!st.exists) {
        notReady.push_back(vm.key() + " (missing at DR: was it restored? check the Restore)");
      } else if (st.printableStatus != "Running" || !st.ready) {
        notReady.push_back(vm.key() + " (" +
                           (st.printableStatus.empty() ? "no status" : st.printableStatus) +
                           (st.printableStatus == "Running" ? ", not ready" : "") + ": " +
                           hintForVmStatus(st.printableStatus) + ")");
      } else if (requireAgent) {
        auto vmi = client_.get(res::virtualMachineInstances(), vm.ns, vm.name, stop);
        if (!vmi.ok() && !kube::isNotFound(vmi.error())) return vmi.error();
        st.agentConnected = vmi.ok() && agentConnectedIn(*vmi);
        if (!*st.agentConnected)
          notReady.push_back(vm.key() +
                             " (Running, but its VMI does not show AgentConnected: check that "
                             "qemu-guest-agent runs in the guest, or set "
                             "failover.require_guest_agent: false)");
      }
      states.push_back(std::move(st));
    }
    if (notReady.empty()) return states;
    if (clock_.monotonic() >= deadline) {
      std::string list;
      for (const auto& r : notReady) list += (list.empty() ? "" : "; ") + r;
      return terminalError("VMs not Running and ready at DR after " + humanDuration(timeout) +
                           ": " + list);
    }
    if (!clock_.sleepFor(poll_, stop)) return terminalError("stopped while waiting for VMs");
  }
}

}  // namespace ocpvdr::failover
