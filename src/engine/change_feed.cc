// serve's change feed (see change_feed.h).
#include "engine/change_feed.h"

#include <algorithm>
#include <random>

#include "core/log.h"
#include "core/time.h"
#include "extent/watch.h"
#include "replication/path_map.h"

namespace ocpvdr::engine {

using extent::WatchRecord;
using namespace std::chrono_literals;

ChangeFeedOptions ChangeFeedOptions::fromConfig(const config::Config& cfg) {
  ChangeFeedOptions o;
  for (const auto& r : cfg.primary.exportRoots)
    if (!r.hostPath.empty() &&
        std::find(o.roots.begin(), o.roots.end(), r.hostPath) == o.roots.end())
      o.roots.push_back(r.hostPath);
  o.settle = cfg.replication.watch.settle;
  o.cap = cfg.replication.watch.cap;
  return o;
}

ChangeFeed::ListReplicas ChangeFeed::activeReplicas(catalog::Catalog& catalog) {
  return [&catalog]() -> Result<std::vector<std::pair<std::string, std::string>>> {
    OCPVDR_ASSIGN_OR_RETURN(auto rows, catalog.replicas());
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& r : rows)
      if (r.state == "active" && !r.primaryHostPath.empty())
        out.emplace_back(r.primaryHostPath, r.pv);
    return out;
  };
}

ChangeFeed::ChangeFeed(ChangeFeedOptions opts, Clock& clock, ProcessRunner& runner,
                       replication::Replicator& replicator, ListReplicas list, OnChange onChange)
    : opts_(std::move(opts)),
      clock_(clock),
      runner_(runner),
      replicator_(replicator),
      list_(std::move(list)),
      onChange_(std::move(onChange)),
      stats_(opts_.roots.size()),
      lastRecord_(opts_.roots.size()) {}

ChangeFeed::~ChangeFeed() {
  stop();
}

void ChangeFeed::start() {
  if (!threads_.empty()) return;
  for (std::size_t i = 0; i < opts_.roots.size(); ++i)
    threads_.emplace_back([this, i](std::stop_token st) { run(i, st); });
}

void ChangeFeed::stop() {
  for (auto& t : threads_) t.request_stop();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

ChangeFeed::RootStats ChangeFeed::rootStats(std::size_t i) const {
  std::lock_guard l(mu_);
  return stats_.at(i);
}

bool ChangeFeed::trusted() const {
  std::lock_guard l(mu_);
  return !stats_.empty() &&
         std::all_of(stats_.begin(), stats_.end(), [](const RootStats& s) { return s.trusted; });
}

Json ChangeFeed::status() const {
  std::lock_guard l(mu_);
  Json roots = Json::array();
  for (std::size_t i = 0; i < stats_.size(); ++i) {
    const RootStats& s = stats_[i];
    Json r{{"root", opts_.roots[i]}, {"state", s.state},     {"trusted", s.trusted},
           {"sessions", s.sessions}, {"changes", s.changes}, {"rescans", s.rescans},
           {"records", s.records}};
    if (!s.backend.empty()) r["backend"] = s.backend;
    if (!s.lastError.empty()) r["last_error"] = s.lastError;
    if (s.lastRecordAt) r["last_record_at"] = formatTime(*s.lastRecordAt);
    if (s.upSince) r["up_since"] = formatTime(*s.upSince);
    roots.push_back(std::move(r));
  }
  return Json{{"enabled", true},
              {"settle_ms", opts_.settle.count()},
              {"cap_ms", opts_.cap.count()},
              {"roots", roots}};
}

std::vector<std::string> ChangeFeed::pvsUnder(const std::string& prefix, bool refreshOnMiss,
                                              bool force) {
  auto lookup = [&] {
    std::vector<std::string> out;
    for (auto it = std::lower_bound(index_.begin(), index_.end(),
                                    std::pair<std::string, std::string>{prefix, {}});
         it != index_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it)
      if (replication::isUnder(it->first, prefix)) out.push_back(it->second);
    return out;
  };
  const SteadyTime now = clock_.monotonic();
  std::vector<std::string> found;
  {
    std::lock_guard l(mu_);
    const bool old = force || !indexAt_ || now - *indexAt_ > 60s;
    if (!old) found = lookup();
    const bool mayRefresh = old || (refreshOnMiss && found.empty() && now - *indexAt_ > 5s);
    if (!mayRefresh) return found;
  }
  auto rows = list_();
  // A rescan must not come to nothing because the catalog was busy for a moment.
  for (int attempt = 0; force && !rows.ok() && attempt < 20; ++attempt) {
    (void)clock_.sleepFor(250ms);
    rows = list_();
  }
  if (!rows.ok()) {
    log::warn("change feed: cannot read the replicas", {{"error", rows.error().message}});
    std::lock_guard l(mu_);
    return lookup();
  }
  std::sort(rows->begin(), rows->end());
  std::lock_guard l(mu_);
  index_ = std::move(*rows);
  indexAt_ = now;
  return lookup();
}

void ChangeFeed::rescan(std::size_t i, const std::string& why, SystemTime since) {
  const auto pvs = pvsUnder(opts_.roots[i], false, true);
  {
    std::lock_guard l(mu_);
    ++stats_[i].rescans;
  }
  log::info("change feed: rescan",
            {{"root", opts_.roots[i]}, {"reason", why}, {"pvs", pvs.size()}});
  for (const auto& pv : pvs) onChange_(pv, since, why);
}

void ChangeFeed::handleLine(std::size_t i, std::string_view line) {
  auto rec = extent::parseWatchRecord(line);
  if (!rec) {
    if (!line.empty()) log::warn("change feed: unknown line", {{"line", std::string(line)}});
    return;
  }
  {
    std::lock_guard l(mu_);
    lastRecord_[i] = clock_.monotonic();
    stats_[i].lastRecordAt = clock_.now();
    ++stats_[i].records;
  }
  switch (rec->type) {
    case WatchRecord::Type::Ready: {
      std::lock_guard l(mu_);
      stats_[i].backend = rec->backend;
      stats_[i].state = "up";
      stats_[i].upSince = clock_.now();
      stats_[i].lastError.clear();
      break;
    }
    case WatchRecord::Type::Rescan:
      // The watcher's marks are in place before it says "start": from here on its silence
      // means "nothing changed".
      rescan(i, "rescan-" + rec->reason, clock_.now());
      if (rec->reason == "start") {
        std::lock_guard l(mu_);
        stats_[i].trusted = true;
      }
      break;
    case WatchRecord::Type::Changed: {
      const std::string& root = opts_.roots[i];
      const auto pvs = pvsUnder(root + (root.back() == '/' ? "" : "/") + rec->pvdir, true);
      {
        std::lock_guard l(mu_);
        ++stats_[i].changes;
      }
      const SystemTime since = fromEpochNanos(rec->timeNs);
      for (const auto& pv : pvs) onChange_(pv, since, "changed");
      break;
    }
    case WatchRecord::Type::Heartbeat:
      break;
  }
}

void ChangeFeed::run(std::size_t i, std::stop_token stop) {
  const std::string& root = opts_.roots[i];
  std::mt19937_64 rng(std::random_device{}());
  int failures = 0;
  while (!stop.stop_requested()) {
    {
      std::lock_guard l(mu_);
      stats_[i].state = "connecting";
      ++stats_[i].sessions;
    }
    auto argv = replicator_.primaryMoverArgv({"watch", "--root", root, "--settle",
                                              std::to_string(opts_.settle.count()), "--cap",
                                              std::to_string(opts_.cap.count()), "--heartbeat",
                                              std::to_string(opts_.heartbeat.count())});
    std::string error;
    bool wasUp = false;
    if (argv.ok()) {
      ProcessSpec spec;
      spec.argv = *argv;
      spec.maxCapture = 64 * 1024;
      spec.killGrace = 2s;
      spec.onStdoutLine = [this, i](std::string_view l) { handleLine(i, l); };
      std::stop_source session;
      std::stop_callback outer(stop, [&] { session.request_stop(); });
      {
        std::lock_guard l(mu_);
        lastRecord_[i] = clock_.monotonic();
      }
      // A stalled channel (no record for 3 heartbeats) ends the session like a dead one.
      std::jthread watchdog([&](std::stop_token wst) {
        while (clock_.sleepFor(opts_.heartbeat, wst)) {
          std::lock_guard l(mu_);
          if (clock_.monotonic() - lastRecord_[i] > 3 * opts_.heartbeat) {
            log::warn("change feed: no record for 3 heartbeats; ending the session",
                      {{"root", root}});
            session.request_stop();
            return;
          }
        }
      });
      auto r = runner_.run(spec, session.get_token());
      watchdog.request_stop();
      watchdog.join();
      if (!r.ok())
        error = r.error().message;
      else
        error = r->stopped ? "session ended (stopped or stalled)"
                           : "the watcher exited " +
                                 (r->signaled ? "on signal " + std::to_string(r->termSignal)
                                              : std::to_string(r->exitCode)) +
                                 (r->err.empty() ? "" : ": " + r->err.substr(0, 500));
      std::lock_guard l(mu_);
      wasUp = stats_[i].state == "up";
    } else {
      error = argv.error().message;
    }
    {
      std::lock_guard l(mu_);
      stats_[i].state = "down";
      stats_[i].trusted = false;
      stats_[i].lastError = error;
      stats_[i].upSince.reset();
    }
    if (stop.stop_requested()) break;
    log::warn("change feed: channel down; rescanning the root and reconnecting",
              {{"root", root}, {"error", error}});
    // Changes the watcher had folded but not yet reported, and any until the next watcher's
    // marks are in place: the whole root (its "rescan start" covers the rest).
    if (wasUp) rescan(i, "channel-lost", clock_.now());
    failures = wasUp ? 1 : failures + 1;
    if (!clock_.sleepFor(opts_.reconnect.delay(failures, rng), stop)) break;
  }
}

}  // namespace ocpvdr::engine
