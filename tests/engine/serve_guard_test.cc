// `ocpv-dr serve` as a real process against what an unauthenticated peer can send, and the
// one-instance rule; plus the product binary's lack of test hooks (docs/security.md):
//   - chunked, length-less and gzip-bomb bodies to /v1/events without a token are answered
//     413/415 while still arriving, serve's peak RSS (VmHWM) stays within a few MiB of idle, and
//     the next good event is accepted;
//   - a second serve on the same catalog exits 3 naming the first one's PID;
//   - ocpv-dr ignores OCPVDR_FAKE_NOW / OCPVDR_FAILOVER_CRASH (not even their names are in the
//     binary); the test build ocpv-dr-testhooks obeys them.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "config/config.h"
#include "core/curl_http.h"
#include "core/files.h"
#include "core/process.h"
#include "replication/test_util.h"
#include "support/cli_run.h"
#include "support/eventually.h"
#include "support/kube_sim_process.h"
#include "support/raw_http.h"
#include "support/spawned.h"
#include "support/temp_dir.h"

extern char** environ;

namespace ocpvdr::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Peak resident set (VmHWM) of `pid` in KiB, -1 when unreadable.
long peakRssKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

// `bytes` zeros, gzip-compressed (about a thousandth of the size).
std::string gzipBomb(std::size_t bytes) {
  ProcessSpec spec;
  spec.argv = {"/bin/sh", "-c", "head -c " + std::to_string(bytes) + " /dev/zero | gzip -9 -c"};
  spec.timeout = 120s;
  spec.maxCapture = 16 << 20;
  RealProcessRunner runner;
  auto r = runner.run(spec);
  EXPECT_TRUE(r.ok() && r->exitCode == 0);
  return r.ok() ? r->out : "";
}

class ServeGuardTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { initHttpGlobal(); }

  void SetUp() override {
    base = fs::canonical(tmp.path());
    cfg = localSitesConfig(base);
    primaryRoot = cfg.primary.exportRoots.front().hostPath;
    drRoot = cfg.dr.exportRoots.front().hostPath;
    cfg.primary.kubernetes.kubeconfig = sim.writeKubeconfig((base / "kubeconfig").string());
    cfg.replication.storageClasses = {"nfs-dynamic"};
    cfg.server.listen = "127.0.0.1:0";
    cfg.server.tokenFile = tmp.write("token", "guard-t0ken\n").string();
    cfg.server.settle = 100ms;
    cfg.schedule.enabled = false;
    bin = binaryPath("src/cli/ocpv-dr").string();
    configPath = (base / "config.yaml").string();
    std::ofstream(configPath) << config::toJson(cfg).dump(2);
  }

  std::unique_ptr<Spawned> startServe(const std::string& name) {
    const std::string ready = (base / (name + ".url")).string();
    auto p =
        std::make_unique<Spawned>(std::vector<std::string>{bin, "-c", configPath, "--log-format",
                                                           "json", "serve", "--ready-file", ready},
                                  (base / (name + ".log")).string());
    EXPECT_TRUE(eventually([&] { return fs::exists(ready); }, 60s, 20ms)) << p->log();
    std::string url = readFile(ready).valueOr("");
    port = std::stoi(url.substr(url.rfind(':') + 1));
    return p;
  }

  // A valid, authenticated event for a PV on the primary: 202.
  int postGoodEvent(const std::string& dir, const std::string& id) {
    writeRandomFile(primaryRoot / dir / "disk.img", 3000, 7);
    Json pv = inTreePv("pvc-" + dir, "nfs-primary", "/exports/ocp/" + dir);
    pv.erase("status");
    pv["metadata"].erase("uid");
    Json created = sim.request("POST", "/api/v1/persistentvolumes", pv.dump());
    Json ev{{"kind", "PersistentVolume"}, {"type", "ADDED"}, {"resource", created}, {"id", id}};
    CurlHttpClient http;
    HttpRequest req;
    req.method = "POST";
    req.url = "http://127.0.0.1:" + std::to_string(port) + "/v1/events";
    req.body = ev.dump();
    req.headers = {{"Authorization", "Bearer guard-t0ken"}};
    auto r = http.send(req);
    return r.ok() ? r->status : -1;
  }

  TempDir tmp;
  KubeSimProcess sim;
  fs::path base, primaryRoot, drRoot;
  config::Config cfg;
  std::string bin, configPath;
  int port = 0;
};

TEST_F(ServeGuardTest, OversizedBodiesWithoutATokenAreRefusedWhileArrivingAndServeStaysSmall) {
  auto serve = startServe("serve");
  ASSERT_EQ(postGoodEvent("warm", "warm:1:ADDED"), 202) << serve->log();
  ASSERT_TRUE(eventually([&] { return fs::exists(drRoot / "warm/disk.img"); }, 60s, 20ms));
  const std::string bomb = gzipBomb(256u << 20);
  ASSERT_GT(bomb.size(), 1000u);
  ASSERT_LT(bomb.size(), cfg.server.maxBodyBytes);  // its Content-Length is under the cap
  const long idle = peakRssKiB(serve->pid());
  ASSERT_GT(idle, 0);

  const std::size_t huge = 256u << 20;  // far more than socket buffers hold
  RawRequest chunked;
  chunked.head = "POST /v1/events HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked";
  chunked.unit = std::string(64 * 1024, '{');
  chunked.bodyBytes = huge;
  chunked.chunked = true;
  RawRequest lengthless;
  lengthless.head = "POST /v1/events HTTP/1.1\r\nHost: t\r\nContent-Type: application/json";
  lengthless.unit = std::string(64 * 1024, '[');
  lengthless.bodyBytes = huge;
  RawRequest gzip;
  gzip.head = "POST /v1/events HTTP/1.1\r\nHost: t\r\nContent-Encoding: gzip\r\nContent-Length: " +
              std::to_string(bomb.size());
  gzip.unit = bomb;
  gzip.bodyBytes = bomb.size();
  gzip.closeAfterBody = false;
  struct Case {
    const char* name;
    const RawRequest* req;
    int want;
  };
  for (const Case& c : {Case{"chunked", &chunked, 413}, Case{"lengthless", &lengthless, 413},
                        Case{"gzip", &gzip, 415}}) {
    const char* name = c.name;
    const RawRequest* req = c.req;
    const int want = c.want;
    auto a = rawRequest(port, *req);
    EXPECT_EQ(a.status, want) << name << ": " << a.head << "\n" << serve->log();
    if (req->bodyBytes == huge) {
      EXPECT_FALSE(a.senderFinished) << name << ": serve read the whole body before answering";
    }
    // "Within a second" on an idle machine; the bound is generous for a loaded CI host.
    EXPECT_LT(a.elapsed, 15s) << name;
    auto doc = Json::parse(a.body, nullptr, false);
    EXPECT_TRUE(doc.is_object() && doc["error"].is_string()) << name << ": " << a.body;
  }
  const long after = peakRssKiB(serve->pid());
  EXPECT_LT(after - idle, 8 * 1024)
      << "peak RSS grew from " << idle << " KiB to " << after << " KiB";
  // Still serving.
  EXPECT_EQ(postGoodEvent("next", "next:1:ADDED"), 202) << serve->log();
  EXPECT_TRUE(eventually([&] { return fs::exists(drRoot / "next/disk.img"); }, 60s, 20ms));
  EXPECT_EQ(serve->stop(), 0) << serve->log();
}

TEST_F(ServeGuardTest, ASecondServeOnTheSameCatalogRefusesNamingTheFirst) {
  auto first = startServe("first");
  ProcessSpec spec;
  spec.argv = {bin, "-c", configPath, "serve", "--listen", "127.0.0.1:0"};
  spec.timeout = 60s;
  auto second = runCliProcess(spec);
  EXPECT_EQ(second.code, 3) << second.out << second.err;
  EXPECT_NE(second.err.find("PID " + std::to_string(first->pid())), std::string::npos)
      << second.err;
  EXPECT_NE(second.err.find(cfg.catalog.path + ".lock"), std::string::npos) << second.err;
  // The first is undisturbed; once it has stopped, a new one starts.
  EXPECT_EQ(postGoodEvent("one", "one:1:ADDED"), 202);
  EXPECT_EQ(first->stop(), 0) << first->log();
  auto again = startServe("again");
  EXPECT_EQ(postGoodEvent("two", "two:1:ADDED"), 202) << again->log();
  EXPECT_EQ(again->stop(), 0) << again->log();
}

TEST_F(ServeGuardTest, TheProductBinaryIgnoresTestHooksAndTheTestBuildObeysThem) {
  const std::string product = readFile(bin).valueOr("");
  const std::string hooked = readFile(binaryPath("src/cli/ocpv-dr-testhooks").string()).valueOr("");
  ASSERT_FALSE(product.empty());
  ASSERT_FALSE(hooked.empty());
  for (const char* name : {"OCPVDR_FAKE_NOW", "OCPVDR_FAILOVER_CRASH"}) {
    EXPECT_EQ(product.find(name), std::string::npos) << name << " is in the product binary";
    EXPECT_NE(hooked.find(name), std::string::npos) << name << " is not in the test build";
  }
  // Behaviour: an unparsable fake clock is an error for the test build, nothing for the product.
  auto run = [&](const std::string& exe) {
    ProcessSpec spec;
    spec.argv = {exe, "-c", configPath, "trash", "list"};
    spec.env = {{"OCPVDR_FAKE_NOW", "not-a-time"}, {"OCPVDR_FAILOVER_CRASH", "after:fence"}};
    spec.timeout = 60s;
    return runCliProcess(spec);
  };
  auto p = run(bin);
  EXPECT_EQ(p.code, 0) << p.out << p.err;
  auto h = run(binaryPath("src/cli/ocpv-dr-testhooks").string());
  EXPECT_EQ(h.code, 2) << h.out << h.err;
  EXPECT_EQ(h.doc["error"]["kind"], "invalid") << h.out << h.err;
  EXPECT_NE((h.out + h.err).find("invalid timestamp"), std::string::npos) << h.out << h.err;
  EXPECT_NE((h.out + h.err).find("not-a-time"), std::string::npos) << h.out << h.err;
  // The hidden crash option exists only in the test build.
  ProcessSpec crash;
  crash.argv = {bin, "-c", configPath, "failover", "run", "--planned", "--crash-at", "after:x"};
  crash.timeout = 60s;
  auto c = runCliProcess(crash);
  EXPECT_EQ(c.code, 2) << c.out << c.err;
  EXPECT_NE((c.out + c.err).find("crash-at"), std::string::npos) << c.out << c.err;
}

}  // namespace
}  // namespace ocpvdr::testing
