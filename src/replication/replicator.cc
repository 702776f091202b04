// The replication handlers (see replicator.h for the flow of each): the shared parts — helpers,
// the constructor, the preamble (Call), one rsync transfer, trash restore. The handlers are in
// replicator_pv.cc and replicator_snapshot.cc.
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

namespace detail {

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

bool breakerHolds(DeleteBreaker* breaker, const std::string& key,
                  const std::function<std::size_t()>& live, SyncReport& r) {
  if (breaker == nullptr) return false;
  Status b = breaker->admit(key, live());
  if (b.ok()) return false;
  r.result = Outcome::BreakerTripped;
  r.error = b.error();
  return true;
}

// A lock still held by another run after --wait is Busy (retry later); any other error Failed.
bool lockNotTaken(const Result<FileLock>& lock, SyncReport& r) {
  if (lock.ok()) return false;
  r.result = lock.error().kind == ErrorKind::Retryable ? Outcome::Busy : Outcome::Failed;
  r.error = lock.error();
  return true;
}

}  // namespace detail

Replicator::Replicator(const config::Config& cfg, ProcessRunner& runner, Clock& clock,
                       catalog::Catalog& catalog, PrimaryObjects* primary)
    : cfg_(cfg),
      runner_(runner),
      clock_(clock),
      catalog_(catalog),
      primary_(primary),
      lockDir_(effectiveLockDir(cfg)),
      ssh_(primarySsh(cfg)),
      trash_(cfg, clock) {
  if (cfg.replication.bandwidth > 0)
    bandwidth_ = std::make_unique<ByteBudget>(clock, cfg.replication.bandwidth);
}

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

namespace detail {

Error sourceCheckError(const VolumePaths& p, const std::string& drReal, bool refuseEmpty,
                       bool drHasData, const std::string& verdict, const std::string& where) {
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
                        " but the DR copy " + drReal +
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
}

Status refuseStateDir(const VolumePaths& p) {
  const std::string state(kStateDirName);
  if (paths::isUnder(p.drHostPath, p.drRoot + "/" + state))
    return refusedError("DR path " + p.drHostPath + " lies inside " + p.drRoot + "/" + state +
                        " (the extent mover's recovery points): not a PV directory");
  if (paths::isUnder(p.primaryHostPath, p.primaryRoot + "/" + state))
    return refusedError("primary path " + p.primaryHostPath + " lies inside " + p.primaryRoot +
                        "/" + state + " (the extent mover's snapshots): not a PV directory");
  return Status::success();
}

}  // namespace detail

namespace {

// The missing parents of the DR directory `drReal`, created; returned deepest first, so they can
// be removed again.
Result<std::vector<fs::path>> makeDrParents(const std::string& drReal) {
  std::error_code ec;
  std::vector<fs::path> madeParents;
  for (fs::path d = fs::path(drReal).parent_path(); !d.empty() && !fs::exists(d, ec);
       d = d.parent_path())
    madeParents.push_back(d);
  fs::create_directories(fs::path(drReal).parent_path(), ec);
  if (ec) return terminalError("cannot create DR directory " + drReal + ": " + ec.message());
  return madeParents;
}

// The rsync process: its output lines feed `parser` and, when given, `onProgress`.
ProcessSpec rsyncProcessSpec(const config::Config& cfg, const std::vector<std::string>& argv,
                             RsyncOutputParser& parser,
                             const std::function<void(const RsyncProgress&)>& onProgress) {
  ProcessSpec spec;
  spec.argv = argv;
  spec.timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(cfg.replication.rsync.maxDuration);
  spec.maxCapture = 256 * 1024;
  spec.onStdoutLine = [&parser, onProgress](std::string_view line) {
    parser.feed(line);
    if (onProgress)
      if (auto pr = parseProgress(line)) onProgress(*pr);
  };
  return spec;
}

}  // namespace

Status Replicator::transfer(Transfer& t) {
  const auto& p = t.paths;
  const bool local = cfg_.replication.transport == config::Transport::Local;
  const std::string partial = partialDirName(cfg_);
  if (cfg_.replication.rsync.inplace) OCPVDR_TRY(checkRsyncVersion());

  // The trash lives at the DR root: a volume path inside it would sync into quarantined data.
  if (paths::isUnder(p.drHostPath, p.drRoot + "/" + std::string(kTrashDirName)))
    return refusedError("DR path " + p.drHostPath + " lies inside the DR trash");
  OCPVDR_TRY(detail::refuseStateDir(p));

  OCPVDR_ASSIGN_OR_RETURN(t.dr, probeLocal(p.drRoot, p.drHostPath, partial));
  OCPVDR_TRY(checkConfined(t.dr, "DR", p.drHostPath));
  if (t.dr.exists && !t.dr.isDir)
    return refusedError("DR path " + p.drHostPath + " exists and is not a directory");

  const bool drHasData = t.dr.exists && t.dr.isDir && !t.dr.empty;
  const bool refuseEmpty = drHasData && !t.force;
  auto sourceError = [&](const std::string& verdict, const std::string& where) {
    return sourceCheckError(p, t.dr.real, refuseEmpty, drHasData, verdict, where);
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
  OCPVDR_ASSIGN_OR_RETURN(std::vector<fs::path> madeParents, makeDrParents(t.dr.real));
  std::error_code ec;
  auto undoParents = [&] {
    for (const auto& d : madeParents) fs::remove(d, ec);  // only removes empty directories
  };
  inv.destination = t.dr.real + "/";
  inv.progress = static_cast<bool>(t.onProgress);
  t.argv = buildRsyncArgv(cfg_.replication.rsync, inv);

  RsyncOutputParser parser;
  const ProcessSpec spec = rsyncProcessSpec(cfg_, t.argv, parser, t.onProgress);
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

void Replicator::Transfer::reportInto(SyncReport& r) const {
  r.forced = forced;
  if (!argv.empty()) r.rsyncArgv = argv;
  if (ran) {
    r.rsync = stats;
    r.bytes = stats.transferredFileSize;
    r.files = stats.regularFilesTransferred;
    r.deleted = stats.deletedFiles;
  }
  if (!dr.real.empty()) r.destination = dr.real;
}

Replicator::Call::Call(Replicator& rep, std::string action, std::string eventId, bool pvKey)
    : rep(rep), eventId(std::move(eventId)), pvKey(pvKey), start(rep.clock_.monotonic()) {
  r.action = std::move(action);
}

Result<SyncReport> Replicator::Call::done() {
  rep.finishReport(r, start, eventId, pvKey ? events::pvKey(r.pv) : key);
  return r;
}

bool Replicator::Call::unwrap(const Json& doc, std::string_view kind) {
  auto u = unwrapObject(doc, kind);
  if (!u.ok()) {
    fail(r, u.error());
    return false;
  }
  r.details["input"] = inputJson(*u);
  input = std::move(u).value();
  return true;
}

std::optional<PvInfo> Replicator::Call::openPv(const Json& doc) {
  if (!unwrap(doc, "PersistentVolume")) return std::nullopt;
  auto info = describePv(input.object);
  if (!info.ok()) {
    fail(r, info.error().wrap("reading the PersistentVolume"));
    return std::nullopt;
  }
  r.pv = info->name;
  if (skipProcessedEvent(rep.catalog_, eventId, r)) return std::nullopt;
  if (!info->nfs) {
    r.result = Outcome::NotReplicable;
    r.error = refusedError("PV " + info->name + " is not replicable: " + info->notReplicableReason);
    return std::nullopt;
  }
  return std::move(info).value();
}

std::optional<SnapshotInfo> Replicator::Call::openSnapshot(const Json& doc) {
  if (!unwrap(doc, "VolumeSnapshot")) return std::nullopt;
  auto vs = describeSnapshot(input.object);
  if (!vs.ok()) {
    fail(r, vs.error().wrap("reading the VolumeSnapshot"));
    return std::nullopt;
  }
  r.snapshot = vs->ns + "/" + vs->name;
  key = events::snapshotKey(vs->ns, vs->name);
  if (skipProcessedEvent(rep.catalog_, eventId, r)) return std::nullopt;
  return std::move(vs).value();
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
