// Whole-file reads and atomic writes (see files.h).
#include "core/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <iterator>

namespace ocpvdr {
namespace {

std::string errnoText(int err) {
  return std::strerror(err);
}

Error fileError(const std::string& action, const std::string& path, int err) {
  std::string msg = action + " " + path + ": " + errnoText(err);
  if (err == ENOENT) return notFoundError(msg);
  if (err == EISDIR || err == ENOTDIR) return invalidError(msg);
  return terminalError(msg);
}

}  // namespace

Result<std::string> readFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fileError("reading", path, errno);
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    return invalidError("reading " + path + ": is a directory");
  }
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return fileError("reading", path, err);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

Result<std::string> readFileOrStdin(const std::string& path) {
  if (path != "-") return readFile(path);
  std::string out{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
  if (std::cin.bad()) return terminalError("reading standard input failed");
  return out;
}

Status writeFileAtomic(const std::string& path, std::string_view data, unsigned mode) {
  const auto slash = path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  if (base.empty()) return invalidError("writing " + path + ": path names a directory");
  std::string tmp = (dir == "/" ? "" : dir) + "/." + base + ".tmp.XXXXXX";
  int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) return fileError("creating temporary file in", dir, errno);
  auto fail = [&](const std::string& action) -> Status {
    int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return fileError(action, path, err);
  };
  if (::fchmod(fd, static_cast<mode_t>(mode)) != 0) return fail("setting mode of");
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("writing");
    }
    off += static_cast<std::size_t>(n);
  }
  // fsync before rename: otherwise a crash can leave the new name pointing at empty data.
  if (::fsync(fd) != 0) return fail("syncing");
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return fileError("closing", path, err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return fileError("renaming into", path, err);
  }
  // The rename itself is durable only once the directory is synced.
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return fileError("opening directory", dir, errno);
  int rc = ::fsync(dfd);
  int err = errno;
  ::close(dfd);
  if (rc != 0 && err != EINVAL) return fileError("syncing directory", dir, err);
  return Status::success();
}

Status writeFileAtomic(const std::string& path, std::string_view data) {
  return writeFileAtomic(path, data, 0644);
}

}  // namespace ocpvdr
