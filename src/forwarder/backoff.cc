// Delivery classification and the webhook backoff state machine (see backoff.h).
#include "forwarder/backoff.h"

#include <algorithm>

namespace ocpvdr::forwarder {

Disposition classifyStatus(int status) {
  if (status >= 200 && status < 300) return Disposition::Delivered;
  if (status == 401 || status == 403) return Disposition::AuthRetry;
  // Redirects are not followed (a POST must not silently become a GET): the URL is wrong, which
  // like a wrong token is an operator's fix, not a reason to drop events.
  if (status >= 300 && status < 400) return Disposition::AuthRetry;
  if (status == 408 || status == 425 || status == 429) return Disposition::Retry;
  if (status >= 400 && status < 500) return Disposition::DeadLetter;
  return Disposition::Retry;  // 0 (no response), 1xx, 5xx and anything odd
}

DeliveryGate::DeliveryGate(BackoffPolicy policy, std::uint64_t seed)
    : policy_(policy), rng_(seed != 0 ? seed : std::random_device{}()) {}

bool DeliveryGate::tryBegin(SteadyTime now) {
  if (until_ && now < *until_) return false;
  if (!healthy() && inFlight_ > 0) return false;
  ++inFlight_;
  return true;
}

std::optional<SteadyTime> DeliveryGate::pausedUntil() const {
  return until_;
}

void DeliveryGate::ended() {
  if (inFlight_ > 0) --inFlight_;
}

void DeliveryGate::onSuccess() {
  ended();
  failures_ = 0;
  authFailures_ = 0;
  until_.reset();
}

Millis DeliveryGate::onFailure(SteadyTime now, std::optional<Millis> retryAfter) {
  ended();
  // A send that started before the current pause and failed during it says nothing new: the
  // pause already answers that failure. Only the probe after the pause escalates.
  if (until_ && now < *until_) {
    return std::chrono::duration_cast<Millis>(*until_ - now);
  }
  authFailures_ = 0;
  ++failures_;
  const Backoff backoff{policy_.initial, policy_.max, 0, policy_.jitter};
  Millis wait = backoff.delay(failures_, rng_);
  if (retryAfter) wait = std::max(wait, std::min(*retryAfter, policy_.max));
  wait = std::min(wait, backoff.longest());
  until_ = now + wait;
  return wait;
}

Millis DeliveryGate::onAuthFailure(SteadyTime now) {
  ended();
  if (until_ && now < *until_ && authFailures_ > 0) {
    return std::chrono::duration_cast<Millis>(*until_ - now);
  }
  failures_ = 0;
  ++authFailures_;
  const Millis wait =
      Backoff{policy_.authInitial, policy_.authMax, 0, policy_.jitter}.delay(authFailures_, rng_);
  until_ = now + wait;
  return wait;
}

void DeliveryGate::onAbandoned() {
  ended();
}

void DeliveryGate::onCredentialsChanged() {
  if (authFailures_ > 0) until_.reset();
}

}  // namespace ocpvdr::forwarder
