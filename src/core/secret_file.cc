// A secret re-read from its file when the file changes (see secret_file.h).
#include "core/secret_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "core/files.h"
#include "core/log.h"
#include "core/text.h"

namespace ocpvdr {

SecretFile::SecretFile(std::string path, Clock& clock, std::chrono::milliseconds recheck)
    : path_(std::move(path)), clock_(clock), recheck_(recheck) {}

Status SecretFile::refresh(bool force) {
  std::lock_guard lock(mu_);
  const SteadyTime now = clock_.monotonic();
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
  const auto inode = static_cast<std::int64_t>(st.st_ino);
  if (hasValue_ && mtime == mtimeNs_ && st.st_size == size_ && inode == inode_)
    return Status::success();
  auto text = readFile(path_);
  if (!text) return text.error();
  std::string v(trim(*text));
  mtimeNs_ = mtime;
  size_ = st.st_size;
  inode_ = inode;
  if (!hasValue_ || v != value_) {
    if (hasValue_) log::info("secret file changed; using the new value", {{"file", path_}});
    value_ = std::move(v);
    if (!value_.empty()) log::addSecret(value_);
    hasValue_ = true;
    ++generation_;
  }
  return Status::success();
}

bool SecretFile::hasValue() const {
  std::lock_guard lock(mu_);
  return hasValue_;
}

std::string SecretFile::value() const {
  std::lock_guard lock(mu_);
  return value_;
}

std::uint64_t SecretFile::generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

}  // namespace ocpvdr
