// SyncReport JSON rendering (document shape in report.h).
#include "replication/report.h"

namespace ocpvdr::replication {

std::string_view toString(Outcome o) {
  switch (o) {
    case Outcome::Synced:
      return "synced";
    case Outcome::Unchanged:
      return "unchanged";
    case Outcome::Quarantined:
      return "quarantined";
    case Outcome::Kept:
      return "kept";
    case Outcome::Deleted:
      return "deleted";
    case Outcome::NotReplicable:
      return "not-replicable";
    case Outcome::Refused:
      return "refused";
    case Outcome::Busy:
      return "busy";
    case Outcome::Failed:
      return "failed";
    case Outcome::Skipped:
      return "skipped";
    case Outcome::NotReady:
      return "not-ready";
    case Outcome::StillPresent:
      return "still-present";
    case Outcome::UidMismatch:
      return "uid-mismatch";
    case Outcome::NotReplicated:
      return "not-replicated";
    case Outcome::PrimaryUnreachable:
      return "primary-unreachable";
    case Outcome::BreakerTripped:
      return "breaker-tripped";
    case Outcome::LeftSelection:
      return "left-selection";
  }
  return "failed";
}

Json SyncReport::toJson() const {
  Json j{{"action", action},
         {"pv", pv},
         {"source", source},
         {"destination", destination},
         {"result", std::string(toString(result))},
         {"changed", changed},
         {"forced", forced},
         {"bytes", bytes},
         {"files", files},
         {"deleted", deleted},
         {"duration_ms", duration.count()},
         {"error", nullptr}};
  if (!snapshot.empty()) j["snapshot"] = snapshot;
  if (error)
    j["error"] =
        Json{{"kind", std::string(ocpvdr::toString(error->kind))}, {"message", error->message}};
  if (rsync) {
    j["rsync"] = Json{{"bytes_sent", rsync->bytesSent},
                      {"bytes_received", rsync->bytesReceived},
                      {"literal_bytes", rsync->literalData},
                      {"matched_bytes", rsync->matchedData},
                      {"total_size", rsync->totalFileSize},
                      {"transferred_size", rsync->transferredFileSize},
                      {"files_total", rsync->filesTotal},
                      {"created", rsync->createdFiles},
                      {"itemized_changes", rsync->itemizedChanges},
                      {"stats_parsed", rsync->parsed}};
    if (!rsyncArgv.empty()) j["rsync"]["argv"] = rsyncArgv;
  }
  for (auto it = details.begin(); it != details.end(); ++it)
    if (!j.contains(it.key())) j[it.key()] = it.value();
  return j;
}

}  // namespace ocpvdr::replication
