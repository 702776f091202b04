// VM control for failover: stopping VMs at the primary, starting them at DR, and waiting until
// the API shows the result (FACTS §5).
//
// VMs are never deleted: a VM with dataVolumeTemplates owns its DataVolumes, hence its PVCs and
// PVs, and a delete would cascade to the data (and, through replication, to the DR copy).
// Stopping is a merge patch of spec.runStrategy: Halted (spec.running: false for a VM still on
// the deprecated field — setting runStrategy there would make the admission webhook refuse a VM
// with both). Starting sets the requested run strategy the same way (removing spec.running);
// for Manual, which has no "running" state of its own, the start subresource asks for a start
// (409 "already running" counts as done).
// Waiting polls on the injected Clock: stopped = the VMI is gone; up = printableStatus Running
// and status.ready true (and, when asked, the VMI's AgentConnected condition True). A timeout names
// every VM still not there, with what it shows and what to check.
#pragma once

#include <chrono>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/json_util.h"
#include "core/result.h"
#include "kube/kube_client.h"

namespace ocpvdr::failover {

struct VmRef {
  std::string ns, name;
  std::string key() const { return ns + "/" + name; }
  bool operator<(const VmRef& o) const { return key() < o.key(); }
  bool operator==(const VmRef& o) const { return ns == o.ns && name == o.name; }
};

struct VmState {
  VmRef vm;
  bool exists = false;
  std::string runStrategy;      // spec.runStrategy, or spec.running as Always/Halted; "" if none
  std::string printableStatus;  // "" when the status has none yet
  bool ready = false;
  bool vmiExists = false;              // filled by waitStopped only
  std::optional<bool> agentConnected;  // filled by waitReady with requireAgent only
  Json toJson() const;
};

class VmControl {
 public:
  VmControl(kube::KubeClient& client, Clock& clock,
            std::chrono::milliseconds pollInterval = std::chrono::seconds(2))
      : client_(client), clock_(clock), poll_(pollInterval) {}

  // VMs in these namespaces, sorted.
  [[nodiscard]] Result<std::vector<VmRef>> list(const std::vector<std::string>& namespaces,
                                                std::stop_token stop = {});
  [[nodiscard]] Result<VmState> state(const VmRef& vm, std::stop_token stop = {});

  // Halts the VM (idempotent); returns its run strategy before the call.
  [[nodiscard]] Result<std::string> stop(const VmRef& vm, const std::string& fieldManager,
                                         std::stop_token stop = {});
  // Sets the run strategy (idempotent); Manual also asks for a start.
  [[nodiscard]] Status start(const VmRef& vm, const std::string& runStrategy,
                             const std::string& fieldManager, std::stop_token stop = {});

  // Until no VMI of these VMs exists. DeadlineExceeded-style Terminal error on timeout.
  [[nodiscard]] Result<std::vector<VmState>> waitStopped(const std::vector<VmRef>& vms,
                                                         std::chrono::milliseconds timeout,
                                                         std::stop_token stop = {});
  // Until every VM is Running and ready; with `requireAgent`, also until its VMI shows the
  // condition AgentConnected True (the guest agent answers: failover.require_guest_agent).
  [[nodiscard]] Result<std::vector<VmState>> waitReady(const std::vector<VmRef>& vms,
                                                       std::chrono::milliseconds timeout,
                                                       std::stop_token stop = {},
                                                       bool requireAgent = false);

 private:
  kube::KubeClient& client_;
  Clock& clock_;
  std::chrono::milliseconds poll_;
};

// What to check for a VM stuck in a printableStatus (for timeout messages).
std::string hintForVmStatus(const std::string& printableStatus);

}  // namespace ocpvdr::failover
