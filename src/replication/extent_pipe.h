// The extent mover's transport: the primary's `ocpv-dr-mover send …` (through ssh, as rsync's
// remote side is started, or locally with `transport: local`) with its stdout piped straight
// into extent::apply in the calling thread — no copy of the stream on disk, no shell.
//
// The sender is started through the ProcessRunner seam with a streaming stdout
// (ProcessSpec::onStdoutFd): it runs in its own process group; a stop request or the timeout
// kills that group (SIGTERM, SIGKILL after a grace), which ends the stream: the applier then
// discards its partial point (extent/applier.h) and every existing point stays as it was. When
// apply stops early (a base DR lacks, a bad stream) the pipe is closed and the sender ends on
// EPIPE. Tests may pass a runner of their own.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "core/process.h"
#include "core/result.h"
#include "extent/applier.h"

namespace ocpvdr::replication {

// The extent mover's state at an export root: <root>/.ocpv-dr/snapshots/<pv>/ at the primary
// (extent/snapshot.h), <root>/.ocpv-dr/points/<pv>/ at DR. Never a PV directory, never synced.
inline constexpr std::string_view kStateDirName = ".ocpv-dr";

struct PipeApplyResult {
  Result<extent::ApplyReport> applied = invalidError("not run");
  bool started = false;  // the sender process was started
  int senderExit = -1;   // when not signaled
  bool senderSignaled = false;
  bool stopped = false, timedOut = false;
  std::string senderErr;     // the sender's stderr (its report or guard line; last 64 KiB)
  uint64_t drReadBytes = 0;  // storage bytes the apply read at DR (extent::storageReadBytes)
};

PipeApplyResult pipeIntoApply(ProcessRunner& runner, const std::vector<std::string>& senderArgv,
                              const extent::ApplyOptions& opts, std::chrono::milliseconds timeout,
                              std::stop_token stop);

// The key=value fields of the first line of `text` that starts with `prefix` (e.g.
// "OCPVDR-MOVER sent"); empty when there is none.
std::map<std::string, std::string> moverFields(std::string_view text, std::string_view prefix);

}  // namespace ocpvdr::replication
