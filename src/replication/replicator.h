// Replicator: the replication handlers as a library — what `ocpv-dr pv|snapshot sync|delete`
// run, and what `serve`/`reconcile` call per work-queue key with the same semantics.
//
// Every handler returns a SyncReport for every outcome, refusals and failures included (the
// report's `error` then says why and its kind drives retries: Retryable = try again later,
// Refused/Invalid/Terminal = do not). The Result wrapper is an error only if no report could be
// produced at all, which the current implementation never does — callers may still handle it.
//
// pv sync:     read PV → resolve NFS source → mapVolume → lock (per PV, across processes, and
//              per DR path: lock.h pathLockKey) → shared/nested path check → probe both hosts
//              (realpath confinement, empty-source guard) → rsync pull over ssh → catalog row →
//              report
// shared/nested paths: a PV whose DR path is another live replica's (active, restored, kept),
//              lies inside it or contains it is refused by sync and delete, naming both PVs.
// pv delete:   resolve → locks → [verify] → shared/nested path check → delete policy (quarantine to
// the trash | keep | delete) delete verification (DeleteOptions::verify, every event path — serve's
// DELETED tombstones,
//              `pv|snapshot delete --verify`): under the lock and before any DR data moves, a
//              PV delete needs (1) a live catalog replica of that PV (active/restored) whose DR
//              path is the one the event maps to — else "not-replicated", nothing done; (2) the
//              event's uid equal to the catalog's — else "uid-mismatch" (a stale event for an
//              earlier PV of that name), refused; (3) the primary API answering 404 for the PV
//              or showing another uid — the same object still there is "still-present"
//              (refused), no answer is "primary-unreachable" (retryable: the delete waits, it
//              never proceeds on the event alone). A snapshot delete needs (3) for the
//              VolumeSnapshot (its DR archive path always comes from the catalog record). Then
//              the DeleteBreaker, if given, must admit the move ("breaker-tripped" otherwise).
// snapshot sync:   not ready → "not-ready" + a pending catalog row; ready → record identity,
//              content, handle, normalised creation time and restore size; csi-driver-nfs
//              archive directory replicated like a volume (replication.snapshot_data)
// snapshot delete: mark the record deleted; its DR archive follows the delete policy
// DR active (catalog.h DrActiveRecord, set by a failover run): every handler that would write or
// remove DR data — pv sync (--force included), pv delete, snapshot sync, snapshot delete, trash
// restore — refuses (Refused, exit 3, naming the run and `ocpv-dr failover release`), checked
// before and again under the per-key lock.
// Thread-safe: one Replicator may run handlers for different keys in parallel (the per-key lock
// serialises the same key); ssh connections are shared through ControlMaster sockets.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/catalog.h"
#include "config/config.h"
#include "core/byte_budget.h"
#include "core/clock.h"
#include "core/json_util.h"
#include "core/metrics.h"
#include "core/process.h"
#include "core/result.h"
#include "extent/group_snapshot.h"
#include "replication/consistency_group.h"
#include "replication/delete_breaker.h"
#include "replication/guards.h"
#include "replication/path_map.h"
#include "replication/primary_objects.h"
#include "replication/pv_source.h"
#include "replication/report.h"
#include "replication/rsync.h"
#include "replication/snapshot_info.h"
#include "replication/ssh.h"
#include "replication/trash.h"
#include "replication/volume_lock.h"

namespace ocpvdr::replication {

// One PV's share of a group point (issue 17, replicator_group.cc): the snapshot the group took at
// the primary, streamed instead of a new one, and what the point is.
struct GroupPoint {
  std::string snapshotId;
  std::int64_t dataTimeNs = 0;  // shared by every PV of the group
  std::string consistency;      // "application" | "crash"
  std::string group;            // consistency_group.h ids
  std::int64_t freezeMs = -1;   // the freeze window, -1 when nothing was frozen
};

struct SyncOptions {
  bool force = false;                 // override the empty-source guard (recorded)
  std::chrono::milliseconds wait{0};  // how long to wait for the per-PV lock; 0: busy at once
  std::string eventId;                // skip when already processed successfully; recorded
  std::stop_token stop;               // stops rsync (SIGTERM to its process group)
  std::function<void(const RsyncProgress&)> onProgress;
  // Extent mover only: called at each phase of the cycle — building the point
  // (extent::ApplyOptions::hook: "cloned", "entry <path>", "trailer", "before-rename"), then
  // "point-complete" (before the catalog row), "recorded" (after it), and the DR PV directory's
  // (extent::materialize: "materialize <path>", "materialize-exchanged"); an error it returns
  // fails the cycle as a real failure would. For tests (and ocpv-dr-testhooks'
  // OCPVDR_EXTENT_PAUSE).
  std::function<Status(std::string_view phase)> extentApplyHook;
  // Set by a group sync for its PVs (never by callers): stream this group snapshot.
  const GroupPoint* groupPoint = nullptr;
  bool alone = false;  // sync this PV by itself, never as its group (set by the group path)
  // Group syncs only, for tests: called with "frozen" (guests frozen, before the snapshot) and
  // "snapshotted" (before the thaw); an error it returns fails the group snapshot there.
  std::function<Status(std::string_view phase)> groupHook;
};

struct DeleteOptions {
  std::optional<config::DeletePolicy> policy;  // empty: replication.delete_policy
  std::chrono::milliseconds wait{0};
  std::string eventId;
  std::string reason;   // written into the trash manifest
  bool verify = false;  // confirm the delete first (see "delete verification" above)
  // Asked just before DR data moves (quarantine or delete); held deletes are "breaker-tripped".
  DeleteBreaker* breaker = nullptr;
};

struct SnapshotOptions {
  // The bound VolumeSnapshotContent, when the caller has it (CLI --content-json); otherwise it is
  // read through PrimaryObjects when one was given.
  std::optional<Json> content;
  bool force = false;
  std::chrono::milliseconds wait{0};
  std::string eventId;
  std::stop_token stop;
  std::function<void(const RsyncProgress&)> onProgress;
};

class Replicator {
 public:
  // `primary` may be null: then `--pv NAME` and VolumeSnapshotContent lookups are unavailable.
  Replicator(const config::Config& cfg, ProcessRunner& runner, Clock& clock,
             catalog::Catalog& catalog, PrimaryObjects* primary = nullptr);

  [[nodiscard]] Result<SyncReport> syncPv(const Json& pv, const SyncOptions& opts = {});
  [[nodiscard]] Result<SyncReport> syncPvByName(std::string_view name,
                                                const SyncOptions& opts = {});
  [[nodiscard]] Result<SyncReport> deletePv(const Json& pv, const DeleteOptions& opts = {});
  // The same delete for a replica whose PV object is gone (reconcile's orphans): the NFS
  // source, uid and claim come from the catalog row; locks, checks and policy as deletePv.
  [[nodiscard]] Result<SyncReport> deletePvFromCatalog(const catalog::ReplicaRecord& replica,
                                                       const DeleteOptions& opts = {});
  [[nodiscard]] Result<SyncReport> syncSnapshot(const Json& vs, const SnapshotOptions& opts = {});
  [[nodiscard]] Result<SyncReport> deleteSnapshot(const Json& vs, const DeleteOptions& opts = {});

  // VM-consistent points (issue 17): with an API, a pv sync of a PV that a VM uses syncs the
  // whole consistency group from one group snapshot (replicator_group.cc). Null: per PV.
  void setConsistencyApi(ConsistencyApi* api) { consistency_ = api; }
  // Freeze metrics (ocpvdr_freeze_*), when given.
  void setMetrics(MetricsRegistry* metrics);

  // Trash operations that also keep the catalog in step (restored replicas become "restored").
  Trash& trash() { return trash_; }
  [[nodiscard]] Result<TrashEntry> restoreFromTrash(std::string_view id);

  // The reconcile's cheap full pass (issue 16; replicator_manifest.cc). extentSource: where the
  // extent mover would read this PV at the primary — empty when it is not replicable here or
  // replication.mover picks rsync for it (auto: both export roots probed, once per process).
  struct ExtentSource {
    std::string pv, primaryRoot, primaryDir, drDir;
  };
  [[nodiscard]] Result<std::optional<ExtentSource>> extentSource(const Json& pv);
  // Asks the primary, in ONE ssh session, what extentSource would otherwise ask once per process
  // in a session each: our ocpv-dr-mover's version and the reflink probe of every given export
  // root; the answers seed the same caches. Nothing is seeded when the version differs (the
  // normal path then installs the mover). A failure only costs the sessions it meant to save.
  void preflightPrimary(const std::vector<std::string>& primaryRoots);
  // ONE `ocpv-dr-mover manifest` session for PVs of one primary export root: per PV whose line
  // is "ok", its digest (extent/manifest.h). A PV missing from the map has no usable digest.
  [[nodiscard]] Result<std::map<std::string, std::string>> primaryManifest(
      const std::string& root, const std::vector<ExtentSource>& pvs, std::stop_token stop = {});
  // Extent cycles started by this Replicator (sender sessions), for tests and metrics.
  std::uint64_t extentCycles() const { return extentCycles_.load(); }

  // Ends the shared ssh master connection (tests, shutdown). Harmless when there is none.
  void closeConnections();

  // argv running `ocpv-dr-mover <args>` on the primary NFS host (over ssh, or the local mover
  // with replication.transport local), installing the mover there first when missing. What
  // serve's change feed runs `watch` with (engine/change_feed.h).
  [[nodiscard]] Result<std::vector<std::string>> primaryMoverArgv(
      const std::vector<std::string>& args);

  const std::string& lockDir() const { return lockDir_; }
  const SshCommand& ssh() const { return ssh_; }

 private:
  struct Transfer;        // one rsync of a primary directory to DR, guards included
  struct ExtentTransfer;  // one extent cycle: sender → applier → point (replicator_extent.cc)
  struct MoverChoice {
    bool extent = false;
    std::string reason;
  };
  // replication.mover: rsync, extent, or auto (both export roots probed once per process).
  [[nodiscard]] Result<MoverChoice> chooseMover(const VolumePaths& p);
  // "" when the file system at root can reflink, else why not; cached per (side, root).
  [[nodiscard]] Result<std::string> probeRoot(bool primarySide, const std::string& root);
  // ocpv-dr-mover of our version on the primary (installed over ssh when missing or other).
  [[nodiscard]] Status ensurePrimaryMover();
  std::string localMoverPath() const;
  [[nodiscard]] Status extentTransfer(ExtentTransfer& t);
  [[nodiscard]] Status recordAndMaterialize(ExtentTransfer& t, const std::string& drTarget);
  void extentReportInto(const ExtentTransfer& e, SyncReport& r) const;
  [[nodiscard]] std::optional<SystemTime> moveData(const PvInfo& pvInfo, const VolumePaths& vpaths,
                                                   const SyncOptions& opts,
                                                   const catalog::ReplicaRecord& row,
                                                   SyncReport& r);
  // The group of a pv sync, when it has one and can be synced as a group (replicator_group.cc):
  // the report of this PV from the group's cycle; nullopt: sync the PV alone.
  [[nodiscard]] std::optional<SyncReport> syncViaGroup(const Json& doc, const SyncOptions& opts);
  struct GroupRun;
  [[nodiscard]] std::optional<SyncReport> runGroup(const ConsistencyGroup& g, const std::string& pv,
                                                   const SyncOptions& opts, Json& summary);
  // `onCloned` runs as soon as the primary reports the clones taken (before their fsyncs).
  [[nodiscard]] Result<extent::GroupSnapshotReport> groupSnapshot(
      const std::vector<std::pair<std::string, VolumePaths>>& members,
      const std::function<void()>& onCloned);
  struct Call;  // one handler call and the handlers' shared preamble (replicator_internal.h)
  [[nodiscard]] Status transfer(Transfer& t);
  [[nodiscard]] Status checkRsyncVersion();
  // Refused, naming both PVs, when another live replica's DR path is `drPath`, lies inside it or
  // contains it (shared or nested NFS paths).
  [[nodiscard]] Status checkNoOverlap(const std::string& pv, const std::string& drPath,
                                      std::string_view action);
  // Delete verification of a PV (see above); false when `r` already holds the outcome.
  [[nodiscard]] bool verifyPvDelete(const PvInfo& info, const VolumePaths& paths, SyncReport& r);
  // The DR copy a PV delete may move: not shared with or nested in another PV's, not inside the
  // trash, confined to the DR root, a directory if it exists.
  [[nodiscard]] Result<PathProbe> deletableDrCopy(const std::string& pv, const VolumePaths& paths);
  // deletePv after the object was read (`input` names where it came from, for the manifest).
  void deleteDescribedPv(const PvInfo& info, const std::string& input, const DeleteOptions& opts,
                         SyncReport& r);
  // Steps of syncSnapshot: the bound VolumeSnapshotContent (given, or read from the primary;
  // empty when neither), the source PV of the record, the archive directory's replication.
  [[nodiscard]] Result<std::optional<SnapshotContentInfo>> snapshotContent(
      const SnapshotOptions& opts, const std::string& contentName, const std::string& uid);
  void resolveSourcePv(catalog::SnapshotRecord& rec);
  [[nodiscard]] Status replicateSnapshotArchive(const SnapshotContentInfo& content,
                                                const SnapshotOptions& opts,
                                                catalog::SnapshotRecord& rec, SyncReport& r,
                                                bool& dataChanged);
  // Steps of deleteSnapshot: delete verification, the DR archive's delete policy; false when the
  // report already holds the outcome.
  [[nodiscard]] bool verifySnapshotDelete(const SnapshotInfo& vs, SyncReport& r);
  [[nodiscard]] bool disposeSnapshotArchive(catalog::SnapshotRecord& rec,
                                            config::DeletePolicy policy, const DeleteOptions& opts,
                                            const std::string& input, SyncReport& r);
  void finishReport(SyncReport& r, std::chrono::steady_clock::time_point start,
                    const std::string& eventId, const std::string& key);

  const config::Config& cfg_;
  ProcessRunner& runner_;
  Clock& clock_;
  catalog::Catalog& catalog_;
  PrimaryObjects* primary_;
  std::string lockDir_;
  SshCommand ssh_;
  Trash trash_;
  std::mutex moverMu_;
  bool moverReady_ = false;                    // the primary has our ocpv-dr-mover
  std::map<std::string, std::string> probes_;  // "primary:<root>" / "dr:<root>" → why not
  ConsistencyApi* consistency_ = nullptr;
  MetricsRegistry* metrics_ = nullptr;
  // replication.bandwidth: one budget for every extent transfer at once; null: unlimited.
  std::unique_ptr<ByteBudget> bandwidth_;
  std::atomic<std::uint64_t> extentCycles_{0};
  std::once_flag versionOnce_;
  Status versionStatus_;
};

}  // namespace ocpvdr::replication
