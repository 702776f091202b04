// VmControl against a bare kube-sim (no controllers: the test plays the cluster): VMs are halted
// by runStrategy (or spec.running on legacy VMs) and never deleted; start sets the strategy and,
// for Manual, asks the start subresource; waits time out on the injected clock (no real
// sleeping) with a message naming each VM and what to check.
#include <gtest/gtest.h>

#include <atomic>

#include "core/curl_http.h"
#include "failover/vm_control.h"
#include "kube/connect.h"
#include "support/kube_sim_process.h"

namespace ocpvdr::failover {
namespace {

using namespace std::chrono_literals;
using ocpvdr::testing::KubeSimOptions;
using ocpvdr::testing::KubeSimProcess;
using ocpvdr::testing::TempDir;

// Time that jumps forward by whatever is slept: timeouts of minutes pass instantly.
class SteppingClock final : public Clock {
 public:
  SystemTime now() const override { return SystemTime{std::chrono::seconds{1'800'000'000}} + d_; }
  SteadyTime monotonic() const override { return SteadyTime{} + d_; }
  bool sleepFor(std::chrono::nanoseconds d, std::stop_token) override {
    d_ += std::chrono::duration_cast<std::chrono::milliseconds>(d);
    ++sleeps;
    return true;
  }
  std::atomic<int> sleeps{0};

 private:
  std::chrono::milliseconds d_{0};
};

class VmControlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sim = std::make_unique<KubeSimProcess>(KubeSimOptions{.extraArgs = {"--log-requests"}});
    config::KubeAccess access;
    access.kubeconfig = sim->writeKubeconfig((tmp / "kubeconfig").string());
    auto c = kube::connect(access, clock, curlHttpClients());
    ASSERT_TRUE(c.ok()) << c.error().describe();
    conn = std::move(c).value();
    sim->request("POST", "/api/v1/namespaces", R"({"metadata":{"name":"vms"}})");
  }
  void vm(const std::string& name, const Json& specExtra) {
    Json o = {{"apiVersion", "kubevirt.io/v1"},
              {"kind", "VirtualMachine"},
              {"metadata", {{"name", name}, {"namespace", "vms"}}},
              {"spec", {{"template", {{"spec", Json::object()}}}}}};
    o["spec"].update(specExtra);
    auto r = sim->send("POST", "/apis/kubevirt.io/v1/namespaces/vms/virtualmachines", o.dump());
    ASSERT_EQ(r.status, 201) << r.body;
  }
  Json get(const std::string& name) {
    return sim->request("GET", "/apis/kubevirt.io/v1/namespaces/vms/virtualmachines/" + name);
  }

  TempDir tmp;
  SteppingClock clock;
  std::unique_ptr<KubeSimProcess> sim;
  kube::KubeConnection conn;
};

TEST_F(VmControlTest, StopHaltsByRunStrategyAndNeverDeletes) {
  vm("always", {{"runStrategy", "Always"}});
  vm("legacy", {{"running", true}});
  vm("halted", {{"runStrategy", "Halted"}});
  vm("manual", {{"runStrategy", "Manual"}});
  VmControl vmc(*conn.client, clock, 1s);
  auto listed = vmc.list({"vms"});
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 4u);
  std::map<std::string, std::string> before;
  for (const auto& ref : *listed) {
    auto was = vmc.stop(ref, "ocpv-dr");
    ASSERT_TRUE(was.ok()) << was.error().describe();
    before[ref.name] = *was;
  }
  EXPECT_EQ(before["always"], "Always");
  EXPECT_EQ(before["legacy"], "Always");
  EXPECT_EQ(before["halted"], "Halted");
  EXPECT_EQ(before["manual"], "Manual");
  EXPECT_EQ(get("always")["spec"]["runStrategy"], "Halted");
  EXPECT_EQ(get("manual")["spec"]["runStrategy"], "Halted");
  Json legacy = get("legacy");
  EXPECT_EQ(legacy["spec"]["running"], false);
  EXPECT_FALSE(legacy["spec"].contains("runStrategy"));  // never both (admission)
  // Still four VMs, and no DELETE ever reached the server.
  EXPECT_EQ(sim->request("GET", "/apis/kubevirt.io/v1/virtualmachines")["items"].size(), 4u);
  EXPECT_EQ(sim->stderrText().find("kube-sim: DELETE"), std::string::npos) << sim->stderrText();
  // Stopping again changes nothing.
  auto again = vmc.stop({"vms", "always"}, "ocpv-dr");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, "Halted");
}

TEST_F(VmControlTest, StartSetsTheStrategyAndAsksManualVmsToStart) {
  vm("a", {{"running", false}});
  vm("m", {{"runStrategy", "Halted"}});
  VmControl vmc(*conn.client, clock, 1s);
  ASSERT_TRUE(vmc.start({"vms", "a"}, "Always", "ocpv-dr").ok());
  Json a = get("a");
  EXPECT_EQ(a["spec"]["runStrategy"], "Always");
  EXPECT_FALSE(a["spec"].contains("running"));
  ASSERT_TRUE(vmc.start({"vms", "m"}, "Manual", "ocpv-dr").ok());
  Json m = get("m");
  EXPECT_EQ(m["spec"]["runStrategy"], "Manual");
  EXPECT_EQ(m["status"]["stateChangeRequests"][0]["action"], "Start") << m.dump();
  EXPECT_NE(sim->stderrText().find("/virtualmachines/m/start"), std::string::npos);
}

TEST_F(VmControlTest, WaitStoppedTimesOutOnTheClockNamingTheVm) {
  vm("stuck", {{"runStrategy", "Halted"}});
  Json vmi = {{"apiVersion", "kubevirt.io/v1"},
              {"kind", "VirtualMachineInstance"},
              {"metadata", {{"name", "stuck"}, {"namespace", "vms"}}},
              {"spec", Json::object()},
              {"status", {{"phase", "Running"}}}};
  ASSERT_EQ(
      sim->send("POST", "/apis/kubevirt.io/v1/namespaces/vms/virtualmachineinstances", vmi.dump())
          .status,
      201);
  VmControl vmc(*conn.client, clock, 5s);
  auto r = vmc.waitStopped({{"vms", "stuck"}}, 10min);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("vms/stuck"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("10m"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("vm_stop"), std::string::npos);
  EXPECT_GE(clock.sleeps.load(), 120);  // 10 min / 5 s polls, no real waiting
  sim->request("DELETE", "/apis/kubevirt.io/v1/namespaces/vms/virtualmachineinstances/stuck");
  auto ok = vmc.waitStopped({{"vms", "stuck"}}, 10min);
  ASSERT_TRUE(ok.ok()) << ok.error().describe();
  EXPECT_FALSE(ok->front().vmiExists);
}

TEST_F(VmControlTest, WaitReadyExplainsEachVmThatIsNotUp) {
  vm("waiting", {{"runStrategy", "Always"}});
  vm("up", {{"runStrategy", "Always"}});
  Json w = get("waiting");
  w["status"] = {{"printableStatus", "WaitingForVolumeBinding"}, {"ready", false}};
  sim->request("PUT", "/apis/kubevirt.io/v1/namespaces/vms/virtualmachines/waiting/status",
               w.dump());
  Json u = get("up");
  u["status"] = {{"printableStatus", "Running"}, {"ready", true}};
  sim->request("PUT", "/apis/kubevirt.io/v1/namespaces/vms/virtualmachines/up/status", u.dump());
  VmControl vmc(*conn.client, clock, 2s);
  auto r = vmc.waitReady({{"vms", "waiting"}, {"vms", "up"}, {"vms", "gone"}}, 20min);
  ASSERT_FALSE(r.ok());
  const std::string& m = r.error().message;
  EXPECT_NE(m.find("vms/waiting (WaitingForVolumeBinding: its PVCs at DR are not Bound"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("vms/gone (missing at DR"), std::string::npos) << m;
  EXPECT_EQ(m.find("vms/up"), std::string::npos) << m;
  auto ok = vmc.waitReady({{"vms", "up"}}, 20min);
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok->front().ready);
}

}  // namespace
}  // namespace ocpvdr::failover
