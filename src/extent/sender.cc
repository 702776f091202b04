// The primary side of an extent cycle (see sender.h).
#include "extent/sender.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "extent/extent_diff.h"
#include "extent/fs.h"
#include "extent/manifest.h"
#include "extent/snapshot.h"
#include "extent/stream.h"

namespace ocpvdr::extent {

namespace {

Result<std::string> realPath(const std::string& p) {
  char buf[PATH_MAX];
  if (::realpath(p.c_str(), buf) == nullptr) return sysError("resolving " + p, errno);
  return std::string(buf);
}

bool strictlyUnder(const std::string& path, const std::string& root) {
  if (root == "/") return path.size() > 1;
  return path.size() > root.size() && path.compare(0, root.size(), root) == 0 &&
         path[root.size()] == '/';
}

Result<bool> dirEmpty(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return sysError("opendir " + dir, errno);
  bool empty = true;
  while (struct dirent* de = ::readdir(d)) {
    if (std::strcmp(de->d_name, ".") != 0 && std::strcmp(de->d_name, "..") != 0) {
      empty = false;
      break;
    }
  }
  ::closedir(d);
  return empty;
}

// Bytes of the base snapshot's files that no other file shares any more (what releasing it frees).
Result<int64_t> baseOnlyBytes(const std::string& area, const std::string& base) {
  OCPVDR_ASSIGN_OR_RETURN(Snapshot s, loadSnapshot(area, base));
  int64_t total = 0;
  for (const Entry& e : s.entries) {
    if (e.kind != EntryKind::File) continue;
    Fd f(::open((s.path + "/tree/" + e.path).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!f.valid()) continue;  // a missing file frees nothing
    OCPVDR_ASSIGN_OR_RETURN(auto map, readExtents(f.get()));
    for (const PhysExtent& x : map)
      if ((x.flags & FIEMAP_EXTENT_SHARED) == 0) total += static_cast<int64_t>(x.length);
  }
  return total;
}

}  // namespace

Result<std::string> guardSource(const std::string& root, const std::string& dir, bool allowEmpty) {
  auto r = realPath(root);
  struct stat st {};
  if (!r.ok() || ::stat(r->c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return refusedError("root-missing " + root);
  auto d = realPath(dir);
  if (!d.ok()) {
    if (d.error().kind == ErrorKind::NotFound) {
      if (allowEmpty) return notFoundError("missing " + dir);
      return refusedError("missing " + dir);
    }
    return d.error();
  }
  if (!strictlyUnder(*d, *r) || *d == *r + "/.ocpv-dr" || strictlyUnder(*d, *r + "/.ocpv-dr"))
    return refusedError("escape " + *d);
  if (::stat(d->c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return refusedError("notdir " + *d);
  OCPVDR_ASSIGN_OR_RETURN(bool empty, dirEmpty(*d));
  if (empty && !allowEmpty) return refusedError("empty " + *d);
  return *d;
}

namespace {

// replication.snapshot_area.min_free_percent: with less free on the export root's file system
// the base is released and the stream is full.
Status checkFreeSpace(const SendOptions& opts, const std::string& rootReal, bool& haveBase,
                      SendReport& rep) {
  struct statvfs vs {};
  if (::statvfs(rootReal.c_str(), &vs) != 0) return sysError("statvfs " + rootReal, errno);
  rep.freePercent = vs.f_blocks == 0 ? 0 : static_cast<int>(vs.f_bavail * 100 / vs.f_blocks);
  if (rep.freePercent < opts.minFreePercent) {
    haveBase = false;
    rep.fullResendReason = "snapshot-area-low-space";
  }
  return Status::success();
}

// The snapshot to stream: the one taken earlier with the other disks of its VM (opts.snapshot),
// or a new one — the live directory's digest first (sender.h says why this order never misses a
// change). A snapshot taken earlier has no digest of its own: its point is recorded without one
// and the reconcile's cheap pass always runs a cycle for it.
Result<Snapshot> snapshotToSend(const SendOptions& opts, const std::string& src,
                                const std::string& area, const std::string& id,
                                std::string& sourceDigest) {
  if (!opts.snapshot.empty()) {
    auto loaded = loadSnapshot(area, id);
    if (!loaded.ok()) {
      if (loaded.error().kind == ErrorKind::NotFound)
        return notFoundError("snapshot " + id + " of PV " + opts.pv + " is not at the primary");
      return loaded.error();
    }
    // The empty-source guard, on what the snapshot holds (its root entry only: empty).
    if (loaded->entries.size() <= 1 && !opts.allowEmpty) return refusedError("empty " + src);
    return loaded;
  }
  OCPVDR_ASSIGN_OR_RETURN(PvDigest digest, digestDirectory(src));
  sourceDigest = digest.digest;
  if (opts.hook) opts.hook("digested");
  OCPVDR_ASSIGN_OR_RETURN(Snapshot snap, takeSnapshot(src, area, opts.pv, id));
  if (opts.hook) opts.hook("snapshotted");
  return snap;
}

}  // namespace

Result<SendReport> send(const SendOptions& opts, int outFd) {
  if (!validName(opts.pv)) return invalidError("invalid PV name \"" + opts.pv + "\"");
  if (!opts.base.empty() && !validName(opts.base))
    return invalidError("invalid base id \"" + opts.base + "\"");
  if (!opts.snapshot.empty() && !validName(opts.snapshot))
    return invalidError("invalid snapshot id \"" + opts.snapshot + "\"");
  const bool taken = !opts.snapshot.empty();
  OCPVDR_ASSIGN_OR_RETURN(std::string src,
                          guardSource(opts.root, opts.dir, opts.allowEmpty || taken));
  OCPVDR_ASSIGN_OR_RETURN(std::string rootReal, realPath(opts.root));
  const std::string area = snapshotArea(rootReal, opts.pv);

  std::string id = taken ? opts.snapshot : opts.id.empty() ? idFromNs(nowNs()) : opts.id;
  if (!validName(id)) return invalidError("invalid snapshot id \"" + id + "\"");
  bool haveBase = false;
  if (!opts.base.empty()) {
    struct stat st {};
    haveBase = ::stat((area + "/" + opts.base + "/manifest").c_str(), &st) == 0;
  }
  if (haveBase && id <= opts.base)
    return conflictError("new snapshot id " + id + " does not sort after the base " + opts.base);
  SendReport rep;
  if (!opts.base.empty() && !haveBase) rep.fullResendReason = "base-missing";
  if (haveBase && opts.minFreePercent > 0)
    OCPVDR_TRY(checkFreeSpace(opts, rootReal, haveBase, rep));
  std::vector<std::string> keep;
  if (haveBase) keep.push_back(opts.base);
  if (taken) keep.push_back(id);
  OCPVDR_TRY(pruneSnapshots(area, keep));
  std::string sourceDigest;
  OCPVDR_ASSIGN_OR_RETURN(Snapshot snap, snapshotToSend(opts, src, area, id, sourceDigest));
  // Measured after the new snapshot: cloning flushed the live files, so their overwritten
  // ranges are no longer shared with the base.
  if (haveBase && opts.maxBaseBytes > 0) {
    OCPVDR_ASSIGN_OR_RETURN(rep.baseOnlyBytes, baseOnlyBytes(area, opts.base));
    if (static_cast<uint64_t>(rep.baseOnlyBytes) > opts.maxBaseBytes) {
      haveBase = false;
      rep.fullResendReason = "snapshot-area-max-bytes";
      OCPVDR_TRY(pruneSnapshots(area, {id}));
    }
  }

  rep.snapshotId = id;
  rep.baseId = haveBase ? opts.base : "";
  rep.dataTimeNs = snap.dataTimeNs;
  rep.skipped = snap.skipped;
  rep.sourceDigest = sourceDigest;
  StreamWriter w(outFd);
  OCPVDR_TRY(w.header({kStreamVersion, opts.pv, id, rep.baseId, snap.dataTimeNs}));
  std::unique_ptr<uint8_t[]> buf(new uint8_t[kMaxDataChunk]);
  const std::string newTree = snap.path + "/tree/";
  const std::string baseTree = area + "/" + opts.base + "/tree/";
  for (const Entry& e : snap.entries) {
    if (e.kind != EntryKind::File) {
      OCPVDR_TRY(w.entry(e, false));
      OCPVDR_TRY(w.endEntry());
      continue;
    }
    ++rep.files;
    Fd nf(::open((newTree + e.path).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!nf.valid()) return sysError("open snapshot of " + e.path, errno);
    OCPVDR_ASSIGN_OR_RETURN(auto nextMap, readExtents(nf.get()));
    std::vector<PhysExtent> baseMap;
    bool fileHasBase = false;
    if (haveBase) {
      Fd bf(::open((baseTree + e.path).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      struct stat bs {};
      if (bf.valid() && ::fstat(bf.get(), &bs) == 0 && S_ISREG(bs.st_mode)) {
        OCPVDR_ASSIGN_OR_RETURN(baseMap, readExtents(bf.get()));
        fileHasBase = true;
      }
    }
    FileDelta delta = diffExtents(nextMap, fileHasBase ? &baseMap : nullptr, e.size);
    rep.allocatedBytes += delta.allocated;
    OCPVDR_TRY(w.entry(e, !fileHasBase));
    for (const Range& h : delta.punch) OCPVDR_TRY(w.hole(h.offset, h.length));
    for (const Range& r : delta.send) {
      uint64_t off = r.offset;
      uint64_t left = r.length;
      while (left > 0) {
        uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(left, kMaxDataChunk));
        OCPVDR_TRY(preadAll(nf.get(), buf.get(), n, off));
        OCPVDR_TRY(w.data(off, buf.get(), n));
        off += n;
        left -= n;
      }
    }
    OCPVDR_TRY(w.endEntry());
  }
  OCPVDR_TRY(w.trailer());
  rep.entries = w.counts().entries;
  rep.dataBytes = w.counts().dataBytes;
  rep.streamBytes = w.bytesWritten();
  return rep;
}

}  // namespace ocpvdr::extent
