// KeyWorkers on a ManualClock with a recording handler: a pass waits for its keys' syncs, a live
// change still pending wins over the pass's listed object (a listed object never replaces a
// pending DELETED tombstone), a stopped pass starts nothing.
#include "engine/key_workers.h"

#include <gtest/gtest.h>

#include <mutex>
#include <utility>
#include <vector>

namespace ocpvdr::engine {
namespace {

using namespace std::chrono_literals;

class RecordingHandler final : public KeyHandler {
 public:
  KeyOutcome handle(const std::string& key, const KeyObject& k, const KeySyncOptions&) override {
    std::lock_guard l(mu);
    seen.emplace_back(key, k.type);
    KeyOutcome out;
    out.ok = true;
    out.action = k.type == "DELETED" ? "delete" : "sync";
    out.result = k.type == "DELETED" ? "quarantined" : "synced";
    return out;
  }
  std::vector<std::pair<std::string, std::string>> calls() {
    std::lock_guard l(mu);
    return seen;
  }
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> seen;
};

class KeyWorkersTest : public ::testing::Test {
 protected:
  KeyWorkersTest() {
    KeyWorkersOptions o;
    o.workers = 2;
    workers =
        std::make_unique<KeyWorkers>(cfg, KeyWorkersDeps{&clock, &handler, nullptr, nullptr}, o);
    workers->start();
  }
  static KeyObject listed(const std::string& name) {
    return {"PersistentVolume", "", Json{{"metadata", {{"name", name}}}}};
  }

  ManualClock clock;
  config::Config cfg;
  RecordingHandler handler;
  std::unique_ptr<KeyWorkers> workers;
};

TEST_F(KeyWorkersTest, APassWaitsForASyncOfEveryKeyItQueued) {
  std::vector<PassKey> keys;
  for (int i = 0; i < 20; ++i) keys.push_back({"pv/v" + std::to_string(i), listed("v")});
  int done = 0;
  auto r = workers->runPass(keys, 0ms, {}, [&](const std::string&, const KeyOutcome&) { ++done; });
  EXPECT_FALSE(r.interrupted);
  EXPECT_EQ(r.outcomes.size(), 20u);
  EXPECT_EQ(done, 20);
  EXPECT_EQ(handler.calls().size(), 20u);
  EXPECT_EQ(workers->stats().syncsStarted, 20u);
}

TEST_F(KeyWorkersTest, APendingLiveChangeIsNewerThanThePassesListedObject) {
  // A DELETED tombstone accepted and waiting for its settle delay (the clock never moves).
  ASSERT_TRUE(workers->offer("pv/a",
                             {"PersistentVolume", "DELETED", Json{{"metadata", {{"name", "a"}}}}},
                             "a:9:DELETED", 10s));
  auto r = workers->runPass({{"pv/a", listed("a")}, {"pv/b", listed("b")}}, 0ms, {});
  ASSERT_EQ(r.outcomes.size(), 2u);
  EXPECT_EQ(r.outcomes["pv/a"].action, "delete") << "the listed object replaced the tombstone";
  auto calls = handler.calls();
  std::sort(calls.begin(), calls.end());
  EXPECT_EQ(calls,
            (std::vector<std::pair<std::string, std::string>>{{"pv/a", "DELETED"}, {"pv/b", ""}}));
  EXPECT_TRUE(workers->unfinished().empty()) << "the tombstone's sync finished the live change";
}

TEST_F(KeyWorkersTest, AStoppedPassStartsNothing) {
  std::stop_source stop;
  stop.request_stop();
  auto r = workers->runPass({{"pv/a", listed("a")}}, 0ms, stop.get_token());
  EXPECT_TRUE(r.interrupted);
  EXPECT_TRUE(r.outcomes.empty());
  workers->shutDown();
  workers->join();
  EXPECT_TRUE(handler.calls().empty());
}

}  // namespace
}  // namespace ocpvdr::engine
