// flock-based per-key locks (see lock.h).
#include "replication/lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace ocpvdr::replication {

std::string pathLockKey(std::string_view drPath) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string key = "path-";
  for (unsigned char c : drPath) {
    if (std::isalnum(c) || c == '.' || c == '_' || c == '-') {
      key += static_cast<char>(c);
    } else if (c == '/') {
      key += '+';
    } else {
      key += '%';
      key += kHex[c >> 4];
      key += kHex[c & 0xF];
    }
  }
  // NAME_MAX is 255 with ".lock": keep a prefix and a 64-bit FNV-1a hash of the whole path.
  if (key.size() > 200) {
    std::uint64_t h = 1469598103934665603ULL;
    for (unsigned char c : drPath) h = (h ^ c) * 1099511628211ULL;
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    key = key.substr(0, 180) + "~" + buf;
  }
  return key;
}

FileLock& FileLock::operator=(FileLock&& o) noexcept {
  if (this != &o) {
    release();
    fd_ = o.fd_;
    path_ = std::move(o.path_);
    o.fd_ = -1;
  }
  return *this;
}

FileLock::~FileLock() {
  release();
}

void FileLock::release() {
  if (fd_ >= 0) {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
    fd_ = -1;
  }
}

Result<FileLock> FileLock::acquire(const std::string& dir, std::string_view key,
                                   std::chrono::milliseconds wait, Clock& clock,
                                   std::stop_token stop) {
  if (key.empty() || key == "." || key == ".." || key.find('/') != std::string_view::npos ||
      key.find('\0') != std::string_view::npos)
    return invalidError("lock key \"" + std::string(key) + "\" is not a plain name");
  if (dir.empty()) return invalidError("replication.lock_dir is empty");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return terminalError("cannot create lock directory " + dir + ": " + ec.message());
  std::string path = dir + "/" + std::string(key) + ".lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return terminalError("cannot open lock file " + path + ": " + std::strerror(errno));
  const auto deadline = clock.monotonic() + wait;
  while (true) {
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return FileLock(fd, path);
    int err = errno;
    if (err != EWOULDBLOCK && err != EINTR) {
      ::close(fd);
      return terminalError("cannot lock " + path + ": " + std::strerror(err));
    }
    if (clock.monotonic() >= deadline || stop.stop_requested()) break;
    auto left = deadline - clock.monotonic();
    auto step = std::min<std::chrono::nanoseconds>(left, std::chrono::milliseconds(100));
    if (!clock.sleepFor(step, stop)) break;
  }
  ::close(fd);
  return retryableError(
      "busy: another ocpv-dr is working on " + std::string(key) + " (lock " + path + " held" +
      (wait.count() > 0 ? ", waited " + std::to_string(wait.count()) + " ms" : std::string()) +
      ")");
}

}  // namespace ocpvdr::replication
