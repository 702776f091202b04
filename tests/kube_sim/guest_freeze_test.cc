// kube-sim's VMI freeze/unfreeze subresources against the kube-sim binary (issue 17, item 5): the
// guest agent is required, status.fsFreezeStatus follows, the automatic thaw after unfreezeTimeout
// is seen on a watch of the VMI, injected agent failures, and RBAC on the subresources.
// The upstream behaviour modelled is named in tools/kube-sim/guest_freeze.h.
#include <gtest/gtest.h>

#include "sim_test_util.h"
#include "support/eventually.h"

namespace kubesim_test {
namespace {

using ocpvdr::testing::KubeSimOptions;
using ocpvdr::testing::KubeSimResponse;

constexpr const char* kVmis = "/apis/kubevirt.io/v1/namespaces/demo/virtualmachineinstances";
constexpr const char* kSub =
    "/apis/subresources.kubevirt.io/v1/namespaces/demo/"
    "virtualmachineinstances/";
constexpr const char* kVirtHandlerFailed =
    "Internal error occurred: unexpected return code 400 (400 Bad Request)";

KubeSimOptions withKubevirt(const std::string& startDelayMs = "0") {
  KubeSimOptions o;
  o.extraArgs = {"--controller",         "kubevirt",
                 "--controller-option",  "kubevirt.start-delay-ms=" + startDelayMs,
                 "--controller-tick-ms", "50"};
  return o;
}

KubeSimResponse freeze(const KubeSimProcess& sim, const std::string& name,
                       const std::string& timeout) {
  return sim.send("PUT", std::string(kSub) + name + "/freeze",
                  json{{"unfreezeTimeout", timeout}}.dump());
}
KubeSimResponse unfreeze(const KubeSimProcess& sim, const std::string& name) {
  return sim.send("PUT", std::string(kSub) + name + "/unfreeze");
}

json vmiOf(KubeSimProcess& sim, const std::string& name) {
  return sim.request("GET", std::string(kVmis) + "/" + name);
}
std::string freezeStatus(KubeSimProcess& sim, const std::string& name) {
  return vmiOf(sim, name)["status"].value("fsFreezeStatus", "");
}

// A VM with runStrategy Always whose VMI the kubevirt controller brings to Running (and shows
// AgentConnected True); returns once it is so.
void startVm(KubeSimProcess& sim, const std::string& name) {
  if (sim.send("GET", "/api/v1/namespaces/demo").status != 200) createNamespace(sim, "demo");
  ASSERT_EQ(sim.send("POST", "/apis/kubevirt.io/v1/namespaces/demo/virtualmachines",
                     vm("demo", name, "Always").dump())
                .status,
            201);
  ASSERT_TRUE(ocpvdr::testing::eventually(
      [&] {
        auto r = sim.send("GET", std::string(kVmis) + "/" + name);
        return r.status == 200 && r.json()["status"].value("phase", "") == "Running";
      },
      10s, 10ms))
      << "VMI " << name << " never became Running";
}

TEST(KubeSimGuestFreeze, FreezeNeedsTheGuestAgentAndShowsFrozenUntilUnfreeze) {
  KubeSimProcess sim(withKubevirt());
  ASSERT_NO_FATAL_FAILURE(startVm(sim, "db"));
  ASSERT_TRUE(ocpvdr::testing::eventually([&] {
    return vmiOf(sim, "db")["status"]["conditions"].dump().find("AgentConnected") !=
           std::string::npos;
  }));

  // No agent: virt-handler fails, virt-api answers 500 without its message.
  sim.admin("POST", "/admin/guest-agent",
            {{"namespace", "demo"}, {"name", "db"}, {"connected", false}});
  auto r = freeze(sim, "db", "30s");
  EXPECT_EQ(r.status, 500) << r.body;
  EXPECT_EQ(r.json()["reason"], "InternalError");
  EXPECT_EQ(r.json()["message"], kVirtHandlerFailed);
  EXPECT_EQ(freezeStatus(sim, "db"), "");

  sim.admin("POST", "/admin/guest-agent",
            {{"namespace", "demo"}, {"name", "db"}, {"connected", true}});
  r = freeze(sim, "db", "30s");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(freezeStatus(sim, "db"), "frozen");

  r = unfreeze(sim, "db");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(vmiOf(sim, "db")["status"].contains("fsFreezeStatus"));  // thawed: field removed

  json stats = sim.admin("GET", "/admin/guest-agent");
  EXPECT_EQ(stats["freezes"], 1);
  EXPECT_EQ(stats["thaws"], 1);
  EXPECT_EQ(stats["failedFreezes"], 1);
  EXPECT_EQ(stats["timeoutThaws"], 0);
  EXPECT_TRUE(stats["pendingThaws"].empty());
  EXPECT_NE(sim.stderrText().find("kube-sim: guest-agent: demo/db frozen"), std::string::npos);
}

TEST(KubeSimGuestFreeze, RequestErrorsAreVirtApis) {
  KubeSimProcess sim(withKubevirt());
  ASSERT_NO_FATAL_FAILURE(startVm(sim, "db"));
  // A missing VMI: 404 naming virtualmachineinstance.kubevirt.io.
  auto r = freeze(sim, "nope", "30s");
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(r.json()["message"], "virtualmachineinstance.kubevirt.io \"nope\" not found");
  // No unfreezeTimeout, or one Go cannot parse: virt-handler's 400, seen as virt-api's 500.
  r = sim.send("PUT", std::string(kSub) + "db/freeze", "{}");
  EXPECT_EQ(r.status, 500) << r.body;
  EXPECT_EQ(r.json()["message"], kVirtHandlerFailed);
  EXPECT_EQ(freeze(sim, "db", "5 minutes").status, 500);
  EXPECT_EQ(freezeStatus(sim, "db"), "");
  // GET is not served.
  EXPECT_EQ(sim.send("GET", std::string(kSub) + "db/freeze").status, 405);
}

TEST(KubeSimGuestFreeze, NotRunningIsAConflict) {
  KubeSimProcess sim(withKubevirt("600000"));  // VMIs stay Scheduling
  createNamespace(sim, "demo");
  ASSERT_EQ(sim.send("POST", "/apis/kubevirt.io/v1/namespaces/demo/virtualmachines",
                     vm("demo", "slow", "Always").dump())
                .status,
            201);
  ASSERT_TRUE(ocpvdr::testing::eventually(
      [&] { return sim.send("GET", std::string(kVmis) + "/slow").status == 200; }));
  auto r = freeze(sim, "slow", "30s");
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(r.json()["message"],
            "Operation cannot be fulfilled on virtualmachineinstance.kubevirt.io \"slow\": VM is "
            "not running");
  r = unfreeze(sim, "slow");
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(r.json()["message"],
            "Operation cannot be fulfilled on virtualmachineinstance.kubevirt.io \"slow\": VMI is "
            "not running");
}

TEST(KubeSimGuestFreeze, UnfreezeTimeoutThawsByItselfSeenOnAWatch) {
  KubeSimProcess sim(withKubevirt());
  ASSERT_NO_FATAL_FAILURE(startVm(sim, "db"));
  const std::string rv = vmiOf(sim, "db")["metadata"]["resourceVersion"];
  WatchClient w(sim, std::string(kVmis) + "?watch=true&resourceVersion=" + rv);
  ASSERT_TRUE(waitForWatchers(sim, 1));
  const auto frozenAt = std::chrono::steady_clock::now();
  ASSERT_EQ(freeze(sim, "db", "1s").status, 200);
  EXPECT_GT(sim.admin("GET", "/admin/guest-agent")["pendingThaws"]["demo/db"].get<double>(), 0.5);

  bool sawFrozen = false, sawThawed = false;
  while (auto e = w.nextNonBookmark(5000ms)) {
    const json& st = (*e)["object"]["status"];
    if (st.value("fsFreezeStatus", "") == "frozen") sawFrozen = true;
    if (sawFrozen && !st.contains("fsFreezeStatus")) {
      sawThawed = true;
      break;
    }
  }
  ASSERT_TRUE(sawThawed) << sim.stderrText();
  EXPECT_GE(std::chrono::steady_clock::now() - frozenAt, 1s);  // not before the timeout
  json stats = sim.admin("GET", "/admin/guest-agent");
  EXPECT_EQ(stats["timeoutThaws"], 1);
  EXPECT_EQ(stats["thaws"], 1);
  EXPECT_NE(sim.stderrText().find("thawed (unfreezeTimeout elapsed"), std::string::npos);
}

TEST(KubeSimGuestFreeze, SubSecondTimeoutMeansNoAutomaticThawAndRefreezeKeepsTheFirstTimer) {
  KubeSimProcess sim(withKubevirt());
  ASSERT_NO_FATAL_FAILURE(startVm(sim, "db"));
  // "500ms" is 0 whole seconds: upstream schedules no automatic thaw.
  ASSERT_EQ(freeze(sim, "db", "500ms").status, 200);
  EXPECT_TRUE(sim.admin("GET", "/admin/guest-agent")["pendingThaws"].empty());
  ASSERT_EQ(unfreeze(sim, "db").status, 200);

  // Freezing a frozen guest succeeds and leaves the first automatic thaw alone.
  ASSERT_EQ(freeze(sim, "db", "1h").status, 200);
  ASSERT_EQ(freeze(sim, "db", "1s").status, 200);
  EXPECT_GT(sim.admin("GET", "/admin/guest-agent")["pendingThaws"]["demo/db"].get<double>(), 3000);
  EXPECT_EQ(sim.admin("GET", "/admin/guest-agent")["freezes"], 2);
}

TEST(KubeSimGuestFreeze, InjectedAgentFailures) {
  KubeSimProcess sim(withKubevirt());
  ASSERT_NO_FATAL_FAILURE(startVm(sim, "db"));
  // The next freeze fails in the agent: 500, guest thawed; the one after works.
  sim.setFaults({{"freezeErrorCount", 1}});
  auto r = freeze(sim, "db", "1h");
  EXPECT_EQ(r.status, 500) << r.body;
  EXPECT_EQ(freezeStatus(sim, "db"), "");
  ASSERT_EQ(freeze(sim, "db", "1h").status, 200);
  EXPECT_EQ(freezeStatus(sim, "db"), "frozen");

  // A failing unfreeze leaves the guest frozen AND cancels the automatic thaw (manager.go
  // UnfreezeVMI cancels first): only a later unfreeze thaws it.
  sim.setFaults({{"unfreezeErrorCount", 1}});
  r = unfreeze(sim, "db");
  EXPECT_EQ(r.status, 500) << r.body;
  EXPECT_EQ(r.json()["message"], kVirtHandlerFailed);
  EXPECT_EQ(freezeStatus(sim, "db"), "frozen");
  json stats = sim.admin("GET", "/admin/guest-agent");
  EXPECT_TRUE(stats["pendingThaws"].empty());
  EXPECT_EQ(stats["failedUnfreezes"], 1);
  EXPECT_EQ(stats["failedFreezes"], 1);
  EXPECT_EQ(sim.admin("GET", "/admin/faults")["unfreezeErrorCount"], 0);  // used up
  ASSERT_EQ(unfreeze(sim, "db").status, 200);
  EXPECT_EQ(freezeStatus(sim, "db"), "");
}

TEST(KubeSimGuestFreeze, RbacOnTheFreezeSubresourcesIsUpdate) {
  KubeSimOptions o = withKubevirt();
  o.extraArgs.insert(o.extraArgs.end(), {"--rbac", "--token-user", "freezer-token=freezer"});
  KubeSimProcess sim(o);
  ASSERT_NO_FATAL_FAILURE(startVm(sim, "db"));
  // As upstream's kubevirt.io:edit: subresources.kubevirt.io virtualmachineinstances/freeze and
  // /unfreeze, verb update. This role grants freeze only.
  ASSERT_EQ(sim.send("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/demo/roles",
                     json{{"apiVersion", "rbac.authorization.k8s.io/v1"},
                          {"kind", "Role"},
                          {"metadata", {{"name", "freezer"}, {"namespace", "demo"}}},
                          {"rules",
                           {{{"apiGroups", {"subresources.kubevirt.io"}},
                             {"resources", {"virtualmachineinstances/freeze"}},
                             {"verbs", {"update"}}}}}}
                         .dump())
                .status,
            201);
  ASSERT_EQ(sim.send("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/demo/rolebindings",
                     json{{"apiVersion", "rbac.authorization.k8s.io/v1"},
                          {"kind", "RoleBinding"},
                          {"metadata", {{"name", "freezer"}, {"namespace", "demo"}}},
                          {"roleRef",
                           {{"apiGroup", "rbac.authorization.k8s.io"},
                            {"kind", "Role"},
                            {"name", "freezer"}}},
                          {"subjects", {{{"kind", "User"}, {"name", "freezer"}}}}}
                         .dump())
                .status,
            201);
  const std::map<std::string, std::string> asFreezer = {{"Authorization", "Bearer freezer-token"}};
  auto r = sim.send("PUT", std::string(kSub) + "db/freeze", R"({"unfreezeTimeout":"1h"})",
                    "application/json", asFreezer);
  EXPECT_EQ(r.status, 200) << r.body;
  r = sim.send("PUT", std::string(kSub) + "db/unfreeze", "", "application/json", asFreezer);
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_NE(r.body.find("virtualmachineinstances/unfreeze"), std::string::npos) << r.body;
}

}  // namespace
}  // namespace kubesim_test
