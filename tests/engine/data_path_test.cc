// One data path (engine/key_workers.h): a scheduled reconcile pass and a live event for the same
// PV go through one queue, so the PV is never synced by two workers at once, and both are
// processed — the pass waits for a sync that started after it queued the key, the event's id is
// recorded once a sync covered it. Real rsync (local transport), a real catalog, an in-memory
// primary; the per-key handler is the real one, wrapped to count syncs in flight per key and to
// hold the first sync until the other trigger has been queued (events, not sleeps).
#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <map>
#include <mutex>

#include "engine/engine.h"
#include "engine/fake_primary.h"
#include "replication/test_util.h"
#include "support/eventually.h"
#include "support/temp_dir.h"

namespace ocpvdr::engine {
namespace {

namespace fs = std::filesystem;
using testing::localEngineDeps;
using testing::localEngineOptions;
using namespace std::chrono_literals;
using testing::FakePrimary;
using testing::inTreePv;
using testing::localSitesConfig;

// The real per-key reconcile, observed: syncs in flight per key (and the most ever), calls per
// key, and a hold on the next call of one key until release().
class CountingHandler final : public KeyHandler {
 public:
  explicit CountingHandler(KeyHandler& inner) : inner_(inner) {}

  KeyOutcome handle(const std::string& key, const KeyObject& k, const KeySyncOptions& o) override {
    {
      std::unique_lock l(mu_);
      const int now = ++inFlight_[key];
      maxInFlight_[key] = std::max(maxInFlight_[key], now);
      ++calls_[key];
      if (holdKey_ == key) {
        holdKey_.clear();
        held_ = true;
        cv_.notify_all();
        cv_.wait(l, [&] { return !held_; });
      }
    }
    KeyOutcome out = inner_.handle(key, k, o);
    std::lock_guard l(mu_);
    --inFlight_[key];
    cv_.notify_all();
    return out;
  }

  void holdNext(const std::string& key) {
    std::lock_guard l(mu_);
    holdKey_ = key;
  }
  bool waitHeld() {
    std::unique_lock l(mu_);
    return cv_.wait_for(l, 20s, [&] { return held_; });
  }
  void release() {
    {
      std::lock_guard l(mu_);
      held_ = false;
    }
    cv_.notify_all();
  }
  int calls(const std::string& key) {
    std::lock_guard l(mu_);
    return calls_[key];
  }
  int maxInFlight(const std::string& key) {
    std::lock_guard l(mu_);
    return maxInFlight_[key];
  }

 private:
  KeyHandler& inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, int> inFlight_, maxInFlight_, calls_;
  std::string holdKey_;
  bool held_ = false;
};

class DataPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base = fs::canonical(tmp.path());
    cfg = localSitesConfig(base);
    primaryRoot = cfg.primary.exportRoots.front().hostPath;
    auto c = catalog::Catalog::open(cfg.catalog.path);
    ASSERT_TRUE(c.ok()) << c.error().describe();
    cat = std::move(c).value();
    rep = std::make_unique<replication::Replicator>(cfg, runner, clock, *cat, &primary);
    real = std::make_unique<ReplicatorKeyHandler>(
        ReplicatorKeyHandler::Deps{rep.get(), &primary, &primary, nullptr, nullptr, nullptr});
    counting = std::make_unique<CountingHandler>(*real);

    testing::writeRandomFile(primaryRoot / "vol1/disk.img", 64 * 1024, 1);
    pv = inTreePv("pvc-vol1", "nfs-primary", "/exports/ocp/vol1");
    primary.putPv(pv);

    // No cron: the test runs the scheduled job itself (runReconcile "schedule"); a second
    // worker is free to take the key if the queue let it.
    EngineOptions opts = localEngineOptions(base / "reports", 2);
    opts.maintenanceInterval = 0ms;
    EngineDeps deps = localEngineDeps(clock, *cat, *rep, primary, metrics);
    deps.handler = counting.get();
    engine = std::make_unique<Engine>(cfg, deps, opts);
    Status st = engine->start();
    ASSERT_TRUE(st.ok()) << st.error().describe();
  }
  void TearDown() override {
    if (counting) counting->release();
    if (engine) engine->shutdown();
  }

  void liveEvent(const std::string& id) {
    EventPayload ev;
    ev.kind = "PersistentVolume";
    ev.type = "MODIFIED";
    ev.id = id;
    ev.resource = pv;
    ev.name = "pvc-vol1";
    ev.key = key;
    ASSERT_EQ(engine->acceptEvent(ev), Engine::Accepted::Queued);
  }
  // The second trigger reached the queue while the first sync is held: the key is marked to
  // run again (or, were the per-key exclusion gone, a second worker is already in the handler).
  bool secondQueued() {
    auto p = engine->queue().pending();
    return std::find(p.begin(), p.end(), key) != p.end() || counting->calls(key) >= 2;
  }
  const PvRow* row(const ReconcileReport& r) {
    for (const auto& x : r.pvs)
      if (x.pv == "pvc-vol1") return &x;
    return nullptr;
  }

  const std::string key = "pv/pvc-vol1";
  testing::TempDir tmp;
  fs::path base, primaryRoot;
  config::Config cfg;
  RealProcessRunner runner;
  RealClock clock;
  FakePrimary primary;
  MetricsRegistry metrics;
  Json pv;
  std::unique_ptr<catalog::Catalog> cat;
  std::unique_ptr<replication::Replicator> rep;
  std::unique_ptr<ReplicatorKeyHandler> real;
  std::unique_ptr<CountingHandler> counting;
  std::unique_ptr<Engine> engine;
};

TEST_F(DataPathTest, AScheduledPassDuringALiveSyncWaitsAndSyncsThePvAfterIt) {
  counting->holdNext(key);
  liveEvent("vol1-uid:1:MODIFIED");
  ASSERT_TRUE(counting->waitHeld()) << "the live event's sync never started";

  auto pass = std::async(std::launch::async, [&] { return engine->runReconcile("schedule"); });
  ASSERT_TRUE(testing::eventually([&] { return secondQueued(); }, 20s, 2ms))
      << "the scheduled pass never queued the PV";
  counting->release();
  ASSERT_EQ(pass.wait_for(30s), std::future_status::ready);
  const ReconcileReport report = pass.get();

  EXPECT_EQ(counting->maxInFlight(key), 1) << "two syncs of one PV ran at once";
  EXPECT_EQ(counting->calls(key), 2) << "the live event and the pass: one sync each";
  ASSERT_NE(row(report), nullptr);
  // The pass's row is its own sync's, after the live one had copied the data.
  EXPECT_EQ(row(report)->status, "unchanged");
  EXPECT_EQ(report.exitCode(), 0) << report.errorJson().dump();
  EXPECT_TRUE(cat->eventProcessed("vol1-uid:1:MODIFIED").valueOr(false));
}

TEST_F(DataPathTest, ALiveEventDuringAScheduledPassSyncRunsOnceMoreAfterIt) {
  counting->holdNext(key);
  auto pass = std::async(std::launch::async, [&] { return engine->runReconcile("schedule"); });
  ASSERT_TRUE(counting->waitHeld()) << "the pass's sync never started";

  liveEvent("vol1-uid:2:MODIFIED");
  ASSERT_TRUE(testing::eventually([&] { return secondQueued(); }, 20s, 2ms))
      << "the live event never reached the queue";
  counting->release();
  ASSERT_EQ(pass.wait_for(30s), std::future_status::ready);
  const ReconcileReport report = pass.get();
  ASSERT_NE(row(report), nullptr);
  EXPECT_EQ(row(report)->status, "synced");
  EXPECT_EQ(report.exitCode(), 0) << report.errorJson().dump();
  // The event is covered by a sync of its own, after the pass's.
  ASSERT_TRUE(testing::eventually(
      [&] { return cat->eventProcessed("vol1-uid:2:MODIFIED").valueOr(false); }, 20s, 2ms));

  EXPECT_EQ(counting->maxInFlight(key), 1) << "two syncs of one PV ran at once";
  EXPECT_EQ(counting->calls(key), 2) << "the pass and the live event: one sync each";
}

}  // namespace
}  // namespace ocpvdr::engine
