// The one primary→DR path-mapping function, used by replication, reconcile and failover alike.
//
// A PV names an NFS server and an *export* path as clients see it. Four paths follow from it
// (FACTS §3): the primary export path (from the PV), the primary host path (where rsync reads on
// the primary NFS host), the DR host path (where rsync writes on the DR NFS host) and the DR
// export path (what the rewritten DR PV mounts). Configuration supplies the pieces:
//   sites.primary.nfs.server/aliases   which servers count as "primary"
//   sites.<site>.nfs.export_roots      export path prefix -> host path prefix, per site
//   replication.path_mappings          primary export prefix -> DR export prefix
// Every path is checked lexically here: absolute, no "..", no NUL, and confined under an
// export root. Symlink escapes can only be seen on the host itself (see replication/guards).
#pragma once

#include <string>
#include <string_view>

#include "config/config.h"
#include "core/result.h"

namespace ocpvdr::replication {

struct VolumePaths {
  std::string primaryServer;      // as written in the PV
  std::string primaryExportPath;  // normalised PV export path
  std::string primaryHostPath;    // on the primary NFS host
  std::string primaryRoot;        // export root host path on primary (confinement boundary)
  std::string drServer;           // sites.dr.nfs.server
  std::string drExportPath;       // what a DR PV mounts
  std::string drHostPath;         // on the DR NFS host
  std::string drRoot;  // export root host path on DR (confinement boundary; trash lives here)
};

// Lexically normalises an absolute path: collapses "//" and "/./", drops a trailing "/".
// Refuses (Refused) relative paths, any ".." component, NUL bytes and empty input, naming
// `what` (e.g. "spec.nfs.path") in the message.
Result<std::string> normaliseAbsolute(std::string_view path, std::string_view what);

// True when `path` equals `root` or lies under it (component-wise, not string prefix).
bool isUnder(std::string_view path, std::string_view root);

// Maps a PV's (server, export path). Errors are Refused and say which configuration key lacks
// the entry (an unmapped server, a path under no export root or path mapping, traversal).
Result<VolumePaths> mapVolume(const config::Config& cfg, std::string_view server,
                              std::string_view exportPath);

// Maps a path on the primary export *without* a PV (snapshot archives next to a volume).
Result<VolumePaths> mapExportPath(const config::Config& cfg, std::string_view exportPath);

}  // namespace ocpvdr::replication
