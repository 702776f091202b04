// GuestFreeze: KubeVirt's VMI freeze/unfreeze subresources (FACTS §12), for VM-consistent points
// (issue 17). The guest's filesystems are quiesced by the qemu guest agent between freeze() and
// unfreeze(); KubeVirt thaws by itself `unfreezeTimeout` after a freeze (the backstop when we die).
//
// What KubeVirt does, and what the caller must therefore know (kube-sim models the same,
// tools/kube-sim/guest_freeze.h):
//   - The agent is required, but when it is missing virt-api answers a bare 500 ("unexpected
//     return code 400") that does not say so. freeze() reads the VMI first and refuses, with a
//     message saying why, unless it is Running with AgentConnected True.
//   - unfreezeTimeout reaches the guest in whole seconds; below 1 s there is no automatic thaw at
//     all. freeze() takes whole seconds and rejects 0 (Invalid).
//   - unfreeze() that fails has already cancelled KubeVirt's automatic thaw: the guest stays
//     frozen until an unfreeze succeeds. Its error says so; the caller must retry it (and report).
//   - Freezing a guest that is already frozen succeeds without restarting the automatic thaw.
//
// Error kinds: Refused — the VM cannot be frozen (not Running, no guest agent, RBAC forbids);
// NotFound — no such VMI; Retryable — the API server is unreachable or overloaded, or virt-handler
// / the guest agent failed the call; Invalid — a bad argument. The action PUTs are not replayed on
// 5xx or transport errors (kube_client.h); a freeze whose outcome is unknown must be followed by
// an unfreeze.
#pragma once

#include <chrono>
#include <stop_token>
#include <string>
#include <string_view>

#include "core/result.h"
#include "kube/kube_client.h"

namespace ocpvdr::kube {

// status.conditions[] has AgentConnected True.
bool agentConnected(const Json& vmi);
// status.fsFreezeStatus: "frozen", or "" when thawed (KubeVirt removes the field).
std::string fsFreezeStatus(const Json& vmi);
// Why a VMI cannot be frozen ("" when it can): not Running, or no guest agent connected.
std::string freezeBlocker(const Json& vmi);

class GuestFreeze {
 public:
  explicit GuestFreeze(KubeClient& client) : client_(client) {}

  // Freezes the guest's filesystems; KubeVirt thaws them by itself `unfreezeTimeout` later.
  [[nodiscard]] Status freeze(std::string_view ns, std::string_view name,
                              std::chrono::seconds unfreezeTimeout, std::stop_token stop = {});
  // Thaws them (a thawed guest is fine).
  [[nodiscard]] Status unfreeze(std::string_view ns, std::string_view name,
                                std::stop_token stop = {});

 private:
  KubeClient& client_;
};

}  // namespace ocpvdr::kube
