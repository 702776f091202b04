// What the failover's Velero Restore carries so that every restored VM comes up Halted on every
// kubevirt-velero-plugin version, and which VMs start-vms starts afterwards (FACTS §5, §13).
//
// The Restore label velero.kubevirt.io/restore-run-strategy is honoured only from plugin v0.7.1
// on; OADP 1.4 ships v0.7.0, which restores a VM with the run strategy it had in the backup (a VM
// backed up Running would start before the failover has checked the Restore). So the Restore
// also names a Velero resource modifier (Velero >= 1.12; mergePatches >= 1.13): a ConfigMap in
// the OADP namespace whose single data key holds
//   version: v1
//   resourceModifierRules:
//   - conditions: {groupResource: virtualmachines.kubevirt.io, namespaces: [<protected>...]}
//     mergePatches:
//     - patchData: '{"spec":{"runStrategy":"Halted","running":null}}'
// Velero applies modifiers after the restore item plugins (pkg/restore/restore.go), so the
// modifier wins on every plugin version. A JSON merge patch is used because it also removes the
// deprecated spec.running (the VM webhook refuses a VM with both fields) and, unlike a JSON
// patch "remove", does not fail on a VM without it; strategic merge patches need the type in
// Velero's scheme, which KubeVirt's types are not.
//
// Which VMs start afterwards: a VM is meant to run when the run strategy it had before the
// failover is Always or RerunOnFailure, or Manual/Once while it was running; Halted (or no
// strategy at all) stays Halted. "Before" is, in a planned failover, what stop-vms journaled
// for the VM at the primary; otherwise (unplanned, or a VM stop-vms did not see) the backup's
// VM object: spec.runStrategy, or the deprecated spec.running, and status.printableStatus.
#pragma once

#include <map>
#include <stop_token>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/json_util.h"
#include "failover/vm_control.h"
#include "kube/kube_client.h"
#include "kube/resource_type.h"

namespace ocpvdr::failover {

// ConfigMaps (core v1). Only the failover writes one, so the type lives here rather than in
// kube's table of the resources everything else lists and watches.
const kube::ResourceType& configMapsType();

// The ConfigMap's name for a run: "ocpv-dr-<run id>-vm-halted".
std::string resourceModifierName(const std::string& runId);

// The resource-modifier document (YAML) that sets spec.runStrategy: Halted (and removes
// spec.running) on every VirtualMachine restored into `namespaces`.
std::string resourceModifierDocument(const std::vector<std::string>& namespaces);

// The ConfigMap in failover.oadp_namespace holding that document, labelled with the run.
Json resourceModifierConfigMap(const config::Config& cfg, const std::string& runId,
                               const std::vector<std::string>& namespaces);

// Creates the run's ConfigMap at DR, or brings an existing one of this run up to date.
// Conflict when a ConfigMap of that name exists that this run did not create. Returns
// {"namespace", "name"}.
[[nodiscard]] Result<Json> ensureResourceModifier(kube::KubeClient& dr, const config::Config& cfg,
                                                  const std::string& runId,
                                                  const std::vector<std::string>& namespaces,
                                                  std::stop_token stop = {});
// Deletes it (gone already counts as done); a ConfigMap of that name that this run did not
// create is left alone (Conflict).
[[nodiscard]] Status removeResourceModifier(kube::KubeClient& dr, const std::string& ns,
                                            const std::string& name, const std::string& runId,
                                            std::stop_token stop = {});

// The run strategy a VM object asks for: spec.runStrategy, else the deprecated spec.running as
// Always / Halted, else "".
std::string runStrategyOf(const Json& vm);

// Whether a printableStatus means the VM had a running VMI.
bool statusIsRunning(const std::string& printableStatus);

// Whether a VM that had `runStrategy` (and was / was not running) is meant to run after the
// failover.
bool meantToRun(const std::string& runStrategy, bool wasRunning);

// start-vms' decision for one VM.
struct VmStartDecision {
  VmRef vm;
  std::string runStrategyBefore;  // as recorded ("" when nothing was recorded)
  bool wasRunning = false;
  std::string source;  // "stop-vms" (journaled at the primary) | "backup" | "none"
  bool start = false;
  Json toJson() const;
};

// What each VM ran as before the failover, from stop-vms' journaled details ({"vms": [{namespace,
// name, runStrategyBefore, printableStatusBefore}]}) when present, else from the backup's VM
// objects ("<ns>/<name>" -> object). VMs in neither are not started (source "none").
std::vector<VmStartDecision> decideVmStarts(const std::vector<VmRef>& vms,
                                            const Json& stopVmsDetails,
                                            const std::map<std::string, Json>& backupVms);

}  // namespace ocpvdr::failover
