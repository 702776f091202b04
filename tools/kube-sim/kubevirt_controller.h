// The "kubevirt" controller: virt-controller's VM lifecycle as the API shows it (FACTS §5).
//
// Per VirtualMachine, from spec.runStrategy (or the deprecated spec.running):
//   Always, RerunOnFailure, Once  want a VMI;  Halted  wants none;
//   Manual                        keeps what it has, acting on status.stateChangeRequests
//                                 (Start / Stop) as virt-api's start/stop leave them.
// Wanting a VMI, the VM's volumes are checked first (spec.template.spec.volumes[]
// .persistentVolumeClaim.claimName and .dataVolume.name; a dataVolume's PVC has the DataVolume's
// name): a missing claim → printableStatus ErrorPvcNotFound, one not Bound →
// WaitingForVolumeBinding, and no VMI is created. Otherwise a VMI is created (owned by the VM,
// status.phase Scheduling; the VM shows Starting) and, `startDelay` later, becomes Running (the
// VM shows Running with status.ready true). Stopping: the VM shows Stopping and its VMI is deleted
// `stopDelay` later, then Stopped. A Running VMI has status.conditions Ready True and, unless
// the controller option kubevirt.guest-agent is false, AgentConnected True (the guest agent
// answers). start/stop subresources are left to kube-sim's default
// (runStrategy Halted <-> Always, 409 when already there; see controller.h).
// VMI freeze/unfreeze are virt-handler's: GuestFreeze (guest_freeze.h), with the automatic thaw
// after unfreezeTimeout checked on every tick. /admin/guest-agent: GET the freeze counters; POST
// {"namespace","name","connected":bool} sets or clears a VMI's AgentConnected condition.
// Delays are measured on the clock the runner passes to tick(); checks happen on events and
// ticks, so a transition lands on the first tick after its delay.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>

#include "controller.h"
#include "guest_freeze.h"

namespace kubesim {

class KubevirtController final : public Controller {
 public:
  explicit KubevirtController(std::chrono::milliseconds startDelay = std::chrono::milliseconds(500),
                              std::chrono::milliseconds stopDelay = std::chrono::milliseconds(200),
                              bool guestAgent = true)
      : startDelay_(startDelay), stopDelay_(stopDelay), guestAgent_(guestAgent) {}

  std::string name() const override { return "kubevirt"; }
  void onEvent(const Event& event, Store& store) override;
  void tick(Store& store, ocpvdr::SystemTime now) override;
  std::optional<ApiResult<ActionResponse>> onAction(const ActionRequest& request,
                                                    Store& store) override;
  std::optional<ApiResult<Json>> onAdmin(const std::string& what, const std::string& method,
                                         const Json& body, Store& store) override;

  // One VM brought one step closer to what its spec asks; `now` is nullopt on events (which
  // carry no time): transitions then wait for a tick. Exposed for tests.
  void reconcileVm(Store& store, const std::string& ns, const std::string& name,
                   std::optional<ocpvdr::SystemTime> now);

 private:
  // Runner-thread state only (onEvent/tick), so no lock. When each VMI was created and when each
  // stop began, keyed "<ns>/<name>"; nullopt until the next tick stamps it (events carry no
  // time). A VMI with no entry at all (state loaded at start) counts as created long ago.
  using Stamps = std::map<std::string, std::optional<ocpvdr::SystemTime>>;
  bool delayPassed(Stamps& stamps, const std::string& key, std::chrono::milliseconds delay,
                   std::optional<ocpvdr::SystemTime> now);

  const std::chrono::milliseconds startDelay_, stopDelay_;
  const bool guestAgent_;  // Running VMIs show AgentConnected True
  Stamps startedAt_, stoppingSince_;
  GuestFreeze freeze_;  // guarded inside: used from HTTP threads and the runner
};

}  // namespace kubesim
