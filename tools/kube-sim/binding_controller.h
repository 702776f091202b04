// The "binding" controller: kube-controller-manager's PV/PVC binder, for pre-bound claims only.
//
// A PVC that names its volume (spec.volumeName) binds to that PV when the PV exists and its
// claimRef is empty or names this claim (namespace/name, and uid when the PV carries one):
//   PV   spec.claimRef = {kind, apiVersion, namespace, name, uid, resourceVersion},
//        status.phase Bound
//   PVC  metadata.annotations["pv.kubernetes.io/bind-completed"] = "yes",
//        status {phase: Bound, accessModes, capacity} taken from the PV
// A PVC without spec.volumeName stays Pending: there is no dynamic provisioning here (ocpv-dr
// creates DR volumes itself and a provisioner would hand out empty ones). A bound PVC whose PV
// disappears becomes Lost; a PV whose bound claim is deleted becomes Released.
#pragma once

#include <string>

#include "controller.h"

namespace kubesim {

class BindingController final : public Controller {
 public:
  std::string name() const override { return "binding"; }
  void onEvent(const Event& event, Store& store) override;
  // Re-examines every unbound claim (a PV created after its claim binds on the next tick even
  // if the event was missed).
  void tick(Store& store, ocpvdr::SystemTime now) override;

  // Binds (or refreshes the phase of) one claim; exposed for tests.
  void reconcileClaim(Store& store, const std::string& ns, const std::string& name);
};

}  // namespace kubesim
