// The forwarder's ClusterRole (deploy/forwarder/clusterrole.yaml) against kube-sim with RBAC on:
// the forwarder runs with its ServiceAccount's identity, bound by the shipped ClusterRoleBinding.
// The shipped role is enough (every change arrives, /readyz is 200); each verb it grants is
// needed (a role without it makes the forwarder report the 403 on /readyz and in its log), so the
// role (list and watch; the deploy test checks it holds nothing else) is exactly what it needs.
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "forwarder_process.h"
#include "support/kube_sim_process.h"
#include "support/temp_dir.h"
#include "support/webhook_receiver.h"

namespace ocpvdr::testing {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

constexpr const char* kToken = "webhook-token-1";
constexpr const char* kHmac = "hmac-secret-1";
constexpr const char* kSa = "system:serviceaccount:ocpv-dr:ocpv-dr-forwarder";
constexpr const char* kSaToken = "forwarder-sa-token";
constexpr const char* kRbac = "/apis/rbac.authorization.k8s.io/v1";
constexpr const char* kSnaps = "/apis/snapshot.storage.k8s.io/v1";

std::string readText(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

Json without(const Json& verbs, const std::string& verb) {
  Json out = Json::array();
  for (const auto& v : verbs) {
    if (v != verb) out.push_back(v);
  }
  return out;
}

KubeSimOptions rbacSim() {
  KubeSimOptions o;
  o.extraArgs = {"--rbac", "--token-user", std::string(kSaToken) + "=" + kSa};
  return o;
}

void expectOk(const KubeSimResponse& r, const std::string& what) {
  ASSERT_TRUE(r.status == 200 || r.status == 201) << what << ": " << r.status << " " << r.body;
}

class ForwarderRbac : public ::testing::Test {
 protected:
  void SetUp() override {
    WebhookReceiver::Options o;
    o.token = kToken;
    o.hmacSecret = kHmac;
    rx_ = std::make_unique<WebhookReceiver>(o);
    rx_->start();
    // The forwarder's kubeconfig carries the ServiceAccount's token, not kube-sim's admin token.
    std::string kc = readText(sim_.writeKubeconfig((dir_ / "admin-kubeconfig").string()));
    const std::string adminLine = "token: " + sim_.token();
    ASSERT_NE(kc.find(adminLine), std::string::npos) << kc;
    kc.replace(kc.find(adminLine), adminLine.size(), std::string("token: ") + kSaToken);
    cfg_.kubeconfig = dir_.write("kubeconfig", kc).string();
    cfg_.webhookUrl = rx_->url();
    cfg_.tokenFile = dir_.write("secrets/token", std::string(kToken) + "\n").string();
    cfg_.hmacSecretFile = dir_.write("secrets/hmac", kHmac).string();
    cfg_.spoolDir = (dir_ / "spool").string();
    cfg_.clusterName = "site-a";
    expectOk(sim_.send("POST", "/api/v1/namespaces", Json{{"metadata", {{"name", "vms"}}}}.dump()),
             "namespace");
  }

  // The shipped role and binding, posted as the YAML files deploy/ holds; `edit` changes the
  // role's rules before the binding makes them count.
  void installRole(const std::function<void(Json& rules)>& edit = {}) {
    expectOk(sim_.send("POST", std::string(kRbac) + "/clusterroles",
                       readText(sourcePath("deploy/forwarder/clusterrole.yaml").string()),
                       "application/yaml"),
             "clusterrole");
    if (edit) {
      auto role = sim_.send("GET", std::string(kRbac) + "/clusterroles/ocpv-dr-forwarder").json();
      edit(role["rules"]);
      expectOk(
          sim_.send("PUT", std::string(kRbac) + "/clusterroles/ocpv-dr-forwarder", role.dump()),
          "edited clusterrole");
    }
    expectOk(sim_.send("POST", std::string(kRbac) + "/clusterrolebindings",
                       readText(sourcePath("deploy/forwarder/clusterrolebinding.yaml").string()),
                       "application/yaml"),
             "clusterrolebinding");
  }

  std::unique_ptr<ForwarderProcess> startForwarder() {
    const std::string cfgPath = dir_.write("config.yaml", forwarderConfigYaml(cfg_)).string();
    return std::make_unique<ForwarderProcess>(cfgPath, (dir_ / "forwarder.log").string(), 30s);
  }

  void createPv(const std::string& name) {
    Json pv = {{"apiVersion", "v1"},
               {"kind", "PersistentVolume"},
               {"metadata", {{"name", name}}},
               {"spec",
                {{"capacity", {{"storage", "1Gi"}}},
                 {"accessModes", {"ReadWriteMany"}},
                 {"storageClassName", "nfs-dynamic"},
                 {"nfs", {{"server", "nfs.example.com"}, {"path", "/exports/" + name}}}}}};
    expectOk(sim_.send("POST", "/api/v1/persistentvolumes", pv.dump()), "pv " + name);
  }

  void createSnap(const std::string& name) {
    Json s = {{"apiVersion", "snapshot.storage.k8s.io/v1"},
              {"kind", "VolumeSnapshot"},
              {"metadata", {{"name", name}, {"namespace", "vms"}}},
              {"spec", {{"source", {{"persistentVolumeClaimName", "pvc-" + name}}}}}};
    expectOk(sim_.send("POST", std::string(kSnaps) + "/namespaces/vms/volumesnapshots", s.dump()),
             "snapshot " + name);
  }

  bool received(const std::string& name) const {
    for (const auto& r : rx_->accepted()) {
      if (r.json.is_object() && r.json["resource"]["metadata"]["name"] == name) return true;
    }
    return false;
  }

  // Polls /readyz until `pred(status, body)` holds or 30 s pass; the last answer.
  std::pair<int, std::string> waitReadyz(ForwarderProcess& f,
                                         const std::function<bool(int, const std::string&)>& pred) {
    auto r = f.get("/readyz");
    for (int i = 0; i < 300 && !pred(r.first, r.second); ++i) {
      std::this_thread::sleep_for(100ms);
      r = f.get("/readyz");
    }
    return r;
  }

  TempDir dir_{"forwarder-rbac"};
  KubeSimProcess sim_{rbacSim()};
  std::unique_ptr<WebhookReceiver> rx_;
  ForwarderConfig cfg_;
};

TEST_F(ForwarderRbac, ShippedClusterRoleIsEnough) {
  installRole();
  createPv("pv-before");
  createSnap("snap-before");
  auto fwd = startForwarder();
  auto ready = waitReadyz(*fwd, [](int code, const std::string&) { return code == 200; });
  ASSERT_EQ(ready.first, 200) << ready.second << fwd->logText();
  createPv("pv-after");
  createSnap("snap-after");
  ASSERT_TRUE(rx_->waitFor(
      [&] {
        return received("pv-before") && received("snap-before") && received("pv-after") &&
               received("snap-after");
      },
      60s))
      << fwd->logText();
  EXPECT_EQ(fwd->logText().find("forbidden"), std::string::npos) << fwd->logText();
  EXPECT_EQ(fwd->signal(SIGTERM), 0);
}

struct Removed {
  std::string group, resource, verb;
};

class ForwarderRbacMissingVerb : public ForwarderRbac,
                                 public ::testing::WithParamInterface<Removed> {};

TEST_P(ForwarderRbacMissingVerb, FailsWithAClear403) {
  const Removed m = GetParam();
  installRole([&](Json& rules) {
    for (auto& r : rules) {
      if (r["resources"][0] == m.resource) r["verbs"] = without(r["verbs"], m.verb);
    }
  });
  createPv("pv-1");
  createSnap("snap-1");
  auto fwd = startForwarder();
  const std::string denied = "cannot " + m.verb + " resource \"" + m.resource +
                             "\" in API group \"" + m.group + "\" at the cluster scope";
  // /readyz names the refused watch and the Status message of the 403.
  auto ready = waitReadyz(*fwd, [&](int code, const std::string& body) {
    return code == 503 && body.find(denied) != std::string::npos;
  });
  EXPECT_EQ(ready.first, 503) << ready.second;
  EXPECT_NE(ready.second.find("refused by the API server"), std::string::npos) << ready.second;
  EXPECT_NE(ready.second.find(denied), std::string::npos) << ready.second;
  // The gauge follows /readyz (a scrape on a loaded machine may fail once: poll it).
  double gauge = fwd->metric("ocpvdr_forwarder_ready");
  for (int i = 0; i < 100 && gauge != 0; ++i) {
    std::this_thread::sleep_for(100ms);
    gauge = fwd->metric("ocpvdr_forwarder_ready");
  }
  EXPECT_EQ(gauge, 0) << fwd->metricsText();
  // The log says why, in the same words.
  const std::string log = fwd->logText();
  EXPECT_NE(log.find("forbidden (the credentials lack RBAC permission)"), std::string::npos) << log;
  // The log is JSON: the Status message appears with its quotes escaped.
  std::string escaped = Json(std::string("User \"") + kSa + "\" " + denied).dump();
  escaped = escaped.substr(1, escaped.size() - 2);
  EXPECT_NE(log.find(escaped), std::string::npos) << log;
  EXPECT_EQ(fwd->signal(SIGTERM), 0);
}

INSTANTIATE_TEST_SUITE_P(
    EachGrantedVerb, ForwarderRbacMissingVerb,
    ::testing::Values(Removed{"snapshot.storage.k8s.io", "volumesnapshots", "watch"},
                      Removed{"snapshot.storage.k8s.io", "volumesnapshots", "list"},
                      Removed{"", "persistentvolumes", "watch"},
                      Removed{"", "persistentvolumes", "list"}),
    [](const ::testing::TestParamInfo<Removed>& p) {
      return std::string(p.param.resource == "persistentvolumes" ? "Pv" : "Snapshot") + "Without" +
             (p.param.verb == "watch" ? "Watch" : "List");
    });

}  // namespace
}  // namespace ocpvdr::testing
