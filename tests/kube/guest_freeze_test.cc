// kube::GuestFreeze against kube-sim (its VMI freeze model: tools/kube-sim/guest_freeze.h): the
// freeze/unfreeze round trip, the refusals a caller falls back to crash-consistent on (no guest
// agent, not running), the thaw failure that leaves the guest frozen, and an unreachable API.
#include "kube/guest_freeze.h"

#include <gtest/gtest.h>

#include "core/curl_http.h"
#include "kube/cluster_config.h"
#include "support/eventually.h"
#include "support/kube_sim_process.h"
#include "support/temp_dir.h"

namespace ocpvdr::kube {
namespace {

using namespace std::chrono_literals;
using ocpvdr::testing::KubeSimOptions;
using ocpvdr::testing::KubeSimProcess;
using ocpvdr::testing::TempDir;

constexpr const char* kVmis = "/apis/kubevirt.io/v1/namespaces/demo/virtualmachineinstances/";

KubeSimOptions withKubevirt() {
  KubeSimOptions o;
  o.extraArgs = {"--controller",         "kubevirt",
                 "--controller-option",  "kubevirt.start-delay-ms=0",
                 "--controller-tick-ms", "50"};
  return o;
}

struct GuestFreezeTest : ::testing::Test {
  static void SetUpTestSuite() { initHttpGlobal(); }

  KubeSimProcess sim{withKubevirt()};
  TempDir dir;
  RealClock clock;
  std::unique_ptr<CurlHttpClient> http;
  std::unique_ptr<KubeClient> client;
  std::unique_ptr<GuestFreeze> freezer;

  void SetUp() override {
    auto cfg = loadKubeconfig(sim.writeKubeconfig((dir / "kubeconfig").string()));
    ASSERT_TRUE(cfg.ok()) << cfg.error().describe();
    http = std::make_unique<CurlHttpClient>(tlsOptionsFor(*cfg));
    KubeClientOptions o;
    o.retry.maxAttempts = 2;
    o.retry.initialBackoff = 10ms;
    client = std::make_unique<KubeClient>(*http, *cfg, clock, o);
    freezer = std::make_unique<GuestFreeze>(*client);
    sim.request(
        "POST", "/api/v1/namespaces",
        Json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "demo"}}}}.dump());
  }

  void startVm(const std::string& name) {
    Json vm = {{"apiVersion", "kubevirt.io/v1"},
               {"kind", "VirtualMachine"},
               {"metadata", {{"name", name}, {"namespace", "demo"}}},
               {"spec", {{"runStrategy", "Always"}, {"template", {{"spec", Json::object()}}}}}};
    ASSERT_EQ(
        sim.send("POST", "/apis/kubevirt.io/v1/namespaces/demo/virtualmachines", vm.dump()).status,
        201);
    ASSERT_TRUE(ocpvdr::testing::eventually(
        [&] {
          auto r = sim.send("GET", kVmis + name);
          return r.status == 200 && r.json()["status"].value("phase", "") == "Running";
        },
        10s, 10ms));
  }
  Json vmi(const std::string& name) { return sim.request("GET", kVmis + name); }
  void setAgent(const std::string& name, bool connected) {
    sim.admin("POST", "/admin/guest-agent",
              {{"namespace", "demo"}, {"name", name}, {"connected", connected}});
  }
};

TEST(GuestFreezeVmi, AgentConnectedAndBlockerAreReadFromTheVmiStatus) {
  Json vmi = {{"status",
               {{"phase", "Running"},
                {"conditions",
                 {{{"type", "Ready"}, {"status", "True"}},
                  {{"type", "AgentConnected"}, {"status", "True"}}}}}}};
  EXPECT_TRUE(agentConnected(vmi));
  EXPECT_EQ(freezeBlocker(vmi), "");
  vmi["status"]["conditions"][1]["status"] = "False";
  EXPECT_FALSE(agentConnected(vmi));
  EXPECT_NE(freezeBlocker(vmi).find("guest agent"), std::string::npos);
  vmi["status"]["phase"] = "Scheduling";
  EXPECT_NE(freezeBlocker(vmi).find("not running"), std::string::npos);
  EXPECT_FALSE(agentConnected(Json::object()));
  EXPECT_EQ(fsFreezeStatus(Json{{"status", {{"fsFreezeStatus", "frozen"}}}}), "frozen");
  EXPECT_EQ(fsFreezeStatus(Json::object()), "");
}

TEST_F(GuestFreezeTest, FreezeThenUnfreeze) {
  ASSERT_NO_FATAL_FAILURE(startVm("db"));
  auto st = freezer->freeze("demo", "db", 30s);
  ASSERT_TRUE(st.ok()) << st.error().describe();
  EXPECT_EQ(fsFreezeStatus(vmi("db")), "frozen");
  // KubeVirt got the timeout as a Go duration in whole seconds.
  EXPECT_NEAR(sim.admin("GET", "/admin/guest-agent")["pendingThaws"]["demo/db"].get<double>(), 30,
              2);
  st = freezer->unfreeze("demo", "db");
  ASSERT_TRUE(st.ok()) << st.error().describe();
  EXPECT_EQ(fsFreezeStatus(vmi("db")), "");
  EXPECT_TRUE(freezer->unfreeze("demo", "db").ok());  // thawing a thawed guest is fine
}

TEST_F(GuestFreezeTest, NoGuestAgentIsRefusedWithoutCallingFreeze) {
  ASSERT_NO_FATAL_FAILURE(startVm("db"));
  setAgent("db", false);
  auto st = freezer->freeze("demo", "db", 30s);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind, ErrorKind::Refused);
  EXPECT_NE(st.error().message.find("no qemu guest agent is connected"), std::string::npos)
      << st.error().message;
  Json stats = sim.admin("GET", "/admin/guest-agent");
  EXPECT_EQ(stats["freezes"], 0);
  EXPECT_EQ(stats["failedFreezes"], 0);  // the PUT was never sent
}

TEST_F(GuestFreezeTest, MissingVmiIsNotFoundAndZeroTimeoutIsInvalid) {
  auto st = freezer->freeze("demo", "gone", 30s);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind, ErrorKind::NotFound) << st.error().describe();
  st = freezer->freeze("demo", "gone", 0s);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind, ErrorKind::Invalid);
}

TEST_F(GuestFreezeTest, AgentFailuresAreRetryableAndAFailedThawSaysTheGuestStaysFrozen) {
  ASSERT_NO_FATAL_FAILURE(startVm("db"));
  sim.setFaults({{"freezeErrorCount", 1}});
  auto st = freezer->freeze("demo", "db", 30s);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind, ErrorKind::Retryable) << st.error().describe();
  EXPECT_NE(st.error().message.find("the guest is not frozen"), std::string::npos);
  EXPECT_EQ(fsFreezeStatus(vmi("db")), "");

  ASSERT_TRUE(freezer->freeze("demo", "db", 30s).ok());
  sim.setFaults({{"unfreezeErrorCount", 1}});
  st = freezer->unfreeze("demo", "db");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind, ErrorKind::Retryable);
  EXPECT_NE(st.error().message.find("STAYS FROZEN"), std::string::npos) << st.error().message;
  EXPECT_EQ(fsFreezeStatus(vmi("db")), "frozen");
  ASSERT_TRUE(freezer->unfreeze("demo", "db").ok());  // the retry thaws
  EXPECT_EQ(fsFreezeStatus(vmi("db")), "");
}

TEST_F(GuestFreezeTest, UnreachableApiIsRetryable) {
  ASSERT_NO_FATAL_FAILURE(startVm("db"));
  ASSERT_EQ(sim.stop(), 0);
  auto st = freezer->freeze("demo", "db", 30s);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind, ErrorKind::Retryable) << st.error().describe();
  st = freezer->unfreeze("demo", "db");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind, ErrorKind::Retryable) << st.error().describe();
  EXPECT_NE(st.error().message.find("may still be frozen"), std::string::npos)
      << st.error().message;
}

}  // namespace
}  // namespace ocpvdr::kube
