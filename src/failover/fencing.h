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
//             Then the live export table is read back (`exportfs -v`): the step fails when any
//             export covering a fenced root — the root, a parent directory of it, a directory
//             under it, from the exports file or from /etc/exports.d/*.exports — is still
//             writable for any client. ocpv-dr edits only its exports file's lines of the roots;
//             the operator makes the others read-only and resumes the run.
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

// One client line of the live export table, as `exportfs -v` prints it (nfs-utils exportfs.c,
// dump()): "<path padded to 14>\t<client>(<options>)", or, for a path longer than 14
// characters, the path alone on its line and "\t\t<client>(<options>)" on the next. The
// options always include "rw" or "ro" (exportfs writes the mode explicitly); paths are printed
// unescaped (spaces as they are). Clients: host names, addresses, CIDR ranges, "@netgroup",
// "<world>" for "*", "<anon clnt>" for an unusable entry.
struct LiveExport {
  std::string path;
  std::string client;
  std::vector<std::string> options;
  // "rw" among the options, or neither "rw" nor "ro": what is not shown read-only is not fenced.
  bool writable() const;
  std::string text() const;  // "path client(options)"
};

// Parses `exportfs -v` output. Invalid (quoting the line) for a line that fits neither form.
[[nodiscard]] Result<std::vector<LiveExport>> parseExportfsVerbose(std::string_view out);

// The exports that cover one of `roots` (host paths): the root, a parent directory of it, or a
// directory under it. Writable or not; see LiveExport::writable.
std::vector<LiveExport> exportsCovering(const std::vector<LiveExport>& live,
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
  // Reads `exportfs -v` back; Refused when an export covering a root is still writable.
  [[nodiscard]] Status verifyLiveExports(const std::vector<std::string>& roots, FenceResult& fr,
                                         std::stop_token stop);
  [[nodiscard]] Result<ExportsEdit> readAndEdit(const std::vector<std::string>& roots,
                                                std::stop_token stop);

  const config::Fencing& cfg_;
  const replication::SshCommand& ssh_;
  ProcessRunner& runner_;
};

}  // namespace ocpvdr::failover
