// InstanceLock: one process at a time on a piece of state (serve's catalog, the forwarder's
// spool). An exclusive flock(2) on a lock file that holds the holder's PID; the kernel drops the
// lock when the holder exits or is killed, so a crash leaves nothing stale to clean up (the
// file stays, unlocked, and the next holder overwrites the PID).
//
// A second process gets a Refused error (exit code 3) naming the file and the holder's PID. The
// lock is taken with O_CLOEXEC, so child processes (rsync, ssh) do not inherit it.
#pragma once

#include <string>

#include "core/result.h"

namespace ocpvdr {

class InstanceLock {
 public:
  InstanceLock() = default;
  InstanceLock(InstanceLock&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }
  InstanceLock& operator=(InstanceLock&& o) noexcept;
  ~InstanceLock();
  InstanceLock(const InstanceLock&) = delete;
  InstanceLock& operator=(const InstanceLock&) = delete;

  bool held() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }

  // Locks `path` (created 0644 when missing; its directory must exist) without waiting.
  // `what` names the state in the error, e.g. "the catalog /var/lib/ocpv-dr/catalog.db".
  [[nodiscard]] static Result<InstanceLock> acquire(const std::string& path,
                                                    const std::string& program,
                                                    const std::string& what);

 private:
  InstanceLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  void release();
  int fd_ = -1;
  std::string path_;
};

}  // namespace ocpvdr
