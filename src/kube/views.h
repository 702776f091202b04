// Thin typed views over Kubernetes objects held as JSON: PersistentVolume,
// PersistentVolumeClaim, VolumeSnapshot, VolumeSnapshotContent, VirtualMachine, Restore.
//
// A view only borrows the object (keep the Json alive while the view is used) and reads fields
// on demand with core/json_util, so a wrong type comes back as an error naming the field
// ("status.restoreSize: expected ..."), never as an exception. Optional fields read as
// std::optional: absent and null are "not set".
//
// VolumeSnapshot and VolumeSnapshotContent use the same field names with different types
// (FACTS §4): VS status.creationTime is an RFC 3339 string and status.restoreSize a quantity
// string; VSC status.creationTime is int64 nanoseconds and status.restoreSize int64 bytes. Both
// views normalise them into a time_point and a byte count.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/json_util.h"
#include "core/result.h"

namespace ocpvdr::kube {

// Common metadata of any object.
class ObjectView {
 public:
  explicit ObjectView(const Json& obj) : obj_(obj) {}
  const Json& json() const { return obj_; }
  [[nodiscard]] Result<std::string> name() const { return jsonString(obj_, "metadata.name"); }
  // "" for cluster-scoped objects.
  [[nodiscard]] Result<std::string> ns() const;
  [[nodiscard]] Result<std::string> uid() const { return jsonString(obj_, "metadata.uid"); }
  [[nodiscard]] Result<std::string> resourceVersion() const {
    return jsonString(obj_, "metadata.resourceVersion");
  }
  [[nodiscard]] Result<std::optional<std::string>> label(const std::string& key) const;
  [[nodiscard]] Result<std::optional<std::string>> annotation(const std::string& key) const;
  bool deleting() const;  // metadata.deletionTimestamp is set

 protected:
  const Json& obj_;
};

struct NfsVolumeSource {
  std::string server, path;
  bool readOnly = false;
};

struct CsiVolumeSource {
  std::string driver, volumeHandle;
  std::map<std::string, std::string> volumeAttributes;
};

struct ObjectReference {
  std::string ns, name, uid;
};

class PersistentVolumeView : public ObjectView {
 public:
  using ObjectView::ObjectView;
  [[nodiscard]] Result<std::optional<std::string>> storageClassName() const;
  // "Filesystem" when unset (the API default).
  [[nodiscard]] Result<std::string> volumeMode() const;
  [[nodiscard]] Result<std::optional<NfsVolumeSource>> nfs() const;
  [[nodiscard]] Result<std::optional<CsiVolumeSource>> csi() const;
  [[nodiscard]] Result<std::optional<ObjectReference>> claimRef() const;
  [[nodiscard]] Result<std::optional<std::string>> phase() const;
  [[nodiscard]] Result<std::optional<std::string>> reclaimPolicy() const;
  [[nodiscard]] Result<std::optional<std::int64_t>> capacityBytes() const;
};

class PersistentVolumeClaimView : public ObjectView {
 public:
  using ObjectView::ObjectView;
  [[nodiscard]] Result<std::optional<std::string>> volumeName() const;
  [[nodiscard]] Result<std::optional<std::string>> storageClassName() const;
  [[nodiscard]] Result<std::optional<std::string>> phase() const;
  [[nodiscard]] Result<std::optional<std::int64_t>> requestedBytes() const;
};

class VolumeSnapshotView : public ObjectView {
 public:
  using ObjectView::ObjectView;
  [[nodiscard]] Result<std::optional<std::string>> sourcePvcName() const;
  [[nodiscard]] Result<std::optional<std::string>> volumeSnapshotClassName() const;
  [[nodiscard]] Result<std::optional<std::string>> boundContentName() const;
  [[nodiscard]] Result<bool> readyToUse() const;  // false while status is absent
  // status.creationTime (RFC 3339 string).
  [[nodiscard]] Result<std::optional<SystemTime>> creationTime() const;
  // status.restoreSize (quantity string) in bytes.
  [[nodiscard]] Result<std::optional<std::int64_t>> restoreSizeBytes() const;
};

// The label Velero's CSI plugin puts on the VolumeSnapshots it makes for a backup (FACTS §13).
// Velero deletes them after the backup and csi-driver-nfs turns each into a full tar of the
// volume: they are not the user's snapshots, and the forwarder, the rulebook and reconcile leave
// them alone.
inline constexpr std::string_view kVeleroBackupNameLabel = "velero.io/backup-name";
// Whether `vs` carries kVeleroBackupNameLabel (any value).
bool isVeleroSnapshot(const Json& vs);

class VolumeSnapshotContentView : public ObjectView {
 public:
  using ObjectView::ObjectView;
  [[nodiscard]] Result<std::string> driver() const { return jsonString(obj_, "spec.driver"); }
  [[nodiscard]] Result<std::optional<std::string>> deletionPolicy() const;
  [[nodiscard]] Result<std::optional<std::string>> snapshotHandle() const;  // status.snapshotHandle
  [[nodiscard]] Result<std::optional<ObjectReference>> volumeSnapshotRef() const;
  [[nodiscard]] Result<bool> readyToUse() const;
  // status.creationTime (int64 nanoseconds since the epoch).
  [[nodiscard]] Result<std::optional<SystemTime>> creationTime() const;
  // status.restoreSize (int64 bytes).
  [[nodiscard]] Result<std::optional<std::int64_t>> restoreSizeBytes() const;
};

class VirtualMachineView : public ObjectView {
 public:
  using ObjectView::ObjectView;
  // spec.runStrategy, or the deprecated spec.running mapped to Always / Halted; nullopt when
  // neither is set.
  [[nodiscard]] Result<std::optional<std::string>> runStrategy() const;
  [[nodiscard]] Result<std::optional<std::string>> printableStatus() const;
  [[nodiscard]] Result<bool> ready() const;  // status.ready, false when absent
};

class RestoreView : public ObjectView {
 public:
  using ObjectView::ObjectView;
  [[nodiscard]] Result<std::optional<std::string>> backupName() const;
  [[nodiscard]] Result<std::optional<std::string>> phase() const;
};

}  // namespace ocpvdr::kube
