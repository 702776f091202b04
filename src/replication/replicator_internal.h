// Internal to the replication handlers' files (replicator*.cc): shared helpers, one rsync of a
// directory (Transfer) and the shared start of the four handlers (Call). Not for other modules.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "extent/applier.h"
#include "extent/materialize.h"
#include "replication/extent_pipe.h"
#include "replication/lock.h"
#include "replication/pv_source.h"
#include "replication/replicator.h"
#include "replication/snapshot_info.h"

namespace ocpvdr::replication {
namespace detail {

std::string partialDirName(const config::Config& cfg);
// Outcome for an error that stopped a handler.
Outcome outcomeFor(const Error& e);
// Asks the delete breaker (if any) to admit the move of `key`, `live` counting the live copies;
// false when admitted, else the report says BreakerTripped.
bool breakerHolds(DeleteBreaker* breaker, const std::string& key,
                  const std::function<std::size_t()>& live, SyncReport& r);
void fail(SyncReport& r, Error e);
std::string describeInput(const Unwrapped& u);
Json inputJson(const Unwrapped& u);
// An event id the catalog already saw succeed: the report says Skipped and why.
bool skipProcessedEvent(catalog::Catalog& catalog, const std::string& eventId, SyncReport& r);
// A lock still held by another run after --wait is Busy (retry later); any other error Failed.
bool lockNotTaken(const Result<FileLock>& lock, SyncReport& r);

// One wording for a failed source check, whether it ran here or in the primary's guard
// (rsync's --rsync-path guard or ocpv-dr-mover's).
Error sourceCheckError(const VolumePaths& p, const std::string& drReal, bool refuseEmpty,
                       bool drHasData, const std::string& verdict, const std::string& where);

// Refused when the PV's primary or DR path lies inside <export root>/.ocpv-dr (snapshots,
// recovery points): those are never synced, overwritten or deleted as a PV's data.
[[nodiscard]] Status refuseStateDir(const VolumePaths& p);

}  // namespace detail

struct Replicator::ExtentTransfer {
  // Input.
  VolumePaths paths;
  std::string pv;
  bool force = false;
  std::stop_token stop;
  std::function<Status(std::string_view)> applyHook;
  const GroupPoint* group = nullptr;  // stream the group's snapshot; the row says what it is
  // Output.
  PathProbe dr;
  std::string pointsDir;
  bool ran = false, pointMade = false, forced = false;
  extent::ApplyReport applied;
  extent::MaterializeReport materialized;
  std::size_t pruned = 0;                   // points removed by retention after the cycle
  std::map<std::string, std::string> sent;  // the sender's report line
  std::int64_t primaryReadBytes = -1;       // -1: the sender did not say
  std::uint64_t drReadBytes = 0;
  // A range of the stream failed its checksum (the point was discarded): report and alert.
  std::optional<extent::ChecksumMismatch> mismatch;
  // Why the stream was full although DR has a point ("" otherwise): the sender's reason
  // (extent/sender.h: base-missing, snapshot-area-low-space, snapshot-area-max-bytes) or
  // "base-missing-at-dr".
  std::string fullResendReason;
};

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

  // Copies the outcome into the report: forced, rsync argv and stats, the DR path it resolved.
  void reportInto(SyncReport& r) const;
};

// One handler call: its report, timer and catalog key, and the shared preamble of the four
// handlers — unwrap the input document (bare object or event envelope), record it in the report,
// describe the object, name the report after it, skip an event id already processed.
struct Replicator::Call {
  // `pvKey`: the key is "pv/<name>" (PV handlers); else the one the preamble sets ("snap/ns/name").
  Call(Replicator& rep, std::string action, std::string eventId, bool pvKey);

  // Finishes the report (duration, event id, log line: finishReport) and returns it.
  Result<SyncReport> done();

  // The preamble; nullopt when the report already holds the outcome (bad input, or the event id
  // was processed before).
  // openPv also stops (NotReplicable, Refused) on a PV without an NFS source.
  std::optional<PvInfo> openPv(const Json& doc);
  std::optional<SnapshotInfo> openSnapshot(const Json& doc);

  Replicator& rep;
  const std::string eventId;
  const bool pvKey;
  const SteadyTime start;
  SyncReport r;
  std::string key;
  Unwrapped input;  // the unwrapped input document (set by the preamble)

 private:
  [[nodiscard]] bool unwrap(const Json& doc, std::string_view kind);
};

}  // namespace ocpvdr::replication
