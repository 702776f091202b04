// extent/snapshot.h — reflink snapshots of a PV directory at the primary.
//
// A snapshot is <export root>/.ocpv-dr/snapshots/<pv>/<id>/ with
//   tree/      the PV directory's directories and a FICLONE copy of every regular file (same
//              relative paths; copy-on-write, so it costs metadata only until the live file
//              changes); symlinks are not recreated, they live in the manifest;
//   manifest   the stream encoding (stream.h) of every entry: directories, regular files,
//              symlinks with their targets, modes, owners, times and sizes, in pre-order.
// It is built under ".<id>.partial" and renamed when complete, so a snapshot that exists is
// whole. Its data time is the moment the walk started: every file holds data at least that new,
// each one as it was at the instant of its own clone (crash-consistent per file).
// Other file types (devices, FIFOs, sockets) are not copied; they are counted as skipped.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"
#include "extent/stream.h"

namespace ocpvdr::extent {

struct Snapshot {
  std::string id;
  std::string path;  // <area>/<id>
  int64_t dataTimeNs = 0;
  std::vector<Entry> entries;  // pre-order, the root ("") first
  uint64_t skipped = 0;        // special files not copied
};

// <root>/.ocpv-dr/snapshots/<pv>
std::string snapshotArea(const std::string& root, const std::string& pv);

// Snapshots srcDir into <area>/<id>. srcDir must be a resolved directory path; nothing below it
// is followed through a symlink. `durable` false: the manifest and the area are not fsynced (the
// caller does it later — a group snapshot does it after the guests are thawed).
[[nodiscard]] Result<Snapshot> takeSnapshot(const std::string& srcDir, const std::string& area,
                                            const std::string& pv, const std::string& id,
                                            bool durable = true);

// Reads a snapshot's manifest (and checks it like a stream).
[[nodiscard]] Result<Snapshot> loadSnapshot(const std::string& area, const std::string& id);

// Removes every snapshot and partial snapshot in the area except those named in keep.
[[nodiscard]] Status pruneSnapshots(const std::string& area, const std::vector<std::string>& keep);

// The complete snapshot ids in the area, sorted.
[[nodiscard]] Result<std::vector<std::string>> listSnapshots(const std::string& area);

}  // namespace ocpvdr::extent
