// Bring a directory to a recovery point, per file atomically (see materialize.h).
#include "extent/materialize.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdio.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <set>
#include <vector>

#include "extent/fs.h"

namespace ocpvdr::extent {

namespace {

// Temporary names in target; leftovers of a killed run are not in any point, so the next run
// removes them with the other unlisted entries.
constexpr const char* kTmpPrefix = ".ocpv-dr-materialize.";
// The next state of a target directory is built beside it under this prefix + its name, then
// exchanged with it in one rename; a leftover (a killed run) is removed by the next run.
constexpr const char* kStagePrefix = ".ocpv-dr-stage.";

bool sameTime(const struct timespec& a, const struct timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

// What a dry run compares: owner, permission bits (not of a symlink) and mtime. atime is set
// but not compared: reading a directory moves it, which must not make it "different".
bool metaDiffers(const struct stat& want, const struct stat& have) {
  return want.st_uid != have.st_uid || want.st_gid != have.st_gid ||
         (!S_ISLNK(want.st_mode) && (want.st_mode & 07777) != (have.st_mode & 07777)) ||
         !sameTime(want.st_mtim, have.st_mtim);
}

// Owner, mode (unless a symlink) and times of `want` onto the entry (fd >= 0: that open file;
// otherwise `name` in dirFd, not followed). Only what differs is set.
Status copyMeta(int dirFd, const char* name, int fd, const struct stat& want,
                const struct stat& have, const std::string& what) {
  if (want.st_uid != have.st_uid || want.st_gid != have.st_gid) {
    int rc = fd >= 0 ? ::fchown(fd, want.st_uid, want.st_gid)
                     : ::fchownat(dirFd, name, want.st_uid, want.st_gid, AT_SYMLINK_NOFOLLOW);
    if (rc != 0 && !(errno == EPERM && ::geteuid() != 0)) return sysError("chown " + what, errno);
  }
  if (!S_ISLNK(want.st_mode) && (want.st_mode & 07777) != (have.st_mode & 07777)) {
    if (fd < 0) return terminalError("internal: chmod without a descriptor for " + what);
    if (::fchmod(fd, want.st_mode & 07777) != 0) return sysError("chmod " + what, errno);
  }
  if (!sameTime(want.st_mtim, have.st_mtim) || !sameTime(want.st_atim, have.st_atim)) {
    struct timespec ts[2] = {want.st_atim, want.st_mtim};
    int rc = fd >= 0 ? ::futimens(fd, ts) : ::utimensat(dirFd, name, ts, AT_SYMLINK_NOFOLLOW);
    if (rc != 0) return sysError("setting times of " + what, errno);
  }
  return {};
}

// True when b holds exactly a's data because every extent is the same physical block range
// (the result of an earlier clone neither side has written since). Anything the map cannot
// vouch for counts as different.
Result<bool> sharesAllExtents(int a, int b, const struct stat& sa, const struct stat& sb) {
  if (sa.st_size != sb.st_size) return false;
  OCPVDR_ASSIGN_OR_RETURN(auto ea, readExtents(a));
  OCPVDR_ASSIGN_OR_RETURN(auto eb, readExtents(b));
  if (ea.size() != eb.size()) return false;
  constexpr uint32_t kUnsure = FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DELALLOC |
                               FIEMAP_EXTENT_ENCODED | FIEMAP_EXTENT_DATA_ENCRYPTED |
                               FIEMAP_EXTENT_NOT_ALIGNED | FIEMAP_EXTENT_DATA_INLINE |
                               FIEMAP_EXTENT_DATA_TAIL;
  constexpr uint32_t kIgnore = FIEMAP_EXTENT_LAST | FIEMAP_EXTENT_SHARED | FIEMAP_EXTENT_MERGED;
  for (size_t i = 0; i < ea.size(); ++i) {
    const auto &x = ea[i], &y = eb[i];
    if ((x.flags | y.flags) & kUnsure) return false;
    if (x.physical == 0 || x.logical != y.logical || x.physical != y.physical ||
        x.length != y.length || (x.flags & ~kIgnore) != (y.flags & ~kIgnore))
      return false;
  }
  return true;
}

class Materializer {
 public:
  // dryRun: change nothing, count what a run would do and note whether anything differs.
  Materializer(const MaterializeHook& hook, bool dryRun) : hook_(hook), dry_(dryRun) {}
  MaterializeReport report;
  bool differs = false;

  // Makes the open directory dst hold what the open directory src holds, then gives dst the
  // metadata srcSt describes and fsyncs it. rel names dst for messages.
  Status syncDir(int src, int dst, const struct stat& srcSt, const std::string& rel) {
    ++report.dirs;
    OCPVDR_ASSIGN_OR_RETURN(auto names, sortedNames(src));
    std::set<std::string> keep;
    for (const auto& n : names) {
      const std::string what = rel.empty() ? n : rel + "/" + n;
      struct stat ss {};
      if (::fstatat(src, n.c_str(), &ss, AT_SYMLINK_NOFOLLOW) != 0)
        return sysError("stat point entry " + what, errno);
      struct stat ds {};
      bool have = ::fstatat(dst, n.c_str(), &ds, AT_SYMLINK_NOFOLLOW) == 0;
      if (!have && errno != ENOENT) return sysError("stat " + what, errno);
      if (S_ISDIR(ss.st_mode)) {
        OCPVDR_TRY(dir(src, dst, n, ss, have ? &ds : nullptr, what));
      } else if (S_ISREG(ss.st_mode)) {
        OCPVDR_TRY(file(src, dst, n, ss, have ? &ds : nullptr, what));
      } else if (S_ISLNK(ss.st_mode)) {
        OCPVDR_TRY(symlink(src, dst, n, ss, have ? &ds : nullptr, what));
      } else {
        continue;  // points hold no special files; neither will target
      }
      keep.insert(n);
    }
    OCPVDR_ASSIGN_OR_RETURN(auto present, sortedNames(dst));
    for (const auto& n : present) {
      if (keep.count(n) != 0) continue;
      differs = true;
      if (!dry_) OCPVDR_TRY(removeTreeAt(dst, n.c_str()));
      if (n.rfind(kTmpPrefix, 0) != 0) ++report.removed;
    }
    struct stat ds {};
    if (::fstat(dst, &ds) != 0) return sysError("stat " + (rel.empty() ? "." : rel), errno);
    if (dry_) {
      differs = differs || metaDiffers(srcSt, ds);
      return {};
    }
    OCPVDR_TRY(copyMeta(AT_FDCWD, nullptr, dst, srcSt, ds, rel.empty() ? "." : rel));
    if (::fsync(dst) != 0) return sysError("fsync " + (rel.empty() ? "." : rel), errno);
    return {};
  }

 private:
  std::string tmpName() {
    return std::string(kTmpPrefix) + std::to_string(::getpid()) + "." + std::to_string(seq_++);
  }

  Status dir(int src, int dst, const std::string& n, const struct stat& ss, const struct stat* ds,
             const std::string& what) {
    if (dry_ && (ds == nullptr || !S_ISDIR(ds->st_mode))) {
      differs = true;  // a directory to make: every file in it will be cloned
      Fd s(::openat(src, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!s.valid()) return sysError("open point directory " + what, errno);
      return countNew(s.get(), what);
    }
    if (ds != nullptr && !S_ISDIR(ds->st_mode)) {
      OCPVDR_TRY(removeTreeAt(dst, n.c_str()));
      ds = nullptr;
    }
    if (ds == nullptr && ::mkdirat(dst, n.c_str(), 0700) != 0)
      return sysError("mkdir " + what, errno);
    Fd s(::openat(src, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!s.valid()) return sysError("open point directory " + what, errno);
    Fd d(::openat(dst, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!d.valid()) return sysError("open " + what, errno);
    return syncDir(s.get(), d.get(), ss, what);
  }

  // Dry run: counts the files of a point directory the target lacks as to be cloned.
  Status countNew(int src, const std::string& rel) {
    OCPVDR_ASSIGN_OR_RETURN(auto names, sortedNames(src));
    for (const auto& n : names) {
      struct stat ss {};
      if (::fstatat(src, n.c_str(), &ss, AT_SYMLINK_NOFOLLOW) != 0)
        return sysError("stat point entry " + rel + "/" + n, errno);
      if (S_ISREG(ss.st_mode)) {
        ++report.filesCloned;
        report.bytesCloned += static_cast<uint64_t>(ss.st_size);
      } else if (S_ISDIR(ss.st_mode)) {
        Fd s(::openat(src, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!s.valid()) return sysError("open point directory " + rel + "/" + n, errno);
        OCPVDR_TRY(countNew(s.get(), rel + "/" + n));
      }
    }
    return {};
  }

  // Puts the temporary entry tmp in place of n (removing a directory there first).
  Status replace(int dst, const std::string& tmp, const std::string& n, const struct stat* ds,
                 const std::string& what) {
    if (ds != nullptr && S_ISDIR(ds->st_mode)) OCPVDR_TRY(removeTreeAt(dst, n.c_str()));
    if (::renameat(dst, tmp.c_str(), dst, n.c_str()) != 0) return sysError("rename " + what, errno);
    return {};
  }

  Status file(int src, int dst, const std::string& n, const struct stat& ss, const struct stat* ds,
              const std::string& what) {
    Fd s(::openat(src, n.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!s.valid()) return sysError("open point file " + what, errno);
    if (ds != nullptr && S_ISREG(ds->st_mode)) {
      // O_NOFOLLOW | O_NONBLOCK: the entry was a regular file a moment ago; if it changed into
      // a link or a FIFO meanwhile, this fails or is caught by the fstat below.
      Fd d(::openat(dst, n.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
      struct stat cur {};
      if (d.valid() && ::fstat(d.get(), &cur) == 0 && S_ISREG(cur.st_mode)) {
        OCPVDR_ASSIGN_OR_RETURN(bool same, sharesAllExtents(s.get(), d.get(), ss, cur));
        if (same) {
          if (dry_)
            differs = differs || metaDiffers(ss, cur);
          else
            OCPVDR_TRY(copyMeta(AT_FDCWD, nullptr, d.get(), ss, cur, what));
          ++report.filesUnchanged;
          return {};
        }
      }
    }
    if (dry_) {
      differs = true;
      ++report.filesCloned;
      report.bytesCloned += static_cast<uint64_t>(ss.st_size);
      return {};
    }
    const std::string tmp = tmpName();
    Fd t(::openat(dst, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!t.valid()) return sysError("create a temporary file for " + what, errno);
    auto done = [&]() -> Status {
      auto c = reflinkFile(s.get(), t.get());
      if (!c.ok()) return c.error().wrap("cloning " + what + " from the point");
      struct stat ts {};
      if (::fstat(t.get(), &ts) != 0) return sysError("stat " + what, errno);
      OCPVDR_TRY(copyMeta(AT_FDCWD, nullptr, t.get(), ss, ts, what));
      if (::fsync(t.get()) != 0) return sysError("fsync " + what, errno);
      return replace(dst, tmp, n, ds, what);
    }();
    if (!done.ok()) {
      (void)::unlinkat(dst, tmp.c_str(), 0);
      return done;
    }
    ++report.filesCloned;
    report.bytesCloned += static_cast<uint64_t>(ss.st_size);
    if (hook_) OCPVDR_TRY(hook_("materialize " + what));
    return {};
  }

  Status symlink(int src, int dst, const std::string& n, const struct stat& ss,
                 const struct stat* ds, const std::string& what) {
    auto readLink = [](int dirFd, const std::string& name) -> Result<std::string> {
      std::string t(PATH_MAX + 1, '\0');
      ssize_t k = ::readlinkat(dirFd, name.c_str(), t.data(), t.size());
      if (k < 0) return sysError("readlink " + name, errno);
      t.resize(static_cast<size_t>(k));
      return t;
    };
    OCPVDR_ASSIGN_OR_RETURN(std::string target, readLink(src, n));
    ++report.symlinks;
    if (ds != nullptr && S_ISLNK(ds->st_mode)) {
      auto cur = readLink(dst, n);
      if (cur.ok() && *cur == target) {
        if (!dry_) return copyMeta(dst, n.c_str(), -1, ss, *ds, what);
        differs = differs || metaDiffers(ss, *ds);
        return {};
      }
    }
    if (dry_) {
      differs = true;
      return {};
    }
    const std::string tmp = tmpName();
    if (::symlinkat(target.c_str(), dst, tmp.c_str()) != 0)
      return sysError("symlink " + what, errno);
    auto done = [&]() -> Status {
      struct stat ts {};
      if (::fstatat(dst, tmp.c_str(), &ts, AT_SYMLINK_NOFOLLOW) != 0)
        return sysError("stat " + what, errno);
      OCPVDR_TRY(copyMeta(dst, tmp.c_str(), -1, ss, ts, what));
      return replace(dst, tmp, n, ds, what);
    }();
    if (!done.ok()) (void)::unlinkat(dst, tmp.c_str(), 0);
    return done;
  }

  const MaterializeHook& hook_;
  const bool dry_;
  uint64_t seq_ = 0;
};

// Builds the point's state in a new directory `name` under parentFd (removing a leftover first).
Result<MaterializeReport> buildStage(int src, const struct stat& ss, int parentFd,
                                     const std::string& name, const MaterializeHook& hook) {
  struct stat st {};
  if (::fstatat(parentFd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0)
    OCPVDR_TRY(removeTreeAt(parentFd, name.c_str()));
  if (::mkdirat(parentFd, name.c_str(), 0700) != 0) return sysError("mkdir " + name, errno);
  Fd d(::openat(parentFd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!d.valid()) return sysError("open " + name, errno);
  Materializer m(hook, false);
  OCPVDR_TRY(m.syncDir(src, d.get(), ss, ""));
  return m.report;
}

}  // namespace

Result<MaterializeReport> materialize(const std::string& pointTree, const std::string& target,
                                      const MaterializeHook& hook) {
  if (pointTree.empty() || target.empty()) return invalidError("materialize: empty path");
  Fd src(::open(pointTree.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!src.valid()) return sysError("open point tree " + pointTree, errno);
  struct stat ss {};
  if (::fstat(src.get(), &ss) != 0) return sysError("stat " + pointTree, errno);
  std::string tgt = target;
  while (tgt.size() > 1 && tgt.back() == '/') tgt.pop_back();
  const size_t slash = tgt.rfind('/');
  const std::string parent = slash == std::string::npos ? "."
                             : slash == 0               ? "/"
                                                        : tgt.substr(0, slash);
  const std::string name = slash == std::string::npos ? tgt : tgt.substr(slash + 1);
  if (name.empty() || name == "." || name == "..")
    return invalidError("materialize: " + target + " does not name a directory");
  struct stat ts {};
  const bool exists = ::lstat(tgt.c_str(), &ts) == 0;
  if (!exists) {
    if (errno != ENOENT) return sysError("stat " + target, errno);
    OCPVDR_TRY(makeDirs(parent, 0700));
  } else if (S_ISLNK(ts.st_mode)) {
    return refusedError("materialize: " + target + " is a symlink; it is not followed");
  } else if (!S_ISDIR(ts.st_mode)) {
    return refusedError("materialize: " + target + " is not a directory");
  }
  Fd par(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!par.valid()) return sysError("open " + parent, errno);
  // Removing what the point lacks must never reach the points themselves.
  char rs[PATH_MAX], rp[PATH_MAX];
  if (::realpath(pointTree.c_str(), rs) == nullptr) return sysError("resolve " + pointTree, errno);
  if (::realpath(parent.c_str(), rp) == nullptr) return sysError("resolve " + parent, errno);
  const std::string s(rs), t = std::string(rp) == "/" ? "/" + name : std::string(rp) + "/" + name;
  if (s == t || s.rfind(t + "/", 0) == 0 || t.rfind(s + "/", 0) == 0)
    return invalidError("materialize: " + target + " and the point " + pointTree + " overlap");
  const std::string stage = std::string(kStagePrefix) + name;
  auto wrap = [&](const Error& e) {
    return e.wrap("bringing " + target + " to the point " + pointTree);
  };

  if (!exists) {
    auto built = buildStage(src.get(), ss, par.get(), stage, hook);
    if (!built.ok()) return wrap(built.error());
    if (::renameat(par.get(), stage.c_str(), par.get(), name.c_str()) != 0)
      return wrap(sysError("rename into place " + target, errno));
    if (::fsync(par.get()) != 0) return wrap(sysError("fsync " + parent, errno));
    if (hook) OCPVDR_TRY(hook("materialize-exchanged"));
    return built;
  }

  Fd dst(::openat(par.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dst.valid()) return sysError("open " + target, errno);
  // A stage left by a killed run is never a state of the target.
  struct stat st {};
  if (::fstatat(par.get(), stage.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0)
    if (Status r = removeTreeAt(par.get(), stage.c_str()); !r.ok()) return wrap(r.error());
  Materializer dry(hook, true);
  if (Status r = dry.syncDir(src.get(), dst.get(), ss, ""); !r.ok()) return wrap(r.error());
  if (!dry.differs) {
    // Same entries, same data: only times to touch up, in place.
    Materializer m(hook, false);
    if (Status r = m.syncDir(src.get(), dst.get(), ss, ""); !r.ok()) return wrap(r.error());
    return m.report;
  }
  // Something changes: the whole new state is built beside the target and exchanged with it in
  // one rename, so a reader (or a crash) sees the old point or the new one, never a mix.
  auto built = buildStage(src.get(), ss, par.get(), stage, hook);
  if (!built.ok()) {
    (void)removeTreeAt(par.get(), stage.c_str());
    return wrap(built.error());
  }
  if (::renameat2(par.get(), stage.c_str(), par.get(), name.c_str(), RENAME_EXCHANGE) != 0) {
    const int err = errno;
    (void)removeTreeAt(par.get(), stage.c_str());
    if (err != EINVAL && err != ENOSYS && err != EBUSY && err != EXDEV)
      return wrap(sysError("exchanging " + target + " with its new state", err));
    // The target cannot be exchanged (a mount point, a file system without RENAME_EXCHANGE):
    // file by file in place, each file atomic.
    Materializer m(hook, false);
    if (Status r = m.syncDir(src.get(), dst.get(), ss, ""); !r.ok()) return wrap(r.error());
    return m.report;
  }
  if (::fsync(par.get()) != 0) return wrap(sysError("fsync " + parent, errno));
  if (hook) OCPVDR_TRY(hook("materialize-exchanged"));
  // The old state now has the stage's name.
  if (Status r = removeTreeAt(par.get(), stage.c_str()); !r.ok()) return wrap(r.error());
  MaterializeReport rep = dry.report;
  rep.dirs = built->dirs;
  rep.symlinks = built->symlinks;
  return rep;
}

}  // namespace ocpvdr::extent
