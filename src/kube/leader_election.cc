// Leader election over a coordination.k8s.io/v1 Lease (see leader_election.h).
#include "kube/leader_election.h"

#include <unistd.h>

#include <atomic>
#include <ctime>
#include <thread>

#include "core/time.h"
#include "kube/api_status.h"
#include "kube/kube_client.h"
#include "kube/resource_type.h"

namespace ocpvdr::kube {
namespace {

LeaseRecord parseLease(const Json& obj) {
  LeaseRecord r;
  const Json spec = obj.value("spec", Json::object());
  if (spec.is_object()) {
    if (spec.contains("holderIdentity") && spec["holderIdentity"].is_string())
      r.holder = spec["holderIdentity"].get<std::string>();
    if (spec.contains("leaseDurationSeconds") && spec["leaseDurationSeconds"].is_number_integer())
      r.leaseDurationSeconds = spec["leaseDurationSeconds"].get<int>();
    if (spec.contains("acquireTime") && spec["acquireTime"].is_string())
      r.acquireTime = spec["acquireTime"].get<std::string>();
    if (spec.contains("renewTime") && spec["renewTime"].is_string())
      r.renewTime = spec["renewTime"].get<std::string>();
    if (spec.contains("leaseTransitions") && spec["leaseTransitions"].is_number_integer())
      r.transitions = spec["leaseTransitions"].get<int>();
  }
  const Json md = obj.value("metadata", Json::object());
  if (md.is_object() && md.contains("resourceVersion") && md["resourceVersion"].is_string())
    r.resourceVersion = md["resourceVersion"].get<std::string>();
  return r;
}

bool sameRecord(const LeaseRecord& a, const LeaseRecord& b) {
  return a.holder == b.holder && a.renewTime == b.renewTime && a.acquireTime == b.acquireTime &&
         a.transitions == b.transitions && a.leaseDurationSeconds == b.leaseDurationSeconds;
}

int wholeSecondsUp(std::chrono::milliseconds d) {
  return static_cast<int>((d.count() + 999) / 1000);
}

}  // namespace

std::string validateLeaseSettings(const LeaseSettings& s) {
  if (s.ns.empty() || s.name.empty()) return "the Lease needs a namespace and a name";
  if (s.identity.empty()) return "the candidate needs an identity";
  if (s.leaseDuration < std::chrono::seconds(1)) return "lease_duration must be at least 1s";
  if (s.renewDeadline >= s.leaseDuration)
    return "renew_deadline must be shorter than lease_duration (the holder stops before the "
           "lease expires)";
  if (s.retryPeriod <= std::chrono::milliseconds(0) || s.retryPeriod >= s.renewDeadline)
    return "retry_period must be positive and shorter than renew_deadline";
  return "";
}

std::string defaultLeaseIdentity() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::snprintf(host, 5, "host");
  return std::string(host) + "-" + std::to_string(::getpid());
}

LeaderElector::LeaderElector(KubeClient& client, Clock& clock, LeaseSettings settings)
    : client_(client), clock_(clock), s_(std::move(settings)) {}

Json LeaderElector::leaseObject(const LeaseRecord& r) const {
  return Json{{"apiVersion", "coordination.k8s.io/v1"},
              {"kind", "Lease"},
              {"metadata", {{"name", s_.name}, {"namespace", s_.ns}}},
              {"spec",
               {{"holderIdentity", r.holder},
                {"leaseDurationSeconds", r.leaseDurationSeconds},
                {"acquireTime", r.acquireTime},
                {"renewTime", r.renewTime},
                {"leaseTransitions", r.transitions}}}};
}

Result<bool> LeaderElector::tryAcquireOrRenew(std::stop_token stop) {
  const ResourceType& type = resources::leases();
  const int durationSeconds = wholeSecondsUp(s_.leaseDuration);
  auto got = client_.get(type, s_.ns, s_.name, stop);
  if (!got.ok()) {
    if (!isNotFound(got.error())) return got.error().wrap("reading Lease " + s_.ns + "/" + s_.name);
    const std::string now = formatTimeMicros(clock_.now());
    LeaseRecord fresh{s_.identity, durationSeconds, now, now, 0, ""};
    auto made = client_.create(type, leaseObject(fresh), s_.ns, stop);
    if (!made.ok()) {
      if (isAlreadyExists(made.error()) || isConflict(made.error())) return false;
      return made.error().wrap("creating Lease " + s_.ns + "/" + s_.name);
    }
    std::lock_guard lock(mu_);
    observed_ = parseLease(*made);
    observedAt_ = renewedAt_.emplace(clock_.monotonic());
    return true;
  }

  const LeaseRecord current = parseLease(*got);
  const SteadyTime seen = clock_.monotonic();
  {
    std::lock_guard lock(mu_);
    // Expiry is judged by when THIS candidate last saw the record change, on its own clock.
    if (!observed_ || !sameRecord(*observed_, current)) observedAt_ = seen;
    observed_ = current;
    const bool mine = current.holder == s_.identity;
    const auto heldFor = std::chrono::seconds(std::max(current.leaseDurationSeconds, 1));
    if (!current.holder.empty() && !mine && seen < observedAt_ + heldFor) return false;
  }
  LeaseRecord next;
  next.holder = s_.identity;
  next.leaseDurationSeconds = durationSeconds;
  next.renewTime = formatTimeMicros(clock_.now());
  if (current.holder == s_.identity) {
    next.acquireTime = current.acquireTime;
    next.transitions = current.transitions;
  } else {
    next.acquireTime = next.renewTime;
    next.transitions = current.transitions + 1;
  }
  Json obj = *got;
  obj["spec"] = leaseObject(next)["spec"];  // metadata (with the resourceVersion read) stays
  auto put = client_.update(type, obj, stop);
  if (!put.ok()) {
    if (isConflict(put.error())) return false;  // another candidate wrote first
    return put.error().wrap("updating Lease " + s_.ns + "/" + s_.name);
  }
  std::lock_guard lock(mu_);
  observed_ = parseLease(*put);
  observedAt_ = renewedAt_.emplace(clock_.monotonic());
  return true;
}

bool LeaderElector::leading() const {
  std::lock_guard lock(mu_);
  return renewedAt_ && observed_ && observed_->holder == s_.identity &&
         clock_.monotonic() - *renewedAt_ < s_.renewDeadline;
}

std::string LeaderElector::observedHolder() const {
  std::lock_guard lock(mu_);
  return observed_ ? observed_->holder : "";
}

Json LeaderElector::statusJson() const {
  const bool lead = leading();
  std::lock_guard lock(mu_);
  Json j{{"lease", s_.ns + "/" + s_.name},
         {"identity", s_.identity},
         {"role", lead ? "active" : "standby"},
         {"holder", observed_ ? observed_->holder : ""}};
  if (observed_) {
    j["renew_time"] = observed_->renewTime;
    j["transitions"] = observed_->transitions;
  }
  return j;
}

bool LeaderElector::waitRetry(std::stop_token stop) {
  return clock_.sleepFor(s_.retryPeriod, stop);
}

Status LeaderElector::release(std::stop_token stop) {
  auto got = client_.get(resources::leases(), s_.ns, s_.name, stop);
  if (!got.ok()) return got.error().wrap("reading Lease " + s_.ns + "/" + s_.name);
  LeaseRecord cur = parseLease(*got);
  if (cur.holder != s_.identity) return Status::success();
  LeaseRecord freed;
  freed.leaseDurationSeconds = 1;
  freed.acquireTime = cur.acquireTime;
  freed.renewTime = formatTimeMicros(clock_.now());
  freed.transitions = cur.transitions;
  Json obj = *got;
  obj["spec"] = leaseObject(freed)["spec"];
  auto put = client_.update(resources::leases(), obj, stop);
  if (!put.ok()) return put.error().wrap("releasing Lease " + s_.ns + "/" + s_.name);
  std::lock_guard lock(mu_);
  observed_ = parseLease(*put);
  renewedAt_.reset();
  return Status::success();
}

bool LeaderElector::run(std::stop_token stop,
                        const std::function<void(std::stop_token leading)>& lead) {
  // Candidate: until the Lease is ours or we are told to stop.
  for (;;) {
    if (stop.stop_requested()) return true;
    auto r = tryAcquireOrRenew(stop);
    if (r.ok() && *r) break;
    if (!waitRetry(stop)) return true;
  }
  // Leading: the work runs on its own thread; a renewer keeps the Lease; this thread watches the
  // renew deadline, which holds even when a renewal call hangs.
  std::stop_source leadStop;
  std::atomic<bool> workDone{false};
  std::jthread work([&] {
    lead(leadStop.get_token());
    workDone = true;  // work that ends by itself (it could not start) gives the Lease back
  });
  std::jthread renewer([&](std::stop_token own) {
    while (waitRetry(own)) (void)tryAcquireOrRenew(own);
  });
  bool lost = false;
  const auto step = std::max(std::chrono::milliseconds(10), s_.retryPeriod / 4);
  while (!stop.stop_requested() && !workDone.load()) {
    if (!leading()) {
      lost = true;
      break;
    }
    if (!clock_.sleepFor(step, stop)) break;
  }
  leadStop.request_stop();
  renewer.request_stop();
  renewer.join();
  work.join();
  // The work has stopped: whoever we are now, a Lease still naming us is handed over at once.
  (void)release();
  return !lost;
}

}  // namespace ocpvdr::kube
