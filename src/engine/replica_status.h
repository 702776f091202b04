// Per-PV replica state with the current RPO, read from the catalog: what `ocpv-dr status` prints
// (a table, or --json) and `serve` answers on GET /v1/status.
//
// Current RPO = now − end of the last successful sync: how much data a failover now would lose at
// most. It is "exceeded" when it is above replication.rpo_target, or when an active replica has
// never been synced successfully. Replicas that are no longer active (quarantined, kept, deleted)
// have no RPO.
#pragma once

#include <chrono>
#include <cstdint>
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
};

// Sorted: RPO exceeded first, then by name.
[[nodiscard]] Result<std::vector<ReplicaStatus>> replicaStatuses(catalog::Catalog& catalog,
                                                                 SystemTime now,
                                                                 std::chrono::seconds rpoTarget);

// {"generated_at","rpo_target_seconds","replicas":[...],"totals":{...}}
Json statusJson(const std::vector<ReplicaStatus>& rows, SystemTime now,
                std::chrono::seconds rpoTarget);
// A fixed-width text table (one line per PV) with a totals line.
std::string statusTable(const std::vector<ReplicaStatus>& rows, std::chrono::seconds rpoTarget);

}  // namespace ocpvdr::engine
