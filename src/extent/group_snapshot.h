// extent/group_snapshot.h — the reflink snapshots of several PV directories back to back, for a
// VM-consistent recovery point (issue 17; docs/consistency.md).
//
// `ocpv-dr-mover snapshot` runs this on the primary in ONE ssh session while DR holds the guests
// frozen: every PV directory is guarded first (the sender's path guards, empty allowed — the
// empty-source guard is applied when the snapshot is streamed, `send --snapshot`), then each is
// snapshotted under the same id (snapshot.h), all at once (one thread per disk). All or nothing:
// when one snapshot fails, the ones already taken are removed again. Nothing is pruned here; the
// following `send --snapshot ID --base B` of each PV drops every other snapshot of that PV.
// The snapshots are cloned first and made durable after onCloned (below): the freeze window only
// has to cover the clones.
//
// The group's data time is the moment before the first snapshot: what each snapshot holds is at
// least that new, and under a freeze nothing newer was written until the last one.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/result.h"

namespace ocpvdr::extent {

struct GroupMember {
  std::string pv;    // PV name (names the snapshot area)
  std::string root;  // export root
  std::string dir;   // the PV directory
};

struct GroupSnapshotReport {
  std::string id;
  int64_t dataTimeNs = 0;        // before the first snapshot
  int64_t tookNs = 0;            // first snapshot start → last snapshot complete
  std::vector<int64_t> perPvNs;  // each snapshot's duration, in the members' order
};

// Called once every snapshot is cloned (their content is fixed from then on), before they are
// made durable (fsync of each manifest and snapshot area): the mover reports there, so DR can
// thaw the guests without waiting for the disk flushes.
using OnCloned = std::function<void(const GroupSnapshotReport&)>;

// `id` empty: from the clock. Invalid for a bad name or a PV named twice. A failure after
// onCloned (the fsyncs) still removes every snapshot taken and returns the error.
[[nodiscard]] Result<GroupSnapshotReport> takeGroupSnapshot(const std::vector<GroupMember>& members,
                                                            const std::string& id,
                                                            const OnCloned& onCloned = {});

}  // namespace ocpvdr::extent
