// The replication handlers (see replicator.h for the flow of each).
#include "replication/replicator.h"

#include <filesystem>

#include "core/log.h"
#include "core/paths.h"
#include "replication/guards.h"
#include "replication/lock.h"
#include "replication/path_map.h"
#include "replication/pv_source.h"
#include "replication/snapshot_info.h"

namespace ocpvdr::replication {
namespace fs = std::filesystem;

namespace {

std::string partialDirName(const config::Config& cfg) {
  return cfg.replication.rsync.partialDir.empty() ? ".ocpv-dr-partial"
                                                  : cfg.replication.rsync.partialDir;
}

// Outcome for an error that stopped a handler.
Outcome outcomeFor(const Error& e) {
  if (e.kind == ErrorKind::Refused) return Outcome::Refused;
  return Outcome::Failed;
}

void fail(SyncReport& r, Error e) {
  r.result = outcomeFor(e);
  r.error = std::move(e);
}

std::string describeInput(const Unwrapped& u) {
  return u.envelope + (u.eventType.empty() ? "" : " " + u.eventType);
}

Json inputJson(const Unwrapped& u) {
  Json j{{"envelope", u.envelope}};
  if (!u.eventType.empty()) j["event_type"] = u.eventType;
  if (!u.eventId.empty()) j["event_id"] = u.eventId;
  return j;
}

// An event id the catalog already saw succeed: the report says Skipped and why.
bool skipProcessedEvent(catalog::Catalog& catalog, const std::string& eventId, SyncReport& r) {
  if (eventId.empty()) return false;
  auto seen = catalog.eventProcessed(eventId);
  if (!seen.ok() || !*seen) return false;
  r.result = Outcome::Skipped;
  r.details["reason"] = "event " + eventId + " was already processed successfully";
  return true;
}

// A lock still held by another run after --wait is Busy (retry later); any other error Failed.
bool lockNotTaken(const Result<FileLock>& lock, SyncReport& r) {
  if (lock.ok()) return false;
  r.result = lock.error().kind == ErrorKind::Retryable ? Outcome::Busy : Outcome::Failed;
  r.error = lock.error();
  return true;
}

}  // namespace

std::string effectiveLockDir(const config::Config& cfg) {
  if (!cfg.replication.lockDir.empty()) return cfg.replication.lockDir;
  fs::path dir = fs::path(cfg.catalog.path).parent_path();
  return ((dir.empty() ? fs::path(".") : dir) / "locks").string();
}

struct Replicator::Transfer {
  // Input.
  VolumePaths paths;
  bool force = false;
  std::stop_token stop;
  std::function<void(const RsyncProgress&)> onProgress;
  // Output.
  PathProbe source, dr;
  bool forced = false;
  RsyncStats stats;
  std::vector<std::string> argv;
  bool ran = false;  // rsync was started
};

Replicator::Replicator(const config::Config& cfg, ProcessRunner& runner, Clock& clock,
                       catalog::Catalog& catalog, PrimaryObjects* primary)
    : cfg_(cfg),
      runner_(runner),
      clock_(clock),
      catalog_(catalog),
      primary_(primary),
      lockDir_(effectiveLockDir(cfg)),
      ssh_(cfg.primary.ssh, cfg.primary.nfsServer, chooseControlDir(lockDir_ + "/ssh")),
      trash_(cfg, clock) {}

void Replicator::finishReport(SyncReport& r, SteadyTime start, const std::string& eventId,
                              const std::string& key) {
  r.duration = std::chrono::duration_cast<std::chrono::milliseconds>(clock_.monotonic() - start);
  if (!eventId.empty() && r.result != Outcome::Skipped) {
    Status s = catalog_.recordEvent(eventId, key, toString(r.result), r.ok(), clock_.now());
    if (!s.ok())
      log::warn("could not record event id", {{"event_id", eventId}, {"error", s.error().message}});
    // Ids older than catalog.events_seen_retention are forgotten here too (the AAP shape has no
    // serve): without this the table grows with every event.
    auto pruned = catalog_.pruneEventsSeen(clock_.now() - cfg_.catalog.eventsSeenRetention);
    if (!pruned.ok())
      log::warn("could not prune old event ids", {{"error", pruned.error().message}});
  }
  Json fields{{"changed", r.changed}, {"bytes", r.bytes}, {"duration_ms", r.duration.count()}};
  if (!r.pv.empty()) fields["pv"] = r.pv;
  if (!r.snapshot.empty()) fields["snapshot"] = r.snapshot;
  if (r.error) fields["error"] = r.error->describe();
  if (r.error && r.error->kind != ErrorKind::Refused)
    log::warn(r.action + " " + std::string(toString(r.result)), fields);
  else
    log::info(r.action + " " + std::string(toString(r.result)), fields);
}

Status Replicator::checkRsyncVersion() {
  std::call_once(versionOnce_, [this] {
    ProcessSpec spec;
    spec.argv = {cfg_.replication.rsync.binary.empty() ? "rsync" : cfg_.replication.rsync.binary,
                 "--version"};
    spec.timeout = std::chrono::seconds(10);
    auto r = runner_.run(spec);
    if (!r.ok()) {
      versionStatus_ = r.error();
      return;
    }
    auto v = parseRsyncVersion(r->out);
    if (!v || !supportsInplaceSparse(*v))
      versionStatus_ = terminalError(
          "replication.rsync.inplace needs rsync >= 3.1.3 (for --sparse with --inplace); this "
          "host's rsync reports: " +
          r->out.substr(0, r->out.find('\n')));
  });
  return versionStatus_;
}

Status Replicator::transfer(Transfer& t) {
  const auto& p = t.paths;
  const bool local = cfg_.replication.transport == config::Transport::Local;
  const std::string partial = partialDirName(cfg_);
  if (cfg_.replication.rsync.inplace) OCPVDR_TRY(checkRsyncVersion());

  // The trash lives at the DR root: a volume path inside it would sync into quarantined data.
  if (paths::isUnder(p.drHostPath, p.drRoot + "/" + std::string(kTrashDirName)))
    return refusedError("DR path " + p.drHostPath + " lies inside the DR trash");

  OCPVDR_ASSIGN_OR_RETURN(t.dr, probeLocal(p.drRoot, p.drHostPath, partial));
  OCPVDR_TRY(checkConfined(t.dr, "DR", p.drHostPath));
  if (t.dr.exists && !t.dr.isDir)
    return refusedError("DR path " + p.drHostPath + " exists and is not a directory");

  const bool drHasData = t.dr.exists && t.dr.isDir && !t.dr.empty;
  const bool refuseEmpty = drHasData && !t.force;
  // One wording for a failed source check, whether it ran here or in the primary's guard.
  auto sourceError = [&](const std::string& verdict, const std::string& where) -> Error {
    if (verdict == "root-missing")
      return refusedError("primary export root " + p.primaryRoot +
                          " does not exist on the primary (export not mounted?)");
    if (verdict == "escape")
      return refusedError("primary path " + p.primaryHostPath + " resolves to " + where +
                          ", outside its export root " + p.primaryRoot + " (symlink escape)");
    if (verdict == "notdir")
      return refusedError("primary path " + p.primaryHostPath + " is not a directory");
    if (verdict == "unreadable")
      return terminalError("cannot list the source directory " + where + " on the primary");
    if (verdict == "empty" || (verdict == "missing" && refuseEmpty))
      return refusedError("empty-source guard: the source " + p.primaryHostPath +
                          " on the primary is " + (verdict == "empty" ? "empty" : "missing") +
                          " but the DR copy " + t.dr.real +
                          " holds data; refusing a --delete sync that would wipe it (check the "
                          "primary export is mounted; --force mirrors an empty source)");
    if (verdict == "missing" && drHasData)
      return refusedError("source " + p.primaryHostPath +
                          " does not exist on the primary: --force can mirror an empty source "
                          "directory, not a missing one (use `pv delete` to retire the DR copy)");
    if (verdict == "missing")
      return retryableError("source " + p.primaryHostPath +
                            " does not exist on the primary (yet); nothing to replicate");
    return terminalError("unexpected source check result \"" + verdict + "\" for " + where);
  };

  bool sourceEmpty = false;
  RsyncInvocation inv;
  if (local) {
    OCPVDR_ASSIGN_OR_RETURN(t.source, probeLocal(p.primaryRoot, p.primaryHostPath));
    std::string verdict = !t.source.rootExists ? "root-missing"
                          : !t.source.exists   ? "missing"
                          : !checkConfined(t.source, "primary", p.primaryHostPath).ok() ? "escape"
                          : !t.source.isDir                                             ? "notdir"
                          : (t.source.empty && refuseEmpty)                             ? "empty"
                                                                                        : "ok";
    if (verdict != "ok") return sourceError(verdict, t.source.real);
    sourceEmpty = t.source.empty;
    inv.source = t.source.real + "/";
  } else {
    // The primary-side checks run in rsync's own ssh session (guards.h): no extra round trip.
    OCPVDR_TRY(ssh_.validate());
    if (ssh_.multiplexing()) OCPVDR_TRY(ensureControlDir(ssh_.controlDir()));
    inv.source = ssh_.remoteSpec(p.primaryHostPath + "/");
    inv.sshCommand = ssh_.rsyncShellCommand();
    inv.rsyncPath =
        guardedRsyncPath(p.primaryRoot, p.primaryHostPath,
                         refuseEmpty ? RemoteGuardMode::RefuseEmpty : RemoteGuardMode::AllowEmpty);
  }

  // rsync creates the volume directory itself; only missing parents are made here, and removed
  // again if the primary-side guard refuses, so a refusal leaves DR exactly as it was.
  std::error_code ec;
  std::vector<fs::path> madeParents;
  for (fs::path d = fs::path(t.dr.real).parent_path(); !d.empty() && !fs::exists(d, ec);
       d = d.parent_path())
    madeParents.push_back(d);
  fs::create_directories(fs::path(t.dr.real).parent_path(), ec);
  if (ec) return terminalError("cannot create DR directory " + t.dr.real + ": " + ec.message());
  auto undoParents = [&] {
    for (const auto& d : madeParents) fs::remove(d, ec);  // only removes empty directories
  };
  inv.destination = t.dr.real + "/";
  inv.progress = static_cast<bool>(t.onProgress);
  t.argv = buildRsyncArgv(cfg_.replication.rsync, inv);

  RsyncOutputParser parser;
  ProcessSpec spec;
  spec.argv = t.argv;
  spec.timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.replication.rsync.maxDuration);
  spec.maxCapture = 256 * 1024;
  auto onProgress = t.onProgress;
  spec.onStdoutLine = [&parser, onProgress](std::string_view line) {
    parser.feed(line);
    if (onProgress)
      if (auto pr = parseProgress(line)) onProgress(*pr);
  };
  t.ran = true;
  OCPVDR_ASSIGN_OR_RETURN(ProcessResult r, runner_.run(spec, t.stop));
  t.stats = parser.stats();
  if (!t.stats.parsed) t.stats = parseRsyncOutput(r.out);  // runner without line callbacks
  if (!local) {
    auto guard = parseGuardReport(r.err);
    if (guard && guard->verdict != "ok") {
      t.ran = false;  // the guard stopped it before the rsync protocol began
      undoParents();
      return sourceError(guard->verdict, guard->path);
    }
    if (!guard && r.success())
      return terminalError(
          "rsync finished but the primary-side guard never reported (is --rsync-path "
          "overridden in replication.rsync.extra_args?)");
    if (guard) {
      t.source.rootExists = t.source.exists = t.source.isDir = true;
      t.source.real = guard->path;
      t.source.empty = sourceEmpty = guard->sourceEmpty;
    }
  }
  t.forced = t.force && drHasData && sourceEmpty;
  return rsyncOutcome(r);
}

// ---------------------------------------------------------------------------------------------
// pv sync

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
  const auto start = clock_.monotonic();
  SyncReport r;
  r.action = "pv sync";
  auto done = [&](std::string key = {}) -> Result<SyncReport> {
    finishReport(r, start, opts.eventId, key.empty() ? "pv/" + r.pv : key);
    return r;
  };

  auto u = unwrapObject(doc, "PersistentVolume");
  if (!u.ok()) {
    fail(r, u.error());
    return done();
  }
  r.details["input"] = inputJson(*u);
  auto info = describePv(u->object);
  if (!info.ok()) {
    fail(r, info.error().wrap("reading the PersistentVolume"));
    return done();
  }
  r.pv = info->name;

  if (skipProcessedEvent(catalog_, opts.eventId, r)) return done();
  if (!info->nfs) {
    r.result = Outcome::NotReplicable;
    r.error = refusedError("PV " + info->name + " is not replicable: " + info->notReplicableReason);
    return done();
  }
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
  row.pv = info->name;
  row.uid = info->uid;
  row.sourceKind = toString(info->nfs->kind);
  row.sourceServer = info->nfs->server;
  row.sourcePath = info->nfs->exportPath;
  row.storageClass = info->storageClass;
  row.claimNamespace = info->claimNamespace;
  row.claimName = info->claimName;

  auto paths = mapVolume(cfg_, info->nfs->server, info->nfs->exportPath);
  if (!paths.ok()) {
    fail(r, paths.error());
    row.lastSyncEnd = clock_.now();
    row.result = std::string(toString(r.result));
    row.errorKind = std::string(ocpvdr::toString(r.error->kind));
    row.errorMessage = r.error->message;
    (void)catalog_.putReplica(row);
    return done();
  }
  r.destination = paths->drHostPath;

  auto lock = FileLock::acquire(lockDir_, info->name, opts.wait, clock_, opts.stop);
  if (lockNotTaken(lock, r)) return done();
  // Again under the lock: a failover sets the state and then takes this lock once (a barrier).
  if (Status g = catalog::refuseIfDrActive(catalog_, "pv sync of " + info->name); !g.ok()) {
    fail(r, g.error());
    return done();
  }
  // Re-read under the lock: another process may have written the row meanwhile.
  prior = catalog_.replica(info->name);
  if (prior.ok() && prior->has_value()) {
    auto keep = row;
    row = **prior;
    row.uid = keep.uid;
    row.sourceKind = keep.sourceKind;
    row.sourceServer = keep.sourceServer;
    row.sourcePath = keep.sourcePath;
    row.storageClass = keep.storageClass;
    row.claimNamespace = keep.claimNamespace;
    row.claimName = keep.claimName;
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

  Transfer t;
  t.paths = *paths;
  t.force = opts.force;
  t.stop = opts.stop;
  t.onProgress = opts.onProgress;
  Status st = transfer(t);
  r.forced = t.forced;
  if (!t.argv.empty()) r.rsyncArgv = t.argv;
  if (t.ran) {
    r.rsync = t.stats;
    r.bytes = t.stats.transferredFileSize;
    r.files = t.stats.regularFilesTransferred;
    r.deleted = t.stats.deletedFiles;
  }
  if (!t.dr.real.empty()) r.destination = t.dr.real;
  if (st.ok()) {
    r.changed = t.stats.itemizedChanges > 0 || t.stats.regularFilesTransferred > 0 ||
                t.stats.deletedFiles > 0;
    r.result = r.changed ? Outcome::Synced : Outcome::Unchanged;
  } else {
    fail(r, st.error());
    // A partial transfer may still have changed DR.
    r.changed = t.ran && (t.stats.itemizedChanges > 0 || t.stats.deletedFiles > 0);
  }
  if (r.forced) r.details["forced_reason"] = "empty-source guard overridden with --force";

  row.lastSyncEnd = clock_.now();
  row.result = std::string(toString(r.result));
  row.bytes = r.bytes;
  row.files = r.files;
  row.deletions = r.deleted;
  row.forced = r.forced;
  if (r.ok()) {
    row.lastSuccess = row.lastSyncEnd;
    row.errorKind.clear();
    row.errorMessage.clear();
  } else {
    row.errorKind = std::string(ocpvdr::toString(r.error->kind));
    row.errorMessage = r.error->message;
  }
  if (Status s = catalog_.putReplica(row); !s.ok() && r.ok()) {
    // The data is in place but unrecorded: report it so reconcile retries and records it.
    fail(r, s.error().wrap("recording the sync result"));
  }
  log::debug("pv sync input", {{"pv", r.pv}, {"input", describeInput(*u)}});
  return done();
}

// ---------------------------------------------------------------------------------------------
// pv delete

Result<SyncReport> Replicator::deletePv(const Json& doc, const DeleteOptions& opts) {
  const auto start = clock_.monotonic();
  SyncReport r;
  r.action = "pv delete";
  auto done = [&]() -> Result<SyncReport> {
    finishReport(r, start, opts.eventId, "pv/" + r.pv);
    return r;
  };
  auto u = unwrapObject(doc, "PersistentVolume");
  if (!u.ok()) {
    fail(r, u.error());
    return done();
  }
  r.details["input"] = inputJson(*u);
  auto info = describePv(u->object);
  if (!info.ok()) {
    fail(r, info.error().wrap("reading the PersistentVolume"));
    return done();
  }
  r.pv = info->name;
  if (skipProcessedEvent(catalog_, opts.eventId, r)) return done();
  if (!info->nfs) {
    r.result = Outcome::NotReplicable;
    r.error = refusedError("PV " + info->name + " is not replicable: " + info->notReplicableReason);
    return done();
  }
  r.source = info->nfs->server + ":" + info->nfs->exportPath;
  auto paths = mapVolume(cfg_, info->nfs->server, info->nfs->exportPath);
  if (!paths.ok()) {
    fail(r, paths.error());
    return done();
  }
  r.destination = paths->drHostPath;
  const auto policy = opts.policy.value_or(cfg_.replication.deletePolicy);
  r.details["policy"] = config::toString(policy);

  auto lock = FileLock::acquire(lockDir_, info->name, opts.wait, clock_);
  if (lockNotTaken(lock, r)) return done();
  if (Status g = catalog::refuseIfDrActive(catalog_, "pv delete of " + info->name); !g.ok()) {
    fail(r, g.error());
    return done();
  }
  if (paths::isUnder(paths->drHostPath, paths->drRoot + "/" + std::string(kTrashDirName))) {
    fail(r, refusedError("DR path " + paths->drHostPath + " lies inside the DR trash"));
    return done();
  }
  auto dr = probeLocal(paths->drRoot, paths->drHostPath);
  if (!dr.ok()) {
    fail(r, dr.error());
    return done();
  }
  if (Status c = checkConfined(*dr, "DR", paths->drHostPath); !c.ok()) {
    fail(r, c.error());
    return done();
  }
  if (dr->exists && !dr->isDir) {
    fail(r, refusedError("DR path " + paths->drHostPath + " is not a directory"));
    return done();
  }

  auto prior = catalog_.replica(info->name);
  catalog::ReplicaRecord row;
  if (prior.ok() && prior->has_value()) row = **prior;
  row.pv = info->name;
  if (row.uid.empty()) row.uid = info->uid;
  row.sourceKind = toString(info->nfs->kind);
  row.sourceServer = info->nfs->server;
  row.sourcePath = info->nfs->exportPath;
  row.primaryHostPath = paths->primaryHostPath;
  row.drPath = paths->drHostPath;
  row.drExportPath = paths->drExportPath;
  if (row.claimName.empty()) {
    row.claimNamespace = info->claimNamespace;
    row.claimName = info->claimName;
  }

  if (!dr->exists) {
    r.result = Outcome::Unchanged;
    r.details["reason"] = "no DR copy at " + paths->drHostPath;
    row.state = "deleted";
  } else if (policy == config::DeletePolicy::Keep) {
    r.result = Outcome::Kept;
    row.state = "kept";
  } else if (policy == config::DeletePolicy::Delete) {
    std::error_code ec;
    fs::remove_all(dr->real, ec);
    if (ec) {
      fail(r, terminalError("cannot delete " + dr->real + ": " + ec.message()));
      return done();
    }
    r.result = Outcome::Deleted;
    r.changed = true;
    row.state = "deleted";
  } else {
    TrashManifest m;
    m.kind = "pv";
    m.pv = info->name;
    m.uid = info->uid;
    m.reason = opts.reason.empty() ? "pv delete (" + describeInput(*u) + ")" : opts.reason;
    auto entry = trash_.quarantine(dr->rootReal, dr->real, m);
    if (!entry.ok()) {
      fail(r, entry.error());
      return done();
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
  return done();
}

// ---------------------------------------------------------------------------------------------
// snapshots

Result<SyncReport> Replicator::syncSnapshot(const Json& doc, const SnapshotOptions& opts) {
  const auto start = clock_.monotonic();
  SyncReport r;
  r.action = "snapshot sync";
  std::string key;
  auto done = [&]() -> Result<SyncReport> {
    finishReport(r, start, opts.eventId, key);
    return r;
  };
  auto u = unwrapObject(doc, "VolumeSnapshot");
  if (!u.ok()) {
    fail(r, u.error());
    return done();
  }
  r.details["input"] = inputJson(*u);
  auto vs = describeSnapshot(u->object);
  if (!vs.ok()) {
    fail(r, vs.error().wrap("reading the VolumeSnapshot"));
    return done();
  }
  r.snapshot = vs->ns + "/" + vs->name;
  key = "snap/" + r.snapshot;
  if (skipProcessedEvent(catalog_, opts.eventId, r)) return done();
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
  rec.uid = vs->uid;
  rec.ns = vs->ns;
  rec.name = vs->name;
  rec.sourcePvc = vs->sourcePvc;
  rec.className = vs->className;
  if (!vs->boundContent.empty()) rec.contentName = vs->boundContent;
  if (!rec.firstSeen) rec.firstSeen = clock_.now();
  if (vs->creationTime) rec.creationTime = vs->creationTime;
  if (vs->restoreSize) rec.restoreSize = vs->restoreSize;

  auto record = [&]() {
    rec.result = std::string(toString(r.result));
    if (r.error) {
      rec.errorKind = std::string(ocpvdr::toString(r.error->kind));
      rec.errorMessage = r.error->message;
    } else {
      rec.errorKind.clear();
      rec.errorMessage.clear();
    }
    if (Status s = catalog_.putSnapshot(rec); !s.ok() && r.ok())
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
  };

  if (!vs->ready) {
    rec.ready = false;
    rec.state = "pending";
    r.result = Outcome::NotReady;
    r.changed = !known;
    record();
    return done();
  }

  // Ready: bring in the bound content for the handle and the int64 fields.
  std::optional<SnapshotContentInfo> content;
  if (opts.content) {
    auto cu = unwrapObject(*opts.content, "VolumeSnapshotContent");
    auto c =
        cu.ok() ? describeSnapshotContent(cu->object) : Result<SnapshotContentInfo>(cu.error());
    if (!c.ok()) {
      fail(r, c.error().wrap("reading the VolumeSnapshotContent"));
      record();
      return done();
    }
    content = *c;
  } else if (primary_ != nullptr && !rec.contentName.empty()) {
    auto j = primary_->getVolumeSnapshotContent(rec.contentName);
    if (!j.ok()) {
      fail(r, j.error().wrap("reading VolumeSnapshotContent " + rec.contentName));
      record();
      return done();
    }
    auto c = describeSnapshotContent(*j);
    if (!c.ok()) {
      fail(r, c.error().wrap("reading VolumeSnapshotContent " + rec.contentName));
      record();
      return done();
    }
    content = *c;
  }
  if (content) {
    if (!content->snapshotRefUid.empty() && content->snapshotRefUid != vs->uid) {
      fail(r, invalidError("VolumeSnapshotContent " + content->name + " belongs to snapshot uid " +
                           content->snapshotRefUid + ", not " + vs->uid));
      record();
      return done();
    }
    if (!rec.contentName.empty() && content->name != rec.contentName) {
      fail(r, invalidError("VolumeSnapshotContent " + content->name + " is not the bound content " +
                           rec.contentName));
      record();
      return done();
    }
    rec.contentName = content->name;
    rec.snapshotHandle = content->snapshotHandle;
    rec.driver = content->driver;
    if (!rec.creationTime) rec.creationTime = content->creationTime;
    if (!rec.restoreSize) rec.restoreSize = content->restoreSize;
  }
  // Source PV: the catalog knows which PV backs the claim; the primary API can say otherwise.
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
  r.pv = rec.sourcePv;
  rec.ready = true;
  rec.state = "ready";
  if (!rec.readyAt) rec.readyAt = clock_.now();

  bool dataChanged = false;
  if (!cfg_.replication.snapshotData) {
    r.details["data"] = Json{{"replicated", false}, {"reason", "replication.snapshot_data is off"}};
  } else if (!content) {
    r.details["data"] =
        Json{{"replicated", false},
             {"reason",
              "no VolumeSnapshotContent available (pass --content-json or configure the "
              "primary API); metadata recorded only"}};
  } else if (content->driver != kCsiNfsDriver) {
    r.details["data"] = Json{{"replicated", false},
                             {"reason", "driver " + content->driver + " keeps no NFS archive"}};
  } else {
    auto loc = parseCsiNfsSnapshotHandle(content->snapshotHandle);
    if (!loc.ok()) {
      fail(r, loc.error());
      record();
      return done();
    }
    r.source = loc->server + ":" + loc->archiveDir;
    auto paths = mapVolume(cfg_, loc->server, loc->archiveDir);
    if (!paths.ok()) {
      fail(r, paths.error());
      record();
      return done();
    }
    r.destination = paths->drHostPath;
    Transfer t;
    t.paths = *paths;
    t.force = opts.force;
    t.stop = opts.stop;
    t.onProgress = opts.onProgress;
    Status st = transfer(t);
    r.forced = t.forced;
    if (!t.argv.empty()) r.rsyncArgv = t.argv;
    if (t.ran) {
      r.rsync = t.stats;
      r.bytes = t.stats.transferredFileSize;
      r.files = t.stats.regularFilesTransferred;
      r.deleted = t.stats.deletedFiles;
    }
    if (!t.dr.real.empty()) r.destination = t.dr.real;
    if (!st.ok()) {
      fail(r, st.error().wrap("replicating the snapshot archive"));
      record();
      return done();
    }
    dataChanged = t.stats.itemizedChanges > 0 || t.stats.regularFilesTransferred > 0;
    std::error_code ec;
    fs::path archive = fs::path(t.dr.real) / loc->archiveName;
    if (!fs::is_regular_file(archive, ec)) {
      fail(r, terminalError("the snapshot directory was replicated but holds no " +
                            loc->archiveName + " at " + t.dr.real));
      record();
      return done();
    }
    rec.dataPrimaryPath = t.source.real;
    rec.dataDrPath = t.dr.real;
    rec.bytes = t.stats.transferredFileSize;
    r.details["data"] = Json{{"replicated", true}, {"archive", archive.string()}};
  }
  rec.lastSyncEnd = clock_.now();
  r.changed = !wasReady || dataChanged;
  r.result = r.changed ? Outcome::Synced : Outcome::Unchanged;
  record();
  return done();
}

Result<SyncReport> Replicator::deleteSnapshot(const Json& doc, const DeleteOptions& opts) {
  const auto start = clock_.monotonic();
  SyncReport r;
  r.action = "snapshot delete";
  std::string key;
  auto done = [&]() -> Result<SyncReport> {
    finishReport(r, start, opts.eventId, key);
    return r;
  };
  auto u = unwrapObject(doc, "VolumeSnapshot");
  if (!u.ok()) {
    fail(r, u.error());
    return done();
  }
  r.details["input"] = inputJson(*u);
  auto vs = describeSnapshot(u->object);
  if (!vs.ok()) {
    fail(r, vs.error().wrap("reading the VolumeSnapshot"));
    return done();
  }
  r.snapshot = vs->ns + "/" + vs->name;
  key = "snap/" + r.snapshot;
  if (skipProcessedEvent(catalog_, opts.eventId, r)) return done();
  const auto policy = opts.policy.value_or(cfg_.replication.deletePolicy);
  r.details["policy"] = config::toString(policy);
  auto lock = FileLock::acquire(lockDir_, "snap-" + vs->uid, opts.wait, clock_);
  if (lockNotTaken(lock, r)) return done();
  if (Status g = catalog::refuseIfDrActive(catalog_, "snapshot delete of " + r.snapshot); !g.ok()) {
    fail(r, g.error());
    return done();
  }
  auto prior = catalog_.snapshot(vs->uid);
  if (!prior.ok()) {
    fail(r, prior.error());
    return done();
  }
  catalog::SnapshotRecord rec;
  if (prior->has_value()) {
    rec = **prior;
  } else {
    rec.uid = vs->uid;
    rec.ns = vs->ns;
    rec.name = vs->name;
    rec.sourcePvc = vs->sourcePvc;
    rec.className = vs->className;
    rec.contentName = vs->boundContent;
    rec.creationTime = vs->creationTime;
    rec.restoreSize = vs->restoreSize;
    rec.firstSeen = clock_.now();
  }
  r.pv = rec.sourcePv;
  if (rec.state == "deleted") {
    r.result = Outcome::Unchanged;
    r.details["reason"] = "already recorded as deleted";
    return done();
  }
  r.result = Outcome::Deleted;
  if (!rec.dataDrPath.empty() && !rec.snapshotHandle.empty()) {
    auto loc = parseCsiNfsSnapshotHandle(rec.snapshotHandle);
    auto paths =
        loc.ok() ? mapVolume(cfg_, loc->server, loc->archiveDir) : Result<VolumePaths>(loc.error());
    if (!paths.ok()) {
      fail(r, paths.error().wrap("locating the snapshot's DR archive"));
      return done();
    }
    r.source = loc->server + ":" + loc->archiveDir;
    r.destination = rec.dataDrPath;
    auto dr = probeLocal(paths->drRoot, rec.dataDrPath);
    if (!dr.ok()) {
      fail(r, dr.error());
      return done();
    }
    if (Status c = checkConfined(*dr, "DR", rec.dataDrPath); !c.ok()) {
      fail(r, c.error());
      return done();
    }
    if (dr->exists && dr->isDir) {
      if (policy == config::DeletePolicy::Keep) {
        r.result = Outcome::Kept;
      } else if (policy == config::DeletePolicy::Delete) {
        std::error_code ec;
        fs::remove_all(dr->real, ec);
        if (ec) {
          fail(r, terminalError("cannot delete " + dr->real + ": " + ec.message()));
          return done();
        }
      } else {
        TrashManifest m;
        m.kind = "snapshot";
        m.pv = rec.sourcePv;
        m.uid = rec.uid;
        m.ns = rec.ns;
        m.name = rec.name;
        m.reason =
            opts.reason.empty() ? "snapshot delete (" + describeInput(*u) + ")" : opts.reason;
        auto entry = trash_.quarantine(dr->rootReal, dr->real, m);
        if (!entry.ok()) {
          fail(r, entry.error());
          return done();
        }
        r.result = Outcome::Quarantined;
        rec.trashPath = entry->entryPath;
        r.details["trash"] = entry->toJson(clock_.now());
      }
    }
  }
  r.changed = true;
  rec.state = "deleted";
  rec.deletedAt = clock_.now();
  rec.result = std::string(toString(r.result));
  if (Status s = catalog_.putSnapshot(rec); !s.ok())
    fail(r, s.error().wrap("recording the delete"));
  r.details["record"] = Json{{"uid", rec.uid}, {"state", rec.state}};
  return done();
}

// ---------------------------------------------------------------------------------------------

Result<TrashEntry> Replicator::restoreFromTrash(std::string_view id) {
  // A restore writes a volume's DR path back: the same data-safety rule as a sync.
  OCPVDR_TRY(catalog::refuseIfDrActive(catalog_, "trash restore of " + std::string(id)));
  OCPVDR_ASSIGN_OR_RETURN(TrashEntry e, trash_.restore(id));
  if (e.manifest.kind == "pv" && !e.manifest.pv.empty()) {
    auto row = catalog_.replica(e.manifest.pv);
    if (row.ok() && row->has_value()) {
      auto rec = **row;
      rec.state = "restored";
      rec.trashPath.clear();
      (void)catalog_.putReplica(rec);
    }
  }
  return e;
}

void Replicator::closeConnections() {
  if (!ssh_.multiplexing() || cfg_.replication.transport == config::Transport::Local) return;
  ProcessSpec spec;
  spec.argv = ssh_.exitMasterArgv();
  spec.timeout = std::chrono::seconds(10);
  (void)runner_.run(spec);
}

}  // namespace ocpvdr::replication
