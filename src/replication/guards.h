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
// Probe output format (one "key=value" or flag per line, from the shell script below):
//   root=<resolved root> | root-missing,  path=<resolved path> | missing,  dir | notdir,
//   empty | nonempty
#pragma once

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

// POSIX sh script: $1 = export root, $2 = volume path. Prints the probe format above.
const std::string& probeScript();
// Parses probe output; Terminal when it does not look like the script's output.
[[nodiscard]] Result<PathProbe> parseProbeOutput(std::string_view out);

// Probes locally. `ignoreEntry` (e.g. the rsync partial dir) does not count towards non-empty.
// A dangling symlink at `path` is an error (Refused): it could point anywhere once created.
[[nodiscard]] Result<PathProbe> probeLocal(const std::string& root, const std::string& path,
                                           std::string_view ignoreEntry = {});

// Runs the probe script on the primary: with `sshArgvPrefix` empty, locally through sh.
[[nodiscard]] Result<PathProbe> probeWith(ProcessRunner& runner,
                                          const std::vector<std::string>& sshArgvPrefix,
                                          const std::string& root, const std::string& path,
                                          std::chrono::milliseconds timeout);

// Refused unless the resolved path lies strictly under the resolved root. `side` is "primary" or
// "DR" for the message; `lexical` the configured path.
[[nodiscard]] Status checkConfined(const PathProbe& p, std::string_view side,
                                   std::string_view lexical);

enum class EmptySourceVerdict { Proceed, Refuse, ProceedForced };
// Decides the empty-source guard from both probes.
EmptySourceVerdict emptySourceVerdict(const PathProbe& source, const PathProbe& dr, bool force);

}  // namespace ocpvdr::replication
