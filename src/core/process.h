// ProcessRunner: run an external program (rsync, ssh, exportfs) under control.
//
// argv is executed directly (no shell). The child gets its own process group so a timeout or a
// stop request kills the whole tree (ssh under rsync, say). stdout and stderr are captured up to
// a bound each; the tail beyond the bound is dropped and flagged, never buffered without limit.
// Or stdout is streamed: onStdoutFd gets the pipe's read end to consume as it likes (a data
// stream that must not be captured: the extent mover's, replication/extent_pipe.h).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "core/result.h"

namespace ocpvdr {

struct ProcessSpec {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH when it has no '/'
  // Environment: when inheritEnv, these entries are set on top of the parent's; otherwise the
  // child sees only these.
  std::map<std::string, std::string> env;
  bool inheritEnv = true;
  std::string cwd;                       // empty: inherit
  std::optional<std::string> stdinData;  // empty optional: stdin is /dev/null
  std::chrono::milliseconds timeout{0};  // 0: no timeout
  std::size_t maxCapture = 1 << 20;      // per stream
  // Called with each complete line of output as it arrives (progress parsing). Optional.
  // '\n', '\r' and "\r\n" all end a line (rsync progress rewrites its line with '\r'); a
  // final unterminated line is delivered at EOF; lines are seen even beyond maxCapture.
  std::function<void(std::string_view line)> onStdoutLine;
  std::function<void(std::string_view line)> onStderrLine;
  // Streaming stdout instead of capturing it: called once, in the calling thread, right after
  // the child started, with the read end of its stdout pipe (blocking). It reads as much as it
  // wants and returns; the runner then closes that end (a child still writing ends on EPIPE)
  // and waits for the child. Meanwhile a helper thread runs everything else — stdin, stderr
  // capture and lines, the timeout and stop with their process-group SIGTERM → SIGKILL — so a
  // stop or timeout ends the stream the callback reads (EOF). `out` stays empty and
  // onStdoutLine is not called. An exception from the callback kills the group and propagates.
  std::function<void(int fd)> onStdoutFd;
  // Grace between SIGTERM and SIGKILL when the timeout fires or stop is requested.
  std::chrono::milliseconds killGrace{2000};
};

struct ProcessResult {
  int exitCode = -1;   // valid when !signaled
  int termSignal = 0;  // signal number when signaled
  bool signaled = false;
  bool timedOut = false;
  bool stopped = false;  // killed because the stop token was requested
  std::string out, err;
  bool outTruncated = false, errTruncated = false;
  std::chrono::milliseconds elapsed{0};
  int pid = 0;  // the child's pid, which is also its process group id (already reaped)

  bool success() const { return !signaled && exitCode == 0; }
};

class ProcessRunner {
 public:
  virtual ~ProcessRunner() = default;
  // Fails (Terminal) only when the program cannot be started at all; a non-zero exit is a
  // successful run with exitCode set, for the caller to interpret.
  [[nodiscard]] virtual Result<ProcessResult> run(const ProcessSpec& spec,
                                                  std::stop_token stop = {}) = 0;
};

class RealProcessRunner final : public ProcessRunner {
 public:
  Result<ProcessResult> run(const ProcessSpec& spec, std::stop_token stop = {}) override;
};

// Quotes one argument for a POSIX shell (used where ssh concatenates a remote command line).
std::string shellQuote(std::string_view arg);

}  // namespace ocpvdr
