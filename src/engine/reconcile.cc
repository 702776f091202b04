// The reconcile pass (see reconcile.h for the steps and the orphan/breaker rules).
#include "engine/reconcile.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "catalog/points.h"
#include "core/log.h"
#include "core/paths.h"
#include "engine/key_workers.h"
#include "events/selection.h"
#include "events/work_key.h"
#include "kube/views.h"
#include "replication/delete_breaker.h"
#include "replication/path_map.h"
#include "replication/pv_source.h"

namespace ocpvdr::engine {
namespace fs = std::filesystem;
using replication::Outcome;
using replication::SyncReport;

namespace {

bool activeState(const std::string& state) {
  return state == "active" || state == "restored";
}

std::string lexicallyCanonical(const std::string& p) {
  std::error_code ec;
  auto c = fs::weakly_canonical(p, ec);
  return ec ? fs::path(p).lexically_normal().string() : c.string();
}

bool dirHasData(const std::string& path) {
  std::error_code ec;
  if (path.empty() || !fs::is_directory(path, ec)) return false;
  return fs::directory_iterator(path, ec) != fs::directory_iterator();
}

PvRow rowFrom(const SyncReport& r) {
  PvRow row;
  row.pv = r.pv;
  row.status = std::string(replication::toString(r.result));
  row.failed = !succeeded(r);
  if (r.error) {
    row.errorKind = std::string(ocpvdr::toString(r.error->kind));
    row.errorMessage = r.error->message;
  }
  row.source = r.source;
  row.destination = r.destination;
  row.bytes = r.bytes;
  row.files = r.files;
  row.duration = r.duration;
  return row;
}

// A row for a key whose sync produced no report (the handler's error) or none at all.
void failRow(std::string& status, bool& failed, std::string& kind, std::string& message,
             const KeyOutcome* out) {
  if (out != nullptr && out->ok) {  // handled without a report (a live change's "left-selection")
    status = out->result;
    return;
  }
  failed = true;
  if (out == nullptr) {
    status = "stopped";
    kind = "retryable";
    message = "not synced: the run was stopped";
    return;
  }
  status = "failed";
  kind = out->error ? std::string(ocpvdr::toString(out->error->kind)) : "failed";
  message = out->error ? out->error->message : out->result;
}

void snapshotRowFrom(SnapshotRow& s, const KeyOutcome* out) {
  if (out == nullptr) {
    s.status = "stopped";
    return;
  }
  if (!out->report) {
    failRow(s.status, s.failed, s.errorKind, s.errorMessage, out);
    return;
  }
  const SyncReport& r = *out->report;
  s.status = std::string(replication::toString(r.result));
  s.failed = !succeeded(r);
  s.sourcePv = r.pv;
  s.bytes = r.bytes;
  if (r.error) {
    s.errorKind = std::string(ocpvdr::toString(r.error->kind));
    s.errorMessage = r.error->message;
  }
}

PvRow pvRowFrom(const std::string& pv, const KeyOutcome* out) {
  PvRow row;
  if (out != nullptr && out->report) {
    row = rowFrom(*out->report);
    row.checkedBy = "sync";
  } else
    failRow(row.status, row.failed, row.errorKind, row.errorMessage, out);
  if (row.pv.empty()) row.pv = pv;
  return row;
}

}  // namespace

struct Reconciler::Run {
  const ReconcileOptions& opts;
  ReconcileReport rep;
  SteadyTime t0{};
  std::vector<Json> selected;  // the selected PVs, in list order
  std::set<std::string> selectedNames;
  std::vector<Json> snaps;      // VolumeSnapshots in scope (Velero's left out)
  std::string drActiveRefusal;  // set after a failover: nothing syncs or is quarantined
  std::map<std::string, std::string> pathRefusals;            // PV → why (shared/nested NFS path)
  std::vector<PassKey> keys;                                  // what goes through the queue
  std::map<std::string, std::size_t> pvRowOf, snapshotRowOf;  // key → row
  std::map<std::string, catalog::ReplicaRecord> replicas;     // after the syncs
};

ReconcileReport Reconciler::run(const ReconcileOptions& opts) {
  Run r{.opts = opts};
  begin(r);
  listPvs(r);  // 1. what the primary has
  listSnapshots(r);
  checkDrActive(r);
  findSharedPaths(r);
  planRows(r);        // rows settled before any sync (invalid, not NFS, refused)
  manifestPass(r);    // 2. extent-mover PVs whose digest is unchanged leave the queue
  syncKeys(r);        // 3. through the work queue
  readRpo(r);         // 4. what the catalog now says
  sweepPvOrphans(r);  // 5./6. orphans behind the breaker
  sweepSnapshotOrphans(r);
  listUntracked(r);  // 7.
  finish(r);
  return std::move(r.rep);
}

void Reconciler::begin(Run& r) {
  ReconcileReport& rep = r.rep;
  rep.trigger = r.opts.trigger;
  rep.startedAt = clock_.now();
  rep.rpoTarget = cfg_.replication.rpoTarget;
  rep.deletePolicy = config::toString(cfg_.replication.deletePolicy);
  rep.breaker.maxShare = rep.snapshotBreaker.maxShare = cfg_.replication.breakerMaxShare;
  if (auto id = catalog_.beginRun("reconcile", rep.startedAt); id.ok())
    rep.runId = *id;
  else
    log::warn("reconcile: could not record the run", {{"error", id.error().message}});
  r.t0 = clock_.monotonic();
  log::info("reconcile: started", {{"run", rep.runId}, {"trigger", rep.trigger}});
}

void Reconciler::listPvs(Run& r) {
  auto listed = lister_.listPersistentVolumes(cfg_.replication.labelSelector, r.opts.stop);
  if (!listed.ok()) {
    r.rep.pvListError = listed.error().message;
    log::error("reconcile: cannot list PersistentVolumes", {{"error", r.rep.pvListError}});
    return;
  }
  r.rep.pvListOk = true;
  for (auto& pv : *listed) {
    if (!events::storageClassSelected(cfg_.replication.storageClasses, pv)) continue;
    auto name = jsonString(pv, "metadata.name");
    if (name.ok()) r.selectedNames.insert(*name);
    r.selected.push_back(std::move(pv));
  }
}

void Reconciler::listSnapshots(Run& r) {
  std::vector<std::string> nss = cfg_.replication.namespaces;
  if (nss.empty()) nss.push_back("");
  std::size_t veleroSnapshots = 0;
  r.rep.snapshotListOk = true;
  for (const auto& ns : nss) {
    auto l = lister_.listVolumeSnapshots(ns, r.opts.stop);
    if (!l.ok()) {
      r.rep.snapshotListOk = false;
      r.rep.snapshotListError = l.error().message;
      r.snaps.clear();
      log::error("reconcile: cannot list VolumeSnapshots", {{"error", r.rep.snapshotListError}});
      break;
    }
    for (auto& s : *l) {
      // Velero's own backup-time snapshots (FACTS §13): deleted again after the backup; their
      // full-volume tars are not replicated.
      if (kube::isVeleroSnapshot(s)) {
        ++veleroSnapshots;
        continue;
      }
      r.snaps.push_back(std::move(s));
    }
  }
  if (veleroSnapshots > 0)
    r.rep.notes.push_back(std::to_string(veleroSnapshots) +
                          " VolumeSnapshot(s) made by Velero (label velero.io/backup-name) "
                          "ignored");
}

// After a failover the DR copies are the running VMs' disks: every PV and snapshot is refused
// (no sync, no lock wait) and the orphan phases quarantine nothing.
void Reconciler::checkDrActive(Run& r) {
  if (auto active = catalog_.drActive(); active.ok() && active->has_value()) {
    r.rep.drActive = catalog::drActiveJson(*active);
    r.drActiveRefusal = catalog::drActiveMessage(**active);
    r.rep.notes.push_back("nothing synced or quarantined: " + r.drActiveRefusal);
    log::warn("reconcile: DR is active, every sync refused", {{"run", (*active)->runId}});
  } else if (!active.ok()) {
    r.rep.notes.push_back("could not read the DR-active state: " + active.error().message);
  }
}

// Shared and nested NFS paths among the selected PVs: reported, and not synced unless the PV
// already owns the directory in the catalog (replicator.h refuses the newcomer as well; this
// keeps two newcomers that nest from racing each other in parallel syncs).
void Reconciler::findSharedPaths(Run& r) {
  std::set<std::string> owners;
  if (auto all = catalog_.replicas(); all.ok())
    for (const auto& x : *all)
      if (activeState(x.state) || x.state == "kept") owners.insert(x.pv);
  std::vector<std::pair<std::string, std::string>> byPath;  // DR path, PV
  for (const auto& pv : r.selected) {
    auto info = replication::describePv(pv);
    if (!info.ok() || !info->nfs) continue;
    auto p = replication::mapVolume(cfg_, info->nfs->server, info->nfs->exportPath);
    if (p.ok()) byPath.emplace_back(p->drHostPath, info->name);
  }
  // Component order ('/' before every other byte), so a directory is followed by its
  // descendants before any sibling such as "vol-b" that sorts between "vol" and "vol/sub".
  auto componentKey = [](std::string p) {
    std::replace(p.begin(), p.end(), '/', '\x01');
    return p;
  };
  std::sort(byPath.begin(), byPath.end(), [&](const auto& a, const auto& b) {
    return std::make_pair(componentKey(a.first), a.second) <
           std::make_pair(componentKey(b.first), b.second);
  });
  std::vector<const std::pair<std::string, std::string>*> ancestors;
  for (const auto& e : byPath) {
    while (!ancestors.empty() && !paths::isUnder(e.first, ancestors.back()->first))
      ancestors.pop_back();
    if (!ancestors.empty()) {
      const auto& outer = *ancestors.back();
      const std::string what =
          "shared NFS path: PV " + e.second + "'s DR path " + e.first +
          (e.first == outer.first ? " is the same directory as" : " lies inside") + " PV " +
          outer.second + "'s DR path " + outer.first;
      r.rep.notes.push_back(what + " (give each PV its own directory)");
      log::error("reconcile: " + what);
      for (const auto* pv : {&e.second, &outer.second})
        if (owners.count(*pv) == 0) r.pathRefusals.emplace(*pv, what + "; not synced");
    }
    ancestors.push_back(&e);
  }
}

void Reconciler::planRows(Run& r) {
  auto& rep = r.rep;
  auto refused = [&](PvRow row, std::string message) {
    row.status = "refused";
    row.failed = true;
    row.errorKind = "refused";
    row.errorMessage = std::move(message);
    rep.pvs.push_back(std::move(row));
  };
  rep.pvs.reserve(r.selected.size());
  for (const auto& pv : r.selected) {
    auto info = replication::describePv(pv);
    PvRow row;
    if (!info.ok()) {
      auto n = jsonString(pv, "metadata.name");
      row.pv = n.ok() ? *n : "(unnamed)";
      row.status = "failed";
      row.failed = true;
      row.errorKind = "invalid";
      row.errorMessage = info.error().message;
      rep.pvs.push_back(row);
      continue;
    }
    row.pv = info->name;
    if (!info->nfs) {
      row.status = "not-replicable";
      row.errorKind = "refused";
      row.errorMessage = info->notReplicableReason;
      rep.pvs.push_back(row);
    } else if (!r.drActiveRefusal.empty()) {
      refused(std::move(row), "pv sync refused: " + r.drActiveRefusal);
    } else if (auto why = r.pathRefusals.find(info->name); why != r.pathRefusals.end()) {
      refused(std::move(row), why->second);
    } else {
      row.status = "pending";
      rep.pvs.push_back(row);
      const std::string key = events::pvKey(info->name);
      r.pvRowOf[key] = rep.pvs.size() - 1;
      r.keys.push_back({key, KeyObject{"PersistentVolume", "", pv}});
    }
  }
  rep.snapshots.resize(r.snaps.size());
  for (std::size_t i = 0; i < r.snaps.size(); ++i) {
    auto& s = rep.snapshots[i];
    auto ns = jsonString(r.snaps[i], "metadata.namespace");
    auto name = jsonString(r.snaps[i], "metadata.name");
    auto uid = jsonString(r.snaps[i], "metadata.uid");
    s.snapshot = (ns.ok() ? *ns : "?") + "/" + (name.ok() ? *name : "?");
    s.uid = uid.ok() ? *uid : "";
    if (!r.drActiveRefusal.empty()) {
      s.status = "refused";
      s.failed = true;
      s.errorKind = "refused";
      s.errorMessage = "snapshot sync refused: " + r.drActiveRefusal;
      continue;
    }
    s.status = "pending";
    const std::string key = events::snapshotKey(ns.ok() ? *ns : "", name.ok() ? *name : "");
    r.snapshotRowOf[key] = i;
    r.keys.push_back({key, KeyObject{"VolumeSnapshot", "", r.snaps[i]}});
  }
}

// 2. The cheap full pass (reconcile.h). Never makes a PV skip on doubt: any failure here leaves
// the PV in the queue, where it gets the cycle it would have had without the manifest.
// The PVs the manifest found unchanged leave the queue; their report rows are settled here.
void Reconciler::dropUnchanged(
    Run& r, const std::set<std::string>& skipped,
    const std::map<std::string, const catalog::ReplicaRecord*>& replicaOf) {
  std::vector<PassKey> rest;
  rest.reserve(r.keys.size());
  for (auto& k : r.keys) {
    const bool pvKey = k.object.kind == "PersistentVolume";
    std::string name;
    if (pvKey)
      if (auto n = jsonString(k.object.object, "metadata.name"); n.ok()) name = *n;
    if (!pvKey || skipped.count(name) == 0) {
      rest.push_back(std::move(k));
      continue;
    }
    auto it = r.pvRowOf.find(k.key);
    if (it != r.pvRowOf.end()) {
      PvRow& row = r.rep.pvs[it->second];
      row.status = "unchanged";
      row.checkedBy = "manifest";
      if (auto x = replicaOf.find(name); x != replicaOf.end()) {
        row.source = x->second->sourceServer + ":" + x->second->sourcePath;
        row.destination = x->second->drPath;
      }
      r.pvRowOf.erase(it);
    }
  }
  r.keys = std::move(rest);
}

void Reconciler::manifestPass(Run& r) {
  auto& m = r.rep.manifest;
  if (!r.opts.useManifest || cfg_.replication.mover == config::MoverKind::Rsync ||
      r.opts.stop.stop_requested())
    return;
  const SteadyTime t0 = clock_.monotonic();
  using Source = replication::Replicator::ExtentSource;
  std::map<std::string, std::vector<Source>> byRoot;  // primary export root → its PVs
  {
    // The once-per-process questions (mover version, root probes) in one session, not one each.
    std::set<std::string> roots;
    for (const auto& k : r.keys) {
      if (k.object.kind != "PersistentVolume") continue;
      auto info = replication::describePv(k.object.object);
      if (!info.ok() || !info->nfs) continue;
      auto p = replication::mapVolume(cfg_, info->nfs->server, info->nfs->exportPath);
      if (p.ok()) roots.insert(p->primaryRoot);
    }
    replicator_.preflightPrimary({roots.begin(), roots.end()});
  }
  for (const auto& k : r.keys) {
    if (k.object.kind != "PersistentVolume") continue;
    auto src = replicator_.extentSource(k.object.object);
    if (src.ok() && src->has_value()) byRoot[(*src)->primaryRoot].push_back(std::move(**src));
  }
  if (byRoot.empty()) return;
  m.ran = true;
  // The records to compare with, read once for every PV (thousands: no query per PV).
  catalog::PointStore points(catalog_);
  auto newest = points.newestByPv();
  auto rows = catalog_.replicas();
  if (!newest.ok() || !rows.ok()) {
    r.rep.notes.push_back("manifest skipped, every PV synced: cannot read the catalog (" +
                          (newest.ok() ? rows.error() : newest.error()).message + ")");
    return;
  }
  std::map<std::string, const catalog::ReplicaRecord*> replicaOf;
  for (const auto& x : *rows) replicaOf.emplace(x.pv, &x);
  auto current = [&](const Source& s, const std::map<std::string, std::string>& digests) {
    auto d = digests.find(s.pv);
    auto p = newest->find(s.pv);
    auto x = replicaOf.find(s.pv);
    if (d == digests.end() || p == newest->end() || x == replicaOf.end()) return false;
    const catalog::ReplicaRecord& rec = *x->second;
    return !p->second.sourceDigest.empty() && p->second.sourceDigest == d->second &&
           rec.state == "active" && rec.errorKind.empty() &&
           (rec.result == "synced" || rec.result == "unchanged") && rec.lastSuccess &&
           rec.drPath == s.drDir && rec.primaryHostPath == s.primaryDir;
  };
  std::set<std::string> skipped;
  for (const auto& [root, sources] : byRoot) {
    if (r.opts.stop.stop_requested()) break;
    ++m.roots;
    m.checked += static_cast<int>(sources.size());
    const SystemTime started = clock_.now();
    auto digests = replicator_.primaryManifest(root, sources, r.opts.stop);
    if (!digests.ok()) {
      ++m.sessionsFailed;
      m.errors.push_back(root + ": " + digests.error().message);
      r.rep.notes.push_back("manifest of " + root + " failed, its " +
                            std::to_string(sources.size()) +
                            " PV(s) get cycles: " + digests.error().message);
      log::warn("reconcile: manifest failed", {{"root", root}, {"error", digests.error().message}});
      continue;
    }
    std::vector<catalog::Catalog::ReplicaSeen> same;
    for (const auto& s : sources)
      if (current(s, *digests)) same.push_back({s.pv, replicaOf[s.pv]->lastSyncEnd});
    // Only rows no sync touched since they were read are marked (and skipped): a PV serve synced
    // meanwhile goes to the queue like any other.
    auto marked = catalog_.markReplicasCurrent(same, started, clock_.now());
    if (!marked.ok()) {
      r.rep.notes.push_back("manifest of " + root + ": could not record the unchanged PVs (" +
                            marked.error().message + "); they get cycles");
      continue;
    }
    skipped.insert(marked->begin(), marked->end());
  }
  dropUnchanged(r, skipped, replicaOf);
  m.unchanged = static_cast<int>(skipped.size());
  m.cycles = m.checked - m.unchanged;
  m.duration = std::chrono::duration_cast<std::chrono::milliseconds>(clock_.monotonic() - t0);
  log::info("reconcile: manifest", {{"roots", m.roots},
                                    {"checked", m.checked},
                                    {"unchanged", m.unchanged},
                                    {"cycles", m.cycles},
                                    {"ms", m.duration.count()}});
}

void Reconciler::syncKeys(Run& r) {
  // Outside serve: a queue and workers for this run only (no retries: a failure is reported).
  std::unique_ptr<ReplicatorKeyHandler> handler;
  std::unique_ptr<KeyWorkers> own;
  KeyWorkers* workers = workers_;
  if (workers == nullptr) {
    ReplicatorKeyHandler::Deps hd;
    hd.replicator = &replicator_;
    hd.objects = &objects_;
    hd.lister = &lister_;
    handler = std::make_unique<ReplicatorKeyHandler>(hd);
    KeyWorkersOptions wo;
    wo.workers =
        std::max(1, r.opts.parallelism > 0 ? r.opts.parallelism : cfg_.replication.parallelism);
    wo.retryFailures = false;
    own = std::make_unique<KeyWorkers>(
        cfg_, KeyWorkersDeps{&clock_, handler.get(), nullptr, nullptr}, std::move(wo));
    own->start();
    workers = own.get();
  }

  ReconcileProgress progress;  // guarded by the workers' lock (onDone is serialised)
  progress.total = static_cast<int>(r.keys.size());
  auto onDone = [&](const std::string&, const KeyOutcome& out) {
    ++progress.done;
    progress.bytes += out.report ? out.report->bytes : 0;
    progress.elapsed =
        std::chrono::duration_cast<std::chrono::milliseconds>(clock_.monotonic() - r.t0);
    if (progress.done > 0 && progress.done < progress.total)
      progress.eta = progress.elapsed * (progress.total - progress.done) / progress.done;
    else
      progress.eta = std::chrono::milliseconds(0);
    if (r.opts.onProgress) r.opts.onProgress(progress);
  };
  PassResult pass;
  {
    // The run's own workers stop their rsyncs with the run (serve's stop at its shutdown).
    auto stopSyncs = [&own] {
      if (own) own->stopSyncs();
    };
    std::stop_callback linkStop(r.opts.stop, stopSyncs);
    pass = workers->runPass(r.keys, r.opts.lockWait, r.opts.stop, onDone);
  }             // the callback is deregistered before the run's workers go
  own.reset();  // joins them

  auto outcome = [&](const std::string& key) -> const KeyOutcome* {
    auto it = pass.outcomes.find(key);
    return it == pass.outcomes.end() ? nullptr : &it->second;
  };
  for (const auto& [key, row] : r.pvRowOf)
    r.rep.pvs[row] = pvRowFrom(r.rep.pvs[row].pv, outcome(key));
  for (const auto& [key, row] : r.snapshotRowOf)
    snapshotRowFrom(r.rep.snapshots[row], outcome(key));
  r.rep.stopped = r.opts.stop.stop_requested() || pass.interrupted;
}

void Reconciler::readRpo(Run& r) {
  const SystemTime now = clock_.now();
  if (auto all = catalog_.replicas(); all.ok()) {
    for (auto& x : *all) r.replicas.emplace(x.pv, std::move(x));
  } else {
    r.rep.notes.push_back("could not read the catalog's replicas: " + all.error().message);
  }
  for (auto& row : r.rep.pvs) {
    auto it = r.replicas.find(row.pv);
    if (it != r.replicas.end()) {
      row.lastSyncEnd = it->second.lastSyncEnd;
      row.lastSuccess = it->second.lastSuccess;
    }
    row.neverSynced = !row.lastSuccess.has_value();
    if (row.lastSuccess) {
      row.rpo = std::chrono::duration_cast<std::chrono::seconds>(now - *row.lastSuccess);
      row.rpoExceeded = *row.rpo > r.rep.rpoTarget;
    } else {
      row.rpoExceeded = true;
    }
  }
}

namespace {

// The orphan row of a delete the Replicator ran (or could not run).
void recordDelete(OrphanRow& o, const Result<SyncReport>& res) {
  if (!res.ok()) {
    o.action = "failed";
    o.detail = res.error().message;
    return;
  }
  o.action = res->ok() ? std::string(replication::toString(res->result)) : "failed";
  if (res->error)
    o.detail = res->error->message;
  else if (res->details.contains("trash"))
    o.detail = "moved to " + res->details["trash"].value("path", std::string());
}

}  // namespace

// 4./5. Orphans behind the breaker — only on a complete list and an uninterrupted run.
void Reconciler::sweepPvOrphans(Run& r) {
  auto& rep = r.rep;
  if (!r.drActiveRefusal.empty()) {
    rep.notes.push_back("orphan check skipped: DR is active");
    return;
  }
  if (!rep.pvListOk) {
    rep.notes.push_back("orphan check skipped: the PersistentVolume list failed");
    return;
  }
  if (rep.stopped) {
    rep.notes.push_back("orphan check skipped: the run was stopped");
    return;
  }
  std::vector<const catalog::ReplicaRecord*> active, candidates, orphans;
  for (const auto& [name, x] : r.replicas)
    if (activeState(x.state)) {
      active.push_back(&x);
      if (r.selectedNames.count(name) == 0) candidates.push_back(&x);
    }
  rep.breaker.replicas = static_cast<int>(active.size());
  if (r.selected.empty() && !active.empty()) {
    rep.breaker.tripped = true;
    rep.breaker.candidates = static_cast<int>(candidates.size());
    rep.breaker.reason = "the primary listed no selected PersistentVolumes (label selector \"" +
                         cfg_.replication.labelSelector + "\", " +
                         std::to_string(cfg_.replication.storageClasses.size()) +
                         " storage class(es)) while DR holds " + std::to_string(active.size()) +
                         " replica(s): an API or selector problem is likelier than every PV "
                         "being deleted";
    for (const auto* x : candidates)
      rep.orphans.push_back({"pv", x->pv, x->drPath, dirHasData(x->drPath), "held",
                             "not confirmed (circuit breaker tripped on an empty list)"});
    return;
  }
  for (const auto* x : candidates) {
    auto got = objects_.getPersistentVolume(x->pv);
    if (got.ok()) {
      rep.notes.push_back("PV " + x->pv +
                          " exists at the primary but is no longer selected (label selector "
                          "or storage class); its DR copy is left alone");
    } else if (got.error().kind == ErrorKind::NotFound) {
      orphans.push_back(x);
    } else {
      rep.notes.push_back("PV " + x->pv + " is missing from the list but could not be " +
                          "confirmed absent (" + got.error().message + "); left alone");
    }
  }
  rep.breaker.candidates = static_cast<int>(orphans.size());
  // The same rule the event path's breaker applies (replication/delete_breaker.h).
  if (auto why = replication::shareExceeded(orphans.size(), active.size(), rep.breaker.maxShare,
                                            "replicas", "quarantined")) {
    rep.breaker.tripped = true;
    rep.breaker.reason = *why;
  }
  const std::string reason = "reconcile run " + std::to_string(rep.runId) + ": gone at the primary";
  for (const auto* x : orphans) {
    OrphanRow o{"pv", x->pv, x->drPath, dirHasData(x->drPath), "held", ""};
    if (rep.breaker.tripped) {
      o.detail = "circuit breaker tripped";
    } else if (r.opts.stop.stop_requested()) {
      o.detail = "not handled: the run was stopped";
    } else {
      replication::DeleteOptions d;
      d.wait = r.opts.lockWait;
      d.reason = reason;
      recordDelete(o, replicator_.deletePvFromCatalog(*x, d));
    }
    rep.orphans.push_back(std::move(o));
  }
  if (rep.breaker.tripped)
    log::warn("reconcile: circuit breaker tripped", {{"reason", rep.breaker.reason}});
}

void Reconciler::sweepSnapshotOrphans(Run& r) {
  auto& rep = r.rep;
  if (!r.drActiveRefusal.empty()) {
    rep.notes.push_back("snapshot orphan check skipped: DR is active");
    return;
  }
  if (!rep.snapshotListOk) {
    rep.notes.push_back("snapshot orphan check skipped: the VolumeSnapshot list failed");
    return;
  }
  if (rep.stopped) return;
  const auto& nss = cfg_.replication.namespaces;
  auto inScope = [&](const std::string& ns) {
    return nss.empty() || std::find(nss.begin(), nss.end(), ns) != nss.end();
  };
  std::set<std::string> listedUids;
  for (const auto& s : rep.snapshots) listedUids.insert(s.uid);
  std::vector<catalog::SnapshotRecord> records, candidates, orphans;
  if (auto all = catalog_.snapshots(); all.ok())
    for (auto& s : *all)
      if (s.state != "deleted" && inScope(s.ns)) records.push_back(std::move(s));
  for (const auto& s : records)
    if (listedUids.count(s.uid) == 0) candidates.push_back(s);
  rep.snapshotBreaker.replicas = static_cast<int>(records.size());
  if (r.snaps.empty() && !records.empty()) {
    rep.snapshotBreaker.tripped = true;
    rep.snapshotBreaker.candidates = static_cast<int>(candidates.size());
    rep.snapshotBreaker.reason = "the primary listed no VolumeSnapshots while the catalog holds " +
                                 std::to_string(records.size()) + " snapshot record(s)";
    for (const auto& s : candidates)
      rep.orphans.push_back({"snapshot", s.ns + "/" + s.name, s.dataDrPath,
                             dirHasData(s.dataDrPath), "held",
                             "not confirmed (circuit breaker tripped on an empty list)"});
    return;
  }
  for (const auto& s : candidates) {
    auto got = lister_.getVolumeSnapshot(s.ns, s.name, r.opts.stop);
    if (got.ok()) {
      auto uid = jsonString(*got, "metadata.uid");
      if (uid.ok() && *uid != s.uid) orphans.push_back(s);  // a new snapshot, same name
    } else if (got.error().kind == ErrorKind::NotFound) {
      orphans.push_back(s);
    } else {
      rep.notes.push_back("snapshot " + s.ns + "/" + s.name + " could not be confirmed absent (" +
                          got.error().message + "); left alone");
    }
  }
  rep.snapshotBreaker.candidates = static_cast<int>(orphans.size());
  if (auto why =
          replication::shareExceeded(orphans.size(), records.size(), rep.snapshotBreaker.maxShare,
                                     "snapshot records", "dropped")) {
    rep.snapshotBreaker.tripped = true;
    rep.snapshotBreaker.reason = *why;
  }
  const std::string reason = "reconcile run " + std::to_string(rep.runId) + ": gone at the primary";
  for (const auto& s : orphans) {
    OrphanRow o{"snapshot", s.ns + "/" + s.name, s.dataDrPath, dirHasData(s.dataDrPath), "held",
                ""};
    if (rep.snapshotBreaker.tripped) {
      o.detail = "circuit breaker tripped";
    } else if (r.opts.stop.stop_requested()) {
      o.detail = "not handled: the run was stopped";
    } else {
      Json vs{{"apiVersion", "snapshot.storage.k8s.io/v1"},
              {"kind", "VolumeSnapshot"},
              {"metadata", {{"name", s.name}, {"namespace", s.ns}, {"uid", s.uid}}}};
      replication::DeleteOptions d;
      d.wait = r.opts.lockWait;
      d.reason = reason;
      auto res = replicator_.deleteSnapshot(vs, d);
      if (!res.ok()) {
        o.action = "failed";
        o.detail = res.error().message;
      } else {
        o.action = res->ok() ? std::string(replication::toString(res->result)) : "failed";
        if (res->error) o.detail = res->error->message;
      }
    }
    rep.orphans.push_back(std::move(o));
  }
}

// 6. DR directories nothing accounts for.
void Reconciler::listUntracked(Run& r) {
  std::vector<std::string> known;
  if (auto all = catalog_.replicas(); all.ok())
    for (const auto& x : *all)
      if (!x.drPath.empty()) known.push_back(lexicallyCanonical(x.drPath));
  if (auto all = catalog_.snapshots(); all.ok())
    for (const auto& s : *all)
      if (!s.dataDrPath.empty()) known.push_back(lexicallyCanonical(s.dataDrPath));
  for (const auto& row : r.rep.pvs)
    if (!row.destination.empty()) known.push_back(lexicallyCanonical(row.destination));
  // A directory is accounted for when a known path is it, lies under it or contains it: sorted,
  // so each look-up is a few tree searches, not a scan of every record (thousands of PVs).
  std::sort(known.begin(), known.end());
  auto accounted = [&](const std::string& entry) {
    if (std::binary_search(known.begin(), known.end(), entry)) return true;
    // Everything under it sorts together, right from "<entry>/".
    auto it = std::lower_bound(known.begin(), known.end(), entry + "/");
    if (it != known.end() && it->compare(0, entry.size() + 1, entry + "/") == 0) return true;
    for (std::string up = entry; !up.empty();) {  // an ancestor of it is known
      auto slash = up.rfind('/');
      if (slash == std::string::npos || slash == 0) break;
      up.resize(slash);
      if (std::binary_search(known.begin(), known.end(), up)) return true;
    }
    return false;
  };
  const std::string partial = cfg_.replication.rsync.partialDir;
  for (const auto& root : cfg_.dr.exportRoots) {
    std::error_code ec;
    for (auto it = fs::directory_iterator(root.hostPath, ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.empty() || name.front() == '.' || name == partial) continue;
      if (!it->is_directory(ec)) continue;
      const std::string entry = lexicallyCanonical(it->path().string());
      if (!accounted(entry)) r.rep.untrackedDirs.push_back(it->path().string());
    }
  }
  std::sort(r.rep.untrackedDirs.begin(), r.rep.untrackedDirs.end());
}

void Reconciler::finish(Run& r) {
  auto& rep = r.rep;
  rep.finishedAt = clock_.now();
  rep.sortRows();
  rep.computeTotals();
  if (rep.runId != 0) {
    // One transaction for every item (a pass over thousands of PVs).
    std::vector<catalog::Catalog::RunItem> items;
    items.reserve(rep.pvs.size() + rep.snapshots.size());
    for (const auto& x : rep.pvs) {
      Json detail{{"bytes", x.bytes}, {"duration_ms", x.duration.count()}};
      if (!x.errorMessage.empty()) detail["error"] = x.errorMessage;
      if (!x.checkedBy.empty()) detail["checked_by"] = x.checkedBy;
      items.push_back({events::pvKey(x.pv), x.status, detail.dump()});
    }
    for (const auto& s : rep.snapshots)
      items.push_back({std::string(events::kSnapshotKeyPrefix) + s.snapshot, s.status,
                       Json{{"error", s.errorMessage}}.dump()});
    if (Status st = catalog_.addRunItems(rep.runId, items); !st.ok())
      log::warn("reconcile: could not record the run items", {{"error", st.error().message}});
    Status st =
        catalog_.finishRun(rep.runId, rep.resultWord(), rep.summary().dump(), rep.finishedAt);
    if (!st.ok())
      log::warn("reconcile: could not record the run end", {{"error", st.error().message}});
  }
  log::info("reconcile: finished", {{"run", rep.runId},
                                    {"result", rep.resultWord()},
                                    {"selected", rep.totals.selected},
                                    {"failed", rep.totals.failed},
                                    {"orphans", rep.totals.orphans},
                                    {"breaker", rep.breaker.tripped}});
}

}  // namespace ocpvdr::engine
