// The forwarder's process against what an unauthenticated peer can send to its health/metrics
// listener, and the one-instance rule on its spool (docs/security.md, docs/forwarder.md):
//   - chunked, length-less and gzip bodies to the listener (which takes no bodies at all) are
//     answered before they are read, its peak RSS (VmHWM) stays within a few MiB, and /healthz
//     still answers;
//   - a second forwarder on the same spool exits 3 naming the first one's PID.
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "core/process.h"
#include "forwarder_process.h"
#include "support/cli_run.h"
#include "support/kube_sim_process.h"
#include "support/raw_http.h"
#include "support/temp_dir.h"
#include "support/webhook_receiver.h"

namespace ocpvdr::testing {
namespace {

using namespace std::chrono_literals;

long peakRssKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

class ForwarderGuard : public ::testing::Test {
 protected:
  void SetUp() override {
    rx_.start();
    cfg_.kubeconfig = sim_.writeKubeconfig((dir_ / "kubeconfig").string());
    cfg_.webhookUrl = rx_.url();
    cfg_.spoolDir = (dir_ / "spool").string();
    cfgPath_ = dir_.write("config.yaml", forwarderConfigYaml(cfg_)).string();
  }
  int port(const ForwarderProcess& p) const {
    return std::stoi(p.url().substr(p.url().rfind(':') + 1));
  }

  TempDir dir_{"forwarder-guard"};
  KubeSimProcess sim_;
  WebhookReceiver rx_;
  ForwarderConfig cfg_;
  std::string cfgPath_;
};

TEST_F(ForwarderGuard, TheHealthListenerReadsNoBodies) {
  ForwarderProcess fwd(cfgPath_, (dir_ / "forwarder.log").string());
  ASSERT_EQ(fwd.get("/healthz").first, 200);
  (void)fwd.metricsText();
  const long idle = peakRssKiB(fwd.pid());
  ASSERT_GT(idle, 0);
  const std::size_t huge = 256u << 20;
  RawRequest chunked;
  chunked.head = "POST /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked";
  chunked.unit = std::string(64 * 1024, 'c');
  chunked.bodyBytes = huge;
  chunked.chunked = true;
  RawRequest lengthless;
  lengthless.head = "POST /metrics HTTP/1.1\r\nHost: t";
  lengthless.unit = std::string(64 * 1024, 'n');
  lengthless.bodyBytes = huge;
  RawRequest gzip;
  gzip.head = "POST /readyz HTTP/1.1\r\nHost: t\r\nContent-Encoding: gzip\r\nContent-Length: 30";
  gzip.unit = std::string(30, 'g');
  gzip.bodyBytes = 30;
  gzip.closeAfterBody = false;
  for (const RawRequest* r : {&chunked, &lengthless, &gzip}) {
    auto a = rawRequest(port(fwd), *r);
    EXPECT_TRUE(a.status >= 400 && a.status < 500) << r->head << " -> " << a.head;
    if (r->bodyBytes == huge) {
      EXPECT_FALSE(a.senderFinished) << r->head;
    }
    EXPECT_LT(a.elapsed, 15s) << r->head;  // "within a second", generous for a loaded host
  }
  const long after = peakRssKiB(fwd.pid());
  EXPECT_LT(after - idle, 8 * 1024)
      << "peak RSS grew from " << idle << " KiB to " << after << " KiB";
  EXPECT_EQ(fwd.get("/healthz").first, 200);
  EXPECT_EQ(fwd.signal(SIGTERM), 0) << fwd.logText();
}

TEST_F(ForwarderGuard, ASecondForwarderOnTheSameSpoolRefusesNamingTheFirst) {
  ForwarderProcess first(cfgPath_, (dir_ / "first.log").string());
  for (const char* program : {"src/cli/ocpv-dr-forward", "src/cli/ocpv-dr"}) {
    ProcessSpec spec;
    spec.argv = {binaryPath(program).string(), "-c", cfgPath_};
    if (std::string(program) == "src/cli/ocpv-dr") spec.argv.push_back("forward");
    spec.timeout = 60s;
    auto second = runCliProcess(spec);
    EXPECT_EQ(second.code, 3) << program << ": " << second.out << second.err;
    EXPECT_NE(second.err.find("PID " + std::to_string(first.pid())), std::string::npos)
        << program << ": " << second.err;
  }
  EXPECT_EQ(first.get("/healthz").first, 200);
  EXPECT_EQ(first.signal(SIGTERM), 0) << first.logText();
  // Released with its holder: the next one starts.
  ForwarderProcess next(cfgPath_, (dir_ / "next.log").string());
  EXPECT_EQ(next.get("/healthz").first, 200);
  EXPECT_EQ(next.signal(SIGTERM), 0) << next.logText();
}

}  // namespace
}  // namespace ocpvdr::testing
