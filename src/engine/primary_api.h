// What the engine reads from the primary cluster's API beyond replication's single-object reads:
// complete lists of the selected PersistentVolumes and VolumeSnapshots (reconcile) and a
// VolumeSnapshot by name (level-triggered reconcile of a snapshot key without an event).
//
// A list result is all-or-nothing: every page of one consistent snapshot, or an error. Reconcile
// relies on that — an object missing from a successful list is positively absent, a failed list
// says nothing about absence.
#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_util.h"
#include "core/result.h"
#include "kube/connect.h"
#include "kube/kube_client.h"
#include "replication/consistency_group.h"
#include "replication/primary_objects.h"

namespace ocpvdr::engine {

class PrimaryLister {
 public:
  virtual ~PrimaryLister() = default;
  // Every PersistentVolume matching the label selector ("" = all), each with kind/apiVersion.
  [[nodiscard]] virtual Result<std::vector<Json>> listPersistentVolumes(
      std::string_view labelSelector, std::stop_token stop = {}) = 0;
  // Every VolumeSnapshot in namespace `ns` ("" = all namespaces).
  [[nodiscard]] virtual Result<std::vector<Json>> listVolumeSnapshots(
      std::string_view ns, std::stop_token stop = {}) = 0;
  // NotFound when it does not exist.
  [[nodiscard]] virtual Result<Json> getVolumeSnapshot(std::string_view ns, std::string_view name,
                                                       std::stop_token stop = {}) = 0;
};

// The one adapter of the primary cluster's API: both interfaces over one KubeClient — given (the
// caller owns it and keeps it alive), or connected on first use through `connect`, so commands
// that never need the primary API (a PV given as JSON) work on a DR host without primary
// credentials; when it is needed and cannot be made, the error names sites.primary.kubernetes.
// It is also replication::ConsistencyApi (issue 17): VMs, VMIs and the VMI freeze/unfreeze
// subresources (kube::GuestFreeze) — the freeze goes only to the primary, where the VM runs.
class KubePrimary final : public PrimaryLister,
                          public replication::PrimaryObjects,
                          public replication::ConsistencyApi {
 public:
  using Connector = std::function<Result<kube::KubeConnection>()>;
  explicit KubePrimary(kube::KubeClient& client) : client_(&client) {}
  explicit KubePrimary(Connector connect) : connect_(std::move(connect)) {}

  Result<std::vector<Json>> listPersistentVolumes(std::string_view labelSelector,
                                                  std::stop_token stop = {}) override;
  Result<std::vector<Json>> listVolumeSnapshots(std::string_view ns,
                                                std::stop_token stop = {}) override;
  Result<Json> getVolumeSnapshot(std::string_view ns, std::string_view name,
                                 std::stop_token stop = {}) override;

  Result<Json> getPersistentVolume(std::string_view name) override;
  Result<Json> getVolumeSnapshotContent(std::string_view name) override;
  Result<Json> getPersistentVolumeClaim(std::string_view ns, std::string_view name) override;

  Result<std::vector<Json>> listVirtualMachines(std::string_view ns) override;
  Result<Json> getVirtualMachineInstance(std::string_view ns, std::string_view name) override;
  Status freezeGuest(std::string_view ns, std::string_view name,
                     std::chrono::seconds unfreezeTimeout) override;
  Status unfreezeGuest(std::string_view ns, std::string_view name) override;

 private:
  [[nodiscard]] Result<kube::KubeClient*> client();

  kube::KubeClient* client_ = nullptr;
  Connector connect_;
  std::mutex mu_;
  std::optional<kube::KubeConnection> conn_;
};

}  // namespace ocpvdr::engine
