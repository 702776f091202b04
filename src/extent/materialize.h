// extent/materialize.h — bring a directory to a recovery point, one file at a time atomically.
//
// materialize(pointTree, target) makes `target` (the DR PV directory) identical to `pointTree`
// (`<points>/<id>/tree`, applier.h): same directories, regular files, symlinks, modes, owners and
// times; every entry of target the point does not have is removed. The points stay untouched:
//   - a regular file is reflinked (FICLONE) from the point into a temporary name in its target
//     directory, given its mode, owner and times, fsynced, and renamed over the old name, so a
//     reader of target sees either the old file or the new one, never a mix; a file that already
//     shares every extent with the point's copy (and has its size and metadata) is left alone,
//     so bringing an unchanged directory to the same point costs a FIEMAP per file;
//   - a symlink is made under a temporary name and renamed over the old one;
//   - directories are created, then given their metadata deepest first, and fsynced;
//   - an entry whose type differs from the point's is removed first.
// Nothing in target is followed through a symlink: every directory is opened relative to its
// parent with O_NOFOLLOW, so a symlink planted in target is replaced, never written through.
// The whole directory is not switched atomically: a crash part-way leaves a mix of files of the
// old and the new point (each one whole); running materialize again finishes the job.
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

// Called after each file is in place ("materialize <relative path>"), an error aborting the run
// as a real failure would; tests use it to stop a run part-way.
using MaterializeHook = std::function<Status(std::string_view phase)>;

[[nodiscard]] Result<MaterializeReport> materialize(const std::string& pointTree,
                                                    const std::string& target,
                                                    const MaterializeHook& hook = {});

}  // namespace ocpvdr::extent
