// PrimaryObjects: the few reads of the primary cluster's API that replication needs — a PV by
// name (`pv sync --pv NAME`), the VolumeSnapshotContent bound to a snapshot (its handle and the
// int64 creation time/size), a PVC (snapshot source claim → its PV), and a VolumeSnapshot by name
// (an event's snapshot delete is confirmed against it).
//
// Kept as a small interface so replication does not depend on the Kubernetes client; the CLI and
// the engine wire an implementation over src/kube, tests a map of objects.
#pragma once

#include <stop_token>
#include <string_view>

#include "core/json_util.h"
#include "core/result.h"

namespace ocpvdr::replication {

class PrimaryObjects {
 public:
  virtual ~PrimaryObjects() = default;
  // NotFound when the object does not exist; Retryable for transport problems.
  [[nodiscard]] virtual Result<Json> getPersistentVolume(std::string_view name) = 0;
  [[nodiscard]] virtual Result<Json> getVolumeSnapshotContent(std::string_view name) = 0;
  [[nodiscard]] virtual Result<Json> getPersistentVolumeClaim(std::string_view ns,
                                                              std::string_view name) = 0;
  // The same signature as engine::PrimaryLister's, so one override serves both interfaces.
  [[nodiscard]] virtual Result<Json> getVolumeSnapshot(std::string_view ns, std::string_view name,
                                                       std::stop_token stop = {}) = 0;
};

}  // namespace ocpvdr::replication
