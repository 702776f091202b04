// CronScheduler (see scheduler.h).
#include "engine/scheduler.h"

#include <algorithm>

#include "core/json_util.h"
#include "core/log.h"
#include "core/time.h"

namespace ocpvdr::engine {

CronScheduler::CronScheduler(Clock& clock, CronSchedule schedule, Job job,
                             std::chrono::milliseconds maxNap)
    : clock_(clock), schedule_(std::move(schedule)), job_(std::move(job)), maxNap_(maxNap) {}

CronScheduler::~CronScheduler() {
  stop();
}

void CronScheduler::start() {
  if (thread_.joinable()) return;
  thread_ = std::jthread([this](std::stop_token st) { loop(st); });
}

void CronScheduler::stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  thread_.join();
}

std::optional<SystemTime> CronScheduler::nextRun() const {
  std::lock_guard lock(mu_);
  return next_;
}

std::optional<ScheduledRun> CronScheduler::lastRun() const {
  std::lock_guard lock(mu_);
  return last_;
}

void CronScheduler::loop(std::stop_token stop) {
  auto computeNext = [&](SystemTime from) -> std::optional<SystemTime> {
    auto n = schedule_.next(from);
    if (!n.ok()) {
      log::error("schedule: no next run", {{"error", n.error().message}});
      return std::nullopt;
    }
    return *n;
  };
  std::optional<SystemTime> next = computeNext(clock_.now());
  {
    std::lock_guard lock(mu_);
    next_ = next;
  }
  if (next)
    log::info("schedule: next reconcile", {{"at", formatTime(*next)},
                                           {"cron", schedule_.expression().text()},
                                           {"time_zone", schedule_.timeZone()}});
  while (next && !stop.stop_requested()) {
    const SystemTime now = clock_.now();
    if (now < next) {
      auto nap = std::min<std::chrono::nanoseconds>(*next - now, maxNap_);
      (void)clock_.sleepFor(nap, stop);
      continue;
    }
    ScheduledRun run;
    run.scheduledFor = *next;
    run.startedAt = now;
    // Count the fire times this one run stands for (bounded: a long suspend is still one run).
    for (SystemTime t = *next; run.collapsed < 10'000;) {
      auto n = schedule_.next(t);
      if (!n.ok() || *n > now) break;
      t = *n;
      ++run.collapsed;
    }
    if (run.collapsed > 0)
      log::warn("schedule: missed fire times collapsed into one run",
                {{"scheduled_for", formatTime(run.scheduledFor)}, {"collapsed", run.collapsed}});
    {
      std::lock_guard lock(mu_);
      last_ = run;
    }
    inJob_ = true;
    job_(run, stop);
    inJob_ = false;
    ++runs_;
    next = computeNext(run.startedAt);
    std::lock_guard lock(mu_);
    next_ = next;
  }
}

}  // namespace ocpvdr::engine
