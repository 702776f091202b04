// The snapshot handlers: snapshot sync and snapshot delete (see replicator.h).
#include "replication/replicator.h"

#include <filesystem>

#include "core/log.h"
#include "core/paths.h"
#include "replication/guards.h"
#include "replication/lock.h"
#include "replication/path_map.h"
#include "replication/pv_source.h"
#include "replication/replicator_internal.h"
#include "replication/snapshot_info.h"

namespace ocpvdr::replication {
namespace fs = std::filesystem;
using namespace detail;  // NOLINT: the handlers' shared helpers (replicator_internal.h)

// ---------------------------------------------------------------------------------------------
// snapshots

namespace {

// The VolumeSnapshot's own fields of its catalog record.
void snapshotRecordFromEvent(catalog::SnapshotRecord& rec, const SnapshotInfo& vs, SystemTime now) {
  rec.uid = vs.uid;
  rec.ns = vs.ns;
  rec.name = vs.name;
  rec.sourcePvc = vs.sourcePvc;
  rec.className = vs.className;
  if (!vs.boundContent.empty()) rec.contentName = vs.boundContent;
  if (!rec.firstSeen) rec.firstSeen = now;
  if (vs.creationTime) rec.creationTime = vs.creationTime;
  if (vs.restoreSize) rec.restoreSize = vs.restoreSize;
}

// The bound VolumeSnapshotContent's fields: the handle, and the int64 fields the snapshot lacks.
void snapshotRecordFromContent(catalog::SnapshotRecord& rec, const SnapshotContentInfo& content) {
  rec.contentName = content.name;
  rec.snapshotHandle = content.snapshotHandle;
  rec.driver = content.driver;
  if (!rec.creationTime) rec.creationTime = content.creationTime;
  if (!rec.restoreSize) rec.restoreSize = content.restoreSize;
}

// Writes the record with the report's outcome, and shows it in the report.
void putSnapshotRecord(catalog::Catalog& catalog, catalog::SnapshotRecord& rec, SyncReport& r) {
  rec.result = std::string(toString(r.result));
  if (r.error) {
    rec.errorKind = std::string(ocpvdr::toString(r.error->kind));
    rec.errorMessage = r.error->message;
  } else {
    rec.errorKind.clear();
    rec.errorMessage.clear();
  }
  if (Status s = catalog.putSnapshot(rec); !s.ok() && r.ok())
    fail(r, s.error().wrap("recording the snapshot"));
  r.details["record"] = Json{
      {"uid", rec.uid},
      {"state", rec.state},
      {"ready", rec.ready},
      {"source_pvc", rec.sourcePvc},
      {"source_pv", rec.sourcePv},
      {"content", rec.contentName},
      {"snapshot_handle", rec.snapshotHandle},
      {"creation_time", rec.creationTime ? Json(formatTime(*rec.creationTime)) : Json(nullptr)},
      {"restore_size_bytes", rec.restoreSize ? Json(*rec.restoreSize) : Json(nullptr)},
      {"data_dr_path", rec.dataDrPath}};
}

// A ready snapshot without its bound content while replication.snapshot_data is on.
void reportMissingSnapshotContent(catalog::SnapshotRecord& rec, SyncReport& r, bool known,
                                  bool wasReady) {
  // Without the bound content there is no handle, so no archive to copy: recording the
  // snapshot as ready (or reporting it synced) would claim data DR does not have. The EDA path
  // gets the content in the forwarder's payload; a later event (or reconcile, which reads it
  // from the primary API) completes it.
  const std::string why =
      "no VolumeSnapshotContent for " + r.snapshot +
      (rec.contentName.empty() ? std::string(" (not bound yet)")
                               : " (bound to " + rec.contentName + ")") +
      ": pass --content-json, send the forwarder's payload `content`, or configure the primary "
      "API; its archive is not replicated yet";
  r.details["data"] = Json{{"replicated", false}, {"reason", why}};
  if (wasReady) {
    // Recorded ready before (with its content): nothing new can be learnt without the content
    // and nothing is lost.
    r.result = Outcome::Unchanged;
    return;
  }
  rec.ready = false;
  rec.state = "pending";
  r.error = retryableError(why);
  r.result = Outcome::NotReady;
  r.changed = !known;
}

// The record of a snapshot first seen by its delete.
catalog::SnapshotRecord deletedSnapshotRecord(const SnapshotInfo& vs, SystemTime now) {
  catalog::SnapshotRecord rec;
  rec.uid = vs.uid;
  rec.ns = vs.ns;
  rec.name = vs.name;
  rec.sourcePvc = vs.sourcePvc;
  rec.className = vs.className;
  rec.contentName = vs.boundContent;
  rec.creationTime = vs.creationTime;
  rec.restoreSize = vs.restoreSize;
  rec.firstSeen = now;
  return rec;
}

}  // namespace

Result<std::optional<SnapshotContentInfo>> Replicator::snapshotContent(
    const SnapshotOptions& opts, const std::string& contentName, const std::string& uid) {
  std::optional<SnapshotContentInfo> content;
  if (opts.content) {
    auto cu = unwrapObject(*opts.content, "VolumeSnapshotContent");
    auto c =
        cu.ok() ? describeSnapshotContent(cu->object) : Result<SnapshotContentInfo>(cu.error());
    if (!c.ok()) {
      return c.error().wrap("reading the VolumeSnapshotContent");
    }
    content = *c;
  } else if (primary_ != nullptr && !contentName.empty()) {
    auto j = primary_->getVolumeSnapshotContent(contentName);
    if (!j.ok()) {
      return j.error().wrap("reading VolumeSnapshotContent " + contentName);
    }
    auto c = describeSnapshotContent(*j);
    if (!c.ok()) {
      return c.error().wrap("reading VolumeSnapshotContent " + contentName);
    }
    content = *c;
  }
  if (content) {
    if (!content->snapshotRefUid.empty() && content->snapshotRefUid != uid) {
      return invalidError("VolumeSnapshotContent " + content->name + " belongs to snapshot uid " +
                          content->snapshotRefUid + ", not " + uid);
    }
    if (!contentName.empty() && content->name != contentName) {
      return invalidError("VolumeSnapshotContent " + content->name + " is not the bound content " +
                          contentName);
    }
  }
  return content;
}

// Source PV: the catalog knows which PV backs the claim; the primary API can say otherwise.
void Replicator::resolveSourcePv(catalog::SnapshotRecord& rec) {
  if (rec.sourcePv.empty() && !rec.sourcePvc.empty()) {
    auto byClaim = catalog_.replicaByClaim(rec.ns, rec.sourcePvc);
    if (byClaim.ok() && byClaim->has_value()) rec.sourcePv = (*byClaim)->pv;
    if (rec.sourcePv.empty() && primary_ != nullptr) {
      auto pvc = primary_->getPersistentVolumeClaim(rec.ns, rec.sourcePvc);
      if (pvc.ok()) {
        auto vn = jsonOptString(*pvc, "spec.volumeName");
        if (vn.ok() && vn->has_value()) rec.sourcePv = **vn;
      }
    }
  }
}

// The csi-driver-nfs archive directory of a ready snapshot, replicated like a volume;
// `dataChanged` says whether rsync changed anything at DR.
Status Replicator::replicateSnapshotArchive(const SnapshotContentInfo& content,
                                            const SnapshotOptions& opts,
                                            catalog::SnapshotRecord& rec, SyncReport& r,
                                            bool& dataChanged) {
  auto loc = parseCsiNfsSnapshotHandle(content.snapshotHandle);
  if (!loc.ok()) return loc.error();
  r.source = loc->server + ":" + loc->archiveDir;
  auto paths = mapVolume(cfg_, loc->server, loc->archiveDir);
  if (!paths.ok()) return paths.error();
  r.destination = paths->drHostPath;
  Transfer t;
  t.paths = *paths;
  t.force = opts.force;
  t.stop = opts.stop;
  t.onProgress = opts.onProgress;
  Status st = transfer(t);
  t.reportInto(r);
  r.details["mover"] = "rsync";  // snapshot archives are single tar files: always rsync
  if (!st.ok()) return st.error().wrap("replicating the snapshot archive");
  dataChanged = t.stats.itemizedChanges > 0 || t.stats.regularFilesTransferred > 0;
  const auto archive = findCsiNfsArchive(t.dr.real, *loc);
  if (!archive) {
    return terminalError("the snapshot directory was replicated but holds neither " +
                         loc->archiveNames()[0] + " nor " + loc->archiveNames()[1] + " at " +
                         t.dr.real);
  }
  rec.dataPrimaryPath = t.source.real;
  rec.dataDrPath = t.dr.real;
  rec.bytes = t.stats.transferredFileSize;
  r.details["data"] = Json{{"replicated", true}, {"archive", *archive}};
  return Status::success();
}

Result<SyncReport> Replicator::syncSnapshot(const Json& doc, const SnapshotOptions& opts) {
  Call call(*this, "snapshot sync", opts.eventId, false);
  SyncReport& r = call.r;
  auto done = [&] { return call.done(); };
  const auto vs = call.openSnapshot(doc);
  if (!vs) return done();
  auto lock = FileLock::acquire(lockDir_, "snap-" + vs->uid, opts.wait, clock_, opts.stop);
  if (lockNotTaken(lock, r)) return done();
  if (Status g = catalog::refuseIfDrActive(catalog_, "snapshot sync of " + r.snapshot); !g.ok()) {
    fail(r, g.error());
    return done();
  }
  auto prior = catalog_.snapshot(vs->uid);
  if (!prior.ok()) {
    fail(r, prior.error());
    return done();
  }
  const bool known = prior->has_value();
  catalog::SnapshotRecord rec = known ? **prior : catalog::SnapshotRecord{};
  if (known && rec.state == "deleted") {
    r.result = Outcome::Skipped;
    r.pv = rec.sourcePv;
    r.details["reason"] = "snapshot uid " + vs->uid + " was already recorded as deleted";
    return done();
  }
  const bool wasReady = known && rec.ready;
  snapshotRecordFromEvent(rec, *vs, clock_.now());
  auto record = [&]() { putSnapshotRecord(catalog_, rec, r); };

  if (!vs->ready) {
    rec.ready = false;
    rec.state = "pending";
    r.result = Outcome::NotReady;
    r.changed = !known;
    record();
    return done();
  }

  // Ready: bring in the bound content for the handle and the int64 fields.
  auto found = snapshotContent(opts, rec.contentName, vs->uid);
  if (!found.ok()) {
    fail(r, found.error());
    record();
    return done();
  }
  const std::optional<SnapshotContentInfo> content = *found;
  if (content) snapshotRecordFromContent(rec, *content);
  resolveSourcePv(rec);
  r.pv = rec.sourcePv;
  if (cfg_.replication.snapshotData && !content) {
    reportMissingSnapshotContent(rec, r, known, wasReady);
    record();
    return done();
  }
  rec.ready = true;
  rec.state = "ready";
  if (!rec.readyAt) rec.readyAt = clock_.now();

  bool dataChanged = false;
  if (!cfg_.replication.snapshotData) {
    r.details["data"] = Json{{"replicated", false}, {"reason", "replication.snapshot_data is off"}};
  } else if (content->driver != kCsiNfsDriver) {
    r.details["data"] = Json{{"replicated", false},
                             {"reason", "driver " + content->driver + " keeps no NFS archive"}};
  } else {
    if (Status a = replicateSnapshotArchive(*content, opts, rec, r, dataChanged); !a.ok()) {
      fail(r, a.error());
      record();
      return done();
    }
  }
  rec.lastSyncEnd = clock_.now();
  r.changed = !wasReady || dataChanged;
  r.result = r.changed ? Outcome::Synced : Outcome::Unchanged;
  record();
  return done();
}

// The DR archive of a snapshot being deleted, moved by the delete policy; false when `r` already
// holds the outcome (an error, or the breaker held the move).
bool Replicator::disposeSnapshotArchive(catalog::SnapshotRecord& rec, config::DeletePolicy policy,
                                        const DeleteOptions& opts, const std::string& input,
                                        SyncReport& r) {
  auto loc = parseCsiNfsSnapshotHandle(rec.snapshotHandle);
  auto paths =
      loc.ok() ? mapVolume(cfg_, loc->server, loc->archiveDir) : Result<VolumePaths>(loc.error());
  if (!paths.ok()) {
    fail(r, paths.error().wrap("locating the snapshot's DR archive"));
    return false;
  }
  r.source = loc->server + ":" + loc->archiveDir;
  r.destination = rec.dataDrPath;
  auto dr = probeLocal(paths->drRoot, rec.dataDrPath);
  if (!dr.ok()) {
    fail(r, dr.error());
    return false;
  }
  if (Status c = checkConfined(*dr, "DR", rec.dataDrPath); !c.ok()) {
    fail(r, c.error());
    return false;
  }
  auto liveSnapshots = [&] {
    std::size_t live = 0;
    if (auto all = catalog_.snapshots(); all.ok())
      for (const auto& x : *all) live += x.state != "deleted" ? 1 : 0;
    return live;
  };
  if (dr->exists && dr->isDir) {
    if (policy == config::DeletePolicy::Keep) {
      r.result = Outcome::Kept;
    } else if (breakerHolds(opts.breaker, "snap/" + r.snapshot, liveSnapshots, r)) {
      return false;
    } else if (policy == config::DeletePolicy::Delete) {
      std::error_code ec;
      fs::remove_all(dr->real, ec);
      if (ec) {
        fail(r, terminalError("cannot delete " + dr->real + ": " + ec.message()));
        return false;
      }
    } else {
      TrashManifest m;
      m.kind = "snapshot";
      m.pv = rec.sourcePv;
      m.uid = rec.uid;
      m.ns = rec.ns;
      m.name = rec.name;
      m.reason = opts.reason.empty() ? "snapshot delete (" + input + ")" : opts.reason;
      auto entry = trash_.quarantine(dr->rootReal, dr->real, m);
      if (!entry.ok()) {
        fail(r, entry.error());
        return false;
      }
      r.result = Outcome::Quarantined;
      rec.trashPath = entry->entryPath;
      r.details["trash"] = entry->toJson(clock_.now());
    }
  }
  return true;
}

// Delete verification of a snapshot (see replicator.h); false when `r` already holds the outcome.
// The archive path comes from the catalog record (keyed by uid), never from the event: only the
// primary's answer is left to confirm.
bool Replicator::verifySnapshotDelete(const SnapshotInfo& vs, SyncReport& r) {
  Json v{{"event_uid", vs.uid}};
  auto stopWith = [&](Outcome o, Error e) {
    r.result = o;
    r.error = std::move(e);
    r.details["verification"] = v;
    return false;
  };
  if (primary_ == nullptr)
    return stopWith(Outcome::PrimaryUnreachable,
                    refusedError("cannot verify the delete of snapshot " + r.snapshot +
                                 ": no primary API access configured here"));
  auto got = primary_->getVolumeSnapshot(vs.ns, vs.name);
  if (got.ok()) {
    auto uid = jsonOptString(*got, "metadata.uid");
    const std::string now = uid.ok() ? uid->value_or("") : std::string();
    v["primary_uid"] = now;
    if (now.empty() || now == vs.uid)
      return stopWith(Outcome::StillPresent,
                      refusedError("VolumeSnapshot " + r.snapshot + " (uid " + vs.uid +
                                   ") still exists at the primary: the DELETED event is not "
                                   "confirmed; its DR archive stays"));
    v["primary"] = "replaced";
  } else if (got.error().kind == ErrorKind::NotFound) {
    v["primary"] = "absent";
  } else {
    return stopWith(
        Outcome::PrimaryUnreachable,
        retryableError("cannot confirm at the primary that VolumeSnapshot " + r.snapshot +
                       " is gone (" + got.error().message + "); the delete waits and is retried"));
  }
  r.details["verification"] = v;
  return true;
}

Result<SyncReport> Replicator::deleteSnapshot(const Json& doc, const DeleteOptions& opts) {
  Call call(*this, "snapshot delete", opts.eventId, false);
  SyncReport& r = call.r;
  auto done = [&] { return call.done(); };
  const auto vs = call.openSnapshot(doc);
  if (!vs) return done();
  const auto policy = opts.policy.value_or(cfg_.replication.deletePolicy);
  r.details["policy"] = config::toString(policy);
  auto lock = FileLock::acquire(lockDir_, "snap-" + vs->uid, opts.wait, clock_);
  if (lockNotTaken(lock, r)) return done();
  if (Status g = catalog::refuseIfDrActive(catalog_, "snapshot delete of " + r.snapshot); !g.ok()) {
    fail(r, g.error());
    return done();
  }
  if (opts.verify && !verifySnapshotDelete(*vs, r)) return done();
  auto prior = catalog_.snapshot(vs->uid);
  if (!prior.ok()) {
    fail(r, prior.error());
    return done();
  }
  catalog::SnapshotRecord rec =
      prior->has_value() ? **prior : deletedSnapshotRecord(*vs, clock_.now());
  r.pv = rec.sourcePv;
  if (rec.state == "deleted") {
    r.result = Outcome::Unchanged;
    r.details["reason"] = "already recorded as deleted";
    return done();
  }
  // Verified but never replicated here: recorded as deleted (a late replay of its ADDED must not
  // bring it back), reported as such.
  r.result = opts.verify && !prior->has_value() ? Outcome::NotReplicated : Outcome::Deleted;
  if (!rec.dataDrPath.empty() && !rec.snapshotHandle.empty() &&
      !disposeSnapshotArchive(rec, policy, opts, describeInput(call.input), r))
    return done();
  r.changed = true;
  rec.state = "deleted";
  rec.deletedAt = clock_.now();
  rec.result = std::string(toString(r.result));
  if (Status s = catalog_.putSnapshot(rec); !s.ok())
    fail(r, s.error().wrap("recording the delete"));
  r.details["record"] = Json{{"uid", rec.uid}, {"state", rec.state}};
  return done();
}

}  // namespace ocpvdr::replication
