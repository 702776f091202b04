// The PV handlers: pv sync and pv delete (see replicator.h).
#include "replication/replicator.h"

#include <filesystem>

#include "core/log.h"
#include "core/paths.h"
#include "core/time.h"
#include "events/work_key.h"
#include "replication/guards.h"
#include "replication/lock.h"
#include "replication/path_map.h"
#include "replication/pv_source.h"
#include "replication/replicator_internal.h"
#include "replication/snapshot_info.h"

namespace ocpvdr::replication {
namespace fs = std::filesystem;
using namespace detail;  // NOLINT: the handlers' shared helpers (replicator_internal.h)

namespace {

// The PV's own fields of its catalog row (the source and claim it names now).
void replicaRowFromPv(catalog::ReplicaRecord& row, const PvInfo& info) {
  row.pv = info.name;
  row.uid = info.uid;
  row.sourceKind = toString(info.nfs->kind);
  row.sourceServer = info.nfs->server;
  row.sourcePath = info.nfs->exportPath;
  row.storageClass = info.storageClass;
  row.claimNamespace = info.claimNamespace;
  row.claimName = info.claimName;
}

// The end of a sync in its catalog row: time, result and error (cleared on success).
void recordReplicaSyncEnd(catalog::ReplicaRecord& row, const SyncReport& r, SystemTime now) {
  row.lastSyncEnd = now;
  row.result = std::string(toString(r.result));
  if (r.ok()) {
    row.errorKind.clear();
    row.errorMessage.clear();
  } else {
    row.errorKind = std::string(ocpvdr::toString(r.error->kind));
    row.errorMessage = r.error->message;
  }
}

// The catalog row of a PV being deleted: where its copy is; uid and claim only when the row has
// none (the replicated incarnation's stay).
void replicaRowForDelete(catalog::ReplicaRecord& row, const PvInfo& info,
                         const VolumePaths& paths) {
  row.pv = info.name;
  if (row.uid.empty()) row.uid = info.uid;
  row.sourceKind = toString(info.nfs->kind);
  row.sourceServer = info.nfs->server;
  row.sourcePath = info.nfs->exportPath;
  row.primaryHostPath = paths.primaryHostPath;
  row.drPath = paths.drHostPath;
  row.drExportPath = paths.drExportPath;
  if (row.claimName.empty()) {
    row.claimNamespace = info.claimNamespace;
    row.claimName = info.claimName;
  }
}

}  // namespace

// The extent cycle's part of the report: point, data time, bytes read at each end and sent.
void Replicator::extentReportInto(const ExtentTransfer& e, SyncReport& r) const {
  r.forced = e.forced;
  if (!e.dr.real.empty()) r.destination = e.dr.real;
  r.details["point"] = e.pointMade ? Json(e.applied.pointId) : Json(nullptr);
  r.details["data_time"] =
      e.pointMade ? Json(formatTimeMillis(fromEpochNanos(
                        e.group != nullptr ? e.group->dataTimeNs : e.applied.dataTimeNs)))
                  : Json(nullptr);
  if (e.pointMade) r.details["base_point"] = e.applied.baseId;
  r.details["consistency"] = e.group != nullptr ? e.group->consistency : "per-file";
  r.details["points_dir"] = e.pointsDir;
  r.details["primary_read_bytes"] =
      e.primaryReadBytes >= 0 ? Json(e.primaryReadBytes) : Json(nullptr);
  r.details["dr_read_bytes"] = e.ran ? Json(e.drReadBytes) : Json(nullptr);
  r.details["bytes_sent"] = e.pointMade ? Json(e.applied.streamBytes) : Json(nullptr);
  r.details["full_resend_reason"] =
      e.fullResendReason.empty() ? Json(nullptr) : Json(e.fullResendReason);
  if (auto f = e.sent.find("free_percent"); f != e.sent.end() && f->second != "-1")
    r.details["primary_free_percent"] = std::stoi(f->second);
  if (auto b = e.sent.find("base_only_bytes"); b != e.sent.end() && b->second != "-1")
    r.details["primary_base_only_bytes"] = std::stoll(b->second);
  if (e.mismatch)
    r.details["checksum_mismatch"] = Json{
        {"file", e.mismatch->path}, {"offset", e.mismatch->offset}, {"length", e.mismatch->length}};
  r.bytes = static_cast<std::int64_t>(e.applied.dataBytes);
  r.files = static_cast<std::int64_t>(e.materialized.filesCloned);
  r.deleted = static_cast<std::int64_t>(e.materialized.removed);
  r.changed = e.pointMade && (e.applied.dataBytes > 0 || e.applied.removed > 0 ||
                              e.materialized.filesCloned > 0 || e.materialized.removed > 0);
  if (e.pointMade)
    r.details["extent"] = Json{{"entries", e.applied.entries},
                               {"holes", e.applied.holes},
                               {"removed_in_point", e.applied.removed},
                               {"files_cloned", e.materialized.filesCloned},
                               {"files_unchanged", e.materialized.filesUnchanged},
                               {"bytes_cloned", e.materialized.bytesCloned},
                               {"points_pruned", e.pruned}};
}

// ---------------------------------------------------------------------------------------------
// pv sync

// The data of one PV sync, by the mover replication.mover chooses; the data time of what DR
// holds afterwards when it succeeded (honest RPO): the new point's for the extent mover, the
// sync's start for rsync (what it copied is at least that new, no newer).
std::optional<SystemTime> Replicator::moveData(const PvInfo& pvInfo, const VolumePaths& vpaths,
                                               const SyncOptions& opts,
                                               const catalog::ReplicaRecord& row, SyncReport& r) {
  std::optional<SystemTime> dataTime;
  auto choice = chooseMover(vpaths);
  if (!choice.ok()) {
    fail(r, choice.error());
  } else if (choice->extent) {
    r.details["mover"] = "extent";
    ExtentTransfer e;
    e.paths = vpaths;
    e.pv = pvInfo.name;
    e.force = opts.force;
    e.stop = opts.stop;
    e.applyHook = opts.extentApplyHook;
    e.group = opts.groupPoint;
    Status st = extentTransfer(e);
    if (st.ok()) st = recordAndMaterialize(e, e.dr.exists ? e.dr.real : vpaths.drHostPath);
    extentReportInto(e, r);
    if (st.ok()) {
      dataTime = fromEpochNanos(e.group != nullptr ? e.group->dataTimeNs : e.applied.dataTimeNs);
      r.result = r.changed ? Outcome::Synced : Outcome::Unchanged;
    } else {
      fail(r, st.error());
    }
  } else {
    r.details["mover"] = "rsync";
    if (cfg_.replication.mover == config::MoverKind::Auto)
      r.details["mover_reason"] = choice->reason;
    Transfer t;
    t.paths = vpaths;
    t.force = opts.force;
    t.stop = opts.stop;
    t.onProgress = opts.onProgress;
    Status st = transfer(t);
    t.reportInto(r);
    r.details["point"] = nullptr;
    r.details["data_time"] = formatTimeMillis(*row.lastSyncStart);
    r.details["primary_read_bytes"] = nullptr;  // rsync does not say
    r.details["dr_read_bytes"] = nullptr;
    r.details["bytes_sent"] = t.ran ? Json(t.stats.bytesReceived) : Json(nullptr);
    if (st.ok()) {
      r.changed = t.stats.itemizedChanges > 0 || t.stats.regularFilesTransferred > 0 ||
                  t.stats.deletedFiles > 0;
      r.result = r.changed ? Outcome::Synced : Outcome::Unchanged;
      dataTime = row.lastSyncStart;
    } else {
      fail(r, st.error());
      // A partial transfer may still have changed DR.
      r.changed = t.ran && (t.stats.itemizedChanges > 0 || t.stats.deletedFiles > 0);
    }
  }
  return dataTime;
}

Result<SyncReport> Replicator::syncPvByName(std::string_view name, const SyncOptions& opts) {
  if (primary_ == nullptr) {
    SyncReport r;
    r.action = "pv sync";
    r.pv = std::string(name);
    fail(r, invalidError("no primary API access configured here: pass the PV as JSON (--pv-json)"));
    return r;
  }
  auto pv = primary_->getPersistentVolume(name);
  if (!pv.ok()) {
    SyncReport r;
    r.action = "pv sync";
    r.pv = std::string(name);
    fail(r, pv.error().wrap("reading PersistentVolume " + std::string(name) + " from the primary"));
    return r;
  }
  return syncPv(*pv, opts);
}

Result<SyncReport> Replicator::syncPv(const Json& doc, const SyncOptions& opts) {
  if (opts.groupPoint == nullptr && consistency_ != nullptr && cfg_.replication.consistency.groups)
    if (auto viaGroup = syncViaGroup(doc, opts)) return *viaGroup;
  Call call(*this, "pv sync", opts.eventId, true);
  SyncReport& r = call.r;
  auto done = [&] { return call.done(); };
  const auto info = call.openPv(doc);
  if (!info) return done();
  r.source = info->nfs->server + ":" + info->nfs->exportPath;
  // After a failover the DR copies are the running VMs' disks: no sync, --force or not.
  if (Status g = catalog::refuseIfDrActive(catalog_, "pv sync of " + info->name); !g.ok()) {
    fail(r, g.error());
    return done();
  }

  // The catalog row is read before the lock only for refusals, which never touch data.
  auto prior = catalog_.replica(info->name);
  catalog::ReplicaRecord row;
  if (prior.ok() && prior->has_value()) row = **prior;
  replicaRowFromPv(row, *info);

  auto paths = mapVolume(cfg_, info->nfs->server, info->nfs->exportPath);
  if (!paths.ok()) {
    fail(r, paths.error());
    recordReplicaSyncEnd(row, r, clock_.now());
    (void)catalog_.putReplica(row);
    return done();
  }
  r.destination = paths->drHostPath;

  auto lock = FileLock::acquire(lockDir_, info->name, opts.wait, clock_, opts.stop);
  if (lockNotTaken(lock, r)) return done();
  auto pathLock =
      FileLock::acquire(lockDir_, pathLockKey(paths->drHostPath), opts.wait, clock_, opts.stop);
  if (lockNotTaken(pathLock, r)) return done();
  // Again under the lock: a failover sets the state and then takes this lock once (a barrier).
  if (Status g = catalog::refuseIfDrActive(catalog_, "pv sync of " + info->name); !g.ok()) {
    fail(r, g.error());
    return done();
  }
  if (Status o = checkNoOverlap(info->name, paths->drHostPath, "sync"); !o.ok()) {
    fail(r, o.error());
    return done();
  }
  // Re-read under the lock: another process may have written the row meanwhile.
  prior = catalog_.replica(info->name);
  if (prior.ok() && prior->has_value()) {
    row = **prior;
    replicaRowFromPv(row, *info);
  }
  row.primaryHostPath = paths->primaryHostPath;
  row.drPath = paths->drHostPath;
  row.drExportPath = paths->drExportPath;
  row.state = "active";
  row.trashPath.clear();
  row.lastSyncStart = clock_.now();
  if (Status s = catalog_.putReplica(row); !s.ok()) {
    fail(r, s.error().wrap("recording the sync start"));
    return done();
  }

  const std::optional<SystemTime> dataTime = moveData(*info, *paths, opts, row, r);
  if (r.forced) r.details["forced_reason"] = "empty-source guard overridden with --force";

  recordReplicaSyncEnd(row, r, clock_.now());
  row.bytes = r.bytes;
  row.files = r.files;
  row.deletions = r.deleted;
  row.forced = r.forced;
  if (r.ok() && dataTime) row.lastSuccess = dataTime;
  if (Status s = catalog_.putReplica(row); !s.ok() && r.ok()) {
    // The data is in place but unrecorded: report it so reconcile retries and records it.
    fail(r, s.error().wrap("recording the sync result"));
  }
  log::debug("pv sync input", {{"pv", r.pv}, {"input", describeInput(call.input)}});
  return done();
}

// ---------------------------------------------------------------------------------------------
// pv delete

Result<SyncReport> Replicator::deletePv(const Json& doc, const DeleteOptions& opts) {
  Call call(*this, "pv delete", opts.eventId, true);
  SyncReport& r = call.r;
  auto done = [&] { return call.done(); };
  const auto info = call.openPv(doc);
  if (!info) return done();
  deleteDescribedPv(*info, describeInput(call.input), opts, r);
  return done();
}

Result<SyncReport> Replicator::deletePvFromCatalog(const catalog::ReplicaRecord& replica,
                                                   const DeleteOptions& opts) {
  Call call(*this, "pv delete", opts.eventId, true);
  SyncReport& r = call.r;
  r.pv = replica.pv;
  r.details["input"] = Json{{"envelope", "catalog"}};
  PvInfo info;
  info.name = replica.pv;
  info.uid = replica.uid;
  info.storageClass = replica.storageClass;
  info.claimNamespace = replica.claimNamespace;
  info.claimName = replica.claimName;
  NfsSource src;
  src.kind = replica.sourceKind == "csi" ? SourceKind::Csi : SourceKind::InTree;
  src.server = replica.sourceServer;
  src.exportPath = replica.sourcePath;
  info.nfs = src;
  if (!skipProcessedEvent(catalog_, opts.eventId, r))
    deleteDescribedPv(info, "catalog row", opts, r);
  return call.done();
}

void Replicator::deleteDescribedPv(const PvInfo& info, const std::string& input,
                                   const DeleteOptions& opts, SyncReport& r) {
  r.source = info.nfs->server + ":" + info.nfs->exportPath;
  auto paths = mapVolume(cfg_, info.nfs->server, info.nfs->exportPath);
  if (!paths.ok()) {
    fail(r, paths.error());
    return;
  }
  r.destination = paths->drHostPath;
  const auto policy = opts.policy.value_or(cfg_.replication.deletePolicy);
  r.details["policy"] = config::toString(policy);

  auto lock = FileLock::acquire(lockDir_, info.name, opts.wait, clock_);
  if (lockNotTaken(lock, r)) return;
  auto pathLock = FileLock::acquire(lockDir_, pathLockKey(paths->drHostPath), opts.wait, clock_);
  if (lockNotTaken(pathLock, r)) return;
  if (Status g = catalog::refuseIfDrActive(catalog_, "pv delete of " + info.name); !g.ok()) {
    fail(r, g.error());
    return;
  }
  if (opts.verify && !verifyPvDelete(info, *paths, r)) return;
  auto dr = deletableDrCopy(info.name, *paths);
  if (!dr.ok()) {
    fail(r, dr.error());
    return;
  }
  auto prior = catalog_.replica(info.name);
  catalog::ReplicaRecord row;
  if (prior.ok() && prior->has_value()) row = **prior;
  replicaRowForDelete(row, info, *paths);

  // The last word before data moves: the event path's breaker.
  auto liveReplicas = [&] {
    std::size_t live = 0;
    if (auto all = catalog_.replicas(); all.ok())
      for (const auto& x : *all) live += (x.state == "active" || x.state == "restored") ? 1 : 0;
    return live;
  };
  if (!dr->exists) {
    r.result = Outcome::Unchanged;
    r.details["reason"] = "no DR copy at " + paths->drHostPath;
    row.state = "deleted";
  } else if (policy == config::DeletePolicy::Keep) {
    r.result = Outcome::Kept;
    row.state = "kept";
  } else if (breakerHolds(opts.breaker, events::pvKey(info.name), liveReplicas, r)) {
    return;
  } else if (policy == config::DeletePolicy::Delete) {
    std::error_code ec;
    fs::remove_all(dr->real, ec);
    if (ec) {
      fail(r, terminalError("cannot delete " + dr->real + ": " + ec.message()));
      return;
    }
    r.result = Outcome::Deleted;
    r.changed = true;
    row.state = "deleted";
  } else {
    TrashManifest m;
    m.kind = "pv";
    m.pv = info.name;
    m.uid = info.uid;
    m.reason = opts.reason.empty() ? "pv delete (" + input + ")" : opts.reason;
    auto entry = trash_.quarantine(dr->rootReal, dr->real, m);
    if (!entry.ok()) {
      fail(r, entry.error());
      return;
    }
    r.result = Outcome::Quarantined;
    r.changed = true;
    r.details["trash"] = entry->toJson(clock_.now());
    row.state = "quarantined";
    row.trashPath = entry->entryPath;
  }
  row.result = std::string(toString(r.result));
  if (Status s = catalog_.putReplica(row); !s.ok())
    log::warn("could not record the delete in the catalog",
              {{"pv", r.pv}, {"error", s.error().message}});
}

Result<PathProbe> Replicator::deletableDrCopy(const std::string& pv, const VolumePaths& paths) {
  // Never quarantine a directory that holds (or is held by) another PV's copy.
  OCPVDR_TRY(checkNoOverlap(pv, paths.drHostPath, "delete"));
  if (paths::isUnder(paths.drHostPath, paths.drRoot + "/" + std::string(kTrashDirName)))
    return refusedError("DR path " + paths.drHostPath + " lies inside the DR trash");
  OCPVDR_TRY(refuseStateDir(paths));
  OCPVDR_ASSIGN_OR_RETURN(PathProbe dr, probeLocal(paths.drRoot, paths.drHostPath));
  OCPVDR_TRY(checkConfined(dr, "DR", paths.drHostPath));
  if (dr.exists && !dr.isDir)
    return refusedError("DR path " + paths.drHostPath + " is not a directory");
  return dr;
}

Status Replicator::checkNoOverlap(const std::string& pv, const std::string& drPath,
                                  std::string_view action) {
  auto rows = catalog_.replicas();
  if (!rows.ok()) return rows.error().wrap("reading the catalog to check for shared DR paths");
  const std::string mine = fs::path(drPath).lexically_normal().string();
  for (const auto& other : *rows) {
    if (other.pv == pv || other.drPath.empty()) continue;
    // States whose DR directory still holds that PV's data in place.
    if (!(other.state == "active" || other.state == "restored" || other.state == "kept")) continue;
    const std::string theirs = fs::path(other.drPath).lexically_normal().string();
    std::string relation;
    if (theirs == mine)
      relation = "is the same directory as";
    else if (paths::isUnder(mine, theirs))
      relation = "lies inside";
    else if (paths::isUnder(theirs, mine))
      relation = "contains";
    else
      continue;
    return refusedError("shared NFS path: PV " + pv + "'s DR path " + mine + " " + relation +
                        " PV " + other.pv + "'s DR path " + theirs + "; refusing the " +
                        std::string(action) +
                        " (two PVs on one directory, or one inside the other, cannot be "
                        "replicated or deleted separately — give each PV its own directory)");
  }
  return Status::success();
}

bool Replicator::verifyPvDelete(const PvInfo& info, const VolumePaths& paths, SyncReport& r) {
  Json v{{"event_uid", info.uid}};
  auto stopWith = [&](Outcome o, std::optional<Error> e, const std::string& why) {
    r.result = o;
    r.error = std::move(e);
    v["reason"] = why;
    r.details["verification"] = v;
    return false;
  };
  // 1. Is this a copy ocpv-dr made, at the place the event points to?
  auto row = catalog_.replica(info.name);
  if (!row.ok()) {
    fail(r, row.error().wrap("reading the catalog to verify the delete"));
    return false;
  }
  if (!row->has_value() || !((*row)->state == "active" || (*row)->state == "restored"))
    return stopWith(Outcome::NotReplicated, std::nullopt,
                    "the catalog holds no live replica of PV " + info.name +
                        (row->has_value() ? " (state " + (*row)->state + ")" : std::string()) +
                        "; no DR data moved");
  const auto& rec = **row;
  v["catalog_uid"] = rec.uid;
  v["catalog_dr_path"] = rec.drPath;
  if (fs::path(rec.drPath).lexically_normal() != fs::path(paths.drHostPath).lexically_normal())
    return stopWith(Outcome::NotReplicated, std::nullopt,
                    "the event's PV " + info.name + " maps to " + paths.drHostPath +
                        ", but ocpv-dr replicated that PV to " + rec.drPath + "; no DR data moved");
  // 2. The same incarnation of the PV?
  if (info.uid.empty() || rec.uid.empty() || info.uid != rec.uid)
    return stopWith(
        Outcome::UidMismatch,
        refusedError("uid mismatch: the DELETED event names PV " + info.name + " uid \"" +
                     info.uid + "\" but the catalog replicated uid \"" + rec.uid +
                     "\" (a stale event for an earlier PV of that name?); the DR copy " +
                     rec.drPath + " stays"),
        "uid mismatch");
  // 3. Gone at the primary?
  if (primary_ == nullptr)
    return stopWith(Outcome::PrimaryUnreachable,
                    refusedError("cannot verify the delete of PV " + info.name +
                                 ": no primary API access configured here; the DR copy stays"),
                    "no primary API");
  auto got = primary_->getPersistentVolume(info.name);
  if (got.ok()) {
    auto uid = jsonOptString(*got, "metadata.uid");
    const std::string now = uid.ok() ? uid->value_or("") : std::string();
    v["primary_uid"] = now;
    if (now.empty() || now == info.uid)
      return stopWith(Outcome::StillPresent,
                      refusedError("PV " + info.name + " (uid " + info.uid +
                                   ") still exists at the primary: the DELETED event is not "
                                   "confirmed (forged or mistaken?); the DR copy " +
                                   rec.drPath + " stays"),
                      "still present at the primary");
    v["primary"] = "replaced";  // a new PV of that name: the replicated one is gone
  } else if (got.error().kind == ErrorKind::NotFound) {
    v["primary"] = "absent";
  } else {
    return stopWith(
        Outcome::PrimaryUnreachable,
        retryableError("cannot confirm at the primary that PV " + info.name + " is gone (" +
                       got.error().message + "); the delete waits and is retried"),
        "primary API unreachable");
  }
  r.details["verification"] = v;
  return true;
}

}  // namespace ocpvdr::replication
