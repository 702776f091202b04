// CronScheduler: runs one job (the reconcile) on a CronSchedule, on its own thread.
//
// Missed runs are not stacked. The thread naps in short steps (at most `maxNap`, so a wall-clock
// jump — a suspend/resume, an NTP step — is noticed soon) and compares the wall clock with the
// next fire time. When it wakes late, however many fire times went by (a suspend, a run that
// took longer than the interval), the job runs once, now; the next fire time is then computed
// from that run's start, so a run that outlasted its interval is followed by exactly one more
// run straight away, not one per missed fire time. Runs never overlap.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>

#include "core/clock.h"
#include "engine/cron.h"

namespace ocpvdr::engine {

struct ScheduledRun {
  SystemTime scheduledFor;  // the (earliest missed) fire time this run stands for
  SystemTime startedAt;
  int collapsed = 0;  // further fire times that went by and are covered by this run
};

class CronScheduler {
 public:
  using Job = std::function<void(const ScheduledRun&, std::stop_token)>;

  CronScheduler(Clock& clock, CronSchedule schedule, Job job,
                std::chrono::milliseconds maxNap = std::chrono::seconds(60));
  ~CronScheduler();
  CronScheduler(const CronScheduler&) = delete;
  CronScheduler& operator=(const CronScheduler&) = delete;

  void start();
  // Requests stop (a running job sees its stop token) and joins the thread.
  void stop();

  std::optional<SystemTime> nextRun() const;
  std::optional<ScheduledRun> lastRun() const;
  int runs() const { return runs_.load(); }
  bool running() const { return inJob_.load(); }
  const CronSchedule& schedule() const { return schedule_; }

 private:
  void loop(std::stop_token stop);

  Clock& clock_;
  CronSchedule schedule_;
  Job job_;
  std::chrono::milliseconds maxNap_;
  mutable std::mutex mu_;
  std::optional<SystemTime> next_;
  std::optional<ScheduledRun> last_;
  std::atomic<int> runs_{0};
  std::atomic<bool> inJob_{false};
  std::jthread thread_;
};

}  // namespace ocpvdr::engine
