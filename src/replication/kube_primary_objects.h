// PrimaryObjects over the product's Kubernetes client (src/kube): reads PVs, PVCs and
// VolumeSnapshotContents from the primary cluster configured in sites.primary.kubernetes.
//
// The connection is made on first use, so commands that never need the primary API (a PV given
// as JSON) work on a DR host without primary credentials; when it is needed and cannot be made,
// the error says which configuration key to fix.
#pragma once

#include <memory>
#include <mutex>
#include <optional>

#include "config/config.h"
#include "core/clock.h"
#include "kube/connect.h"
#include "replication/primary_objects.h"

namespace ocpvdr::replication {

class KubePrimaryObjects final : public PrimaryObjects {
 public:
  KubePrimaryObjects(config::KubeAccess access, Clock& clock)
      : access_(std::move(access)), clock_(clock) {}

  Result<Json> getPersistentVolume(std::string_view name) override;
  Result<Json> getVolumeSnapshotContent(std::string_view name) override;
  Result<Json> getPersistentVolumeClaim(std::string_view ns, std::string_view name) override;
  Result<Json> getVolumeSnapshot(std::string_view ns, std::string_view name,
                                 std::stop_token stop = {}) override;

 private:
  [[nodiscard]] Result<kube::KubeClient*> client();

  config::KubeAccess access_;
  Clock& clock_;
  std::mutex mu_;
  std::optional<kube::KubeConnection> conn_;
};

}  // namespace ocpvdr::replication
