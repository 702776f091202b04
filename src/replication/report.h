// SyncReport: the outcome of one replication handler call, and its JSON form — the one document
// `ocpv-dr pv|snapshot sync|delete` prints on stdout and Ansible reads (docs/replication.md).
//
//   {"action":"pv sync","pv":..,"source":..,"destination":..,"result":"synced","changed":true,
//    "forced":false,"bytes":..,"files":..,"deleted":..,"duration_ms":..,"error":null,
//    "snapshot":..?, "rsync":{..}?, "input":{..}?, "trash":{..}?, ...}
// `error` is {"kind","message"} or null; the process exit code follows the error kind
// (core/result.h: 0 ok, 2 invalid, 3 refused, 4 retryable, 5 terminal, 6 conflict, 7 not found).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/json_util.h"
#include "core/result.h"
#include "replication/rsync.h"

namespace ocpvdr::replication {

enum class Outcome {
  Synced,         // data or metadata was brought up to date (something changed)
  Unchanged,      // already up to date; nothing changed
  Quarantined,    // DR copy moved to the trash
  Kept,           // delete policy keep: DR copy left in place
  Deleted,        // DR copy removed (policy delete) / snapshot record marked deleted
  NotReplicable,  // not an NFS volume (error kind refused)
  Refused,        // a guard said no (error kind refused)
  Busy,           // another sync of the same key holds the lock (error kind retryable)
  Failed,         // rsync/ssh/filesystem/catalog failure, or invalid input (error says which)
  Skipped,        // the event id was already processed successfully
  NotReady,       // snapshot not readyToUse yet; recorded as pending
  // A delete from an event that verification stopped (DeleteOptions::verify): no DR data moved.
  StillPresent,        // the primary still has the object with the event's uid (refused)
  UidMismatch,         // the event's uid is not the one the catalog replicated (refused)
  NotReplicated,       // the catalog has no live replica of this PV at that path (nothing done)
  PrimaryUnreachable,  // the primary API could not confirm the delete (retryable)
  BreakerTripped,      // the delete breaker holds every delete (refused)
  LeftSelection,       // the PV left the label selection: replication stops, DR data kept
};

std::string_view toString(Outcome o);

struct SyncReport {
  std::string action;       // "pv sync" | "pv delete" | "snapshot sync" | "snapshot delete"
  std::string pv;           // PV name (snapshot actions: the source PV when known)
  std::string snapshot;     // "<namespace>/<name>" for snapshot actions
  std::string source;       // "<server>:<export path>" as the object names it
  std::string destination;  // DR host path
  Outcome result = Outcome::Failed;
  bool changed = false;
  bool forced = false;       // the empty-source guard was overridden
  std::int64_t bytes = 0;    // rsync "Total transferred file size"
  std::int64_t files = 0;    // rsync "Number of regular files transferred"
  std::int64_t deleted = 0;  // rsync "Number of deleted files"
  std::chrono::milliseconds duration{0};
  std::optional<Error> error;
  std::optional<RsyncStats> rsync;
  std::vector<std::string> rsyncArgv;
  Json details = Json::object();  // action-specific extras, merged into the JSON document

  bool ok() const { return !error.has_value(); }
  int exitCode() const { return error ? exitCodeFor(error->kind) : 0; }
  Json toJson() const;
};

}  // namespace ocpvdr::replication
