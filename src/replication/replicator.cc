// The replication handlers (see replicator.h for the flow of each).
#include "replication/replicator.h"

#include <filesystem>

#include "core/log.h"
#include "core/paths.h"
#include "core/time.h"
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
  auto pathLock = FileLock::acquire(lockDir_, pathLockKey(paths->drHostPath), opts.wait, clock_);
  if (lockNotTaken(pathLock, r)) return done();
  if (Status g = catalog::refuseIfDrActive(catalog_, "pv delete of " + info->name); !g.ok()) {
    fail(r, g.error());
    return done();
  }
  if (opts.verify && !verifyPvDelete(*info, *paths, r)) return done();
  // Never quarantine a directory that holds (or is held by) another PV's copy.
  if (Status o = checkNoOverlap(info->name, paths->drHostPath, "delete"); !o.ok()) {
    fail(r, o.error());
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

  // The last word before data moves: the event path's breaker.
  auto breakerHolds = [&]() -> bool {
    if (opts.breaker == nullptr) return false;
    std::size_t live = 0;
    if (auto all = catalog_.replicas(); all.ok())
      for (const auto& x : *all) live += (x.state == "active" || x.state == "restored") ? 1 : 0;
    Status b = opts.breaker->admit("pv/" + info->name, live);
    if (b.ok()) return false;
    r.result = Outcome::BreakerTripped;
    r.error = b.error();
    return true;
  };
  if (!dr->exists) {
    r.result = Outcome::Unchanged;
    r.details["reason"] = "no DR copy at " + paths->drHostPath;
    row.state = "deleted";
  } else if (policy == config::DeletePolicy::Keep) {
    r.result = Outcome::Kept;
    row.state = "kept";
  } else if (breakerHolds()) {
    return done();
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
  if (cfg_.replication.snapshotData && !content) {
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
    if (wasReady) {
      // Recorded ready before (with its content): nothing new can be learnt without the content
      // and nothing is lost.
      r.result = Outcome::Unchanged;
      r.details["data"] = Json{{"replicated", false}, {"reason", why}};
      record();
      return done();
    }
    rec.ready = false;
    rec.state = "pending";
    r.error = retryableError(why);
    r.result = Outcome::NotReady;
    r.changed = !known;
    r.details["data"] = Json{{"replicated", false}, {"reason", why}};
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
    const auto archive = findCsiNfsArchive(t.dr.real, *loc);
    if (!archive) {
      fail(r, terminalError("the snapshot directory was replicated but holds neither " +
                            loc->archiveNames()[0] + " nor " + loc->archiveNames()[1] + " at " +
                            t.dr.real));
      record();
      return done();
    }
    rec.dataPrimaryPath = t.source.real;
    rec.dataDrPath = t.dr.real;
    rec.bytes = t.stats.transferredFileSize;
    r.details["data"] = Json{{"replicated", true}, {"archive", *archive}};
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
  if (opts.verify) {
    // The archive path comes from the catalog record (keyed by uid), never from the event: only
    // the primary's answer is left to confirm.
    Json v{{"event_uid", vs->uid}};
    auto stopWith = [&](Outcome o, Error e) {
      r.result = o;
      r.error = std::move(e);
      r.details["verification"] = v;
      return done();
    };
    if (primary_ == nullptr)
      return stopWith(Outcome::PrimaryUnreachable,
                      refusedError("cannot verify the delete of snapshot " + r.snapshot +
                                   ": no primary API access configured here"));
    auto got = primary_->getVolumeSnapshot(vs->ns, vs->name);
    if (got.ok()) {
      auto uid = jsonOptString(*got, "metadata.uid");
      const std::string now = uid.ok() ? uid->value_or("") : std::string();
      v["primary_uid"] = now;
      if (now.empty() || now == vs->uid)
        return stopWith(Outcome::StillPresent,
                        refusedError("VolumeSnapshot " + r.snapshot + " (uid " + vs->uid +
                                     ") still exists at the primary: the DELETED event is not "
                                     "confirmed; its DR archive stays"));
      v["primary"] = "replaced";
    } else if (got.error().kind == ErrorKind::NotFound) {
      v["primary"] = "absent";
    } else {
      return stopWith(Outcome::PrimaryUnreachable,
                      retryableError("cannot confirm at the primary that VolumeSnapshot " +
                                     r.snapshot + " is gone (" + got.error().message +
                                     "); the delete waits and is retried"));
    }
    r.details["verification"] = v;
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
  // Verified but never replicated here: recorded as deleted (a late replay of its ADDED must not
  // bring it back), reported as such.
  r.result = opts.verify && !prior->has_value() ? Outcome::NotReplicated : Outcome::Deleted;
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
    auto breakerHolds = [&]() -> bool {
      if (opts.breaker == nullptr) return false;
      std::size_t live = 0;
      if (auto all = catalog_.snapshots(); all.ok())
        for (const auto& x : *all) live += x.state != "deleted" ? 1 : 0;
      Status b = opts.breaker->admit("snap/" + r.snapshot, live);
      if (b.ok()) return false;
      r.result = Outcome::BreakerTripped;
      r.error = b.error();
      return true;
    };
    if (dr->exists && dr->isDir) {
      if (policy == config::DeletePolicy::Keep) {
        r.result = Outcome::Kept;
      } else if (breakerHolds()) {
        return done();
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
