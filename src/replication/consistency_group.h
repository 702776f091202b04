// Consistency groups (issue 17, docs/consistency.md): the unit of a VM-consistent recovery point.
//
// A group is one VM — every PV its volumes reach (spec.template.spec.volumes[]
// .persistentVolumeClaim.claimName or .dataVolume.name, a DataVolume's PVC having the DV's name →
// the PVC's spec.volumeName → the PV) — or, when VMs carry the label
// `ocpv-dr.io/consistency-group=<name>`, every VM of that namespace with that label (an
// application spread over several VMs). PVs of no VM stay per-PV.
//
// A VM labelled `ocpv-dr.io/freeze: "false"` is never frozen: its group's points are
// crash-consistent (its disks are still taken back to back with the others).
//
// Group ids name what the point belongs to in the catalog: "vm/<ns>/<name>" or
// "group/<ns>/<label value>".
//
// ConsistencyApi is the few reads and actions of the primary cluster's API that groups need —
// kept as an interface so replication does not depend on the Kubernetes client (the engine's
// KubePrimary implements it over kube::GuestFreeze; tests a map of objects).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_util.h"
#include "core/result.h"

namespace ocpvdr::replication {

inline constexpr std::string_view kConsistencyGroupLabel = "ocpv-dr.io/consistency-group";
// Per-VM opt-out of the guest freeze: the value "false" (case-insensitive) opts out.
inline constexpr std::string_view kFreezeLabel = "ocpv-dr.io/freeze";

class ConsistencyApi {
 public:
  virtual ~ConsistencyApi() = default;
  // VirtualMachines (kubevirt.io/v1) of one namespace.
  [[nodiscard]] virtual Result<std::vector<Json>> listVirtualMachines(std::string_view ns) = 0;
  // NotFound when the VM is not running (no VMI).
  [[nodiscard]] virtual Result<Json> getVirtualMachineInstance(std::string_view ns,
                                                               std::string_view name) = 0;
  // NotFound when it does not exist (same signature as PrimaryObjects').
  [[nodiscard]] virtual Result<Json> getPersistentVolumeClaim(std::string_view ns,
                                                              std::string_view name) = 0;
  // The VMI freeze/unfreeze subresources (kube/guest_freeze.h for the error kinds).
  [[nodiscard]] virtual Status freezeGuest(std::string_view ns, std::string_view name,
                                           std::chrono::seconds unfreezeTimeout) = 0;
  [[nodiscard]] virtual Status unfreezeGuest(std::string_view ns, std::string_view name) = 0;
};

struct GroupVm {
  std::string ns, name;
  bool freezeOptOut = false;
  std::vector<std::string> pvs;         // bound PVs its volumes reach, sorted
  std::vector<std::string> unresolved;  // "claim <name>: why" for volumes that reach no PV
};

struct ConsistencyGroup {
  std::string id;                        // "vm/<ns>/<name>" | "group/<ns>/<label>"
  std::vector<GroupVm> vms;              // sorted by name
  std::vector<std::string> pvs() const;  // every VM's PVs, sorted, unique
};

// The claim names a VM's volumes use (persistentVolumeClaim.claimName, dataVolume.name), sorted.
std::vector<std::string> vmClaims(const Json& vm);
// The VM's consistency-group label value ("" when none).
std::string vmGroupLabel(const Json& vm);
bool vmFreezeOptOut(const Json& vm);

// The PV a claim is bound to: NotFound when the claim does not exist or is not bound yet.
using PvOfClaim = std::function<Result<std::string>(std::string_view ns, std::string_view claim)>;

// The group of the VM `vm` among the VMs `all` of its namespace (itself when it has no group
// label), with their PVs resolved through `pvOfClaim`. Errors other than NotFound from the
// lookup are returned (a group must not silently lose a disk).
[[nodiscard]] Result<ConsistencyGroup> groupOfVm(const Json& vm, const std::vector<Json>& all,
                                                 const PvOfClaim& pvOfClaim);

// The group a PV bound to claim <claimNs>/<claimName> belongs to: the VM of that namespace whose
// volumes name the claim, and that VM's group; nullopt when no VM uses the claim.
[[nodiscard]] Result<std::optional<ConsistencyGroup>> findGroupOfClaim(ConsistencyApi& api,
                                                                       std::string_view claimNs,
                                                                       std::string_view claimName);

}  // namespace ocpvdr::replication
