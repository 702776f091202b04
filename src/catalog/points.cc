// Recovery point rows over the catalog's SQLite connection (see points.h).
#include "catalog/points.h"

#include <sqlite3.h>

#include "core/sqlite.h"
#include "core/time.h"

namespace ocpvdr::catalog {
namespace {

constexpr std::string_view kComponent = "catalog points";

constexpr std::string_view kColumns =
    "pv, point_id, base_id, data_time_ns, created_at_ms, path, mover, consistency, group_name, "
    "freeze_ms, entries, data_bytes, stream_bytes, primary_read_bytes, dr_read_bytes, "
    "source_digest";

PointRecord readRow(const sqlite::Stmt& s) {
  PointRecord p;
  p.pv = s.text(0);
  p.pointId = s.text(1);
  p.baseId = s.text(2);
  p.dataTimeNs = s.i64(3);
  p.createdAt = fromMillis(s.i64(4));
  p.path = s.text(5);
  p.mover = s.text(6);
  p.consistency = s.text(7);
  p.group = s.text(8);
  p.freezeMs = s.i64(9);
  p.entries = s.i64(10);
  p.dataBytes = s.i64(11);
  p.streamBytes = s.i64(12);
  p.primaryReadBytes = s.i64(13);
  p.drReadBytes = s.i64(14);
  p.sourceDigest = s.text(15);
  return p;
}

}  // namespace

SystemTime PointRecord::dataTime() const {
  return fromEpochNanos(dataTimeNs);
}

Status PointStore::add(const PointRecord& p) {
  return catalog_.withConnection([&](sqlite3* db) -> Status {
    sqlite::Stmt s(
        db,
        "INSERT INTO recovery_points (" + std::string(kColumns) +
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        kComponent);
    OCPVDR_TRY(s.checkPrepared("preparing insert of point " + p.pointId));
    s.bind(p.pv).bind(p.pointId).bind(p.baseId).bind(p.dataTimeNs).bind(toMillis(p.createdAt));
    s.bind(p.path).bind(p.mover).bind(p.consistency).bind(p.group).bind(p.freezeMs);
    s.bind(p.entries).bind(p.dataBytes).bind(p.streamBytes).bind(p.primaryReadBytes);
    s.bind(p.drReadBytes).bind(p.sourceDigest);
    int rc = s.step();
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
      return conflictError("recovery point " + p.pointId + " of PV " + p.pv +
                           " is already in the catalog");
    if (rc != SQLITE_DONE) return s.error(rc, "recording point " + p.pointId + " of PV " + p.pv);
    return Status::success();
  });
}

Result<std::vector<PointRecord>> PointStore::query(const std::string& where, std::string_view pv,
                                                   std::string_view id,
                                                   std::optional<std::int64_t> ns, int limit) {
  return catalog_.withConnection([&](sqlite3* db) -> Result<std::vector<PointRecord>> {
    // ?1 pv ("" = every PV), ?2 point id, ?3 data time bound, ?4 limit (-1 = none).
    sqlite::Stmt s(db,
                   "SELECT " + std::string(kColumns) +
                       " FROM recovery_points WHERE (coalesce(?1, '') = '' OR pv = ?1) " + where +
                       " ORDER BY pv, data_time_ns " + (limit == 1 ? "DESC" : "ASC") +
                       ", point_id LIMIT ?4",
                   kComponent);
    OCPVDR_TRY(s.checkPrepared("preparing point query"));
    s.bind(pv).bind(id).bind(ns).bind(limit);
    std::vector<PointRecord> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) out.push_back(readRow(s));
    if (rc != SQLITE_DONE) return s.error(rc, "reading recovery points");
    return out;
  });
}

Result<std::vector<PointRecord>> PointStore::list(std::string_view pv) {
  return query("AND ?2 IS NOT NULL AND ?3 IS NULL", pv, "", std::nullopt, -1);
}

namespace {
Result<std::optional<PointRecord>> first(Result<std::vector<PointRecord>> rows) {
  OCPVDR_ASSIGN_OR_RETURN(auto v, std::move(rows));
  if (v.empty()) return std::optional<PointRecord>{};
  return std::optional<PointRecord>(std::move(v.front()));
}
}  // namespace

Result<std::optional<PointRecord>> PointStore::get(std::string_view pv, std::string_view pointId) {
  if (pv.empty()) return invalidError("catalog points: a point is looked up by PV and id");
  return first(query("AND point_id = ?2 AND ?3 IS NULL", pv, pointId, std::nullopt, 1));
}

Result<std::optional<PointRecord>> PointStore::latest(std::string_view pv) {
  if (pv.empty()) return invalidError("catalog points: the latest point is looked up by PV");
  return first(query("AND ?2 IS NOT NULL AND ?3 IS NULL", pv, "", std::nullopt, 1));
}

Result<std::optional<PointRecord>> PointStore::latestAtOrBefore(std::string_view pv,
                                                                SystemTime at) {
  if (pv.empty()) return invalidError("catalog points: a point by time is looked up by PV");
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch()).count();
  return first(query("AND ?2 IS NOT NULL AND data_time_ns <= ?3", pv, "", ns, 1));
}

Result<std::map<std::string, PointStore::Newest>> PointStore::newestByPv() {
  return catalog_.withConnection([&](sqlite3* db) -> Result<std::map<std::string, Newest>> {
    // SQLite's bare columns beside max() come from the row holding the maximum.
    sqlite::Stmt s(db,
                   "SELECT pv, point_id, source_digest, max(data_time_ns) FROM recovery_points "
                   "GROUP BY pv",
                   kComponent);
    OCPVDR_TRY(s.checkPrepared("preparing the newest points query"));
    std::map<std::string, Newest> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW)
      out.emplace(s.text(0), Newest{s.text(1), s.i64(3), s.text(2)});
    if (rc != SQLITE_DONE) return s.error(rc, "reading the newest recovery points");
    return out;
  });
}

Status PointStore::remove(std::string_view pv, std::string_view pointId) {
  return catalog_.withConnection([&](sqlite3* db) -> Status {
    sqlite::Stmt s(db, "DELETE FROM recovery_points WHERE pv = ?1 AND point_id = ?2", kComponent);
    OCPVDR_TRY(s.checkPrepared("preparing removal of a point"));
    s.bind(pv).bind(pointId);
    int rc = s.step();
    if (rc != SQLITE_DONE)
      return s.error(rc, "removing point " + std::string(pointId) + " of PV " + std::string(pv));
    if (sqlite3_changes(db) == 0)
      return notFoundError("recovery point " + std::string(pointId) + " of PV " + std::string(pv) +
                           " is not in the catalog");
    return Status::success();
  });
}

}  // namespace ocpvdr::catalog
