// Per-PV replica state with the current RPO, read from the catalog: what `ocpv-dr status` prints
// (a table, or --json) and `serve` answers on GET /v1/status.
//
// Current RPO = now − end of the last successful sync: how much data a failover now would lose at
// most. It is "exceeded" when it is above replication.rpo_target, or when an active replica has
// never been synced successfully. Replicas that are no longer active (quarantined, kept, deleted)
// have no RPO.
//
// Continuous replication (issue 16): serve passes its change feed's view. While the feed is
// trusted (every root's watcher running since its start rescan), a replica is "caught up" when no
// change newer than the data DR holds is known, and "behind" by the age of its oldest change not
// yet at DR; over target means behind by more than the target. Without the feed (`ocpv-dr
// status`, serve without replication.watch) nothing is known about changes: caught up means data
// age within the target, behind is the data age beyond it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "core/clock.h"
#include "core/json_util.h"
#include "core/result.h"

namespace ocpvdr::engine {

struct ReplicaStatus {
  std::string pv;
  std::string state;   // catalog state: active | quarantined | kept | deleted | restored
  std::string result;  // last sync's result word
  std::optional<SystemTime> lastSyncStart, lastSyncEnd, lastSuccess;
  bool syncing = false;                     // a sync started after the last one ended
  std::optional<std::chrono::seconds> rpo;  // active replicas only
  bool rpoExceeded = false;
  std::int64_t bytes = 0;
  std::string errorKind, errorMessage;
  std::string drPath;
  std::chrono::seconds target{0};
  std::optional<SystemTime> pendingSince;  // oldest change not yet at DR (change feed)
  bool caughtUp = false;
  std::optional<std::chrono::seconds> behind;  // active replicas only
};

// What serve's change feed knows (engine/change_feed.h).
struct ChangeView {
  bool trusted = false;
  std::map<std::string, SystemTime> pending;  // PV → its oldest change not known to be at DR
};

// Sorted: RPO exceeded first, then by name.
[[nodiscard]] Result<std::vector<ReplicaStatus>> replicaStatuses(catalog::Catalog& catalog,
                                                                 SystemTime now,
                                                                 std::chrono::seconds rpoTarget,
                                                                 const ChangeView* view = nullptr);

// {"generated_at","rpo_target_seconds","replicas":[...],"totals":{...}}
Json statusJson(const std::vector<ReplicaStatus>& rows, SystemTime now,
                std::chrono::seconds rpoTarget);
// A fixed-width text table (one line per PV) with a totals line.
std::string statusTable(const std::vector<ReplicaStatus>& rows, std::chrono::seconds rpoTarget);

}  // namespace ocpvdr::engine
