// Reflink snapshots of a PV directory (see snapshot.h).
#include "extent/snapshot.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "extent/fs.h"

namespace ocpvdr::extent {

namespace {

Entry entryFromStat(const std::string& rel, const struct stat& st) {
  Entry e;
  e.path = rel;
  e.mode = st.st_mode & 07777;
  e.uid = st.st_uid;
  e.gid = st.st_gid;
  e.atimeSec = st.st_atim.tv_sec;
  e.atimeNsec = static_cast<uint32_t>(st.st_atim.tv_nsec);
  e.mtimeSec = st.st_mtim.tv_sec;
  e.mtimeNsec = static_cast<uint32_t>(st.st_mtim.tv_nsec);
  return e;
}

std::string join(const std::string& a, const std::string& b) {
  return a.empty() ? b : a + "/" + b;
}

struct Walker {
  Snapshot& snap;
  Status walk(int srcDir, int dstDir, const std::string& rel) {
    OCPVDR_ASSIGN_OR_RETURN(auto names, sortedNames(srcDir));
    for (const auto& name : names) {
      const std::string path = join(rel, name);
      struct stat st {};
      if (::fstatat(srcDir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;  // removed while we walk: not part of this snapshot
        return sysError("stat " + path, errno);
      }
      Entry e = entryFromStat(path, st);
      if (S_ISDIR(st.st_mode)) {
        Fd sub(::openat(srcDir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!sub.valid()) {
          if (errno == ENOENT) continue;
          return sysError("open " + path, errno);
        }
        if (::mkdirat(dstDir, name.c_str(), 0700) != 0) return sysError("mkdir " + path, errno);
        Fd dsub(::openat(dstDir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!dsub.valid()) return sysError("open " + path, errno);
        e.kind = EntryKind::Dir;
        snap.entries.push_back(e);
        OCPVDR_TRY(walk(sub.get(), dsub.get(), path));
      } else if (S_ISREG(st.st_mode)) {
        Fd src(::openat(srcDir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
        if (!src.valid()) {
          if (errno == ENOENT) continue;
          return sysError("open " + path, errno);
        }
        Fd dst(::openat(dstDir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                        0600));
        if (!dst.valid()) return sysError("create " + path, errno);
        auto cloned = reflinkFile(src.get(), dst.get());
        if (!cloned.ok()) return cloned.error().wrap("snapshot of " + path);
        struct stat cs {};
        if (::fstat(dst.get(), &cs) != 0) return sysError("stat " + path, errno);
        struct stat ss {};
        if (::fstat(src.get(), &ss) != 0) return sysError("stat " + path, errno);
        e = entryFromStat(path, ss);
        e.kind = EntryKind::File;
        e.size = static_cast<uint64_t>(cs.st_size);
        snap.entries.push_back(e);
      } else if (S_ISLNK(st.st_mode)) {
        std::string target(4097, '\0');
        ssize_t n = ::readlinkat(srcDir, name.c_str(), target.data(), target.size());
        if (n < 0) {
          if (errno == ENOENT) continue;
          return sysError("readlink " + path, errno);
        }
        if (n == 0 || static_cast<size_t>(n) > 4096)
          return terminalError("symlink " + path + ": target empty or longer than 4096 bytes");
        target.resize(static_cast<size_t>(n));
        e.kind = EntryKind::Symlink;
        e.linkTarget = target;
        snap.entries.push_back(e);
      } else {
        ++snap.skipped;
      }
    }
    return {};
  }
};

Status writeManifest(const Snapshot& s, const std::string& pv, const std::string& file,
                     bool durable) {
  Fd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) return sysError("create " + file, errno);
  StreamWriter w(fd.get());
  OCPVDR_TRY(w.header({kStreamVersion, pv, s.id, "", s.dataTimeNs}));
  for (const auto& e : s.entries) {
    OCPVDR_TRY(w.entry(e, false));
    OCPVDR_TRY(w.endEntry());
  }
  OCPVDR_TRY(w.trailer());
  if (durable && ::fsync(fd.get()) != 0) return sysError("fsync " + file, errno);
  return {};
}

}  // namespace

std::string snapshotArea(const std::string& root, const std::string& pv) {
  return root + "/.ocpv-dr/snapshots/" + pv;
}

Result<Snapshot> takeSnapshot(const std::string& srcDir, const std::string& area,
                              const std::string& pv, const std::string& id, bool durable) {
  if (!validName(id)) return invalidError("invalid snapshot id \"" + id + "\"");
  OCPVDR_TRY(makeDirs(area, 0700));
  const std::string final = area + "/" + id;
  const std::string partial = area + "/." + id + ".partial";
  struct stat st {};
  if (::lstat(final.c_str(), &st) == 0) return conflictError("snapshot " + id + " already exists");
  OCPVDR_TRY(removeTree(partial));
  if (::mkdir(partial.c_str(), 0700) != 0) return sysError("mkdir " + partial, errno);
  auto fail = [&](const Error& e) -> Result<Snapshot> {
    (void)removeTree(partial);
    return e;
  };
  Snapshot s;
  s.id = id;
  s.path = final;
  s.dataTimeNs = nowNs();
  Fd src(::open(srcDir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!src.valid()) return fail(sysError("open " + srcDir, errno));
  struct stat rs {};
  if (::fstat(src.get(), &rs) != 0) return fail(sysError("stat " + srcDir, errno));
  Entry root = entryFromStat("", rs);
  root.kind = EntryKind::Dir;
  s.entries.push_back(root);
  const std::string tree = partial + "/tree";
  if (::mkdir(tree.c_str(), 0700) != 0) return fail(sysError("mkdir " + tree, errno));
  Fd dst(::open(tree.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dst.valid()) return fail(sysError("open " + tree, errno));
  Walker w{s};
  if (auto st2 = w.walk(src.get(), dst.get(), ""); !st2.ok()) return fail(st2.error());
  if (auto m = writeManifest(s, pv, partial + "/manifest", durable); !m.ok())
    return fail(m.error());
  if (::rename(partial.c_str(), final.c_str()) != 0) return fail(sysError("rename", errno));
  if (durable) (void)fsyncPath(area);
  return s;
}

Result<Snapshot> loadSnapshot(const std::string& area, const std::string& id) {
  const std::string file = area + "/" + id + "/manifest";
  Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return sysError("open " + file, errno);
  StreamReader r(fd.get());
  OCPVDR_ASSIGN_OR_RETURN(auto h, r.header());
  Snapshot s;
  s.id = h.snapshotId;
  s.path = area + "/" + id;
  s.dataTimeNs = h.dataTimeNs;
  for (;;) {
    OCPVDR_ASSIGN_OR_RETURN(auto f, r.next());
    if (f.type == Frame::Type::Entry) s.entries.push_back(std::move(f.entry));
    if (f.type == Frame::Type::Trailer) break;
  }
  if (s.id != id) return invalidError("manifest of " + id + " names snapshot " + s.id);
  return s;
}

Result<std::vector<std::string>> listSnapshots(const std::string& area) {
  Fd fd(::open(area.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return std::vector<std::string>{};
    return sysError("open " + area, errno);
  }
  OCPVDR_ASSIGN_OR_RETURN(auto names, sortedNames(fd.get()));
  std::vector<std::string> ids;
  for (auto& n : names)
    if (validName(n)) ids.push_back(n);
  return ids;
}

Status pruneSnapshots(const std::string& area, const std::vector<std::string>& keep) {
  Fd fd(::open(area.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return {};
    return sysError("open " + area, errno);
  }
  OCPVDR_ASSIGN_OR_RETURN(auto names, sortedNames(fd.get()));
  for (const auto& n : names) {
    if (std::find(keep.begin(), keep.end(), n) != keep.end()) continue;
    OCPVDR_TRY(removeTree(area + "/" + n));
  }
  return {};
}

}  // namespace ocpvdr::extent
