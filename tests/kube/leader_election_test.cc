// kube::LeaderElector against kube-sim's Leases (resourceVersion conflicts like a real API
// server): a race for one Lease has one winner, a standby does not take a Lease that is being
// renewed, takes an abandoned one only after leaseDuration, and a holder cut off from the API
// server stops its work before the standby starts (never two active).
#include "kube/leader_election.h"

#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <mutex>
#include <thread>
#include <vector>

#include "core/curl_http.h"
#include "kube/cluster_config.h"
#include "kube/kube_client.h"
#include "support/eventually.h"
#include "support/kube_sim_process.h"
#include "support/temp_dir.h"

namespace ocpvdr::kube {
namespace {

using namespace std::chrono_literals;
using ocpvdr::testing::KubeSimProcess;
using ocpvdr::testing::TempDir;

// The HTTP seam with a switch: while cut, every request fails like a lost network.
class CuttableHttp final : public HttpClient {
 public:
  explicit CuttableHttp(std::unique_ptr<HttpClient> inner) : inner_(std::move(inner)) {}
  Result<HttpResponse> send(const HttpRequest& req, std::stop_token stop) override {
    if (cut.load()) return retryableError("test: network cut");
    return inner_->send(req, stop);
  }
  std::atomic<bool> cut{false};

 private:
  std::unique_ptr<HttpClient> inner_;
};

struct Candidate {
  std::unique_ptr<CuttableHttp> http;
  std::unique_ptr<KubeClient> client;
  std::unique_ptr<LeaderElector> elector;
};

// What the leading work of each candidate did, on one monotonic timeline.
struct Timeline {
  std::mutex mu;
  int active = 0, maxActive = 0;
  std::vector<std::pair<std::string, SteadyTime>> starts, ends;
  void start(const std::string& who) {
    std::lock_guard l(mu);
    maxActive = std::max(maxActive, ++active);
    starts.emplace_back(who, std::chrono::steady_clock::now());
  }
  void end(const std::string& who) {
    std::lock_guard l(mu);
    --active;
    ends.emplace_back(who, std::chrono::steady_clock::now());
  }
};

struct LeaderElectionTest : ::testing::Test {
  static void SetUpTestSuite() { initHttpGlobal(); }

  KubeSimProcess sim;
  TempDir dir;
  RealClock clock;
  std::optional<ClusterConfig> cfg;

  void SetUp() override {
    auto c = loadKubeconfig(sim.writeKubeconfig((dir / "kubeconfig").string()));
    ASSERT_TRUE(c.ok()) << c.error().describe();
    cfg = *c;
    sim.request(
        "POST", "/api/v1/namespaces",
        Json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "ocpv-dr"}}}}
            .dump());
  }

  Candidate candidate(const std::string& identity, const std::string& lease = "ocpv-dr-serve",
                      std::chrono::milliseconds duration = 2000ms,
                      std::chrono::milliseconds deadline = 1000ms,
                      std::chrono::milliseconds retry = 200ms) {
    Candidate c;
    c.http = std::make_unique<CuttableHttp>(std::make_unique<CurlHttpClient>(tlsOptionsFor(*cfg)));
    KubeClientOptions o;
    o.retry.maxAttempts = 1;
    c.client = std::make_unique<KubeClient>(*c.http, *cfg, clock, o);
    LeaseSettings s;
    s.name = lease;
    s.identity = identity;
    s.leaseDuration = duration;
    s.renewDeadline = deadline;
    s.retryPeriod = retry;
    EXPECT_EQ(validateLeaseSettings(s), "");
    c.elector = std::make_unique<LeaderElector>(*c.client, clock, s);
    return c;
  }

  Json lease(const std::string& name = "ocpv-dr-serve") {
    return sim.request("GET", "/apis/coordination.k8s.io/v1/namespaces/ocpv-dr/leases/" + name);
  }
};

TEST(LeaseSettings, RenewDeadlineMustBeShorterThanTheLease) {
  LeaseSettings s;
  s.identity = "a";
  EXPECT_EQ(validateLeaseSettings(s), "");
  s.renewDeadline = s.leaseDuration;
  EXPECT_NE(validateLeaseSettings(s).find("renew_deadline"), std::string::npos);
  s.renewDeadline = 10s;
  s.retryPeriod = 10s;
  EXPECT_NE(validateLeaseSettings(s).find("retry_period"), std::string::npos);
  s.retryPeriod = 2s;
  s.identity.clear();
  EXPECT_NE(validateLeaseSettings(s).find("identity"), std::string::npos);
}

TEST_F(LeaderElectionTest, ARaceForTheSameLeaseHasExactlyOneWinner) {
  // Fresh Leases (both candidates create) and free ones (both update the same resourceVersion).
  for (int round = 0; round < 8; ++round) {
    const std::string name = "race-" + std::to_string(round);
    if (round % 2 == 1) {
      sim.request("POST", "/apis/coordination.k8s.io/v1/namespaces/ocpv-dr/leases",
                  Json{{"apiVersion", "coordination.k8s.io/v1"},
                       {"kind", "Lease"},
                       {"metadata", {{"name", name}}},
                       {"spec", {{"holderIdentity", ""}, {"leaseDurationSeconds", 1}}}}
                      .dump());
    }
    auto a = candidate("a", name);
    auto b = candidate("b", name);
    std::barrier go(2);
    Result<bool> ra = false, rb = false;
    std::thread ta([&] {
      go.arrive_and_wait();
      ra = a.elector->tryAcquireOrRenew();
    });
    std::thread tb([&] {
      go.arrive_and_wait();
      rb = b.elector->tryAcquireOrRenew();
    });
    ta.join();
    tb.join();
    ASSERT_TRUE(ra.ok()) << ra.error().describe();
    ASSERT_TRUE(rb.ok()) << rb.error().describe();
    EXPECT_NE(*ra, *rb) << "round " << round << ": exactly one candidate may hold the Lease";
    EXPECT_EQ(lease(name)["spec"]["holderIdentity"], *ra ? "a" : "b");
  }
}

TEST_F(LeaderElectionTest,
       AStandbyWaitsWhileTheHolderRenewsAndTakesAnAbandonedLeaseAfterItsDuration) {
  auto a = candidate("a");
  auto b = candidate("b");
  ASSERT_TRUE(*a.elector->tryAcquireOrRenew());
  // Renewed every 200 ms for 3 s (longer than the 2 s lease): b never gets it.
  const auto until = std::chrono::steady_clock::now() + 3s;
  while (std::chrono::steady_clock::now() < until) {
    auto rb = b.elector->tryAcquireOrRenew();
    ASSERT_TRUE(rb.ok()) << rb.error().describe();
    EXPECT_FALSE(*rb);
    ASSERT_TRUE(*a.elector->tryAcquireOrRenew());
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_EQ(lease()["spec"]["holderIdentity"], "a");
  // a dies without releasing. b takes the Lease no sooner than leaseDuration after it last saw
  // the record change, and not much later either.
  const auto lastRenew = std::chrono::steady_clock::now();
  std::optional<std::chrono::steady_clock::time_point> took;
  while (!took && std::chrono::steady_clock::now() < lastRenew + 6s) {
    auto rb = b.elector->tryAcquireOrRenew();
    ASSERT_TRUE(rb.ok()) << rb.error().describe();
    if (*rb) took = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(took) << "the standby never took the abandoned Lease";
  EXPECT_GE(*took - lastRenew, 2000ms - 100ms);
  EXPECT_LE(*took - lastRenew, 2000ms + 3000ms);  // generous: CI machines are loaded
  Json l = lease();
  EXPECT_EQ(l["spec"]["holderIdentity"], "b");
  EXPECT_EQ(l["spec"]["leaseTransitions"], 1);
}

TEST_F(LeaderElectionTest, AHolderCutOffFromTheApiStopsItsWorkBeforeTheStandbyStarts) {
  auto a = candidate("a");
  auto b = candidate("b");
  Timeline tl;
  auto work = [&tl](const std::string& who) {
    return [&tl, who](std::stop_token leading) {
      tl.start(who);
      // Holds on until told to stop (a worker that needs a moment to wind down).
      while (!leading.stop_requested()) std::this_thread::sleep_for(5ms);
      std::this_thread::sleep_for(100ms);
      tl.end(who);
    };
  };
  std::stop_source stopA, stopB;
  std::atomic<int> aResult{-1};
  std::jthread ra([&] { aResult = a.elector->run(stopA.get_token(), work("a")) ? 1 : 0; });
  ASSERT_TRUE(ocpvdr::testing::eventually([&] { return a.elector->leading(); }, 5s, 10ms));
  std::jthread rb([&] { (void)b.elector->run(stopB.get_token(), work("b")); });
  std::this_thread::sleep_for(1s);
  EXPECT_FALSE(b.elector->leading());

  a.http->cut = true;  // a can no longer renew (nor release)
  ASSERT_TRUE(ocpvdr::testing::eventually([&] { return b.elector->leading(); }, 10s, 10ms))
      << "the standby never took over";
  ASSERT_TRUE(ocpvdr::testing::eventually([&] { return aResult.load() != -1; }, 5s, 10ms));
  EXPECT_EQ(aResult.load(), 0) << "a's run() must report that it lost the Lease";
  stopB.request_stop();
  rb.join();

  std::lock_guard l(tl.mu);
  EXPECT_EQ(tl.maxActive, 1) << "two candidates were active at once";
  ASSERT_EQ(tl.starts.size(), 2u);
  ASSERT_GE(tl.ends.size(), 1u);
  EXPECT_EQ(tl.ends[0].first, "a");
  EXPECT_EQ(tl.starts[1].first, "b");
  EXPECT_LT(tl.ends[0].second, tl.starts[1].second) << "b started before a had stopped";
}

TEST_F(LeaderElectionTest, AStoppedHolderReleasesAndTheStandbyTakesOverAtOnce) {
  auto a = candidate("a", "ocpv-dr-serve", 10000ms, 5000ms, 200ms);
  auto b = candidate("b", "ocpv-dr-serve", 10000ms, 5000ms, 200ms);
  // Work that lasts until leadership ends (work that returns by itself gives the Lease back).
  auto work = [](std::stop_token leading) {
    while (!leading.stop_requested()) std::this_thread::sleep_for(5ms);
  };
  std::stop_source stopA, stopB;
  std::jthread ra([&] { (void)a.elector->run(stopA.get_token(), work); });
  ASSERT_TRUE(ocpvdr::testing::eventually([&] { return a.elector->leading(); }, 5s, 10ms));
  std::jthread rb([&] { (void)b.elector->run(stopB.get_token(), work); });
  std::this_thread::sleep_for(500ms);
  EXPECT_FALSE(b.elector->leading());
  const auto stopped = std::chrono::steady_clock::now();
  stopA.request_stop();
  ra.join();
  EXPECT_EQ(lease()["spec"]["holderIdentity"], "");
  ASSERT_TRUE(ocpvdr::testing::eventually([&] { return b.elector->leading(); }, 5s, 10ms));
  // Well inside the 10 s lease: the release handed it over.
  EXPECT_LT(std::chrono::steady_clock::now() - stopped, 3s);
  stopB.request_stop();
}

}  // namespace
}  // namespace ocpvdr::kube
