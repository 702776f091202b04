// Reconciler: the scheduled full pass (mode 2), shared by `ocpv-dr reconcile` and `serve`'s cron.
//
//  1. list the selected PersistentVolumes (replication.label_selector, then the storage-class
//     filter) and VolumeSnapshots (replication.namespaces) from the primary API — complete lists
//     or errors, never partial;
//  2. the cheap full pass (issue 16): the PVs the extent mover syncs are grouped by primary
//     export root and ONE `ocpv-dr-mover manifest` session per root prints a digest of each PV
//     directory (extent/manifest.h). A PV whose digest equals the one the sender recorded with
//     its newest point (catalog recovery_points.source_digest), whose catalog row is active with
//     a successful last sync and the same paths, is "unchanged (manifest)": no cycle, and its
//     catalog row's last success becomes the manifest's start (DR holds what the primary holds
//     then). Every other PV — digest differs, no record, no line, a failed session, the rsync
//     mover — goes on to the queue as before. The DR copy itself is not re-read: that is the
//     deep verify's job (`ocpv-dr points verify`, checksums at both ends);
//  3. queue every replicable PV and every snapshot as a key into the work queue
//     (engine/key_workers.h) and wait for their syncs — the same queue, workers and per-key
//     reconcile as live events (serve's, when run by serve; a queue with `parallelism` workers
//     created for the run otherwise), so a pass never syncs a PV another worker is syncing;
//  4. read the catalog back: last sync, last success, current RPO (now − last success), PVs
//     never synced and PVs over replication.rpo_target;
//  5. orphans — only after a successful, complete list: catalog replicas whose PV is not in the
//     selected list AND whose absence a direct GET confirms (404). A failed list, a failed GET or
//     a PV that exists but is no longer selected never makes an orphan;
//  6. the circuit breaker: when the selected list is empty while DR holds replicas, or when the
//     orphans exceed replication.breaker_max_share of the replicas, nothing is quarantined and the
//     report says why; otherwise each orphan goes through the delete policy (Replicator::deletePv);
//     the same rule, separately, for snapshot records;
//  7. DR directories no record accounts for are listed as "untracked" (never touched).
// The run is recorded in the catalog (runs, run_items).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <stop_token>
#include <string>

#include "catalog/catalog.h"
#include "config/config.h"
#include "core/clock.h"
#include "engine/primary_api.h"
#include "engine/reconcile_report.h"
#include "replication/primary_objects.h"
#include "replication/replicator.h"

namespace ocpvdr::engine {

struct ReconcileProgress {
  int done = 0, total = 0;  // PVs and snapshots
  std::int64_t bytes = 0;
  std::chrono::milliseconds elapsed{0};
  std::optional<std::chrono::milliseconds> eta;
};

struct ReconcileOptions {
  // Workers of the queue created for the run (no KeyWorkers given); 0: replication.parallelism.
  // Under serve the pass uses serve's workers (server.workers).
  int parallelism = 0;
  // How long a sync waits for the per-PV lock held by another sync (serve's worker, an AAP job).
  std::chrono::milliseconds lockWait{std::chrono::minutes(10)};
  std::string trigger = "cli";
  // Skips the keys not yet synced and the orphan sweep; in a run of its own also stops running
  // rsyncs (process group SIGTERM). Under serve, shutdown stops them.
  std::stop_token stop;
  // Called after each PV/snapshot finishes (from worker threads, serialised).
  std::function<void(const ReconcileProgress&)> onProgress;
  // Step 2 (the manifest). false: every PV gets a sync, as before issue 16.
  bool useManifest = true;
};

class KeyWorkers;

class Reconciler {
 public:
  // `workers`: the queue and workers the pass goes through (serve's); null: created for the run.
  Reconciler(const config::Config& cfg, replication::Replicator& replicator,
             catalog::Catalog& catalog, PrimaryLister& lister, replication::PrimaryObjects& objects,
             Clock& clock, KeyWorkers* workers = nullptr)
      : cfg_(cfg),
        replicator_(replicator),
        catalog_(catalog),
        lister_(lister),
        objects_(objects),
        clock_(clock),
        workers_(workers) {}

  // Never fails as a whole: every problem is in the report (and its exit code).
  ReconcileReport run(const ReconcileOptions& opts = {});

 private:
  struct Run;  // one pass's state (reconcile.cc)
  void begin(Run& r);
  void listPvs(Run& r);
  void listSnapshots(Run& r);
  void checkDrActive(Run& r);
  void findSharedPaths(Run& r);
  void planRows(Run& r);
  void manifestPass(Run& r);
  void dropUnchanged(Run& r, const std::set<std::string>& skipped,
                     const std::map<std::string, const catalog::ReplicaRecord*>& replicaOf);
  void syncKeys(Run& r);
  void readRpo(Run& r);
  void sweepPvOrphans(Run& r);
  void sweepSnapshotOrphans(Run& r);
  void listUntracked(Run& r);
  void finish(Run& r);

  const config::Config& cfg_;
  replication::Replicator& replicator_;
  catalog::Catalog& catalog_;
  PrimaryLister& lister_;
  replication::PrimaryObjects& objects_;
  Clock& clock_;
  KeyWorkers* workers_;
};

}  // namespace ocpvdr::engine
