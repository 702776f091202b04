// The reconcile pass (see reconcile.h for the steps and the orphan/breaker rules).
#include "engine/reconcile.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "core/log.h"
#include "core/paths.h"
#include "kube/views.h"
#include "replication/delete_breaker.h"
#include "replication/path_map.h"
#include "replication/pv_source.h"

namespace ocpvdr::engine {
namespace fs = std::filesystem;
using replication::Outcome;
using replication::SyncReport;

bool storageClassSelected(const config::Config& cfg, const Json& pv) {
  const auto& classes = cfg.replication.storageClasses;
  if (classes.empty()) return true;
  auto sc = jsonOptString(pv, "spec.storageClassName");
  std::string name = sc.ok() ? sc->value_or("") : std::string();
  return std::find(classes.begin(), classes.end(), name) != classes.end();
}

Json pvFromReplica(const catalog::ReplicaRecord& r) {
  Json pv{{"apiVersion", "v1"},
          {"kind", "PersistentVolume"},
          {"metadata", {{"name", r.pv}}},
          {"spec", Json::object()}};
  if (!r.uid.empty()) pv["metadata"]["uid"] = r.uid;
  if (!r.storageClass.empty()) pv["spec"]["storageClassName"] = r.storageClass;
  if (!r.claimName.empty())
    pv["spec"]["claimRef"] = {{"namespace", r.claimNamespace}, {"name", r.claimName}};
  if (r.sourceKind == "csi") {
    // The share alone carries the whole export path; describePv joins share and subdir.
    pv["spec"]["csi"] = {
        {"driver", std::string(replication::kCsiNfsDriver)},
        {"volumeHandle", r.sourceServer + "#" + r.sourcePath + "##" + r.pv + "#"},
        {"volumeAttributes", {{"server", r.sourceServer}, {"share", r.sourcePath}}}};
  } else {
    pv["spec"]["nfs"] = {{"server", r.sourceServer}, {"path", r.sourcePath}};
  }
  return pv;
}

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
  row.failed = !r.ok() && r.result != Outcome::NotReplicable;
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

}  // namespace

ReconcileReport Reconciler::run(const ReconcileOptions& opts) {
  ReconcileReport rep;
  rep.trigger = opts.trigger;
  rep.startedAt = clock_.now();
  rep.rpoTarget = cfg_.replication.rpoTarget;
  rep.deletePolicy = config::toString(cfg_.replication.deletePolicy);
  rep.breaker.maxShare = rep.snapshotBreaker.maxShare = cfg_.replication.breakerMaxShare;
  if (auto id = catalog_.beginRun("reconcile", rep.startedAt); id.ok())
    rep.runId = *id;
  else
    log::warn("reconcile: could not record the run", {{"error", id.error().message}});
  const auto t0 = clock_.monotonic();
  log::info("reconcile: started", {{"run", rep.runId}, {"trigger", rep.trigger}});

  // 1. What the primary has.
  std::vector<Json> selected;
  std::set<std::string> selectedNames;
  auto listed = lister_.listPersistentVolumes(cfg_.replication.labelSelector, opts.stop);
  if (listed.ok()) {
    rep.pvListOk = true;
    for (auto& pv : *listed) {
      if (!storageClassSelected(cfg_, pv)) continue;
      auto name = jsonString(pv, "metadata.name");
      if (name.ok()) selectedNames.insert(*name);
      selected.push_back(std::move(pv));
    }
  } else {
    rep.pvListError = listed.error().message;
    log::error("reconcile: cannot list PersistentVolumes", {{"error", rep.pvListError}});
  }

  std::vector<Json> snaps;
  std::size_t veleroSnapshots = 0;
  {
    std::vector<std::string> nss = cfg_.replication.namespaces;
    if (nss.empty()) nss.push_back("");
    rep.snapshotListOk = true;
    for (const auto& ns : nss) {
      auto l = lister_.listVolumeSnapshots(ns, opts.stop);
      if (!l.ok()) {
        rep.snapshotListOk = false;
        rep.snapshotListError = l.error().message;
        snaps.clear();
        log::error("reconcile: cannot list VolumeSnapshots", {{"error", rep.snapshotListError}});
        break;
      }
      for (auto& s : *l) {
        // Velero's own backup-time snapshots (FACTS §13): deleted again after the backup; their
        // full-volume tars are not replicated.
        if (kube::isVeleroSnapshot(s)) {
          ++veleroSnapshots;
          continue;
        }
        snaps.push_back(std::move(s));
      }
    }
    if (veleroSnapshots > 0)
      rep.notes.push_back(std::to_string(veleroSnapshots) +
                          " VolumeSnapshot(s) made by Velero (label velero.io/backup-name) "
                          "ignored");
  }

  // After a failover the DR copies are the running VMs' disks: every PV and snapshot is refused
  // (no sync, no lock wait) and the orphan phases below quarantine nothing.
  std::string drActiveRefusal;
  if (auto active = catalog_.drActive(); active.ok() && active->has_value()) {
    rep.drActive = catalog::drActiveJson(*active);
    drActiveRefusal = catalog::drActiveMessage(**active);
    rep.notes.push_back("nothing synced or quarantined: " + drActiveRefusal);
    log::warn("reconcile: DR is active, every sync refused", {{"run", (*active)->runId}});
  } else if (!active.ok()) {
    rep.notes.push_back("could not read the DR-active state: " + active.error().message);
  }

  // Shared and nested NFS paths among the selected PVs: reported, and not synced unless the PV
  // already owns the directory in the catalog (replicator.h refuses the newcomer as well; this
  // keeps two newcomers that nest from racing each other in parallel syncs).
  std::map<std::string, std::string> pathRefusals;
  {
    std::set<std::string> owners;
    if (auto all = catalog_.replicas(); all.ok())
      for (const auto& r : *all)
        if (activeState(r.state) || r.state == "kept") owners.insert(r.pv);
    std::vector<std::pair<std::string, std::string>> byPath;  // DR path, PV
    for (const auto& pv : selected) {
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
        rep.notes.push_back(what + " (give each PV its own directory)");
        log::error("reconcile: " + what);
        for (const auto* pv : {&e.second, &outer.second})
          if (owners.count(*pv) == 0) pathRefusals.emplace(*pv, what + "; not synced");
      }
      ancestors.push_back(&e);
    }
  }

  // 2. Sync everything, `parallelism` at a time.
  struct Item {
    bool snapshot = false;
    const Json* object = nullptr;
    std::size_t row = 0;
  };
  std::vector<Item> items;
  rep.pvs.reserve(selected.size());
  for (const auto& pv : selected) {
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
      continue;
    }
    if (!drActiveRefusal.empty()) {
      row.status = "refused";
      row.failed = true;
      row.errorKind = "refused";
      row.errorMessage = "pv sync refused: " + drActiveRefusal;
      rep.pvs.push_back(row);
      continue;
    }
    if (auto refusal = pathRefusals.find(info->name); refusal != pathRefusals.end()) {
      row.status = "refused";
      row.failed = true;
      row.errorKind = "refused";
      row.errorMessage = refusal->second;
      rep.pvs.push_back(row);
      continue;
    }
    row.status = "pending";
    rep.pvs.push_back(row);
    items.push_back({false, &pv, rep.pvs.size() - 1});
  }
  rep.snapshots.resize(snaps.size());
  for (std::size_t i = 0; i < snaps.size(); ++i) {
    auto& s = rep.snapshots[i];
    auto ns = jsonString(snaps[i], "metadata.namespace");
    auto name = jsonString(snaps[i], "metadata.name");
    auto uid = jsonString(snaps[i], "metadata.uid");
    s.snapshot = (ns.ok() ? *ns : "?") + "/" + (name.ok() ? *name : "?");
    s.uid = uid.ok() ? *uid : "";
    if (!drActiveRefusal.empty()) {
      s.status = "refused";
      s.failed = true;
      s.errorKind = "refused";
      s.errorMessage = "snapshot sync refused: " + drActiveRefusal;
      continue;
    }
    s.status = "pending";
    items.push_back({true, &snaps[i], i});
  }

  const int parallelism =
      std::max(1, opts.parallelism > 0 ? opts.parallelism : cfg_.replication.parallelism);
  std::mutex mu;  // guards rows, progress
  ReconcileProgress progress;
  progress.total = static_cast<int>(items.size());
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i = next++; i < items.size(); i = next++) {
      const Item& it = items[i];
      if (opts.stop.stop_requested()) {
        std::lock_guard lock(mu);
        if (it.snapshot)
          rep.snapshots[it.row].status = "stopped";
        else
          rep.pvs[it.row].status = "stopped";
        continue;
      }
      std::int64_t bytes = 0;
      if (!it.snapshot) {
        replication::SyncOptions so;
        so.wait = opts.lockWait;
        so.stop = opts.stop;
        auto r = replicator_.syncPv(*it.object, so);
        PvRow row = r.ok() ? rowFrom(*r) : PvRow{};
        if (!r.ok()) {
          row.pv = rep.pvs[it.row].pv;
          row.status = "failed";
          row.failed = true;
          row.errorKind = std::string(ocpvdr::toString(r.error().kind));
          row.errorMessage = r.error().message;
        }
        if (row.pv.empty()) row.pv = rep.pvs[it.row].pv;
        bytes = row.bytes;
        std::lock_guard lock(mu);
        rep.pvs[it.row] = std::move(row);
      } else {
        replication::SnapshotOptions so;
        so.wait = opts.lockWait;
        so.stop = opts.stop;
        auto r = replicator_.syncSnapshot(*it.object, so);
        std::lock_guard lock(mu);
        auto& s = rep.snapshots[it.row];
        if (r.ok()) {
          s.status = std::string(replication::toString(r->result));
          s.failed = !r->ok();
          s.sourcePv = r->pv;
          s.bytes = r->bytes;
          bytes = r->bytes;
          if (r->error) {
            s.errorKind = std::string(ocpvdr::toString(r->error->kind));
            s.errorMessage = r->error->message;
          }
        } else {
          s.status = "failed";
          s.failed = true;
          s.errorKind = std::string(ocpvdr::toString(r.error().kind));
          s.errorMessage = r.error().message;
        }
      }
      std::lock_guard lock(mu);
      ++progress.done;
      progress.bytes += bytes;
      progress.elapsed =
          std::chrono::duration_cast<std::chrono::milliseconds>(clock_.monotonic() - t0);
      if (progress.done > 0 && progress.done < progress.total)
        progress.eta = progress.elapsed * (progress.total - progress.done) / progress.done;
      else
        progress.eta = std::chrono::milliseconds(0);
      if (opts.onProgress) opts.onProgress(progress);
    }
  };
  {
    std::vector<std::jthread> pool;
    const int n = std::min<int>(parallelism, static_cast<int>(items.size()));
    for (int i = 0; i < n; ++i) pool.emplace_back(worker);
  }
  rep.stopped = opts.stop.stop_requested();
  for (auto& r : rep.pvs)
    if (r.status == "stopped") {
      r.failed = true;
      r.errorKind = "retryable";
      r.errorMessage = "not synced: the run was stopped";
    }

  // 3. What the catalog now says about each selected PV.
  const SystemTime now = clock_.now();
  std::map<std::string, catalog::ReplicaRecord> replicas;
  if (auto all = catalog_.replicas(); all.ok()) {
    for (auto& r : *all) replicas.emplace(r.pv, std::move(r));
  } else {
    rep.notes.push_back("could not read the catalog's replicas: " + all.error().message);
  }
  for (auto& row : rep.pvs) {
    auto it = replicas.find(row.pv);
    if (it != replicas.end()) {
      row.lastSyncEnd = it->second.lastSyncEnd;
      row.lastSuccess = it->second.lastSuccess;
    }
    row.neverSynced = !row.lastSuccess.has_value();
    if (row.lastSuccess) {
      row.rpo = std::chrono::duration_cast<std::chrono::seconds>(now - *row.lastSuccess);
      row.rpoExceeded = *row.rpo > rep.rpoTarget;
    } else {
      row.rpoExceeded = true;
    }
  }

  // 4./5. Orphans behind the breaker — only on a complete list and an uninterrupted run.
  const std::string reason = "reconcile run " + std::to_string(rep.runId) + ": gone at the primary";
  if (!drActiveRefusal.empty()) {
    rep.notes.push_back("orphan check skipped: DR is active");
  } else if (!rep.pvListOk) {
    rep.notes.push_back("orphan check skipped: the PersistentVolume list failed");
  } else if (rep.stopped) {
    rep.notes.push_back("orphan check skipped: the run was stopped");
  } else {
    std::vector<const catalog::ReplicaRecord*> active, candidates;
    for (const auto& [name, r] : replicas)
      if (activeState(r.state)) {
        active.push_back(&r);
        if (selectedNames.count(name) == 0) candidates.push_back(&r);
      }
    rep.breaker.replicas = static_cast<int>(active.size());
    std::vector<const catalog::ReplicaRecord*> orphans;
    if (selected.empty() && !active.empty()) {
      rep.breaker.tripped = true;
      rep.breaker.candidates = static_cast<int>(candidates.size());
      rep.breaker.reason = "the primary listed no selected PersistentVolumes (label selector \"" +
                           cfg_.replication.labelSelector + "\", " +
                           std::to_string(cfg_.replication.storageClasses.size()) +
                           " storage class(es)) while DR holds " + std::to_string(active.size()) +
                           " replica(s): an API or selector problem is likelier than every PV "
                           "being deleted";
      for (const auto* r : candidates)
        rep.orphans.push_back({"pv", r->pv, r->drPath, dirHasData(r->drPath), "held",
                               "not confirmed (circuit breaker tripped on an empty list)"});
      orphans.clear();
    } else {
      for (const auto* r : candidates) {
        auto got = objects_.getPersistentVolume(r->pv);
        if (got.ok()) {
          rep.notes.push_back("PV " + r->pv +
                              " exists at the primary but is no longer selected (label selector "
                              "or storage class); its DR copy is left alone");
        } else if (got.error().kind == ErrorKind::NotFound) {
          orphans.push_back(r);
        } else {
          rep.notes.push_back("PV " + r->pv + " is missing from the list but could not be " +
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
      for (const auto* r : orphans) {
        OrphanRow o{"pv", r->pv, r->drPath, dirHasData(r->drPath), "held", ""};
        if (rep.breaker.tripped) {
          o.detail = "circuit breaker tripped";
        } else if (opts.stop.stop_requested()) {
          o.detail = "not handled: the run was stopped";
        } else {
          replication::DeleteOptions d;
          d.wait = opts.lockWait;
          d.reason = reason;
          auto res = replicator_.deletePv(pvFromReplica(*r), d);
          if (!res.ok()) {
            o.action = "failed";
            o.detail = res.error().message;
          } else {
            o.action = res->ok() ? std::string(replication::toString(res->result)) : "failed";
            if (res->error)
              o.detail = res->error->message;
            else if (res->details.contains("trash"))
              o.detail = "moved to " + res->details["trash"].value("path", std::string());
          }
        }
        rep.orphans.push_back(std::move(o));
      }
      if (rep.breaker.tripped)
        log::warn("reconcile: circuit breaker tripped", {{"reason", rep.breaker.reason}});
    }
  }

  if (!drActiveRefusal.empty()) {
    rep.notes.push_back("snapshot orphan check skipped: DR is active");
  } else if (!rep.snapshotListOk) {
    rep.notes.push_back("snapshot orphan check skipped: the VolumeSnapshot list failed");
  } else if (!rep.stopped) {
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
    if (snaps.empty() && !records.empty()) {
      rep.snapshotBreaker.tripped = true;
      rep.snapshotBreaker.candidates = static_cast<int>(candidates.size());
      rep.snapshotBreaker.reason =
          "the primary listed no VolumeSnapshots while the catalog holds " +
          std::to_string(records.size()) + " snapshot record(s)";
      for (const auto& s : candidates)
        rep.orphans.push_back({"snapshot", s.ns + "/" + s.name, s.dataDrPath,
                               dirHasData(s.dataDrPath), "held",
                               "not confirmed (circuit breaker tripped on an empty list)"});
    } else {
      for (const auto& s : candidates) {
        auto got = lister_.getVolumeSnapshot(s.ns, s.name, opts.stop);
        if (got.ok()) {
          auto uid = jsonString(*got, "metadata.uid");
          if (uid.ok() && *uid != s.uid) orphans.push_back(s);  // a new snapshot, same name
        } else if (got.error().kind == ErrorKind::NotFound) {
          orphans.push_back(s);
        } else {
          rep.notes.push_back("snapshot " + s.ns + "/" + s.name +
                              " could not be confirmed absent (" + got.error().message +
                              "); left alone");
        }
      }
      rep.snapshotBreaker.candidates = static_cast<int>(orphans.size());
      if (auto why = replication::shareExceeded(orphans.size(), records.size(),
                                                rep.snapshotBreaker.maxShare, "snapshot records",
                                                "dropped")) {
        rep.snapshotBreaker.tripped = true;
        rep.snapshotBreaker.reason = *why;
      }
      for (const auto& s : orphans) {
        OrphanRow o{"snapshot", s.ns + "/" + s.name, s.dataDrPath, dirHasData(s.dataDrPath), "held",
                    ""};
        if (rep.snapshotBreaker.tripped) {
          o.detail = "circuit breaker tripped";
        } else if (opts.stop.stop_requested()) {
          o.detail = "not handled: the run was stopped";
        } else {
          Json vs{{"apiVersion", "snapshot.storage.k8s.io/v1"},
                  {"kind", "VolumeSnapshot"},
                  {"metadata", {{"name", s.name}, {"namespace", s.ns}, {"uid", s.uid}}}};
          replication::DeleteOptions d;
          d.wait = opts.lockWait;
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
  }

  // 6. DR directories nothing accounts for.
  {
    std::vector<std::string> known;
    if (auto all = catalog_.replicas(); all.ok())
      for (const auto& r : *all)
        if (!r.drPath.empty()) known.push_back(lexicallyCanonical(r.drPath));
    if (auto all = catalog_.snapshots(); all.ok())
      for (const auto& s : *all)
        if (!s.dataDrPath.empty()) known.push_back(lexicallyCanonical(s.dataDrPath));
    for (const auto& row : rep.pvs)
      if (!row.destination.empty()) known.push_back(lexicallyCanonical(row.destination));
    const std::string partial = cfg_.replication.rsync.partialDir;
    for (const auto& root : cfg_.dr.exportRoots) {
      std::error_code ec;
      for (auto it = fs::directory_iterator(root.hostPath, ec);
           !ec && it != fs::directory_iterator(); it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name.empty() || name.front() == '.' || name == partial) continue;
        if (!it->is_directory(ec)) continue;
        const std::string entry = lexicallyCanonical(it->path().string());
        bool accounted = std::any_of(known.begin(), known.end(), [&](const std::string& k) {
          return paths::isUnder(k, entry) || paths::isUnder(entry, k);
        });
        if (!accounted) rep.untrackedDirs.push_back(it->path().string());
      }
    }
    std::sort(rep.untrackedDirs.begin(), rep.untrackedDirs.end());
  }

  rep.finishedAt = clock_.now();
  rep.sortRows();
  rep.computeTotals();
  if (rep.runId != 0) {
    for (const auto& r : rep.pvs) {
      Json detail{{"bytes", r.bytes}, {"duration_ms", r.duration.count()}};
      if (!r.errorMessage.empty()) detail["error"] = r.errorMessage;
      (void)catalog_.addRunItem(rep.runId, "pv/" + r.pv, r.status, detail.dump());
    }
    for (const auto& s : rep.snapshots)
      (void)catalog_.addRunItem(rep.runId, "snap/" + s.snapshot, s.status,
                                Json{{"error", s.errorMessage}}.dump());
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
  return rep;
}

}  // namespace ocpvdr::engine
