// DeleteBreaker: the circuit breaker in front of DR data removal. One rule, two users:
//
//  - reconcile's orphan sweep (engine/reconcile.cc) asks shareExceeded() once per run: would
//    quarantining `deletes` of `replicas` copies exceed replication.breaker_max_share?
//  - the event path (serve's DELETED tombstones, `pv|snapshot delete --verify`) asks a
//    DeleteBreaker before each verified delete moves data. The breaker counts the deletes it let
//    through within a sliding window (replication.delete_breaker_window) and trips when one more
//    would make them more than replication.delete_breaker_max_deletes, or (from the second delete
//    of a window on, so that retiring the one VM of a small fleet is not a "share") more than
//    replication.delete_breaker_max_share of the replicas.
//
// Once tripped the breaker stays tripped for the life of the process: every later delete is
// held (Refused, outcome "breaker-tripped") and the DR copies stay in place. A burst of DELETED
// events is likelier to be a mistake (a selector, a namespace wipe, a forged sender) than a
// decision; after a restart the scheduled reconcile — with its own breaker and a GET per PV —
// handles the PVs that really are gone. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/json_util.h"
#include "core/result.h"

namespace ocpvdr::replication {

// The reason a breaker trips when `deletes` of `replicas` exceed `maxShare` (nullopt: it does
// not). `noun` names what is counted ("replicas", "snapshot records"); `verb` what would happen
// ("quarantined", "deleted"). Shared by reconcile's orphan sweep and the event-path breaker.
std::optional<std::string> shareExceeded(std::size_t deletes, std::size_t replicas, double maxShare,
                                         std::string_view noun, std::string_view verb);

struct DeleteBreakerLimits {
  int maxDeletes = 10;    // > 0
  double maxShare = 0.5;  // 0..1
  std::chrono::seconds window{600};
};

class DeleteBreaker {
 public:
  // `what` names the kind of copy in messages ("PV", "snapshot").
  DeleteBreaker(Clock& clock, DeleteBreakerLimits limits, std::string what);

  // Called once per verified delete, just before its data moves. `replicas`: how many copies
  // of this kind DR holds now (the share's denominator). Refused once tripped.
  [[nodiscard]] Status admit(std::string_view key, std::size_t replicas);

  bool tripped() const;
  // {"tripped", "reason", "tripped_at", "admitted_in_window", "held": [keys], limits...}
  Json toJson() const;

 private:
  Clock& clock_;
  const DeleteBreakerLimits limits_;
  const std::string what_;
  mutable std::mutex mu_;
  std::deque<SteadyTime> admitted_;  // deletes let through within the window, oldest first
  bool tripped_ = false;
  std::string reason_;
  std::optional<SystemTime> trippedAt_;
  std::vector<std::string> held_;  // keys refused since the trip (first 1000)
};

}  // namespace ocpvdr::replication
