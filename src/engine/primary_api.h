// What the engine reads from the primary cluster's API beyond replication's single-object reads:
// complete lists of the selected PersistentVolumes and VolumeSnapshots (reconcile) and a
// VolumeSnapshot by name (level-triggered reconcile of a snapshot key without an event).
//
// A list result is all-or-nothing: every page of one consistent snapshot, or an error. Reconcile
// relies on that — an object missing from a successful list is positively absent, a failed list
// says nothing about absence.
#pragma once

#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_util.h"
#include "core/result.h"
#include "kube/kube_client.h"
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

// Both interfaces over one KubeClient (the caller owns the client and keeps it alive).
class KubePrimary final : public PrimaryLister, public replication::PrimaryObjects {
 public:
  explicit KubePrimary(kube::KubeClient& client) : client_(client) {}

  Result<std::vector<Json>> listPersistentVolumes(std::string_view labelSelector,
                                                  std::stop_token stop = {}) override;
  Result<std::vector<Json>> listVolumeSnapshots(std::string_view ns,
                                                std::stop_token stop = {}) override;
  Result<Json> getVolumeSnapshot(std::string_view ns, std::string_view name,
                                 std::stop_token stop = {}) override;

  Result<Json> getPersistentVolume(std::string_view name) override;
  Result<Json> getVolumeSnapshotContent(std::string_view name) override;
  Result<Json> getPersistentVolumeClaim(std::string_view ns, std::string_view name) override;

 private:
  kube::KubeClient& client_;
};

}  // namespace ocpvdr::engine
