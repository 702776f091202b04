// KubeClient retries against kube-sim's injected faults: 429 with Retry-After, a 503/500 error
// rate, bounded attempts, and the create policy (429 retried, 500 not). Retry sleeps go through a
// recording Clock, so the Retry-After arithmetic is checked without waiting for it.
#include <gtest/gtest.h>

#include "core/curl_http.h"
#include "kube/cluster_config.h"
#include "kube/fake_http.h"
#include "kube/kube_client.h"
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
          {"metadata", {{"name", name}}},
          {"spec",
           {{"capacity", {{"storage", "1Gi"}}},
            {"accessModes", {"ReadWriteMany"}},
            {"persistentVolumeReclaimPolicy", "Retain"},
            {"storageClassName", "nfs-dynamic"},
            {"nfs", {{"server", "nfs-primary.example.com"}, {"path", "/exports/ocp/" + name}}}}}};
}

struct RetryTest : ::testing::Test {
  static void SetUpTestSuite() { initHttpGlobal(); }

  KubeSimProcess sim;
  TempDir dir;
  testing::RecordingClock clock;
  std::unique_ptr<CurlHttpClient> http;
  std::unique_ptr<KubeClient> client;

  void SetUp() override { client = makeClient(5); }

  std::unique_ptr<KubeClient> makeClient(int attempts) {
    auto cfg = loadKubeconfig(sim.writeKubeconfig((dir / "kubeconfig").string()));
    EXPECT_TRUE(cfg.ok()) << cfg.error().describe();
    if (!http) http = std::make_unique<CurlHttpClient>(tlsOptionsFor(*cfg));
    KubeClientOptions o;
    o.retry.maxAttempts = attempts;
    o.seed = 3;
    return std::make_unique<KubeClient>(*http, *cfg, clock, o);
  }
};

TEST_F(RetryTest, TooManyRequestsWithRetryAfterIsHonoured) {
  ASSERT_TRUE(client->create(resources::persistentVolumes(), testPv("retry-pv")).ok());
  sim.setFaults({{"errorCount", 3},
                 {"errorCode", 429},
                 {"retryAfterSeconds", 2},
                 {"pathPrefix", "/api/v1/persistentvolumes"}});
  auto got = client->get(resources::persistentVolumes(), "", "retry-pv");
  ASSERT_TRUE(got.ok()) << got.error().describe();
  EXPECT_EQ((*got)["metadata"]["name"], "retry-pv");
  EXPECT_EQ(clock.sleeps(), (std::vector<std::chrono::milliseconds>{2000ms, 2000ms, 2000ms}));
  EXPECT_EQ(client->counters().retries, 3u);

  sim.setFaults({{"errorCount", 2}, {"errorCode", 429}, {"retryAfterSeconds", 1}});
  auto listed = client->listAll(resources::persistentVolumes(), "");
  ASSERT_TRUE(listed.ok()) << listed.error().describe();
  EXPECT_EQ(listed->items.size(), 1u);
  EXPECT_EQ(client->counters().retries, 5u);
}

TEST_F(RetryTest, ErrorRateIsRiddenOutByGetsAndLists) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(
        client->create(resources::persistentVolumes(), testPv("rate-" + std::to_string(i))).ok());
  }
  auto patient = makeClient(10);
  sim.setFaults({{"errorRate", 0.5}, {"errorCode", 503}, {"seed", 11}});
  for (int round = 0; round < 10; ++round) {
    for (int i = 0; i < 5; ++i) {
      auto got = patient->get(resources::persistentVolumes(), "", "rate-" + std::to_string(i));
      ASSERT_TRUE(got.ok()) << got.error().describe();
    }
    auto listed = patient->listAll(resources::persistentVolumes(), "", {.limit = 2});
    ASSERT_TRUE(listed.ok()) << listed.error().describe();
    EXPECT_EQ(listed->items.size(), 5u);
  }
  EXPECT_GT(patient->counters().retries, 10u) << "about half the requests failed";
  sim.setFaults(Json::object());
}

TEST_F(RetryTest, AttemptsAreBounded) {
  auto impatient = makeClient(3);
  sim.setFaults({{"errorCount", 10}, {"errorCode", 500}});
  auto r = impatient->get(resources::persistentVolumes(), "", "anything");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Retryable);
  EXPECT_EQ(statusCode(r.error()), 500);
  EXPECT_EQ(impatient->counters().requests, 3u);
  sim.setFaults(Json::object());
}

TEST_F(RetryTest, CreateIsRetriedOn429ButNotOn500) {
  sim.setFaults({{"errorCount", 1}, {"errorCode", 429}, {"retryAfterSeconds", 1}});
  auto created = client->create(resources::persistentVolumes(), testPv("create-429"));
  ASSERT_TRUE(created.ok()) << created.error().describe();
  EXPECT_EQ(client->counters().requests, 2u);

  sim.setFaults({{"errorCount", 1}, {"errorCode", 500}});
  auto failed = client->create(resources::persistentVolumes(), testPv("create-500"));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(statusCode(failed.error()), 500);
  EXPECT_EQ(client->counters().requests, 3u);
  // The caller repeats it: now it goes through, and a second repeat says AlreadyExists.
  ASSERT_TRUE(client->create(resources::persistentVolumes(), testPv("create-500")).ok());
  auto again = client->create(resources::persistentVolumes(), testPv("create-500"));
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(isAlreadyExists(again.error())) << again.error().describe();
}

}  // namespace
}  // namespace ocpvdr::kube
