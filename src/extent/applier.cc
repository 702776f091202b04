// The DR side of an extent cycle: stream → recovery point (see applier.h).
#include "extent/applier.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unordered_set>

#include "extent/fs.h"
#include "extent/stream.h"

namespace ocpvdr::extent {

namespace {

Result<std::vector<std::string>> namesIn(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return sysError("opendir " + dir, errno);
  std::vector<std::string> names;
  while (struct dirent* de = ::readdir(d)) {
    if (std::strcmp(de->d_name, ".") == 0 || std::strcmp(de->d_name, "..") == 0) continue;
    names.emplace_back(de->d_name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

// Reflink copy of a point's tree (data only; the stream sets every entry's metadata).
Status cloneTree(const std::string& from, const std::string& to) {
  OCPVDR_ASSIGN_OR_RETURN(auto names, namesIn(from));
  for (const auto& n : names) {
    const std::string s = from + "/" + n, d = to + "/" + n;
    struct stat st {};
    if (::lstat(s.c_str(), &st) != 0) return sysError("stat " + s, errno);
    if (S_ISDIR(st.st_mode)) {
      if (::mkdir(d.c_str(), 0700) != 0) return sysError("mkdir " + d, errno);
      OCPVDR_TRY(cloneTree(s, d));
    } else if (S_ISREG(st.st_mode)) {
      Fd sf(::open(s.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (!sf.valid()) return sysError("open " + s, errno);
      Fd df(::open(d.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
      if (!df.valid()) return sysError("create " + d, errno);
      auto c = reflinkFile(sf.get(), df.get());
      if (!c.ok()) return c.error().wrap("cloning the previous point");
    } else if (S_ISLNK(st.st_mode)) {
      std::string t(4097, '\0');
      ssize_t k = ::readlink(s.c_str(), t.data(), t.size());
      if (k < 0) return sysError("readlink " + s, errno);
      t.resize(static_cast<size_t>(k));
      if (::symlink(t.c_str(), d.c_str()) != 0) return sysError("symlink " + d, errno);
    }
  }
  return {};
}

Status setOwner(int dirFd, const char* path, int fd, const Entry& e) {
  int rc = fd >= 0 ? ::fchown(fd, e.uid, e.gid)
                   : ::fchownat(dirFd, path, e.uid, e.gid, AT_SYMLINK_NOFOLLOW);
  if (rc != 0 && !(errno == EPERM && ::geteuid() != 0)) return sysError("chown " + e.path, errno);
  return {};
}

Status setTimes(int dirFd, const char* path, int fd, const Entry& e) {
  struct timespec ts[2];
  ts[0].tv_sec = e.atimeSec;
  ts[0].tv_nsec = e.atimeNsec;
  ts[1].tv_sec = e.mtimeSec;
  ts[1].tv_nsec = e.mtimeNsec;
  int rc = fd >= 0 ? ::futimens(fd, ts) : ::utimensat(dirFd, path, ts, AT_SYMLINK_NOFOLLOW);
  if (rc != 0) return sysError("setting times of " + e.path, errno);
  return {};
}

class Builder {
 public:
  Builder(const ApplyOptions& o, std::string partial) : opts_(o), partial_(std::move(partial)) {
    tree_ = partial_ + "/tree";
  }

  Status hook(std::string_view phase) {
    if (opts_.hook) return opts_.hook(phase);
    return {};
  }

  std::string full(const std::string& rel) const { return rel.empty() ? tree_ : tree_ + "/" + rel; }

  static std::string parentOf(const std::string& rel) {
    size_t k = rel.rfind('/');
    return k == std::string::npos ? std::string() : rel.substr(0, k);
  }

  // The existing entry at rel, removed unless it already has the wanted type.
  Status makeRoom(const std::string& rel, mode_t wantType) {
    struct stat st {};
    const std::string p = full(rel);
    if (::lstat(p.c_str(), &st) != 0) {
      if (errno == ENOENT) return {};
      return sysError("stat " + rel, errno);
    }
    if ((st.st_mode & S_IFMT) == wantType && wantType != S_IFLNK) return {};
    return removeTree(p);
  }

  Status beginEntry(const Entry& e, bool fresh) {
    OCPVDR_TRY(hook("entry " + e.path));
    if (!listed_.insert(e.path).second)
      return invalidError("entry \"" + e.path + "\" listed twice");
    if (!e.path.empty() && dirs_.count(parentOf(e.path)) == 0)
      return invalidError("entry \"" + e.path + "\" comes before (or outside) its directory");
    cur_ = e;
    file_.reset();
    const std::string p = full(e.path);
    switch (e.kind) {
      case EntryKind::Dir:
        if (!e.path.empty()) {
          OCPVDR_TRY(makeRoom(e.path, S_IFDIR));
          if (::mkdir(p.c_str(), 0700) != 0 && errno != EEXIST)
            return sysError("mkdir " + e.path, errno);
        }
        dirs_.insert(e.path);
        dirEntries_.push_back(e);
        return {};
      case EntryKind::Symlink:
        OCPVDR_TRY(makeRoom(e.path, S_IFLNK));
        if (::symlink(e.linkTarget.c_str(), p.c_str()) != 0)
          return sysError("symlink " + e.path, errno);
        return {};
      case EntryKind::File: {
        OCPVDR_TRY(makeRoom(e.path, S_IFREG));
        int flags = O_WRONLY | O_NOFOLLOW | O_CLOEXEC;
        if (fresh) flags |= O_CREAT | O_TRUNC;
        file_.reset(::open(p.c_str(), flags, 0600));
        if (!file_.valid()) {
          if (errno == ENOENT)
            return invalidError("the stream updates \"" + e.path +
                                "\" but the base point has no such file");
          return sysError("open " + e.path, errno);
        }
        // Size first: ranges are then written inside EOF, where XFS does no speculative
        // preallocation (written at EOF in ascending order, a sparse file would fill up).
        if (::ftruncate(file_.get(), static_cast<off_t>(e.size)) != 0)
          return sysError("truncate " + e.path, errno);
        return {};
      }
    }
    return {};
  }

  Status data(const Frame& f) {
    Sha256 got = sha256(f.data, f.length);
    if (got != f.sum) {
      if (opts_.onChecksumMismatch) opts_.onChecksumMismatch({cur_.path, f.offset, f.length});
      return terminalError("checksum mismatch in \"" + cur_.path + "\" at offset " +
                           std::to_string(f.offset) + " (" + std::to_string(f.length) +
                           " bytes): the stream is corrupt; the point is discarded");
    }
    ++dataFrames_;
    return pwriteAll(file_.get(), f.data, f.length, f.offset);
  }

  Status hole(const Frame& f) {
    ++holes_;
    return punchHole(file_.get(), f.offset, f.length);
  }

  Status endEntry() {
    const Entry& e = cur_;
    const std::string p = full(e.path);
    if (e.kind == EntryKind::File) {
      if (::ftruncate(file_.get(), static_cast<off_t>(e.size)) != 0)
        return sysError("truncate " + e.path, errno);
      OCPVDR_TRY(setOwner(AT_FDCWD, nullptr, file_.get(), e));
      if (::fchmod(file_.get(), e.mode) != 0) return sysError("chmod " + e.path, errno);
      OCPVDR_TRY(setTimes(AT_FDCWD, nullptr, file_.get(), e));
      if (::fsync(file_.get()) != 0) return sysError("fsync " + e.path, errno);
      file_.reset();
    } else if (e.kind == EntryKind::Symlink) {
      OCPVDR_TRY(setOwner(AT_FDCWD, p.c_str(), -1, e));
      OCPVDR_TRY(setTimes(AT_FDCWD, p.c_str(), -1, e));
    }
    return {};
  }

  // Removes entries of the clone the stream did not list.
  Result<uint64_t> removeUnlisted(const std::string& rel) {
    uint64_t removed = 0;
    OCPVDR_ASSIGN_OR_RETURN(auto names, namesIn(full(rel)));
    for (const auto& n : names) {
      const std::string child = rel.empty() ? n : rel + "/" + n;
      if (listed_.count(child) == 0) {
        OCPVDR_TRY(removeTree(full(child)));
        ++removed;
      } else if (dirs_.count(child) != 0) {
        OCPVDR_ASSIGN_OR_RETURN(uint64_t k, removeUnlisted(child));
        removed += k;
      }
    }
    return removed;
  }

  Status finishDirs() {
    // Deepest first: setting a child's metadata must not change its parent's times afterwards.
    std::sort(dirEntries_.begin(), dirEntries_.end(),
              [](const Entry& a, const Entry& b) { return a.path > b.path; });
    for (const Entry& e : dirEntries_) {
      const std::string p = full(e.path);
      Fd d(::open(p.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!d.valid()) return sysError("open " + e.path, errno);
      OCPVDR_TRY(setOwner(AT_FDCWD, nullptr, d.get(), e));
      if (::fchmod(d.get(), e.mode) != 0) return sysError("chmod " + e.path, errno);
      if (::fsync(d.get()) != 0) return sysError("fsync " + e.path, errno);
      OCPVDR_TRY(setTimes(AT_FDCWD, nullptr, d.get(), e));
    }
    return {};
  }

  uint64_t holes() const { return holes_; }

 private:
  const ApplyOptions& opts_;
  std::string partial_, tree_;
  std::unordered_set<std::string> listed_, dirs_;
  std::vector<Entry> dirEntries_;
  Entry cur_;
  Fd file_;
  uint64_t holes_ = 0, dataFrames_ = 0;
};

Status writePointInfo(const std::string& file, const ApplyReport& r) {
  Fd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd.valid()) return sysError("create " + file, errno);
  std::string s = "id=" + r.pointId + "\nbase=" + r.baseId + "\npv=" + r.pv +
                  "\ndata_time_ns=" + std::to_string(r.dataTimeNs) +
                  "\nentries=" + std::to_string(r.entries) +
                  "\ndata_bytes=" + std::to_string(r.dataBytes) + "\n";
  OCPVDR_TRY(writeAll(fd.get(), s.data(), s.size()));
  if (::fsync(fd.get()) != 0) return sysError("fsync " + file, errno);
  return {};
}

Result<ApplyReport> build(const ApplyOptions& opts, StreamReader& reader, const StreamHeader& h,
                          const std::string& partial) {
  ApplyReport rep;
  rep.pointId = h.snapshotId;
  rep.baseId = h.baseId;
  rep.pv = h.pv;
  rep.dataTimeNs = h.dataTimeNs;
  if (::mkdir(partial.c_str(), 0700) != 0) return sysError("mkdir " + partial, errno);
  const std::string tree = partial + "/tree";
  if (::mkdir(tree.c_str(), 0700) != 0) return sysError("mkdir " + tree, errno);
  if (!h.baseId.empty()) OCPVDR_TRY(cloneTree(opts.pointsDir + "/" + h.baseId + "/tree", tree));
  Builder b(opts, partial);
  OCPVDR_TRY(b.hook("cloned"));
  uint64_t counted = reader.bytesRead();
  for (;;) {
    OCPVDR_ASSIGN_OR_RETURN(Frame f, reader.next());
    if (opts.throttle) {
      if (!opts.throttle(reader.bytesRead() - counted))
        return retryableError("stopped while waiting for replication.bandwidth");
      counted = reader.bytesRead();
    }
    switch (f.type) {
      case Frame::Type::Entry:
        OCPVDR_TRY(b.beginEntry(f.entry, f.fresh));
        break;
      case Frame::Type::Data:
        OCPVDR_TRY(b.data(f));
        break;
      case Frame::Type::Hole:
        OCPVDR_TRY(b.hole(f));
        break;
      case Frame::Type::End:
        OCPVDR_TRY(b.endEntry());
        break;
      case Frame::Type::Trailer:
        rep.entries = f.trailer.entries;
        rep.dataBytes = f.trailer.dataBytes;
        OCPVDR_TRY(b.hook("trailer"));
        OCPVDR_ASSIGN_OR_RETURN(rep.removed, b.removeUnlisted(""));
        OCPVDR_TRY(b.finishDirs());
        rep.holes = b.holes();
        rep.streamBytes = reader.bytesRead();
        OCPVDR_TRY(writePointInfo(partial + "/point", rep));
        OCPVDR_TRY(fsyncPath(partial));
        OCPVDR_TRY(b.hook("before-rename"));
        return rep;
    }
  }
}

}  // namespace

Result<std::vector<std::string>> listPoints(const std::string& pointsDir) {
  auto names = namesIn(pointsDir);
  if (!names.ok()) {
    if (names.error().kind == ErrorKind::NotFound) return std::vector<std::string>{};
    return names.error();
  }
  std::vector<std::string> ids;
  for (auto& n : *names) {
    struct stat st {};
    if (validName(n) && ::stat((pointsDir + "/" + n + "/point").c_str(), &st) == 0)
      ids.push_back(n);
  }
  return ids;
}

Result<ApplyReport> apply(const ApplyOptions& opts, int inFd) {
  if (opts.pointsDir.empty()) return invalidError("no points directory");
  OCPVDR_TRY(makeDirs(opts.pointsDir, 0700));
  const std::string lockPath = opts.pointsDir + "/.lock";
  Fd lock(::open(lockPath.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock.valid()) return sysError("open " + lockPath, errno);
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0)
    return conflictError("another apply holds " + lockPath);
  // Partial points of a killed apply are garbage: nothing ever made them visible.
  OCPVDR_ASSIGN_OR_RETURN(auto names, namesIn(opts.pointsDir));
  for (const auto& n : names) {
    if (n.size() > 9 && n.front() == '.' && n.compare(n.size() - 8, 8, ".partial") == 0)
      OCPVDR_TRY(removeTree(opts.pointsDir + "/" + n));
  }
  StreamReader reader(inFd);
  OCPVDR_ASSIGN_OR_RETURN(StreamHeader h, reader.header());
  const std::string final = opts.pointsDir + "/" + h.snapshotId;
  struct stat st {};
  if (::lstat(final.c_str(), &st) == 0)
    return conflictError("point " + h.snapshotId + " already exists at DR");
  if (!h.baseId.empty() && ::stat((opts.pointsDir + "/" + h.baseId + "/point").c_str(), &st) != 0)
    return notFoundError("base point " + h.baseId +
                         " is not at DR; ask the primary for a full stream (no --base)");
  const std::string partial = opts.pointsDir + "/." + h.snapshotId + ".partial";
  auto built = build(opts, reader, h, partial);
  if (!built.ok()) {
    (void)removeTree(partial);
    return built.error().wrap("point " + h.snapshotId + " discarded");
  }
  if (::rename(partial.c_str(), final.c_str()) != 0) {
    Error e = sysError("rename " + partial, errno);
    (void)removeTree(partial);
    return e;
  }
  OCPVDR_TRY(fsyncPath(opts.pointsDir));
  return built;
}

}  // namespace ocpvdr::extent
