// File/env credentials with change detection (see secret_source.h).
#include "forwarder/secret_source.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "core/files.h"
#include "core/json_util.h"
#include "core/log.h"
#include "core/text.h"

namespace ocpvdr::forwarder {
namespace {}  // namespace

SecretSource SecretSource::fromValue(std::string value) {
  SecretSource s;
  s.value_ = std::string(trim(value));
  s.hasValue_ = true;
  s.generation_ = 1;
  log::addSecret(s.value_);
  return s;
}

SecretSource SecretSource::fromFile(std::string path, Clock& clock,
                                    std::chrono::milliseconds recheck) {
  SecretSource s;
  s.clock_ = &clock;
  s.path_ = std::move(path);
  s.recheck_ = recheck;
  return s;
}

SecretSource::SecretSource(SecretSource&& o) noexcept {
  *this = std::move(o);
}

SecretSource& SecretSource::operator=(SecretSource&& o) noexcept {
  if (this == &o) return *this;
  std::scoped_lock lock(mu_, o.mu_);
  clock_ = o.clock_;
  path_ = std::move(o.path_);
  recheck_ = o.recheck_;
  value_ = std::move(o.value_);
  hasValue_ = o.hasValue_;
  generation_ = o.generation_;
  lastCheck_ = o.lastCheck_;
  checkedOnce_ = o.checkedOnce_;
  mtimeNs_ = o.mtimeNs_;
  size_ = o.size_;
  inode_ = o.inode_;
  return *this;
}

Status SecretSource::readLocked(bool force) {
  if (path_.empty()) return Status::success();
  const SteadyTime now = clock_->monotonic();
  if (!force && checkedOnce_ && now - lastCheck_ < recheck_) return Status::success();
  lastCheck_ = now;
  checkedOnce_ = true;
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT) return notFoundError("secret file " + path_ + " does not exist");
    return terminalError("cannot stat secret file " + path_ + ": " + std::strerror(err));
  }
  const std::int64_t mtime =
      static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  if (hasValue_ && mtime == mtimeNs_ && st.st_size == size_ &&
      static_cast<std::int64_t>(st.st_ino) == inode_) {
    return Status::success();
  }
  auto text = readFile(path_);
  if (!text) return text.error();
  std::string v = std::string(trim(*text));
  mtimeNs_ = mtime;
  size_ = st.st_size;
  inode_ = static_cast<std::int64_t>(st.st_ino);
  if (!hasValue_ || v != value_) {
    if (hasValue_)
      log::info("forwarder: secret file changed; using the new value", {{"file", path_}});
    value_ = std::move(v);
    log::addSecret(value_);
    hasValue_ = true;
    ++generation_;
  }
  return Status::success();
}

Result<std::string> SecretSource::value() {
  std::lock_guard lock(mu_);
  Status st = readLocked(false);
  if (!st.ok() && !hasValue_) return st.error();
  return value_;
}

Result<std::string> SecretSource::reload() {
  std::lock_guard lock(mu_);
  Status st = readLocked(true);
  if (!st.ok() && !hasValue_) return st.error();
  return value_;
}

std::uint64_t SecretSource::generation() {
  std::lock_guard lock(mu_);
  (void)readLocked(false);
  return generation_;
}

}  // namespace ocpvdr::forwarder
