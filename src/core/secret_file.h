// SecretFile: a credential kept in a file — a mounted Kubernetes Secret, a token file — re-read
// when the file changes, so a rotated token or key takes effect without a restart. Written once
// for the forwarder's webhook token and HMAC key, the kube client's bearer token and the serve
// endpoint's token and HMAC secret.
//
// The file is stat()ed at most once per `recheck` (0: on every refresh) and read again only when
// its mtime, size or inode changed. Surrounding whitespace (the trailing newline `echo` and most
// editors add) is not part of the secret. Every value read is registered with log::addSecret.
// A failed check keeps the last value read: whether to go on with it is the caller's choice.
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

#include "core/clock.h"
#include "core/result.h"

namespace ocpvdr {

class SecretFile {
 public:
  SecretFile(std::string path, Clock& clock,
             std::chrono::milliseconds recheck = std::chrono::seconds(1));

  // Checks the file when the recheck interval has passed (or `force`), re-reading it when it
  // changed. Errors: NotFound (no such file), Terminal (cannot stat or read), each naming it.
  [[nodiscard]] Status refresh(bool force = false);

  bool hasValue() const;
  std::string value() const;  // the last value read ("" before the first)
  // Bumped each time the value read differs from the one before (the first read counts).
  std::uint64_t generation() const;
  const std::string& path() const { return path_; }

 private:
  const std::string path_;
  Clock& clock_;
  const std::chrono::milliseconds recheck_;
  mutable std::mutex mu_;
  std::string value_;
  bool hasValue_ = false;
  std::uint64_t generation_ = 0;
  bool checkedOnce_ = false;
  SteadyTime lastCheck_{};
  std::int64_t mtimeNs_ = -1, size_ = -1, inode_ = -1;
};

}  // namespace ocpvdr
