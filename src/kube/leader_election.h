// LeaderElector: one active `ocpv-dr serve` among several, through a coordination.k8s.io/v1 Lease
// on the DR cluster (FACTS §14), the way client-go's tools/leaderelection does it:
//
//   - A candidate takes the Lease when it does not exist (create; AlreadyExists = someone was
//     faster), when its holderIdentity is empty (released), or when the record has not changed
//     for leaseDuration as seen on the candidate's OWN monotonic clock since it last saw a change
//     (renewTime is never compared with the local wall clock: clocks of two machines disagree).
//   - Every write is an update carrying the resourceVersion that was read: of two candidates
//     racing for the same record, one gets 409 Conflict and stays a candidate.
//   - The holder renews every retryPeriod. When no renewal succeeded for renewDeadline
//     (< leaseDuration) it has lost: the caller's leading work is stopped (its stop token) and
//     must have finished before leaseDuration after the last renewal — the moment another
//     candidate may take over. leaseDuration − renewDeadline is the budget for stopping.
//   - On a clean stop the holder releases the Lease (empty holder, leaseDuration 1 s) so a
//     standby takes over at its next retry instead of waiting for expiry.
//
// Error kinds of tryAcquireOrRenew(): Conflict/AlreadyExists are answered as "not acquired"
// (false); an unreachable API server is Retryable; RBAC Refused. The run loop treats every error
// as "not acquired / not renewed" and keeps trying.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>

#include "core/clock.h"
#include "core/json_util.h"
#include "core/result.h"

namespace ocpvdr::kube {

class KubeClient;

struct LeaseSettings {
  std::string ns = "ocpv-dr";
  std::string name = "ocpv-dr-serve";
  std::string identity;  // unique per candidate (host name and pid by default)
  std::chrono::milliseconds leaseDuration{15'000};
  std::chrono::milliseconds renewDeadline{10'000};
  std::chrono::milliseconds retryPeriod{2'000};
};

// "" when valid, else what is wrong (renewDeadline < leaseDuration, retryPeriod < renewDeadline,
// names and identity set).
std::string validateLeaseSettings(const LeaseSettings& s);

// What the Lease said when last read.
struct LeaseRecord {
  std::string holder;
  int leaseDurationSeconds = 0;
  std::string acquireTime, renewTime;  // MicroTime strings as read
  int transitions = 0;
  std::string resourceVersion;
};

class LeaderElector {
 public:
  LeaderElector(KubeClient& client, Clock& clock, LeaseSettings settings);

  // One attempt to take or renew the Lease. true: this candidate holds it now.
  [[nodiscard]] Result<bool> tryAcquireOrRenew(std::stop_token stop = {});

  // Blocks until `stop`: waits as a candidate, calls lead(token) on a thread of its own once the
  // Lease is held, renews; when renewal fails for renewDeadline (or `stop` is requested) the token
  // passed to lead() is stopped and run() waits for lead() to return. Returns after losing (false)
  // or after `stop` or after lead() returned by itself (true); the Lease is then released.
  bool run(std::stop_token stop, const std::function<void(std::stop_token leading)>& lead);

  // Sets the Lease free if this candidate holds it (empty holder, duration 1 s).
  [[nodiscard]] Status release(std::stop_token stop = {});

  // Held and renewed within renewDeadline, on the monotonic clock.
  bool leading() const;
  std::string identity() const { return s_.identity; }
  // The holder as last read ("" when free or never read).
  std::string observedHolder() const;
  Json statusJson() const;

 private:
  Json leaseObject(const LeaseRecord& r) const;
  bool waitRetry(std::stop_token stop);

  KubeClient& client_;
  Clock& clock_;
  LeaseSettings s_;
  mutable std::mutex mu_;
  std::optional<LeaseRecord> observed_;
  SteadyTime observedAt_{};
  std::optional<SteadyTime> renewedAt_;  // last successful take or renewal
  int attempts_ = 0;
};

// "<host>-<pid>", the default identity.
std::string defaultLeaseIdentity();

}  // namespace ocpvdr::kube
