// Recovery points in the DR catalog: one row per complete point of one PV (table recovery_points,
// catalog migration step 4). The extent mover's applier builds a point on disk
// (extent/applier.h: `<points dir>/<id>/`, visible only once whole); the replicator records it
// here right after, so a row always names a point that exists. Pruning removes the row first and
// the directory after: a crash in between leaves a directory no row names, which the next prune
// removes (listOrphanDirs is the caller's job — the catalog does not touch the file system).
//
// Data time is the moment the primary's snapshot walk started (what the point holds is the PV as
// it was then), kept in nanoseconds as the applier reports it. Every other time is milliseconds,
// as everywhere in the catalog.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/catalog.h"
#include "core/clock.h"
#include "core/result.h"

namespace ocpvdr::catalog {

struct PointRecord {
  std::string pv;
  std::string pointId;          // the applier's id (unique per PV; sorts by creation)
  std::string baseId;           // the point it was built on ("" for a full point)
  std::int64_t dataTimeNs = 0;  // primary snapshot time, ns since the epoch
  SystemTime createdAt;         // when DR made it visible
  std::string path;             // DR directory of the point (`<points dir>/<id>`)
  std::string mover = "extent";
  // What the point is (issue 17): "per-file" (each file crash-consistent at the data time),
  // "crash" (all disks of a group taken back to back), "application" (taken under a guest freeze).
  std::string consistency = "per-file";
  std::string group;             // consistency group / VM the point belongs to ("" for none)
  std::int64_t freezeMs = -1;    // measured freeze window, -1 when no freeze
  std::int64_t entries = 0;      // files, directories and links in the point
  std::int64_t dataBytes = 0;    // bytes written from the stream
  std::int64_t streamBytes = 0;  // bytes on the wire
  std::int64_t primaryReadBytes = 0, drReadBytes = 0;  // bytes read at each end (when measured)
  // The digest of the live PV directory the sender took just before this point's snapshot
  // (extent/manifest.h; migration 5); "" when unknown. The reconcile's full pass skips a PV whose
  // manifest digest equals its newest point's.
  std::string sourceDigest;

  SystemTime dataTime() const;
};

class PointStore {
 public:
  explicit PointStore(Catalog& catalog) : catalog_(catalog) {}

  // Conflict when (pv, pointId) is already recorded.
  [[nodiscard]] Status add(const PointRecord& p);
  // Points of one PV, or of every PV when pv is empty; oldest data time first.
  [[nodiscard]] Result<std::vector<PointRecord>> list(std::string_view pv = {});
  [[nodiscard]] Result<std::optional<PointRecord>> get(std::string_view pv,
                                                       std::string_view pointId);
  // The newest point of the PV (by data time), if any.
  [[nodiscard]] Result<std::optional<PointRecord>> latest(std::string_view pv);
  // The newest point whose data time is at or before `at` ("the last good state before").
  [[nodiscard]] Result<std::optional<PointRecord>> latestAtOrBefore(std::string_view pv,
                                                                    SystemTime at);
  // Per PV, its newest point (by data time): id, data time and source digest — one query for
  // every PV (the full pass asks for thousands at once).
  struct Newest {
    std::string pointId;
    std::int64_t dataTimeNs = 0;
    std::string sourceDigest;
  };
  [[nodiscard]] Result<std::map<std::string, Newest>> newestByPv();
  // NotFound when the row does not exist.
  [[nodiscard]] Status remove(std::string_view pv, std::string_view pointId);

 private:
  [[nodiscard]] Result<std::vector<PointRecord>> query(const std::string& where,
                                                       std::string_view pv, std::string_view id,
                                                       std::optional<std::int64_t> ns, int limit);
  Catalog& catalog_;
};

}  // namespace ocpvdr::catalog
