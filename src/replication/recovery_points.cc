// Retention of recovery points (see recovery_points.h).
#include "replication/recovery_points.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <set>
#include <system_error>

#include "core/log.h"
#include "extent/applier.h"
#include "extent/fs.h"
#include "replication/path_map.h"
#include "replication/ssh.h"

namespace ocpvdr::replication {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kHourNs = 3600LL * 1'000'000'000LL;
constexpr std::int64_t kDayNs = 24 * kHourNs;

std::int64_t bucketOf(std::int64_t ns, std::int64_t width) {
  return ns >= 0 ? ns / width : -((-ns + width - 1) / width);
}

std::int64_t nsOf(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// Keeps the newest point of each of the last `count` buckets of `width` (the current one
// included; points dated after now fall in buckets at or after the current one and are kept).
void keepPerBucket(const std::vector<const catalog::PointRecord*>& sorted, int count,
                   std::int64_t width, std::int64_t nowNs, const char* rule, RetentionDecision& d) {
  if (count <= 0) return;
  const std::int64_t first = bucketOf(nowNs, width) - count + 1;
  std::set<std::int64_t> seen;
  for (auto it = sorted.rbegin(); it != sorted.rend(); ++it) {
    std::int64_t b = bucketOf((*it)->dataTimeNs, width);
    if (b < first || !seen.insert(b).second) continue;
    d.keptBy[(*it)->pointId].push_back(rule);
  }
}

Status wrapped(Status s, const std::string& context) {
  if (s.ok()) return s;
  return s.error().wrap(context);
}

bool isPartialName(const std::string& n) {
  return n.size() > 9 && n.front() == '.' && n.compare(n.size() - 8, 8, ".partial") == 0;
}

// The applier's lock, taken without waiting: an fd that holds it, or -1 when an apply does.
struct DirLock {
  int fd = -1;
  bool busy = false;
  ~DirLock() {
    if (fd >= 0) ::close(fd);
  }
};

Status lockPointsDir(const std::string& dir, bool create, DirLock& l) {
  const std::string path = dir + "/.lock";
  l.fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
  if (l.fd < 0) {
    if (errno == ENOENT) return Status::success();  // no apply ever ran here
    return extent::sysError("open " + path, errno);
  }
  if (::flock(l.fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) return extent::sysError("flock " + path, errno);
    l.busy = true;
  }
  return Status::success();
}

Result<std::vector<std::string>> partialsIn(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return out;
    return terminalError("reading " + dir + ": " + ec.message());
  }
  for (const auto& e : it) {
    std::string n = e.path().filename().string();
    if (isPartialName(n)) out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Orphans and partials, under the applier's lock (skipped when an apply holds it).
Status cleanDirectory(const std::vector<catalog::PointRecord>& rows, PruneReport& r) {
  std::error_code ec;
  if (!std::filesystem::is_directory(r.pointsDir, ec)) return Status::success();
  DirLock lock;
  OCPVDR_TRY(lockPointsDir(r.pointsDir, !r.dryRun, lock));
  if (lock.busy) {
    r.applyRunning = true;
    return Status::success();
  }
  std::set<std::string> named;
  std::string newestId;
  for (const auto& p : rows) {
    named.insert(p.pointId);
    newestId = std::max(newestId, p.pointId);
  }
  OCPVDR_ASSIGN_OR_RETURN(auto ids, extent::listPoints(r.pointsDir));
  for (const auto& id : ids)
    if (!named.count(id) && id < newestId) r.orphans.push_back(id);
  OCPVDR_ASSIGN_OR_RETURN(r.partials, partialsIn(r.pointsDir));
  if (r.dryRun) return Status::success();
  for (const auto& id : r.orphans)
    OCPVDR_TRY(wrapped(extent::removeTree(r.pointsDir + "/" + id), "removing orphan point"));
  for (const auto& n : r.partials)
    OCPVDR_TRY(wrapped(extent::removeTree(r.pointsDir + "/" + n), "removing partial point"));
  return Status::success();
}

}  // namespace

std::string pointsDirFor(std::string_view drRoot, std::string_view pv) {
  return std::string(drRoot) + "/.ocpv-dr/points/" + std::string(pv);
}

RetentionDecision selectRetention(const std::vector<catalog::PointRecord>& points,
                                  const RetentionPolicy& policy, SystemTime now) {
  std::vector<const catalog::PointRecord*> sorted;
  for (const auto& p : points) sorted.push_back(&p);
  std::sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) {
    return a->dataTimeNs != b->dataTimeNs ? a->dataTimeNs < b->dataTimeNs : a->pointId < b->pointId;
  });
  RetentionDecision d;
  if (sorted.empty()) return d;
  d.keptBy[sorted.back()->pointId].push_back("newest");
  const std::size_t last = static_cast<std::size_t>(std::max(policy.keepLast, 0));
  for (std::size_t i = 0; i < sorted.size() && i < last; ++i)
    d.keptBy[sorted[sorted.size() - 1 - i]->pointId].push_back("last");
  const std::int64_t nowNs = nsOf(now);
  keepPerBucket(sorted, policy.hourly, kHourNs, nowNs, "hourly", d);
  keepPerBucket(sorted, policy.daily, kDayNs, nowNs, "daily", d);
  for (const auto* p : sorted)
    if (!d.keptBy.count(p->pointId)) d.prune.push_back(p->pointId);
  return d;
}

Json PruneReport::toJson() const {
  Json keptJson = Json::object();
  for (const auto& [id, rules] : kept) keptJson[id] = rules;
  return Json{{"pv", pv},
              {"points_dir", pointsDir},
              {"dry_run", dryRun},
              {"pruned", pruned},
              {"kept", keptJson},
              {"orphans", orphans},
              {"partials", partials},
              {"apply_running", applyRunning}};
}

Result<PruneReport> pruneRecoveryPoints(catalog::PointStore& store, const std::string& pv,
                                        const std::string& pointsDir, const RetentionPolicy& policy,
                                        SystemTime now, bool dryRun) {
  if (!extent::validName(pv)) return invalidError("invalid PV name \"" + pv + "\"");
  PruneReport r;
  r.pv = pv;
  r.pointsDir = pointsDir;
  r.dryRun = dryRun;
  OCPVDR_ASSIGN_OR_RETURN(auto rows, store.list(pv));
  RetentionDecision d = selectRetention(rows, policy, now);
  r.kept = d.keptBy;
  for (const auto& id : d.prune) {
    if (!extent::validName(id)) {
      log::warn("recovery point with an unusable id left alone", {{"pv", pv}, {"point", id}});
      continue;
    }
    r.pruned.push_back(id);
    if (dryRun) continue;
    // Row first: a crash after it leaves an orphan directory the next prune removes.
    Status gone = store.remove(pv, id);
    if (!gone.ok() && gone.error().kind != ErrorKind::NotFound) return gone.error();
    OCPVDR_TRY(wrapped(extent::removeTree(pointsDir + "/" + id),
                       "point " + id + " of PV " + pv + ": row removed, directory"));
  }
  std::vector<catalog::PointRecord> remaining;
  for (auto& p : rows)
    if (d.keptBy.count(p.pointId)) remaining.push_back(std::move(p));
  // Orphans are judged against every row the catalog had (a pruned id is not an orphan: it is
  // already counted in `pruned`).
  for (const auto& id : r.pruned) remaining.push_back(catalog::PointRecord{pv, id});
  OCPVDR_TRY(cleanDirectory(remaining, r));
  return r;
}

Result<PointsLocation> locatePoints(const config::Config& cfg, catalog::Catalog& cat,
                                    std::string_view pv) {
  if (!extent::validName(pv)) return invalidError("invalid PV name \"" + std::string(pv) + "\"");
  OCPVDR_ASSIGN_OR_RETURN(auto replica, cat.replica(pv));
  if (replica) {
    auto paths = mapVolume(cfg, replica->sourceServer, replica->sourcePath);
    if (paths.ok()) return PointsLocation{pointsDirFor(paths->drRoot, pv), paths->primaryRoot};
    log::warn("PV no longer maps; locating its points by their rows",
              {{"pv", std::string(pv)}, {"error", paths.error().message}});
  }
  catalog::PointStore store(cat);
  OCPVDR_ASSIGN_OR_RETURN(auto rows, store.list(pv));
  if (!rows.empty() && !rows.back().path.empty())
    return PointsLocation{fs::path(rows.back().path).parent_path().string(), ""};
  for (const auto& root : cfg.dr.exportRoots) {
    std::string dir = pointsDirFor(root.hostPath, pv);
    std::error_code ec;
    if (fs::is_directory(dir, ec)) return PointsLocation{dir, ""};
  }
  return notFoundError("PV " + std::string(pv) +
                       " has no recovery points (no catalog row, no points directory)");
}

Result<std::vector<std::string>> pvsWithPoints(const config::Config& cfg,
                                               catalog::PointStore& store) {
  std::set<std::string> pvs;
  OCPVDR_ASSIGN_OR_RETURN(auto rows, store.list());
  for (const auto& p : rows) pvs.insert(p.pv);
  for (const auto& root : cfg.dr.exportRoots) {
    std::error_code ec;
    fs::directory_iterator it(root.hostPath + "/.ocpv-dr/points", ec);
    if (ec) continue;  // no points on this export (yet)
    for (const auto& e : it) {
      std::string n = e.path().filename().string();
      if (extent::validName(n) && e.is_directory(ec)) pvs.insert(n);
    }
  }
  return std::vector<std::string>(pvs.begin(), pvs.end());
}

Json VerifyReport::toJson() const {
  return Json{{"pv", pv},
              {"point", pointId},
              {"point_dir", pointDir},
              {"files", files},
              {"bytes_read", bytesRead},
              {"compared_with_primary", primaryCompared},
              {"checked", primaryCompared ? "both ends" : "DR only"},
              {"mismatched", mismatched},
              {"missing_at_dr", missingAtDr},
              {"extra_at_dr", extraAtDr},
              {"verified", ok()}};
}

Result<VerifyReport> verifyRecoveryPoint(const catalog::PointRecord& point,
                                         const PointsLocation& where,
                                         const PrimarySums& primarySums) {
  VerifyReport r;
  r.pv = point.pv;
  r.pointId = point.pointId;
  r.pointDir = where.pointsDir + "/" + point.pointId;
  std::error_code ec;
  if (!fs::exists(r.pointDir + "/point", ec))
    return notFoundError("recovery point " + point.pointId + " of PV " + point.pv +
                         " has a catalog row but no complete directory at " + r.pointDir);
  OCPVDR_ASSIGN_OR_RETURN(auto dr, extent::checksumTree(r.pointDir + "/tree"));
  r.files = dr.size();
  for (const auto& s : dr)
    if (s.type == 'f') r.bytesRead += s.size;
  if (!primarySums) return r;
  OCPVDR_ASSIGN_OR_RETURN(auto primary, primarySums(where));
  if (!primary) return r;
  r.primaryCompared = true;
  std::map<std::string, const extent::FileSum*> atDr;
  for (const auto& s : dr) atDr[s.path] = &s;
  for (const auto& p : *primary) {
    auto it = atDr.find(p.path);
    if (it == atDr.end()) {
      r.missingAtDr.push_back(p.path);
      continue;
    }
    if (!(*it->second == p)) r.mismatched.push_back(p.path);
    atDr.erase(it);
  }
  for (const auto& [path, s] : atDr) r.extraAtDr.push_back(path);
  return r;
}

PrimarySums primarySumsVia(const config::Config& cfg, ProcessRunner& runner, std::string moverPath,
                           std::string pv, std::string snapshotId) {
  return [&cfg, &runner, moverPath, pv, snapshotId](
             const PointsLocation& where) -> Result<std::optional<std::vector<extent::FileSum>>> {
    if (where.primaryRoot.empty()) return std::optional<std::vector<extent::FileSum>>();
    const std::string area = where.primaryRoot + "/.ocpv-dr/snapshots/" + pv + "/" + snapshotId;
    if (cfg.replication.transport == config::Transport::Local) {
      std::error_code ec;
      if (!fs::exists(area + "/manifest", ec)) return std::optional<std::vector<extent::FileSum>>();
      OCPVDR_ASSIGN_OR_RETURN(auto sums, extent::checksumTree(area + "/tree"));
      return std::optional(std::move(sums));
    }
    SshCommand ssh = primarySsh(cfg);
    OCPVDR_TRY(ensureControlDir(ssh.controlDir()));
    ProcessSpec spec;
    spec.argv =
        ssh.remoteArgv(shellQuote(moverPath) + " checksum --root " + shellQuote(where.primaryRoot) +
                       " --pv " + shellQuote(pv) + " --snapshot " + shellQuote(snapshotId));
    std::string out;
    spec.onStdoutLine = [&out](std::string_view line) {
      out.append(line);
      out.push_back('\n');
    };
    OCPVDR_ASSIGN_OR_RETURN(auto res, runner.run(spec));
    if (res.exitCode == exitCodeFor(ErrorKind::NotFound) && !res.signaled)
      return std::optional<std::vector<extent::FileSum>>();
    if (!res.success())
      return retryableError("checksum of snapshot " + snapshotId + " at the primary failed (exit " +
                            std::to_string(res.exitCode) + "): " + res.err.substr(0, 400));
    OCPVDR_ASSIGN_OR_RETURN(auto sums, extent::parseSums(out));
    return std::optional(std::move(sums));
  };
}

}  // namespace ocpvdr::replication
