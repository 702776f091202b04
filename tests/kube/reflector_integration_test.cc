// The reflector against kube-sim under churn: four writer threads create 1,000 PersistentVolumes
// and modify and delete them while kube-sim cuts every watch after 300 events, and in the middle
// the watch position is compacted away (410) so the reflector must re-list and diff. At the end
// the reflector's view equals the server's list (names and resourceVersions) and every deletion
// was reported, live or by the re-list diff.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "core/curl_http.h"
#include "core/log.h"
#include "kube/cluster_config.h"
#include "kube/kube_client.h"
#include "kube/reflector.h"
#include "support/kube_sim_process.h"
#include "support/temp_dir.h"

namespace ocpvdr::kube {
namespace {

using namespace std::chrono_literals;
using ocpvdr::testing::KubeSimProcess;
using ocpvdr::testing::TempDir;

Json testPv(const std::string& name) {
  return {{"apiVersion", "v1"},
          {"kind", "PersistentVolume"},
          {"metadata", {{"name", name}, {"labels", {{"gen", "0"}}}}},
          {"spec",
           {{"capacity", {{"storage", "10Gi"}}},
            {"accessModes", {"ReadWriteMany"}},
            {"persistentVolumeReclaimPolicy", "Delete"},
            {"storageClassName", "nfs-dynamic"},
            {"nfs", {{"server", "nfs-primary.example.com"}, {"path", "/exports/ocp/" + name}}}}}};
}

// What the reflector reported, as the test sees it.
class Observed {
 public:
  void record(WatchEventType type, const Json& obj, bool fromRelist) {
    const std::string name = obj["metadata"]["name"];
    std::lock_guard lock(mu_);
    last_[name] = type;
    if (type == WatchEventType::Deleted) {
      deleted_.insert(name);
      if (fromRelist) deletedByRelist_.insert(name);
      seen_.erase(name);
    } else {
      seen_.insert(name);
    }
    ++events_;
  }
  bool seen(const std::string& name) const {
    std::lock_guard lock(mu_);
    return seen_.count(name) != 0;
  }
  std::set<std::string> deleted() const {
    std::lock_guard lock(mu_);
    return deleted_;
  }
  std::set<std::string> deletedByRelist() const {
    std::lock_guard lock(mu_);
    return deletedByRelist_;
  }
  std::map<std::string, WatchEventType> last() const {
    std::lock_guard lock(mu_);
    return last_;
  }
  std::size_t events() const {
    std::lock_guard lock(mu_);
    return events_;
  }

 private:
  mutable std::mutex mu_;
  std::set<std::string> seen_, deleted_, deletedByRelist_;
  std::map<std::string, WatchEventType> last_;
  std::size_t events_ = 0;
};

// Holds the reflector's handler (and so its watch stream) while the test rearranges the server.
class Gate {
 public:
  void pass() {
    std::unique_lock lock(mu_);
    if (!closed_) return;
    blocked_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return !closed_; });
    blocked_ = false;
  }
  void close() {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  bool waitBlocked(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return blocked_; });
  }
  void open() {
    std::lock_guard lock(mu_);
    closed_ = false;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool closed_ = false, blocked_ = false;
};

std::map<std::string, std::string> serverView(KubeSimProcess& sim) {
  std::map<std::string, std::string> out;
  Json list = sim.request("GET", "/api/v1/persistentvolumes");
  for (const auto& it : list["items"]) {
    out[it["metadata"]["name"]] = it["metadata"]["resourceVersion"];
  }
  return out;
}

TEST(ReflectorChurn, ViewMatchesServerAndEveryDeletionIsReported) {
  initHttpGlobal();
  KubeSimProcess sim;
  TempDir dir;
  auto cfg = loadKubeconfig(sim.writeKubeconfig((dir / "kubeconfig").string()));
  ASSERT_TRUE(cfg.ok()) << cfg.error().describe();
  CurlHttpClient http(tlsOptionsFor(*cfg));
  RealClock clock;
  KubeClient client(http, *cfg, clock);

  // Test-owned PVs deleted while the reflector is disconnected: only the re-list can report them.
  const int kGap = 5;
  for (int i = 0; i < kGap; ++i) {
    ASSERT_TRUE(
        client.create(resources::persistentVolumes(), testPv("gap-" + std::to_string(i))).ok());
  }
  sim.setFaults({{"closeWatchesAfterEvents", 300}});

  Observed observed;
  Gate gate;
  ReflectorOptions ro;
  ro.pageSize = 100;
  ro.watchTimeoutMin = 4s;  // server-side watch timeouts happen during the run too
  ro.watchTimeoutMax = 8s;
  ro.backoffInitial = 20ms;
  ro.backoffMax = 500ms;
  ro.seed = 1234;
  Reflector reflector(client, clock, resources::persistentVolumes(), ro,
                      [&](WatchEventType t, const Json& obj, bool fromRelist) {
                        gate.pass();
                        observed.record(t, obj, fromRelist);
                      });
  std::jthread reflectorThread([&](std::stop_token st) { reflector.run(st); });
  std::atomic<bool> abandon{false};
  // Destroyed before the threads are joined: a failed assertion must not leave the reflector held
  // in the gate or the writers waiting for it.
  struct Release {
    Gate& gate;
    std::atomic<bool>& abandon;
    ~Release() {
      abandon = true;
      gate.open();
    }
  };
  for (int i = 0; i < 3000 && !reflector.hasSynced(); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(reflector.hasSynced());
  for (int i = 0; i < kGap; ++i) ASSERT_TRUE(observed.seen("gap-" + std::to_string(i)));

  // Writers: each creates 250 PVs, modifies them and deletes ones the reflector has reported.
  constexpr int kWriters = 4, kPerWriter = 250, kDeletesPerWriter = 100;
  std::mutex deletedMu;
  std::set<std::string> deletedByTest;
  std::atomic<int> writeErrors{0}, progress{0};
  auto writer = [&](int w) {
    std::mt19937 rng(static_cast<unsigned>(w) + 17);
    std::vector<std::string> live;
    int created = 0, deleted = 0, gen = 0;
    while ((created < kPerWriter || deleted < kDeletesPerWriter) && !abandon) {
      const int dice = static_cast<int>(rng() % 100);
      if (created < kPerWriter && (dice < 50 || live.empty())) {
        std::string name = "w" + std::to_string(w) + "-" + std::to_string(created++);
        if (!client.create(resources::persistentVolumes(), testPv(name)).ok()) ++writeErrors;
        live.push_back(name);
      } else if (dice < 75 || deleted >= kDeletesPerWriter) {
        if (live.empty()) continue;
        const std::string& name = live[rng() % live.size()];
        Json patch = {{"metadata", {{"labels", {{"gen", std::to_string(++gen)}}}}}};
        if (!client.mergePatch(resources::persistentVolumes(), "", name, patch).ok()) ++writeErrors;
      } else {
        // Only objects the reflector has reported can have their deletion reported.
        std::vector<std::size_t> candidates;
        for (std::size_t i = 0; i < live.size(); ++i) {
          if (observed.seen(live[i])) candidates.push_back(i);
        }
        if (candidates.empty()) {
          std::this_thread::sleep_for(1ms);
          continue;
        }
        const std::size_t pick = candidates[rng() % candidates.size()];
        const std::string name = live[pick];
        if (!client.remove(resources::persistentVolumes(), "", name).ok()) ++writeErrors;
        live.erase(live.begin() + static_cast<std::ptrdiff_t>(pick));
        ++deleted;
        std::lock_guard lock(deletedMu);
        deletedByTest.insert(name);
      }
      ++progress;
    }
  };
  std::vector<std::jthread> writers;
  for (int w = 0; w < kWriters; ++w) writers.emplace_back(writer, w);
  Release release{gate, abandon};

  // Mid-run: hold the reflector inside an event, end its watch, change the server, compact the
  // history past the watch position, then let it go: its re-watch gets 410 and it must re-list.
  while (progress.load() < 600 && writeErrors.load() == 0) std::this_thread::sleep_for(5ms);
  gate.close();
  ASSERT_TRUE(gate.waitBlocked(10s)) << "the reflector received no event to hold";
  sim.closeWatches();
  for (int i = 0; i < kGap; ++i) {
    ASSERT_TRUE(client.remove(resources::persistentVolumes(), "", "gap-" + std::to_string(i)).ok());
    std::lock_guard lock(deletedMu);
    deletedByTest.insert("gap-" + std::to_string(i));
  }
  std::this_thread::sleep_for(20ms);  // writers keep going meanwhile
  sim.compact();
  gate.open();

  for (auto& t : writers) t.join();
  EXPECT_EQ(writeErrors.load(), 0);

  // Converge: the reflector's view must equal the server's list.
  std::map<std::string, std::string> server, view;
  for (int i = 0; i < 600; ++i) {
    server = serverView(sim);
    view = reflector.knownVersions();
    if (server == view) break;
    std::this_thread::sleep_for(100ms);
  }
  reflectorThread.request_stop();
  reflectorThread.join();

  EXPECT_EQ(server.size(), static_cast<std::size_t>(kWriters * (kPerWriter - kDeletesPerWriter)));
  ASSERT_EQ(view, server) << "reflector view (" << view.size() << ") != server list ("
                          << server.size() << ")";

  const auto reportedDeleted = observed.deleted();
  std::size_t missing = 0;
  for (const auto& name : deletedByTest) {
    if (reportedDeleted.count(name) == 0) {
      ++missing;
      ADD_FAILURE() << "deletion of " << name << " was never reported";
    }
  }
  EXPECT_EQ(missing, 0u);
  EXPECT_EQ(deletedByTest.size(), static_cast<std::size_t>(kWriters * kDeletesPerWriter + kGap));
  for (const auto& name : reportedDeleted) {
    EXPECT_TRUE(deletedByTest.count(name)) << name << " reported deleted but was not";
  }
  const auto byRelist = observed.deletedByRelist();
  for (int i = 0; i < kGap; ++i) {
    EXPECT_TRUE(byRelist.count("gap-" + std::to_string(i)))
        << "gap-" << i << " was deleted while disconnected: the re-list diff must report it";
  }
  for (const auto& [name, type] : observed.last()) {
    EXPECT_EQ(type == WatchEventType::Deleted, server.count(name) == 0) << name;
  }

  const auto c = reflector.counters();
  EXPECT_GE(c.expired, 1u);
  EXPECT_GE(c.relists, 1u);
  // kube-sim cuts every watch after 300 events; how many events a watch carries depends on how
  // much the re-list absorbed, so only "several" is certain.
  EXPECT_GE(c.watchRestarts, 3u);
  EXPECT_EQ(c.skipped, 0u);
  std::cout << "reflector churn: events=" << observed.events() << " lists=" << c.lists
            << " relists=" << c.relists << " watches=" << c.watches
            << " restarts=" << c.watchRestarts << " expired=" << c.expired << " errors=" << c.errors
            << " deletedByRelist=" << byRelist.size() << " finalObjects=" << server.size() << "\n";
}

}  // namespace
}  // namespace ocpvdr::kube
