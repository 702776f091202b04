// ChangeFeed: serve's feed of data changes on the primary (issue 16, docs/continuous.md).
//
// Per primary export root (sites.primary.nfs.export_roots), one long-lived
//   ssh primary ocpv-dr-mover watch --root <host path> --settle .. --cap .. --heartbeat ..
// through the ProcessRunner (the argv from Replicator::primaryMoverArgv: the same ssh settings
// and control master as the extent pipe, the mover installed first when missing). Its records
// (extent/watch.h) become per-PV work:
//   changed <root> <pvdir> <t>  every active replica whose primary host path lies in
//                               <root>/<pvdir> is reported with its first-change time t
//   rescan <root> <reason>      every active replica under the root is reported ("anything may
//                               have changed": the watcher's start, a queue overflow, a lost
//                               mark, inotify's watch limit)
// The channel's end — the ssh exited, or no record for 3 heartbeats (a stalled link; the
// session is then stopped) — also reports every replica of the root, and the feed reconnects
// with backoff (core/backoff.h). A new watcher's "rescan start" comes once its marks are in
// place, so a write made while the channel was down is covered by that rescan: the feed never
// takes silence for "nothing changed". Until then the root's feed is not "trusted" (status).
//
// PVs are looked up in the catalog (replicas: state active, primary_host_path) through an
// index the feed refreshes when a PV directory is not in it (at most every 5 s) or older than
// a minute, and afresh for every rescan; a PV not yet in the catalog is left to its PV event and
// the reconcile.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "catalog/catalog.h"
#include "config/config.h"
#include "core/backoff.h"
#include "core/clock.h"
#include "core/json_util.h"
#include "core/process.h"
#include "replication/replicator.h"

namespace ocpvdr::engine {

struct ChangeFeedOptions {
  std::vector<std::string> roots;  // primary export roots (host paths)
  std::chrono::milliseconds settle{2000}, cap{30'000};
  std::chrono::milliseconds heartbeat{5000};  // the watcher's; 3 missed end the session
  Backoff reconnect{std::chrono::milliseconds(1000), std::chrono::milliseconds(60'000), 0, 0.2};

  static ChangeFeedOptions fromConfig(const config::Config& cfg);
};

class ChangeFeed {
 public:
  // A PV's data changed at `since` (or may have: `why` is "changed", or the rescan's reason).
  using OnChange =
      std::function<void(const std::string& pv, SystemTime since, const std::string& why)>;
  // Active replicas: (pv, primary host path).
  using ListReplicas = std::function<Result<std::vector<std::pair<std::string, std::string>>>()>;

  // The active replicas of `catalog` that have a primary host path: what serve's feed and
  // `ocpv-dr relay` both name PVs from.
  static ListReplicas activeReplicas(catalog::Catalog& catalog);

  ChangeFeed(ChangeFeedOptions opts, Clock& clock, ProcessRunner& runner,
             replication::Replicator& replicator, ListReplicas list, OnChange onChange);
  ~ChangeFeed();
  ChangeFeed(const ChangeFeed&) = delete;
  ChangeFeed& operator=(const ChangeFeed&) = delete;

  void start();
  void stop();  // ends every session (SIGTERM to the ssh) and joins

  // Per root: state (connecting | up | down), backend, trusted, records, rescans, sessions.
  Json status() const;

  struct RootStats {
    std::string state = "connecting";
    std::string backend;
    bool trusted = false;
    std::uint64_t sessions = 0, changes = 0, rescans = 0, records = 0;
    std::string lastError;
    std::optional<SystemTime> lastRecordAt, upSince;
  };
  RootStats rootStats(std::size_t i) const;
  // Every root's watcher is running since its start rescan: silence means "nothing changed".
  bool trusted() const;

 private:
  void run(std::size_t i, std::stop_token stop);
  void handleLine(std::size_t i, std::string_view line);
  void rescan(std::size_t i, const std::string& why, SystemTime since);
  // `force`: a fresh list of the replicas (rescans), retried while the catalog is busy.
  std::vector<std::string> pvsUnder(const std::string& prefix, bool refreshOnMiss,
                                    bool force = false);

  ChangeFeedOptions opts_;
  Clock& clock_;
  ProcessRunner& runner_;
  replication::Replicator& replicator_;
  ListReplicas list_;
  OnChange onChange_;

  mutable std::mutex mu_;
  std::vector<RootStats> stats_;
  std::vector<SteadyTime> lastRecord_;
  std::vector<std::pair<std::string, std::string>> index_;  // (host path, pv), sorted
  std::optional<SteadyTime> indexAt_;
  std::vector<std::jthread> threads_;
};

}  // namespace ocpvdr::engine
