// Two `ocpv-dr serve` processes with server.leader_election against kube-sim's Leases (issue 16,
// active/standby): the second waits as a standby (no listener, no ready file), takes over when
// the active one is killed — within the lease duration — and runs a takeover reconcile; SIGTERM
// of the active one releases the Lease.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>

#include "config/config.h"
#include "core/curl_http.h"
#include "core/files.h"
#include "core/process.h"
#include "replication/test_util.h"
#include "support/cli_run.h"
#include "support/eventually.h"
#include "support/kube_sim_process.h"
#include "support/spawned.h"
#include "support/temp_dir.h"

namespace ocpvdr::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kLease =
    "/apis/coordination.k8s.io/v1/namespaces/ocpv-dr/leases/ocpv-dr-serve";

class ServeStandbyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { initHttpGlobal(); }

  void SetUp() override {
    base = fs::canonical(tmp.path());
    sim.request(
        "POST", "/api/v1/namespaces",
        Json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "ocpv-dr"}}}}
            .dump());
    bin = binaryPath("src/cli/ocpv-dr").string();
  }

  // One instance: its own catalog and state (docs/serve.md "Active and standby").
  std::string writeConfig(const std::string& id) {
    fs::path dir = base / id;
    fs::create_directories(dir);
    config::Config cfg = localSitesConfig(dir);
    const std::string kubeconfig = sim.writeKubeconfig((dir / "kubeconfig").string());
    cfg.primary.kubernetes.kubeconfig = kubeconfig;
    cfg.dr.kubernetes.kubeconfig = kubeconfig;
    cfg.replication.storageClasses = {"nfs-dynamic"};
    cfg.server.listen = "127.0.0.1:0";
    cfg.server.tokenFile = tmp.write(id + "-token", "standby-t0ken\n").string();
    cfg.schedule.enabled = false;
    auto& le = cfg.server.leaderElection;
    le.enabled = true;
    le.identity = id;
    le.leaseDuration = 3000ms;
    le.renewDeadline = 2000ms;
    le.retryPeriod = 300ms;
    const std::string path = (dir / "config.yaml").string();
    std::ofstream(path) << config::toJson(cfg).dump(2);
    return path;
  }

  struct Instance {
    std::unique_ptr<Spawned> proc;
    fs::path ready, log;
  };

  Instance start(const std::string& id) {
    Instance in;
    in.ready = base / (id + ".url");
    in.log = base / (id + ".log");
    in.proc = std::make_unique<Spawned>(
        std::vector<std::string>{bin, "-c", writeConfig(id), "--log-format", "json", "serve",
                                 "--ready-file", in.ready.string()},
        in.log.string());
    return in;
  }

  static std::string logOf(const Instance& in) { return readFile(in.log.string()).valueOr(""); }

  Json lease() { return sim.request("GET", kLease); }

  TempDir tmp;
  KubeSimProcess sim;
  fs::path base;
  std::string bin;
};

TEST_F(ServeStandbyTest, TheStandbyTakesOverWhenTheActiveDiesAndNeverListensBefore) {
  auto a = start("serve-a");
  ASSERT_TRUE(eventually([&] { return fs::exists(a.ready); }, 60s, 20ms)) << logOf(a);
  EXPECT_EQ(lease()["spec"]["holderIdentity"], "serve-a");

  auto b = start("serve-b");
  // The standby has read the Lease held by a (its log says so) and did not start serving.
  ASSERT_TRUE(
      eventually([&] { return logOf(b).find("standby, waiting") != std::string::npos; }, 30s, 20ms))
      << logOf(b);
  // Several retry periods later a is still the holder and b still has no listener.
  const std::string rv = lease()["metadata"]["resourceVersion"];
  ASSERT_TRUE(eventually([&] { return lease()["metadata"]["resourceVersion"] != rv; }, 5s, 20ms));
  EXPECT_EQ(lease()["spec"]["holderIdentity"], "serve-a");
  EXPECT_FALSE(fs::exists(b.ready)) << logOf(b);

  // The active one dies without a word: b takes over within the lease duration (+ retries).
  const auto killed = std::chrono::steady_clock::now();
  ::kill(a.proc->pid(), SIGKILL);
  EXPECT_EQ(a.proc->wait(10s), 128 + SIGKILL);
  ASSERT_TRUE(eventually([&] { return fs::exists(b.ready); }, 15s, 20ms)) << logOf(b);
  const auto tookOver = std::chrono::steady_clock::now() - killed;
  EXPECT_LT(tookOver, 3000ms + 3000ms) << "much longer than the lease duration and its retries";
  Json l = lease();
  EXPECT_EQ(l["spec"]["holderIdentity"], "serve-b");
  EXPECT_EQ(l["spec"]["leaseTransitions"], 1);

  // /v1/status of the new active one says what it is; its takeover pass ran.
  std::string url = readFile(b.ready.string()).valueOr("");
  url.erase(url.find_last_not_of("\n") + 1);
  CurlHttpClient http;
  HttpRequest req;
  req.method = "GET";
  req.url = url + "/v1/status";
  req.headers = {{"Authorization", "Bearer standby-t0ken"}};
  auto r = http.send(req);
  ASSERT_TRUE(r.ok() && r->status == 200) << (r.ok() ? r->body : r.error().message) << logOf(b);
  Json st = Json::parse(r->body);
  EXPECT_EQ(st["leader_election"]["role"], "active") << st.dump();
  EXPECT_EQ(st["leader_election"]["identity"], "serve-b");
  EXPECT_TRUE(eventually([&] { return logOf(b).find("takeover") != std::string::npos; }, 30s, 50ms))
      << logOf(b);

  // SIGTERM: workers stop, the Lease is handed back (empty holder), exit 0.
  EXPECT_EQ(b.proc->stop(), 0) << logOf(b);
  EXPECT_EQ(lease()["spec"]["holderIdentity"], "");
}

}  // namespace
}  // namespace ocpvdr::testing
