// extent/applier.h — the DR side of an extent cycle: a stream becomes a recovery point.
//
// Layout of a points directory (one per PV):
//   <points>/<id>/tree/...        the PV's files as of the snapshot's data time
//   <points>/<id>/point           "id=… base=… data_time_ns=… entries=… data_bytes=…" lines
//   <points>/.<id>.partial/       a point being built: never visible as a point
//   <points>/.lock                flock: one apply per points directory at a time
// apply():
//   1. removes partial points left by a killed apply; refuses an id that already exists;
//   2. builds the partial point as a reflink clone of the base point named in the stream header
//      (NotFound when DR has no such point: the caller asks again without a base), or empty;
//   3. for each entry: makes the directory / symlink, or for a file writes the ranges (each
//      range's SHA-256 is checked before it is written), punches the holes and truncates to the
//      size; sets mode, owner and times; fsyncs;
//   4. at the trailer: removes whatever the stream did not list (deleted and renamed files),
//      sets directory metadata, fsyncs every directory, writes `point`, and renames the partial
//      point to its id (then fsyncs the points directory).
// Any error — a checksum mismatch, a malformed or truncated stream, a full file system — removes
// the partial point and leaves every existing point untouched.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace ocpvdr::extent {

// A data range whose SHA-256 did not match its data: the stream was corrupted in flight (or at
// the sender). The apply fails and discards the partial point; the caller raises the alert.
struct ChecksumMismatch {
  std::string path;  // relative to the PV directory
  uint64_t offset = 0, length = 0;
};

struct ApplyOptions {
  std::string pointsDir;
  // Called at each phase ("cloned", "entry <path>", "trailer", "before-rename"); an error it
  // returns aborts the apply as a real failure would. Tests use it to inject failures.
  std::function<Status(std::string_view phase)> hook;
  // Called once when a range fails its checksum, before the apply fails (Terminal).
  std::function<void(const ChecksumMismatch&)> onChecksumMismatch;
  // Called after each frame with the stream bytes read since the last call (replication.
  // bandwidth: it waits for the shared budget); false aborts the apply (Retryable).
  std::function<bool(uint64_t bytes)> throttle;
};

struct ApplyReport {
  std::string pointId;
  std::string baseId;
  std::string pv;
  int64_t dataTimeNs = 0;
  uint64_t entries = 0;
  uint64_t dataBytes = 0;
  uint64_t holes = 0;
  uint64_t removed = 0;  // entries of the base point not in the new one
  uint64_t streamBytes = 0;
};

[[nodiscard]] Result<ApplyReport> apply(const ApplyOptions& opts, int inFd);

// The complete point ids in a points directory, sorted (oldest first).
[[nodiscard]] Result<std::vector<std::string>> listPoints(const std::string& pointsDir);

}  // namespace ocpvdr::extent
