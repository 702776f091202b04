// extent/sender.h — the primary side of one extent cycle: guard, snapshot, diff, stream.
//
// send() runs on the NFS server (inside `ocpv-dr-mover send`, started over ssh by the DR side
// the way rsync's remote side is). It
//   1. guards the paths like the rsync mover's remote guard (replication/guards.h): the export
//      root must exist; the PV directory must resolve (symlinks included) strictly under the
//      resolved root and outside <root>/.ocpv-dr; it must be a directory; an empty or missing
//      source is refused unless allowEmpty (the DR copy holds data and an unmounted export must
//      not wipe it);
//   2. drops every snapshot of the PV except `base` (the one DR acknowledged by asking for it)
//      and `snapshot`: the primary keeps only the base until DR acknowledges the next one. The
//      snapshot area must not fill the primary: when the export root's file system has less than
//      minFreePercent free (statvfs), or the blocks only the base still holds (extents FIEMAP
//      does not flag shared) exceed maxBaseBytes, the base is dropped too and the stream is full
//      (fullResendReason says which);
//   3. takes the digest of the live PV directory (manifest.h) and THEN a new reflink snapshot
//      (snapshot.h) — or, with `snapshot`, uses that one, taken earlier with the other disks of
//      its VM (group_snapshot.h; no digest then). The order is what makes the cheap full pass
//      safe: DR stores this digest with the point and later skips the PV while `ocpv-dr-mover
//      manifest` prints the same digest. A change after the digest walk saw its file — whether
//      the snapshot then caught it or not — makes the live digest differ from the recorded one,
//      so the next pass runs a cycle (at worst one cycle more than needed). Taken after the
//      snapshot, a write landing between the snapshot and the digest would be in the recorded
//      digest but not in the point: the pass would then skip a PV whose change DR never got;
//   4. writes the stream (stream.h): every entry of the new snapshot, for each file the ranges
//      whose extents differ from the base snapshot's copy (extent_diff.h), read from the
//      immutable snapshot, never the live file. A base the primary no longer has means a full
//      stream (header base "").
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace ocpvdr::extent {

struct SendOptions {
  std::string root;  // export root
  std::string pv;    // PV name (names the snapshot area)
  std::string dir;   // the PV directory
  std::string base;  // snapshot id DR holds as a point; "" = full
  std::string id;    // new snapshot id; "" = from the clock
  bool allowEmpty = false;
  int minFreePercent = 0;     // 0: no free-space limit
  uint64_t maxBaseBytes = 0;  // 0: no limit on the bytes only the base snapshot holds
  // Stream this snapshot, already taken (a group snapshot, group_snapshot.h), instead of taking
  // a new one; the empty-source guard then looks at the snapshot, not the live directory.
  std::string snapshot;
  // Tests: called with "digested" (after the digest, before the snapshot) and "snapshotted".
  std::function<void(std::string_view phase)> hook;
};

struct SendReport {
  std::string snapshotId;
  std::string baseId;  // "" when the stream is full
  int64_t dataTimeNs = 0;
  uint64_t entries = 0;
  uint64_t files = 0;
  uint64_t dataBytes = 0;       // bytes of file data in the stream (= bytes read from the files)
  uint64_t allocatedBytes = 0;  // written bytes of all files in the new snapshot
  uint64_t streamBytes = 0;     // bytes written to the output
  uint64_t skipped = 0;         // special files not copied
  // Why a base was asked for but the stream is full: "" (incremental, or no base asked),
  // "base-missing" (the primary no longer has it), "snapshot-area-low-space",
  // "snapshot-area-max-bytes" (the limits above; the base was released).
  std::string fullResendReason;
  int freePercent = -1;        // the export root's free share when a limit was checked
  int64_t baseOnlyBytes = -1;  // bytes only the base held, when maxBaseBytes was checked
  std::string sourceDigest;    // the live directory's digest taken before the snapshot
};

[[nodiscard]] Result<SendReport> send(const SendOptions& opts, int outFd);

// Guard verdicts reported on stderr by the mover, one line, as the rsync guard does:
//   OCPVDR-GUARD <verdict> <path>  (verdict: root-missing missing escape notdir empty)
// The resolved PV directory (or an error whose message starts with the verdict).
[[nodiscard]] Result<std::string> guardSource(const std::string& root, const std::string& dir,
                                              bool allowEmpty);

}  // namespace ocpvdr::extent
