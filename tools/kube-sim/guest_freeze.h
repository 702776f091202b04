// The VMI freeze/unfreeze subresources as KubeVirt serves them, from virt-api through virt-handler
// and virt-launcher to the guest agent (FACTS §12). Modelled on upstream KubeVirt:
//
//   pkg/virt-api/rest/subresource.go   FreezeVMIRequestHandler / UnfreezeVMIRequestHandler: the VMI
//       must exist (404) and be Running, else 409 Conflict `Operation cannot be fulfilled on
//       virtualmachineinstance.kubevirt.io "<name>": VM is not running` (freeze; unfreeze says
//       "VMI is not running"). The request body goes on to virt-handler; any failure there comes
//       back as 500 InternalError `Internal error occurred: unexpected return code 400 (400 Bad
//       Request)` — virt-api drops virt-handler's message (pkg/virt-handler/rest/lifecycle.go
//       answers 400 on every freeze/unfreeze failure; kubecli's VirtHandlerConn.Put reports only
//       the code). Success is 200 with an empty body.
//   pkg/virt-handler/rest/lifecycle.go FreezeHandler: the body must carry `unfreezeTimeout` (a Go
//       duration, "5m", "30s"); missing or unparsable → 400. It is passed on in whole seconds
//       (truncated: "500ms" is 0 s, which means no automatic thaw at all).
//   pkg/virt-launcher/virtwrap/manager.go FreezeVMI / UnfreezeVMI: needs the guest agent (kube-sim:
//       the VMI condition AgentConnected True; otherwise the agent command fails → the 500 above).
//       Freezing a frozen guest succeeds and leaves the pending automatic thaw as it was. A freeze
//       cancels any earlier automatic thaw and schedules a new one unfreezeTimeout later
//       (scheduleSafetyVMIUnfreeze). Unfreeze cancels the automatic thaw FIRST and then thaws — so
//       an unfreeze whose thaw fails leaves the guest frozen with no automatic thaw.
//   pkg/virt-handler/vm.go updateFSFreezeStatus: status.fsFreezeStatus is "frozen" while frozen
//       and removed (empty) once thawed.
//
//   qemu qga/commands-posix.c execute_fsfreeze_hook: with $KUBE_SIM_FSFREEZE_HOOK set, it is run
//       as `<hook> freeze <ns>/<name>` before freezing (a failing hook fails the freeze) and
//       `<hook> thaw <ns>/<name>` after a thaw — where applications quiesce and resume.
//
// kube-sim's simplifications: status.fsFreezeStatus is written in the same call (upstream it
// follows the agent poller a few seconds later), and the automatic thaw lands on the first
// controller tick after its deadline, measured on the store's clock.
//
// Test controls: faults freezeErrorCount / unfreezeErrorCount (faults.h) make the next calls fail
// in the guest agent (after the Running and agent checks; a failed freeze leaves the guest thawed,
// a failed unfreeze leaves it frozen); POST /admin/guest-agent sets AgentConnected; GET
// /admin/guest-agent returns the counters. Every freeze and thaw is a VMI MODIFIED event and a
// `kube-sim: guest-agent:` line on stderr.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "controller.h"

namespace kubesim {

// A Go time.Duration string ("300ms", "1.5h", "2h45m", "-5s"); nullopt when Go would reject it.
std::optional<std::chrono::nanoseconds> parseGoDuration(const std::string& text);

// Whether the VMI's status.conditions hold AgentConnected True.
bool agentConnected(const Json& vmi);

class GuestFreeze {
 public:
  // A VMI freeze/unfreeze action (nullopt: not one). `timers` false: no automatic thaw is kept
  // (kube-sim without the kubevirt controller has no virt-handler to run it).
  std::optional<ApiResult<ActionResponse>> handle(const ActionRequest& request, Store& store,
                                                  bool timers = true);
  // Thaws every guest whose automatic thaw is due at `now`.
  void tick(Store& store, ocpvdr::SystemTime now);
  // Sets or clears AgentConnected on a VMI (as virt-handler does when the agent comes and goes).
  ApiStatus setAgentConnected(Store& store, const std::string& ns, const std::string& name,
                              bool connected);
  // {"freezes","thaws","timeoutThaws","failedFreezes","failedUnfreezes",
  //  "pendingThaws":{"<ns>/<name>": seconds until the automatic thaw}}
  Json stats(ocpvdr::SystemTime now) const;

 private:
  ApiStatus thaw(Store& store, const std::string& ns, const std::string& name);

  mutable std::mutex mu_;
  std::map<std::string, ocpvdr::SystemTime> thawAt_;  // "<ns>/<name>" -> automatic thaw due
  std::int64_t freezes_ = 0, thaws_ = 0, timeoutThaws_ = 0, failedFreezes_ = 0,
               failedUnfreezes_ = 0;
};

}  // namespace kubesim
