// ChangeRelay: continuous replication in the AAP shape (issue 16 item 6, docs/continuous.md).
// `ocpv-dr relay` runs the same change feed as serve (engine/change_feed.h) and, instead of
// syncing, POSTs one "DataChange" event per changed PV to the EDA webhook, signed like the
// forwarder's (forwarder.webhook_url, token and HMAC secret); the rulebook's throttled rule
// launches the existing "Sync NFS PV to DR" job template with the PV object the event carries.
//
// Per PV, at most one event per `window`, leading and trailing: the first change after a quiet
// window is sent at once; changes that arrive while a window is open are folded into ONE more
// event sent when the window closes. So a burst of any size costs at most two jobs per window,
// and a change that lands after a job has started is never dropped — the trailing event runs
// another sync after it (the rulebook's own `once_within` throttle is shorter than the window and
// only guards against duplicates; it keeps the first event of a burst and drops the rest, which
// alone would lose the writes made after the first job started). An event that cannot be
// delivered stays pending and is retried; a PV the primary no longer has is dropped.
//
// Event body (webhook payload; FACTS §1: conditions read event.payload.*):
//   {"id": "<unique>", "kind": "DataChange", "type": "CHANGED", "changed_at": "<RFC 3339 ms of the
//    first change not yet sent>", "reason": "changed" | "rescan-<why>" | "channel-lost", "sent_at":
//    ..., "resource": <the PersistentVolume object from the primary API>}
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>

#include "core/clock.h"
#include "core/json_util.h"
#include "core/result.h"

namespace ocpvdr::engine {

struct ChangeRelayOptions {
  std::chrono::milliseconds window{60'000};  // at most one event per PV per window (+ trailing)
  std::chrono::milliseconds retry{5'000};    // after a failed delivery or PV lookup
};

class ChangeRelay {
 public:
  // POSTs one body (signed); an error keeps the PV pending.
  using Deliver = std::function<Status(const std::string& body, std::stop_token stop)>;
  // The PV object from the primary API; NotFound drops the PV's pending change.
  using GetPv = std::function<Result<Json>(const std::string& pv)>;

  ChangeRelay(ChangeRelayOptions opts, Clock& clock, GetPv getPv, Deliver deliver);

  // From the change feed (any thread).
  void onChange(const std::string& pv, SystemTime since, const std::string& why);

  // Sends every event that is due now; returns when the next one may be due (nullopt: nothing
  // pending). Single consumer.
  std::optional<SteadyTime> pump(std::stop_token stop = {});
  // pump() until stop, waking on onChange() and when the next event is due.
  void run(std::stop_token stop);

  struct Stats {
    std::uint64_t changes = 0, sent = 0, failed = 0, dropped = 0;
    std::size_t pending = 0;
    std::string lastError;
  };
  Stats stats() const;
  Json status() const;

 private:
  struct PvState {
    std::optional<SystemTime> pendingSince;  // first change not yet sent
    std::string why;
    std::optional<SteadyTime> lastSent;  // window start
    std::optional<SteadyTime> retryAt;   // after a failure
  };
  std::optional<SteadyTime> dueAt(const PvState& s) const;
  std::string body(const std::string& pv, const PvState& s, const Json& resource);

  ChangeRelayOptions opts_;
  Clock& clock_;
  GetPv getPv_;
  Deliver deliver_;
  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  std::map<std::string, PvState> pvs_;
  Stats stats_;
  std::uint64_t seq_ = 0;
  std::string instance_;  // random, makes ids unique across restarts
};

}  // namespace ocpvdr::engine
