// rsync: the command line replication runs, what its output says, and what its exit code means.
//
// The command (built from replication.rsync in the configuration) fits VM disk images:
//   -a -H -S --numeric-ids     archive mode, hard links, sparse files, raw uid/gid
//   --modify-window=-1         quick check compares mtimes to the nanosecond (receiver >= 3.1.3)
//   --delete --delete-delay    mirror deletions, but only after the transfer (an interrupted sync
//                              never leaves DR with files removed and their replacements missing)
//   --partial-dir=DIR          an interrupted file's partial data is kept aside, never in place of
//                              the previous whole version; without --inplace rsync writes a
//                              temporary file and renames it, so DR always holds a whole image
//   --inplace                  only when configured (then --partial-dir is left out: the two
//                              conflict), needs rsync >= 3.1.3 together with --sparse
//   --exclude=/.ocpv-dr/       the extent mover's snapshots and points are never synced as data
//   --stats -i                 machine-readable counters, one line per changed item
//   --info=progress2           only when a progress display wants it (TTY): on a no-op sync of
//                              many files it writes an update per file checked
//   --bwlimit, --timeout, extra args, -e "ssh ..." for the ssh transport
//   --no-devices --no-specials after the extra args: device nodes, FIFOs and sockets in a tenant's
//                              directory are skipped, never recreated at DR by a root rsync
// Parsed output format: rsync 3.x `--stats` block ("Number of regular files transferred: 1",
// "Total bytes received: 5,678", numbers with thousands separators), itemize lines
// ("<f.st...... name", "*deleting   name") and progress2 records separated by '\r'
// ("  1,234,567  12%   10.50MB/s    0:00:05 (xfr#1, to-chk=0/3)").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/process.h"
#include "core/result.h"

namespace ocpvdr::replication {

struct RsyncInvocation {
  std::string source;       // "user@host:/path/" or "/path/" (trailing slash: copy contents)
  std::string destination;  // "/path/"
  std::string sshCommand;   // value for -e; empty: local transfer
  bool mirrorDeletes = true;
  bool progress = false;  // --info=progress2 (only when someone shows it: it is chatty)
  std::string rsyncPath;  // value for --rsync-path (the primary-side guard); empty: none
};

std::vector<std::string> buildRsyncArgv(const config::RsyncOptions& opts,
                                        const RsyncInvocation& inv);

struct RsyncStats {
  bool parsed = false;  // a --stats block was found
  std::int64_t filesTotal = 0;
  std::int64_t createdFiles = 0;
  std::int64_t deletedFiles = 0;
  std::int64_t regularFilesTransferred = 0;
  std::int64_t totalFileSize = 0;
  std::int64_t transferredFileSize = 0;           // size of the files that were (re)sent, whole
  std::int64_t literalData = 0;                   // bytes that had to be sent as data (the delta)
  std::int64_t matchedData = 0;                   // bytes rebuilt from the existing copy
  std::int64_t bytesSent = 0, bytesReceived = 0;  // on the wire, from this side's view
  std::int64_t itemizedChanges = 0;               // itemize lines (any change, incl. attributes)
  std::int64_t itemizedDeletes = 0;               // "*deleting" lines
};

// Incremental parser: feed stdout line by line as it arrives (the captured copy of stdout is
// bounded and may lose the --stats block at the end of a large itemized transfer).
class RsyncOutputParser {
 public:
  void feed(std::string_view line);
  const RsyncStats& stats() const { return stats_; }

 private:
  RsyncStats stats_;
};

RsyncStats parseRsyncOutput(std::string_view out);

// One progress2 record.
struct RsyncProgress {
  std::int64_t bytes = 0;
  int percent = 0;
  std::string rate;  // as rsync prints it ("31.25MB/s")
  std::string eta;   // "0:00:05"
};
// Parses the last complete progress record in `line` (records are '\r'-separated).
std::optional<RsyncProgress> parseProgress(std::string_view line);

enum class ExitClass { Ok, Retry, Fatal };
struct ExitCodeInfo {
  ExitClass cls;
  std::string_view meaning;
};
// The one table of rsync exit codes (man rsync, EXIT VALUES) and what replication does with each.
ExitCodeInfo classifyRsyncExit(int code);

// Turns a finished rsync run into an error (or success): exit table, signals, timeouts, stops.
// The message carries the meaning and the tail of rsync's stderr.
[[nodiscard]] Status rsyncOutcome(const ProcessResult& r);

// "rsync  version 3.2.7  protocol version 31" → {3,2,7}; nullopt when not recognised.
std::optional<std::vector<int>> parseRsyncVersion(std::string_view versionOutput);
// --inplace together with --sparse needs rsync >= 3.1.3.
bool supportsInplaceSparse(const std::vector<int>& version);

}  // namespace ocpvdr::replication
