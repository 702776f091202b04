// Reading VolumeSnapshot and VolumeSnapshotContent objects (snapshot.storage.k8s.io/v1, JSON).
//
// The two kinds carry the same facts with different types (FACTS §4), normalised here:
//   VolumeSnapshot         status.creationTime  RFC 3339 string      status.restoreSize  quantity
//   ("1Gi") VolumeSnapshotContent  status.creationTime  int64 nanoseconds    status.restoreSize
//   int64 bytes
// A csi-driver-nfs snapshot handle is "server#share#<snapName>#<snapName>#<src>"; the driver
// writes the archive to <share>/<snapName>/<src>.tar.gz on the NFS server — <src>.tar when the
// StorageClass turns compression off (FACTS §13) — and nothing else into that directory
// (kubernetes-csi/csi-driver-nfs pkg/nfs/controllerserver.go).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/json_util.h"
#include "core/result.h"

namespace ocpvdr::replication {

struct SnapshotInfo {
  std::string ns, name, uid;
  std::string sourcePvc;      // spec.source.persistentVolumeClaimName (dynamic)
  std::string sourceContent;  // spec.source.volumeSnapshotContentName (pre-provisioned)
  std::string className;      // spec.volumeSnapshotClassName
  std::string boundContent;   // status.boundVolumeSnapshotContentName
  bool ready = false;         // status.readyToUse (absent status: false)
  std::optional<SystemTime> creationTime;
  std::optional<std::int64_t> restoreSize;  // bytes
  bool deleting = false;                    // metadata.deletionTimestamp set
};

struct SnapshotContentInfo {
  std::string name;
  std::string driver;              // spec.driver
  std::string snapshotHandle;      // status.snapshotHandle (or spec.source.snapshotHandle)
  std::string sourceVolumeHandle;  // spec.source.volumeHandle
  std::string snapshotRefNamespace, snapshotRefName, snapshotRefUid;  // spec.volumeSnapshotRef
  bool ready = false;
  std::optional<SystemTime> creationTime;
  std::optional<std::int64_t> restoreSize;
};

// Where csi-driver-nfs keeps a snapshot's archive.
struct CsiNfsSnapshotLocation {
  std::string server;
  std::string archiveDir;    // export path of the directory holding the archive
  std::string archiveName;   // "<src>.tar.gz" (compressed: the driver's default)
  std::string sourceVolume;  // <src>: the source volume's uuid or subdir

  // The names the archive may have, in the order they are looked for: "<src>.tar.gz", "<src>.tar".
  std::vector<std::string> archiveNames() const;
};

// The archive in `dir` (a local copy of the snapshot directory): the first of archiveNames() that
// is a regular file; nullopt when neither is.
std::optional<std::string> findCsiNfsArchive(const std::string& dir,
                                             const CsiNfsSnapshotLocation& loc);

[[nodiscard]] Result<SnapshotInfo> describeSnapshot(const Json& vs);
[[nodiscard]] Result<SnapshotContentInfo> describeSnapshotContent(const Json& vsc);
[[nodiscard]] Result<CsiNfsSnapshotLocation> parseCsiNfsSnapshotHandle(std::string_view handle);

// Kubernetes resource quantity → bytes: "1Gi", "500M", "1.5Gi", "2e3", "1024", "100m" (milli,
// rounded up to whole bytes as Kubernetes does). Invalid for anything else, naming `what`.
[[nodiscard]] Result<std::int64_t> parseQuantityBytes(std::string_view text, std::string_view what);

}  // namespace ocpvdr::replication
