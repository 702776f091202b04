// Retention of recovery points at DR (issue 15): which points of a PV `replication.recovery_points`
// keeps, and the prune that removes the others.
//
// A points directory per PV lives at `<DR export root>/.ocpv-dr/points/<pv>/` (layout:
// extent/applier.h). A point is kept when any rule keeps it:
//   newest     the newest point by data time, always: it is the base the primary holds, and
//              the next cycle is built on it;
//   last       the newest `keep_last` points;
//   hourly     the newest point of each of the last `hourly` UTC clock hours (counted back from
//              now, the current hour included);
//   daily      the newest point of each of the last `daily` UTC days.
// Pruning a point removes its catalog row first and its directory after (so a crash in between
// leaves a directory no row names, never a row naming nothing). Deleting the directory frees
// exactly the blocks no other point shares: points are reflink clones of each other, so blocks
// that a kept point still references stay allocated (copy-on-write reference counts).
//
// The prune also removes
//   - complete point directories no row names whose id sorts before the newest recorded point
//     (left by a crash between the row removal and the directory removal, or between an apply's
//     rename and the row): a newer one may be a point being recorded right now and is left;
//   - stale partial points `.<id>.partial`, only when no apply holds `<points dir>/.lock`
//     (the applier's flock; taken here non-blocking while the directory is cleaned).
// The caller holds the PV's replication lock (volume_lock.h) or runs inside the cycle that does.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/points.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/json_util.h"
#include "core/process.h"
#include "core/result.h"
#include "extent/checksum.h"

namespace ocpvdr::replication {

using RetentionPolicy = config::RecoveryPointRetention;

// `<drRoot>/.ocpv-dr/points/<pv>`: where the points of PV `pv` live on the DR export whose host
// path is drRoot (VolumePaths::drRoot).
std::string pointsDirFor(std::string_view drRoot, std::string_view pv);

struct RetentionDecision {
  std::vector<std::string> prune;                          // point ids, oldest first
  std::map<std::string, std::vector<std::string>> keptBy;  // id -> rules that keep it
};

// Pure: which of one PV's points the policy prunes, and why each other one is kept. The order of
// `points` does not matter (they are ordered by data time, then id). Never prunes the newest.
RetentionDecision selectRetention(const std::vector<catalog::PointRecord>& points,
                                  const RetentionPolicy& policy, SystemTime now);

struct PruneReport {
  std::string pv;
  std::string pointsDir;
  bool dryRun = false;
  std::vector<std::string> pruned;  // points whose row and directory were removed (or would be)
  std::map<std::string, std::vector<std::string>> kept;  // id -> rules that keep it
  std::vector<std::string> orphans;   // directories no row names, removed (or would be)
  std::vector<std::string> partials;  // stale `.<id>.partial` directories removed (or would be)
  bool applyRunning = false;  // an apply held the lock: partials and orphans were left alone
  Json toJson() const;
};

// Applies the policy to PV `pv` (rows from `store`, directories under `pointsDir`). dryRun:
// decides and reports, changes nothing. Errors: the catalog's (rows), the file system's
// (directories) — a point whose row is gone but whose directory could not be removed is reported
// in the error and removed as an orphan by the next prune.
[[nodiscard]] Result<PruneReport> pruneRecoveryPoints(catalog::PointStore& store,
                                                      const std::string& pv,
                                                      const std::string& pointsDir,
                                                      const RetentionPolicy& policy, SystemTime now,
                                                      bool dryRun);

}  // namespace ocpvdr::replication

namespace ocpvdr::replication {

// Where one PV's points are (the DR export root of its replica, mapped as replication maps it)
// and where its primary snapshots are (the primary export root; empty when the PV is not in the
// replicas table any more). NotFound when the PV is neither in the replicas table nor has a row.
struct PointsLocation {
  std::string pointsDir;
  std::string primaryRoot;
};
[[nodiscard]] Result<PointsLocation> locatePoints(const config::Config& cfg, catalog::Catalog& cat,
                                                  std::string_view pv);

// Every PV with a recovery point row, or a points directory under a DR export root, sorted.
[[nodiscard]] Result<std::vector<std::string>> pvsWithPoints(const config::Config& cfg,
                                                             catalog::PointStore& store);

// `points verify`: the per-file sums of the DR point (re-read from disk) against the primary's
// sums of the same snapshot. `primarySums` answers them, or nullopt when the primary does not
// hold that snapshot any more (it keeps only the newest) — then only the DR side is checked:
// every file readable, and the tree matching what the point's `point` file counts.
struct VerifyReport {
  std::string pv, pointId, pointDir;
  std::size_t files = 0;         // files and links summed at DR
  std::uint64_t bytesRead = 0;   // at DR
  bool primaryCompared = false;  // false: the primary no longer holds the snapshot
  std::vector<std::string> mismatched, missingAtDr, extraAtDr;  // paths
  bool ok() const { return mismatched.empty() && missingAtDr.empty() && extraAtDr.empty(); }
  Json toJson() const;
};
using PrimarySums =
    std::function<Result<std::optional<std::vector<extent::FileSum>>>(const PointsLocation&)>;
[[nodiscard]] Result<VerifyReport> verifyRecoveryPoint(const catalog::PointRecord& point,
                                                       const PointsLocation& where,
                                                       const PrimarySums& primarySums);

// The primary's sums over the configured transport: `local`, the primary export is mounted here
// and the same code runs in-process; `ssh`, `<mover> checksum --root R --pv P --snapshot ID` runs
// on the primary NFS host over replication's ssh. NotFound from the mover (exit 7) → nullopt.
PrimarySums primarySumsVia(const config::Config& cfg, ProcessRunner& runner, std::string moverPath,
                           std::string pv, std::string snapshotId);

}  // namespace ocpvdr::replication
