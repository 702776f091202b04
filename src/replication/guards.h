// Data-safety guards that need the real filesystems (the lexical ones live in path_map):
//   - symlink confinement: a path that is lexically under its export root may still resolve
//     outside it through a symlink. On the DR host the check is local (realpath); on the primary
//     it runs `realpath -e` over the same ssh connection rsync uses, and the resolved path must
//     stay under the resolved export root. rsync is then pointed at the RESOLVED paths, so it
//     never follows a link the check did not see.
//   - empty-source guard: a --delete sync is refused when the source directory is missing or
//     empty while the DR copy is not (an unmounted export or a wiped source would otherwise wipe
//     DR too). An operator's --force overrides it for an existing empty source.
//   - per-PV lock (see lock.h).
// On the primary the checks run inside the rsync session itself: rsync's --rsync-path is a small
// POSIX sh guard that resolves the export root and the volume path, checks confinement, type and
// emptiness, reports one line on stderr and only then execs the rsync server with the source
// argument replaced by the resolved path. No extra ssh session, and rsync never starts when a
// check fails. Guard line format (stderr; stdout belongs to the rsync protocol):
//   OCPVDR-GUARD ok empty|nonempty <resolved path>
//   OCPVDR-GUARD root-missing|missing|escape|notdir|unreadable|empty <path>
// A failing guard exits 97 before the rsync protocol starts.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/process.h"
#include "core/result.h"

namespace ocpvdr::replication {

// What one host's filesystem says about (export root, volume directory).
struct PathProbe {
  bool rootExists = false;
  std::string rootReal;  // resolved export root
  bool exists = false;   // the volume directory path resolves to something
  std::string real;      // its resolved path
  bool isDir = false;
  bool empty = true;  // no entries (ignoring the partial dir on DR); meaningful when isDir
};

// Probes locally. `ignoreEntry` (e.g. the rsync partial dir) does not count towards non-empty.
// A dangling symlink at `path` is an error (Refused): it could point anywhere once created.
[[nodiscard]] Result<PathProbe> probeLocal(const std::string& root, const std::string& path,
                                           std::string_view ignoreEntry = {});

// Whether the guard refuses an empty or missing source (the DR copy holds data and no --force).
enum class RemoteGuardMode { RefuseEmpty, AllowEmpty };

// The guard script: $1 export root, $2 volume path, $3 "guard" | "allow", then the command to
// exec (its last argument, the source path, is replaced by "<resolved path>/").
const std::string& guardScript();
// The complete --rsync-path value: `sh -c '<guard>' ocpvdr-guard ROOT PATH MODE rsync`; rsync
// appends the server arguments.
std::string guardedRsyncPath(const std::string& root, const std::string& path, RemoteGuardMode mode,
                             const std::string& remoteRsync = "rsync");

struct GuardReport {
  std::string verdict;       // ok | root-missing | missing | escape | notdir | unreadable | empty
  std::string path;          // the resolved path (ok, escape, notdir, empty) or the given one
  bool sourceEmpty = false;  // verdict ok: the source directory had no entries
};
// Finds the guard's line in rsync's stderr.
std::optional<GuardReport> parseGuardReport(std::string_view stderrText);

// Refused unless the resolved path lies strictly under the resolved root. `side` is "primary" or
// "DR" for the message; `lexical` the configured path.
[[nodiscard]] Status checkConfined(const PathProbe& p, std::string_view side,
                                   std::string_view lexical);

}  // namespace ocpvdr::replication
