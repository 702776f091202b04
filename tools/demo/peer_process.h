// PeerProcess: one long-running child of the demo (kube-sim, s3rver, `ocpv-dr serve`,
// `ocpv-dr forward`, ...), started with its output in a log file and stopped by its PID.
//
// The child runs in its own process group, so a Ctrl-C on the terminal reaches only the demo,
// which then stops its peers in order; it also gets PR_SET_PDEATHSIG (SIGTERM), so nothing
// outlives a demo that is killed outright. Readiness is a line in the log (kube-sim, s3rver) or a
// ready file (serve, forward); both waits end early, with the log's tail in the error, when the
// child exits or the caller's stop token fires.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <regex>
#include <stop_token>
#include <string>
#include <vector>

#include "core/result.h"

namespace ocpvdr::demo {

struct PeerSpec {
  std::string name;               // for messages: "kube-sim (primary)"
  std::vector<std::string> argv;  // argv[0]: an absolute path or a name looked up in PATH
  // Set on top of the demo's environment (an empty value removes the variable).
  std::map<std::string, std::string> env;
  std::filesystem::path logFile;  // stdout and stderr (truncated at start)
};

class PeerProcess {
 public:
  // Fails (Terminal) when the program cannot be started at all (a missing binary shows as an
  // early exit with status 127 instead, caught by the ready waits).
  [[nodiscard]] static Result<std::unique_ptr<PeerProcess>> start(PeerSpec spec);
  ~PeerProcess();  // stop()
  PeerProcess(const PeerProcess&) = delete;
  PeerProcess& operator=(const PeerProcess&) = delete;

  const std::string& name() const { return spec_.name; }
  pid_t pid() const { return pid_; }
  const std::filesystem::path& logFile() const { return spec_.logFile; }
  // False once the child has exited (reaps it).
  bool running();

  // Waits until the log matches `pattern`; returns the first capture group (the whole match when
  // there is none). Terminal when the child exits first, Retryable on timeout, Terminal with
  // "interrupted" when `stop` is requested.
  [[nodiscard]] Result<std::string> waitForLog(const std::regex& pattern,
                                               std::chrono::milliseconds timeout,
                                               std::stop_token stop = {});
  // Waits until `file` exists with non-empty content; returns it without the trailing newline.
  [[nodiscard]] Result<std::string> waitForFile(const std::filesystem::path& file,
                                                std::chrono::milliseconds timeout,
                                                std::stop_token stop = {});

  // SIGTERM, up to `grace` for the child to exit, then SIGKILL to its process group. Returns the
  // exit status (128+signal when killed by a signal); idempotent (later calls return the same).
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(10));
  // The last `bytes` of the log.
  std::string logTail(std::size_t bytes = 2000) const;

 private:
  explicit PeerProcess(PeerSpec spec) : spec_(std::move(spec)) {}
  void reaped(int waitStatus);

  PeerSpec spec_;
  pid_t pid_ = -1;
  int exitStatus_ = -1;
};

// `program` as found in PATH (empty when absent); names containing '/' are returned as they are
// when executable.
std::string findProgram(const std::string& program);

}  // namespace ocpvdr::demo
