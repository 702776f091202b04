// The delete circuit breaker (see delete_breaker.h).
#include "replication/delete_breaker.h"

#include <cstdio>

#include "core/log.h"
#include "core/time.h"

namespace ocpvdr::replication {
namespace {

std::string percent(double share) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f%%", share * 100.0);
  return buf;
}

constexpr std::size_t kMaxHeldListed = 1000;

}  // namespace

std::optional<std::string> shareExceeded(std::size_t deletes, std::size_t replicas, double maxShare,
                                         std::string_view noun, std::string_view verb) {
  if (deletes == 0) return std::nullopt;
  const double share = replicas == 0 ? 1.0 : static_cast<double>(deletes) / replicas;
  if (share <= maxShare) return std::nullopt;
  return std::to_string(deletes) + " of " + std::to_string(replicas) + " " + std::string(noun) +
         " (" + percent(share) + ") would be " + std::string(verb) +
         ", above replication.breaker_max_share (" + percent(maxShare) + ")";
}

DeleteBreaker::DeleteBreaker(Clock& clock, DeleteBreakerLimits limits, std::string what)
    : clock_(clock), limits_(limits), what_(std::move(what)) {}

Status DeleteBreaker::admit(std::string_view key, std::size_t replicas) {
  std::lock_guard lock(mu_);
  const SteadyTime now = clock_.monotonic();
  while (!admitted_.empty() && now - admitted_.front() >= limits_.window) admitted_.pop_front();
  if (!tripped_) {
    const std::size_t next = admitted_.size() + 1;
    const std::string window = std::to_string(limits_.window.count()) + "s";
    if (next > static_cast<std::size_t>(limits_.maxDeletes)) {
      reason_ = std::to_string(next) + " " + what_ + " deletes within " + window +
                ", above replication.delete_breaker_max_deletes (" +
                std::to_string(limits_.maxDeletes) + ")";
    } else if (next >= 2) {
      const double share = replicas == 0 ? 1.0 : static_cast<double>(next) / replicas;
      if (share > limits_.maxShare)
        reason_ = std::to_string(next) + " " + what_ + " deletes within " + window + " of " +
                  std::to_string(replicas) + " replicated (" + percent(share) +
                  "), above replication.delete_breaker_max_share (" + percent(limits_.maxShare) +
                  ")";
    }
    if (!reason_.empty()) {
      tripped_ = true;
      trippedAt_ = clock_.now();
      log::error("delete breaker tripped: no more " + what_ +
                     " deletes from events until restart; the DR copies stay in place",
                 {{"reason", reason_}});
    }
  }
  if (tripped_) {
    if (held_.size() < kMaxHeldListed) held_.emplace_back(key);
    return refusedError("delete breaker tripped (" + reason_ + "): the DR copy of " +
                        std::string(key) +
                        " stays in place; check the primary, then restart serve and let the "
                        "reconcile handle the PVs that really are gone (docs/security.md)");
  }
  admitted_.push_back(now);
  return Status::success();
}

bool DeleteBreaker::tripped() const {
  std::lock_guard lock(mu_);
  return tripped_;
}

Json DeleteBreaker::toJson() const {
  std::lock_guard lock(mu_);
  Json j{{"tripped", tripped_},
         {"max_deletes", limits_.maxDeletes},
         {"max_share", limits_.maxShare},
         {"window_seconds", limits_.window.count()},
         {"admitted_in_window", admitted_.size()},
         {"held", held_}};
  j["reason"] = tripped_ ? Json(reason_) : Json(nullptr);
  j["tripped_at"] = trippedAt_ ? Json(formatTime(*trippedAt_)) : Json(nullptr);
  return j;
}

}  // namespace ocpvdr::replication
