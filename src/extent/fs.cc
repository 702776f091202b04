// Linux file-system calls for the extent mover (see fs.h).
#include "extent/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <memory>

namespace ocpvdr::extent {

void Fd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Error sysError(std::string_view what, int err) {
  std::string m = std::string(what) + ": " + std::strerror(err);
  switch (err) {
    case ENOSPC:
    case EDQUOT:
      return terminalError(m + " (no space left on the file system)");
    case EOPNOTSUPP:
    case EXDEV:
    case ENOTTY:
      return refusedError(m + " (the file system cannot reflink or map extents here)");
    case ENOENT:
      return notFoundError(m);
    default:
      return terminalError(m);
  }
}

Status forEachExtent(int fd, const std::function<void(const PhysExtent&)>& visit) {
  constexpr uint32_t kBatch = 512;
  const size_t bytes = sizeof(struct fiemap) + kBatch * sizeof(struct fiemap_extent);
  std::unique_ptr<uint64_t[]> storage(new uint64_t[(bytes + 7) / 8]);
  auto* fm = reinterpret_cast<struct fiemap*>(storage.get());
  uint64_t start = 0;
  for (;;) {
    std::memset(fm, 0, bytes);
    fm->fm_start = start;
    fm->fm_length = FIEMAP_MAX_OFFSET - start;
    fm->fm_flags = FIEMAP_FLAG_SYNC;
    fm->fm_extent_count = kBatch;
    if (::ioctl(fd, FS_IOC_FIEMAP, fm) != 0) return sysError("FIEMAP", errno);
    if (fm->fm_mapped_extents == 0) break;
    bool last = false;
    for (uint32_t i = 0; i < fm->fm_mapped_extents; ++i) {
      const auto& e = fm->fm_extents[i];
      visit({e.fe_logical, e.fe_physical, e.fe_length, e.fe_flags});
      if (e.fe_flags & FIEMAP_EXTENT_LAST) last = true;
    }
    const auto& tail = fm->fm_extents[fm->fm_mapped_extents - 1];
    uint64_t next = tail.fe_logical + tail.fe_length;
    if (last || next <= start || next >= FIEMAP_MAX_OFFSET) break;
    start = next;
  }
  return {};
}

Result<std::vector<PhysExtent>> readExtents(int fd) {
  std::vector<PhysExtent> out;
  OCPVDR_TRY(forEachExtent(fd, [&out](const PhysExtent& e) { out.push_back(e); }));
  return out;
}

Status reflinkFile(int srcFd, int dstFd) {
  if (::ioctl(dstFd, FICLONE, srcFd) != 0) return sysError("FICLONE", errno);
  return {};
}

Status punchHole(int fd, uint64_t offset, uint64_t length) {
  if (length == 0) return {};
  if (::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                  static_cast<off_t>(length)) != 0)
    return sysError("punching a hole", errno);
  return {};
}

Status writeAll(int fd, const void* data, size_t n) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return sysError("write", errno);
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return {};
}

Status preadAll(int fd, void* data, size_t n, uint64_t offset) {
  auto* p = static_cast<char*>(data);
  while (n > 0) {
    ssize_t r = ::pread(fd, p, n, static_cast<off_t>(offset));
    if (r < 0) {
      if (errno == EINTR) continue;
      return sysError("read", errno);
    }
    if (r == 0) return terminalError("read: file shorter than its extent map");
    p += r;
    n -= static_cast<size_t>(r);
    offset += static_cast<uint64_t>(r);
  }
  return {};
}

Status pwriteAll(int fd, const void* data, size_t n, uint64_t offset) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      return sysError("write", errno);
    }
    p += w;
    n -= static_cast<size_t>(w);
    offset += static_cast<uint64_t>(w);
  }
  return {};
}

Result<bool> readExact(int fd, void* data, size_t n) {
  auto* p = static_cast<char*>(data);
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::read(fd, p + got, n - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      return sysError("reading the stream", errno);
    }
    if (r == 0) {
      if (got == 0) return false;
      return invalidError("stream truncated inside a frame (the sender stopped?)");
    }
    got += static_cast<size_t>(r);
  }
  return true;
}

Status removeTreeAt(int dirFd, const char* name) {
  struct stat st {};
  if (::fstatat(dirFd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return {};
    return sysError(std::string("stat ") + name, errno);
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlinkat(dirFd, name, 0) != 0 && errno != ENOENT)
      return sysError(std::string("unlink ") + name, errno);
    return {};
  }
  int sub = ::openat(dirFd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (sub < 0) return sysError(std::string("open ") + name, errno);
  DIR* d = ::fdopendir(sub);
  if (d == nullptr) {
    ::close(sub);
    return sysError("opendir", errno);
  }
  std::vector<std::string> names;
  while (struct dirent* de = ::readdir(d)) {
    if (std::strcmp(de->d_name, ".") == 0 || std::strcmp(de->d_name, "..") == 0) continue;
    names.emplace_back(de->d_name);
  }
  Status s;
  for (const auto& n : names) {
    s = removeTreeAt(::dirfd(d), n.c_str());
    if (!s.ok()) break;
  }
  ::closedir(d);
  if (!s.ok()) return s;
  if (::unlinkat(dirFd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
    return sysError(std::string("rmdir ") + name, errno);
  return {};
}

Status removeTree(const std::string& path) {
  return removeTreeAt(AT_FDCWD, path.c_str());
}

Status makeDirs(const std::string& path, unsigned mode) {
  if (path.empty()) return {};
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    std::string prefix = path.substr(0, pos);
    if (prefix.empty()) continue;
    if (::mkdir(prefix.c_str(), mode) != 0 && errno != EEXIST)
      return sysError("mkdir " + prefix, errno);
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return terminalError(path + " is not a directory");
  return {};
}

Status fsyncPath(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return sysError("open " + path, errno);
  if (::fsync(fd.get()) != 0) return sysError("fsync " + path, errno);
  return {};
}

Status probeReflink(const std::string& root) {
  const std::string dir = root + "/.ocpv-dr";
  struct stat st {};
  if (::stat(root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return notFoundError("export root " + root + " does not exist");
  const bool made = ::mkdir(dir.c_str(), 0700) == 0;
  if (!made && errno != EEXIST) return sysError("mkdir " + dir, errno);
  const std::string a = dir + "/.probe." + std::to_string(::getpid()) + ".a";
  const std::string b = dir + "/.probe." + std::to_string(::getpid()) + ".b";
  auto run = [&]() -> Status {
    Fd fa(::open(a.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fa.valid()) return sysError("create " + a, errno);
    std::string buf(64 * 1024, 'p');
    OCPVDR_TRY(writeAll(fa.get(), buf.data(), buf.size()));
    if (::fsync(fa.get()) != 0) return sysError("fsync " + a, errno);
    Fd fb(::open(b.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fb.valid()) return sysError("create " + b, errno);
    OCPVDR_TRY(reflinkFile(fa.get(), fb.get()));
    OCPVDR_ASSIGN_OR_RETURN(auto ea, readExtents(fa.get()));
    OCPVDR_ASSIGN_OR_RETURN(auto eb, readExtents(fb.get()));
    if (ea.empty() || eb.empty() || ea.front().physical == 0 ||
        ea.front().physical != eb.front().physical)
      return refusedError("FIEMAP on " + root + " does not show the clone sharing its blocks");
    return {};
  }();
  ::unlink(a.c_str());
  ::unlink(b.c_str());
  if (made) ::rmdir(dir.c_str());  // a probe leaves nothing behind
  return run;
}

uint64_t storageReadBytes() {
  Fd fd(::open("/proc/thread-self/io", O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return 0;
  char buf[1024];
  ssize_t n = ::read(fd.get(), buf, sizeof buf - 1);
  if (n <= 0) return 0;
  buf[n] = '\0';
  const char* p = std::strstr(buf, "\nread_bytes:");
  if (p == nullptr) return 0;
  return std::strtoull(p + 12, nullptr, 10);
}

bool validName(std::string_view name) {
  if (name.empty() || name.size() > 128 || name.front() == '.') return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == ':';
    if (!ok) return false;
  }
  return true;
}

bool validRelativePath(std::string_view path, std::string* why) {
  auto fail = [&](const char* m) {
    if (why) *why = m;
    return false;
  };
  if (path.empty()) return true;
  if (path.size() > 4096) return fail("path longer than 4096 bytes");
  if (path.find('\0') != std::string_view::npos) return fail("path contains a NUL byte");
  if (path.front() == '/') return fail("absolute path");
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view comp = path.substr(start, end - start);
    if (comp.empty()) return fail("empty path component ('//' or trailing '/')");
    if (comp == "." || comp == "..") return fail("'.' or '..' path component");
    if (comp.size() > 255) return fail("path component longer than 255 bytes");
    start = end + 1;
  }
  return true;
}

int64_t nowNs() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::string idFromNs(int64_t ns) {
  time_t sec = static_cast<time_t>(ns / 1000000000);
  struct tm tm {};
  ::gmtime_r(&sec, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d%02d%02dT%02d%02d%02d.%09lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(ns % 1000000000));
  return buf;
}

Result<std::vector<std::string>> sortedNames(int dirFd) {
  int dup = ::fcntl(dirFd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return sysError("dup", errno);
  DIR* d = ::fdopendir(dup);
  if (d == nullptr) {
    ::close(dup);
    return sysError("opendir", errno);
  }
  ::rewinddir(d);  // the fd may have been read before
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* de = ::readdir(d)) {
    if (std::strcmp(de->d_name, ".") == 0 || std::strcmp(de->d_name, "..") == 0) continue;
    names.emplace_back(de->d_name);
  }
  int err = errno;
  ::closedir(d);
  if (err != 0) return sysError("readdir", err);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace ocpvdr::extent
