// extent/materialize.h — bring a directory to a recovery point, the whole directory atomically.
//
// materialize(pointTree, target) makes `target` (the DR PV directory) identical to `pointTree`
// (`<points>/<id>/tree`, applier.h): same directories, regular files, symlinks, modes, owners and
// times; every entry of target the point does not have is removed. The points stay untouched.
//   1. A dry run compares target with the point: a regular file that shares every extent with
//      the point's copy (same size, owner, mode, mtime) is the same, so an unchanged directory
//      costs a FIEMAP per file and is left as it is (only times touched up).
//   2. Otherwise the point's state is built beside target, in `<parent>/.ocpv-dr-stage.<name>`
//      (every file FICLONEd from the point — metadata only —, symlinks made, metadata set,
//      everything fsynced), and exchanged with target in one renameat2(RENAME_EXCHANGE); the
//      parent is fsynced and the old state removed. A reader or a crash sees the old point or
//      the new one, never a mix; a stage left by a crash is removed by the next run. A target
//      that cannot be exchanged (a mount point: EBUSY; EINVAL/ENOSYS/EXDEV) is brought to the
//      point file by file in place instead: each file reflinked to a temporary name and renamed
//      (each file atomic, the directory not).
//   3. A missing target is built as the stage and renamed into place.
// Nothing in target is followed through a symlink: every directory is opened relative to its
// parent with O_NOFOLLOW, so a symlink planted in target is replaced, never written through.
// The report counts what changed (files cloned = new or changed files), not the stage's clones.
// Needs a file system with reflink holding both paths (EXDEV/EOPNOTSUPP come back Refused).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace ocpvdr::extent {

struct MaterializeReport {
  uint64_t filesCloned = 0;     // files reflinked from the point (new or changed)
  uint64_t filesUnchanged = 0;  // files already sharing every extent with the point
  uint64_t dirs = 0;            // directories in the point (the root included)
  uint64_t symlinks = 0;
  uint64_t removed = 0;      // entries of target the point does not have
  uint64_t bytesCloned = 0;  // sizes of the files reflinked
};

// Called after each file is cloned ("materialize <relative path>") and after the exchange
// ("materialize-exchanged"), an error aborting the run as a real failure would; tests use it to
// stop a run part-way.
using MaterializeHook = std::function<Status(std::string_view phase)>;

[[nodiscard]] Result<MaterializeReport> materialize(const std::string& pointTree,
                                                    const std::string& target,
                                                    const MaterializeHook& hook = {});

}  // namespace ocpvdr::extent
