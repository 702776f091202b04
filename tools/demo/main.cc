// ocpv-dr-demo: the end-to-end demo (demo/demo.h) as its own program, next to the product
// binary it drives. Wiring only: locating ocpv-dr, kube-sim, s3rver and node, the real
// clock/process runner/HTTP client, and SIGINT/SIGTERM turned into an orderly teardown (the
// demo's stop token) instead of an abrupt exit. The product binary ocpv-dr does not contain any
// of this (tools/demo is a test harness).
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <exception>
#include <filesystem>
#include <iostream>
#include <thread>

#include "core/clock.h"
#include "core/curl_http.h"
#include "core/process.h"
#include "demo/demo.h"
#include "demo/peer_process.h"

namespace ocpvdr::demo {
namespace {

struct DemoArgs {
  std::string workdir = "demo-out";
  bool keep = false;
  std::string mode = "auto";
  std::string ocpvDr, kubeSim, s3rver;
  int vms = 4;
  int stageTimeoutSeconds = 120;
};

int fail(const Error& e) {
  std::cerr << "ocpv-dr-demo: " << e.message << "\n";
  return exitCodeFor(e.kind);
}

int runDemoCommand(const DemoArgs& a) {
  // Signals are taken on a watcher thread (sigtimedwait); block them before any thread exists so
  // every thread inherits the mask. Children get a clean mask from their launchers.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto mode = parseMode(a.mode);
  if (!mode.ok()) return fail(mode.error());
  if (a.vms < 2 || a.vms > 30) return fail(invalidError("--vms: expected 2..30"));
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return fail(terminalError("cannot read /proc/self/exe: " + ec.message()));
  const auto env = processEnvGet();
  auto ocpvDr = locateOcpvDr(a.ocpvDr, env, self);
  if (!ocpvDr.ok()) return fail(ocpvDr.error());
  auto kubeSim = locateKubeSim(a.kubeSim, env, *ocpvDr);
  if (!kubeSim.ok()) return fail(kubeSim.error());
  auto s3rver = locateS3rver(a.s3rver, env, std::filesystem::current_path(ec));
  if (!s3rver.ok()) return fail(s3rver.error());
  const std::string node = findProgram("node");
  if (node.empty())
    return fail(notFoundError("node is not on PATH (s3rver needs it): run `make deps`"));

  DemoOptions o;
  o.workdir = a.workdir;
  o.keep = a.keep;
  o.mode = *mode;
  o.self = *ocpvDr;
  o.kubeSim = *kubeSim;
  o.s3rver = *s3rver;
  o.node = node;
  o.vms = a.vms;
  o.stageTimeout = std::chrono::seconds(a.stageTimeoutSeconds);

  std::stop_source stopSource;
  std::atomic<bool> finished{false};
  std::thread watcher([&] {
    const timespec tick{0, 200'000'000};
    while (!finished.load()) {
      const int sig = sigtimedwait(&signals, nullptr, &tick);
      if (sig == SIGINT || sig == SIGTERM) {
        std::cout << "\n*** " << (sig == SIGINT ? "SIGINT" : "SIGTERM")
                  << " received: stopping the current stage and tearing everything down ***\n"
                  << std::flush;
        stopSource.request_stop();
      }
    }
  });
  RealClock clock;
  RealProcessRunner runner;
  CurlHttpClient http;
  const int code = runDemo(o, runner, http, clock, std::cout, stopSource.get_token());
  finished.store(true);
  watcher.join();
  return code;
}

}  // namespace
}  // namespace ocpvdr::demo

int main(int argc, char** argv) {
  using namespace ocpvdr;
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{
      "ocpv-dr-demo: the whole system on one machine: two simulated sites, replication with live "
      "RPO, a snapshot, a reconcile, a backup and a planned failover, driving the ocpv-dr binary "
      "(see docs/getting-started.md)",
      "ocpv-dr-demo"};
  demo::DemoArgs a;
  app.add_option(
         "--workdir", a.workdir,
         "Where configs, logs and reports go (emptied first; only a directory the demo made)")
      ->capture_default_str();
  app.add_flag("--keep", a.keep, "Keep the work directory after a successful run");
  app.add_option("--mode", a.mode,
                 "auto (netns as root, else local) | local (plain directories) | netns (two "
                 "network-namespace ssh hosts; root)")
      ->capture_default_str();
  app.add_option("--ocpv-dr", a.ocpvDr,
                 "ocpv-dr binary (default: $OCPVDR_BIN, the build tree, next to ocpv-dr-demo, "
                 "PATH)");
  app.add_option("--kube-sim", a.kubeSim,
                 "kube-sim binary (default: $OCPVDR_KUBE_SIM, the build tree, PATH)");
  app.add_option(
      "--s3rver", a.s3rver,
      "s3rver package dir or bin/s3rver.js (default: $OCPVDR_S3RVER, ./node_modules/s3rver)");
  app.add_option("--vms", a.vms, "How many VMs (2..30)")->capture_default_str();
  app.add_option("--stage-timeout", a.stageTimeoutSeconds,
                 "Seconds any one wait may take before the stage fails")
      ->capture_default_str();

  initHttpGlobal();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    // CLI11 returns 0 for --help; usage errors are "invalid input" (2).
    return rc == 0 ? 0 : 2;
  } catch (const std::exception& e) {
    std::cerr << "ocpv-dr-demo: internal error: " << e.what() << "\n";
    return 1;
  }
  return demo::runDemoCommand(a);
}
