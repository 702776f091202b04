// Fencing the primary NFS export before a planned failover's final sync: once the VMs are
// stopped, nothing at the primary may write to the volumes again, or the DR copy would silently
// miss those writes.
//
// Methods (failover.fencing.method):
//   exportfs  over ssh to sites.primary.ssh: read the exports file (failover.fencing.exports_file,
//             exports(5) format), make the lines of the export roots involved read-only, keep a
//             backup copy (<file>.ocpv-dr-<run id>.bak, written once), replace the file
//             atomically (temporary file + mv) and run `exportfs -ra`. Other lines are never
//             touched. Idempotent: a fenced file is left as it is, `exportfs -ra` runs again.
//   command   run failover.fencing.command (argv, on the DR host) with OCPVDR_FAILOVER_RUN_ID
//             and OCPVDR_FENCE_ROOTS (the primary host paths, space-separated) in its
//             environment; a non-zero exit fails the step.
//   none      nothing is done; the step records a warning.
//
// exports(5) as parsed here: '#' starts a comment line; a trailing backslash continues a line;
// the first field is the export path (double quotes allowed, \ooo octal escapes left as they
// are); then an optional "-opts" default and client specs "host(opts)" or a bare "host". To make
// a line read-only, `rw` becomes `ro` in the default options and in every client's options, and
// `ro` is added where neither is given (nfs-utils' default is ro, but saying so makes the fence
// survive a default "-rw"). A bare client is left alone (it takes the default options).
#pragma once

#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/json_util.h"
#include "core/process.h"
#include "core/result.h"
#include "replication/ssh.h"

namespace ocpvdr::failover {

struct ExportsEdit {
  std::string content;                     // the whole new file
  std::vector<std::string> matchedPaths;   // export paths of the lines that belong to the roots
  std::vector<std::string> before, after;  // changed lines (logical lines, joined), in order
  bool changed() const { return !before.empty(); }
};

// Rewrites exports-file text so every line exporting one of `roots` (or a directory under one)
// is read-only. Invalid when a line exporting a root cannot be parsed (unbalanced quotes or
// parentheses). `matchedPaths` empty means no line exports any root.
[[nodiscard]] Result<ExportsEdit> fenceExportsText(std::string_view text,
                                                   const std::vector<std::string>& roots);

struct FenceResult {
  std::string method;  // exportfs | command | none
  Json details = Json::object();
  std::vector<std::string> warnings;
};

class Fencer {
 public:
  // `ssh` reaches the primary NFS host (exportfs method); the runner runs ssh and the command.
  Fencer(const config::Fencing& cfg, const replication::SshCommand& ssh, ProcessRunner& runner)
      : cfg_(cfg), ssh_(ssh), runner_(runner) {}

  // `roots`: the primary export roots' host paths the failover's volumes live under.
  [[nodiscard]] Result<FenceResult> fence(const std::string& runId,
                                          const std::vector<std::string>& roots,
                                          std::stop_token stop = {});
  // What fence() would change, without changing anything (reads the exports file over ssh).
  [[nodiscard]] Result<FenceResult> preview(const std::vector<std::string>& roots,
                                            std::stop_token stop = {});

 private:
  [[nodiscard]] Result<ProcessResult> remote(const std::string& command,
                                             std::optional<std::string> stdinData,
                                             std::stop_token stop);
  [[nodiscard]] Result<ExportsEdit> readAndEdit(const std::vector<std::string>& roots,
                                                std::stop_token stop);

  const config::Fencing& cfg_;
  const replication::SshCommand& ssh_;
  ProcessRunner& runner_;
};

}  // namespace ocpvdr::failover
