// One sync per key at a time, across threads and processes: an flock(2) on
// <replication.lock_dir>/<key>.lock. The lock dies with its holder (kernel-released on exit or
// crash), so a killed sync never leaves a stale lock behind.
//
// A second caller waits up to `wait` (polling on the injected Clock), then gets a Retryable
// "busy" error; wait = 0 answers busy at once. flock locks belong to an open file description,
// so two threads of one process exclude each other just like two processes do.
#pragma once

#include <chrono>
#include <stop_token>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/result.h"

namespace ocpvdr::replication {

// The lock key of a DR directory ("path-" + the path, '/' written as '+', anything outside
// [A-Za-z0-9._-] %-escaped; long paths end in a hash). Sync and delete hold it besides the PV's own
// lock, so two PVs that name one directory never run at once (replicator.h).
std::string pathLockKey(std::string_view drPath);

class FileLock {
 public:
  FileLock() = default;
  FileLock(FileLock&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }
  FileLock& operator=(FileLock&& o) noexcept;
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  bool held() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }
  void release();

  // `key` must be a plain name (PV names, "snap-<uid>"): no '/', not "." or "..".
  [[nodiscard]] static Result<FileLock> acquire(const std::string& dir, std::string_view key,
                                                std::chrono::milliseconds wait, Clock& clock,
                                                std::stop_token stop = {});

 private:
  FileLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
};

}  // namespace ocpvdr::replication
