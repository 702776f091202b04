// ChangeRelay (see change_relay.h).
#include "engine/change_relay.h"

#include <openssl/rand.h>

#include <vector>

#include "core/crypto.h"
#include "core/log.h"
#include "core/time.h"

namespace ocpvdr::engine {

ChangeRelay::ChangeRelay(ChangeRelayOptions opts, Clock& clock, GetPv getPv, Deliver deliver)
    : opts_(opts), clock_(clock), getPv_(std::move(getPv)), deliver_(std::move(deliver)) {
  unsigned char rnd[8];
  if (RAND_bytes(rnd, sizeof rnd) != 1) std::fill(std::begin(rnd), std::end(rnd), 0);
  instance_ = hexEncode(std::string_view(reinterpret_cast<char*>(rnd), sizeof rnd));
}

void ChangeRelay::onChange(const std::string& pv, SystemTime since, const std::string& why) {
  {
    std::lock_guard<std::mutex> g(mu_);
    ++stats_.changes;
    PvState& s = pvs_[pv];
    if (!s.pendingSince || since < *s.pendingSince) s.pendingSince = since;
    // A rescan says less than a change record; keep the more specific reason.
    if (s.why.empty() || why == "changed") s.why = why;
  }
  cv_.notify_all();
}

std::optional<SteadyTime> ChangeRelay::dueAt(const PvState& s) const {
  if (!s.pendingSince) return std::nullopt;
  SteadyTime due = s.lastSent ? *s.lastSent + opts_.window : SteadyTime{};
  if (s.retryAt && *s.retryAt > due) due = *s.retryAt;
  return due;
}

std::string ChangeRelay::body(const std::string& pv, const PvState& s, const Json& resource) {
  const std::string id = "dc-" + instance_ + "-" + std::to_string(++seq_);
  Json doc{{"id", id},
           {"kind", "DataChange"},
           {"type", "CHANGED"},
           {"pv", pv},
           {"changed_at", formatTimeMillis(*s.pendingSince)},
           {"reason", s.why},
           {"sent_at", formatTimeMillis(clock_.now())},
           {"resource", resource}};
  return doc.dump();
}

std::optional<SteadyTime> ChangeRelay::pump(std::stop_token stop) {
  const SteadyTime now = clock_.monotonic();
  std::vector<std::string> due;
  {
    std::lock_guard<std::mutex> g(mu_);
    for (const auto& [pv, s] : pvs_)
      if (auto at = dueAt(s); at && *at <= now) due.push_back(pv);
  }
  for (const auto& pv : due) {
    if (stop.stop_requested()) break;
    PvState snap;
    {
      std::lock_guard<std::mutex> g(mu_);
      snap = pvs_[pv];
      // Changes from here on open the next window's event.
      pvs_[pv].pendingSince.reset();
    }
    auto fail = [&](const std::string& what, bool drop) {
      std::lock_guard<std::mutex> g(mu_);
      PvState& s = pvs_[pv];
      if (drop) {
        ++stats_.dropped;
        log::info("relay: dropped the change of a PV the primary no longer has",
                  {{"pv", pv}, {"why", what}});
        return;
      }
      ++stats_.failed;
      stats_.lastError = what;
      // Put the change back (merged with any that came meanwhile) and retry later.
      if (!s.pendingSince || *snap.pendingSince < *s.pendingSince)
        s.pendingSince = snap.pendingSince;
      if (s.why.empty()) s.why = snap.why;
      s.retryAt = clock_.monotonic() + opts_.retry;
      log::warn("relay: data-change event not delivered; retrying", {{"pv", pv}, {"error", what}});
    };
    auto pvObject = getPv_(pv);
    if (!pvObject.ok()) {
      fail(pvObject.error().message, pvObject.error().kind == ErrorKind::NotFound);
      continue;
    }
    if (Status s = deliver_(body(pv, snap, *pvObject), stop); !s.ok()) {
      fail(s.error().message, false);
      continue;
    }
    std::lock_guard<std::mutex> g(mu_);
    PvState& s = pvs_[pv];
    s.lastSent = clock_.monotonic();
    s.retryAt.reset();
    if (!s.pendingSince) s.why.clear();
    ++stats_.sent;
  }
  std::lock_guard<std::mutex> g(mu_);
  std::optional<SteadyTime> next;
  std::size_t pending = 0;
  for (auto it = pvs_.begin(); it != pvs_.end();) {
    auto at = dueAt(it->second);
    if (at) {
      ++pending;
      if (!next || *at < *next) next = at;
    }
    // A PV whose window has passed with nothing pending needs no state (5,000 PVs stay cheap).
    const bool idle =
        !at && (!it->second.lastSent || clock_.monotonic() - *it->second.lastSent >= opts_.window);
    it = idle ? pvs_.erase(it) : std::next(it);
  }
  stats_.pending = pending;
  return next;
}

void ChangeRelay::run(std::stop_token stop) {
  while (!stop.stop_requested()) {
    auto next = pump(stop);
    std::unique_lock<std::mutex> l(mu_);
    auto woken = [&] {
      for (const auto& [pv, s] : pvs_)
        if (auto at = dueAt(s); at && *at <= clock_.monotonic()) return true;
      return false;
    };
    // The clock seam decides what "due" means; the wait itself is bounded so a ManualClock's
    // advance is seen within 50 ms.
    const auto cap = std::chrono::milliseconds(next ? 50 : 1000);
    cv_.wait_for(l, stop, cap, woken);
  }
}

ChangeRelay::Stats ChangeRelay::stats() const {
  std::lock_guard<std::mutex> g(mu_);
  return stats_;
}

Json ChangeRelay::status() const {
  Stats s = stats();
  return Json{{"window_seconds", opts_.window.count() / 1000.0},
              {"changes", s.changes},
              {"events_sent", s.sent},
              {"delivery_failures", s.failed},
              {"dropped", s.dropped},
              {"pending", s.pending},
              {"last_error", s.lastError}};
}

}  // namespace ocpvdr::engine
