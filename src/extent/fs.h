// extent/fs.h — the Linux file-system calls the extent mover is built on: an owning descriptor,
// FICLONE (reflink a whole file), FS_IOC_FIEMAP (a file's extent map with physical addresses),
// FALLOC_FL_PUNCH_HOLE, exact reads and writes, recursive removal, and the lexical checks for
// names and relative paths that cross a trust boundary (stream, command line).
//
// Every call returns errors as values (core/result.h). Nothing here follows a symlink it was not
// asked to: openings below a directory use O_NOFOLLOW, removal never descends through a link.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace ocpvdr::extent {

// An owning file descriptor (closed on destruction).
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// errno → an Error whose kind says what the caller can do: ENOSPC/EDQUOT are Terminal with "no
// space" named; EOPNOTSUPP/EXDEV/ENOTTY (no reflink or FIEMAP here) are Refused.
Error sysError(std::string_view what, int err);

// The entries of the directory open as dirFd (without "." and ".."), sorted; dirFd stays open.
[[nodiscard]] Result<std::vector<std::string>> sortedNames(int dirFd);

// One FIEMAP record. Flags are the kernel's FIEMAP_EXTENT_* bits, untouched.
struct PhysExtent {
  uint64_t logical = 0;
  uint64_t physical = 0;
  uint64_t length = 0;
  uint32_t flags = 0;
};

// The whole extent map of an open file, sorted by logical offset (FIEMAP_FLAG_SYNC: dirty pages
// are written first, so a clean snapshot has no delalloc extents to report).
[[nodiscard]] Result<std::vector<PhysExtent>> readExtents(int fd);
// The same map batch by batch, each extent to `visit` (nothing kept: the manifest hashes maps of
// any size in bounded memory).
[[nodiscard]] Status forEachExtent(int fd, const std::function<void(const PhysExtent&)>& visit);

// dst becomes a copy-on-write clone of src (same file system; the whole file, size included).
[[nodiscard]] Status reflinkFile(int srcFd, int dstFd);
// Deallocates [offset, offset+length) keeping the size; reads return zeros afterwards.
[[nodiscard]] Status punchHole(int fd, uint64_t offset, uint64_t length);

[[nodiscard]] Status writeAll(int fd, const void* data, size_t n);
[[nodiscard]] Status preadAll(int fd, void* data, size_t n, uint64_t offset);
[[nodiscard]] Status pwriteAll(int fd, const void* data, size_t n, uint64_t offset);
// Reads exactly n bytes. Returns false (not an error) on end of input before the first byte;
// end of input after some bytes is an error ("truncated").
[[nodiscard]] Result<bool> readExact(int fd, void* data, size_t n);

// Removes path (file, link or whole directory tree) without following symlinks; a missing path
// is success.
[[nodiscard]] Status removeTree(const std::string& path);
// The same for the entry `name` of the open directory dirFd.
[[nodiscard]] Status removeTreeAt(int dirFd, const char* name);
// mkdir -p (mode for the directories it creates).
[[nodiscard]] Status makeDirs(const std::string& path, unsigned mode);
[[nodiscard]] Status fsyncPath(const std::string& path);

// Whether the extent mover can work on the file system holding `root`: a scratch file under
// <root>/.ocpv-dr/ is written, reflinked (FICLONE) and its clone mapped (FIEMAP) to the same
// blocks; both are removed again. Refused (with why) when the file system cannot; other kinds
// when the probe itself could not run (root missing, no space).
[[nodiscard]] Status probeReflink(const std::string& root);

// Bytes this thread has caused to be read from storage so far (/proc/thread-self/io
// read_bytes; page-cache hits do not count). 0 when the kernel does not account I/O.
uint64_t storageReadBytes();

// A snapshot/point id or PV name: 1–128 of [A-Za-z0-9._:-], not starting with '.'.
bool validName(std::string_view name);
// A path relative to a tree root as the stream carries it: "" (the root itself) or components
// separated by single '/', none empty, "." or "..", no NUL, at most 4096 bytes, components at most
// 255. On false, *why says what is wrong.
bool validRelativePath(std::string_view path, std::string* why);

// Real time now, in nanoseconds since the epoch, and the id form of it (sortable, UTC):
// "20261207T123456.123456789Z".
int64_t nowNs();
std::string idFromNs(int64_t ns);

}  // namespace ocpvdr::extent
