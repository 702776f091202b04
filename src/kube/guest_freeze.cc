// KubeVirt guest freeze/unfreeze (see guest_freeze.h).
#include "kube/guest_freeze.h"

#include "kube/api_status.h"

namespace ocpvdr::kube {
namespace {

std::string vmiName(std::string_view ns, std::string_view name) {
  return "VMI " + std::string(ns) + "/" + std::string(name);
}

const Json& field(const Json& j, const char* key) {
  static const Json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::string text(const Json& j, const char* key) {
  const Json& v = field(j, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

// A failed action PUT, with what it means for the guest.
Error actionError(const Error& e, std::string_view ns, std::string_view name, bool freeze) {
  const std::string who = vmiName(ns, name);
  const int code = statusCode(e);
  if (code == 409)
    return refusedError(who + " is not running, " + (freeze ? "not frozen" : "nothing to thaw") +
                        " (" + e.message + ")");
  if (code == 403)
    return refusedError(
        who + ": " + e.message +
        " (needs update on subresources.kubevirt.io virtualmachineinstances/freeze and "
        "virtualmachineinstances/unfreeze)");
  if (code == 404) return notFoundError(who + " not found (" + e.message + ")");
  if (code >= 500 && code <= 599 && code != 503)
    return retryableError(
        freeze ? who +
                     ": virt-handler or the guest agent failed the freeze; the guest is not "
                     "frozen (" +
                     e.message + ")"
               : who +
                     ": the thaw failed and KubeVirt has cancelled its automatic thaw — the "
                     "guest STAYS FROZEN until an unfreeze succeeds; retry it (" +
                     e.message + ")");
  // Transport errors, 429 / 503 after the client's retries, anything else: keep the kind.
  Error out = e.wrap(who + (freeze ? " freeze" : " unfreeze"));
  if (!freeze && out.kind == ErrorKind::Retryable)
    out.message += " (the guest may still be frozen: retry the unfreeze)";
  return out;
}

}  // namespace

bool agentConnected(const Json& vmi) {
  const Json& conds = field(field(vmi, "status"), "conditions");
  if (!conds.is_array()) return false;
  for (const auto& c : conds)
    if (text(c, "type") == "AgentConnected") return text(c, "status") == "True";
  return false;
}

std::string fsFreezeStatus(const Json& vmi) {
  return text(field(vmi, "status"), "fsFreezeStatus");
}

std::string freezeBlocker(const Json& vmi) {
  const std::string phase = text(field(vmi, "status"), "phase");
  if (phase != "Running")
    return "it is not running (phase " + (phase.empty() ? std::string("unknown") : phase) + ")";
  if (!agentConnected(vmi))
    return "no qemu guest agent is connected (VMI condition AgentConnected is not True)";
  return "";
}

Status GuestFreeze::freeze(std::string_view ns, std::string_view name,
                           std::chrono::seconds unfreezeTimeout, std::stop_token stop) {
  if (unfreezeTimeout.count() < 1)
    return invalidError(
        "unfreezeTimeout must be at least 1s: KubeVirt keeps whole seconds and "
        "schedules no automatic thaw for 0");
  auto vmi = client_.get(resources::virtualMachineInstances(), ns, name, stop);
  if (!vmi.ok()) {
    if (vmi.error().kind == ErrorKind::NotFound)
      return notFoundError(vmiName(ns, name) + " not found: the VM is not running");
    return vmi.error().wrap("reading " + vmiName(ns, name) + " before freezing it");
  }
  if (auto why = freezeBlocker(vmi.value()); !why.empty())
    return refusedError("cannot freeze " + vmiName(ns, name) + ": " + why);
  auto put = client_.putSubresource(
      resources::virtualMachineInstances(), ns, name, "freeze",
      {{"unfreezeTimeout", std::to_string(unfreezeTimeout.count()) + "s"}}, stop);
  if (!put.ok()) return actionError(put.error(), ns, name, true);
  return Status::success();
}

Status GuestFreeze::unfreeze(std::string_view ns, std::string_view name, std::stop_token stop) {
  auto put = client_.putSubresource(resources::virtualMachineInstances(), ns, name, "unfreeze",
                                    nullptr, stop);
  if (!put.ok()) return actionError(put.error(), ns, name, false);
  return Status::success();
}

}  // namespace ocpvdr::kube
