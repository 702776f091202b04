// `ocpv-dr demo`: wiring for the end-to-end demo (demo/demo.h) — locating kube-sim, s3rver and
// node, the real clock/process runner/HTTP client, and SIGINT/SIGTERM turned into an orderly
// teardown (the demo's stop token) instead of an abrupt exit.
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "core/clock.h"
#include "core/curl_http.h"
#include "core/process.h"
#include "demo/demo.h"
#include "demo/peer_process.h"

namespace ocpvdr::cli {
namespace {

struct DemoArgs {
  std::string workdir = "demo-out";
  bool keep = false;
  std::string mode = "auto";
  std::string kubeSim, s3rver;
  int vms = 4;
  int stageTimeoutSeconds = 120;
};

int fail(const Error& e) {
  std::cerr << "ocpv-dr demo: " << e.message << "\n";
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

  auto mode = demo::parseMode(a.mode);
  if (!mode.ok()) return fail(mode.error());
  if (a.vms < 2 || a.vms > 30) return fail(invalidError("--vms: expected 2..30"));
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return fail(terminalError("cannot read /proc/self/exe: " + ec.message()));
  const auto env = demo::processEnvGet();
  auto kubeSim = demo::locateKubeSim(a.kubeSim, env, self);
  if (!kubeSim.ok()) return fail(kubeSim.error());
  auto s3rver = demo::locateS3rver(a.s3rver, env, std::filesystem::current_path(ec));
  if (!s3rver.ok()) return fail(s3rver.error());
  const std::string node = demo::findProgram("node");
  if (node.empty())
    return fail(notFoundError("node is not on PATH (s3rver needs it): run `make deps`"));

  demo::DemoOptions o;
  o.workdir = a.workdir;
  o.keep = a.keep;
  o.mode = *mode;
  o.self = self.string();
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
  const int code = demo::runDemo(o, runner, http, clock, std::cout, stopSource.get_token());
  finished.store(true);
  watcher.join();
  return code;
}

}  // namespace

void registerDemo(CLI::App& app, GlobalOptions& /*g*/, Outcome& out) {
  auto a = std::make_shared<DemoArgs>();
  auto* c = app.add_subcommand(
      "demo",
      "The whole system on one machine: two simulated sites, replication with live RPO, a "
      "snapshot, a reconcile, a backup and a planned failover (see docs/getting-started.md)");
  c->add_option(
       "--workdir", a->workdir,
       "Where configs, logs and reports go (emptied first; only a directory the demo made)")
      ->capture_default_str();
  c->add_flag("--keep", a->keep, "Keep the work directory after a successful run");
  c->add_option("--mode", a->mode,
                "auto (netns as root, else local) | local (plain directories) | netns (two "
                "network-namespace ssh hosts; root)")
      ->capture_default_str();
  c->add_option("--kube-sim", a->kubeSim,
                "kube-sim binary (default: $OCPVDR_KUBE_SIM, the build tree, PATH)");
  c->add_option(
      "--s3rver", a->s3rver,
      "s3rver package dir or bin/s3rver.js (default: $OCPVDR_S3RVER, ./node_modules/s3rver)");
  c->add_option("--vms", a->vms, "How many VMs (2..30)")->capture_default_str();
  c->add_option("--stage-timeout", a->stageTimeoutSeconds,
                "Seconds any one wait may take before the stage fails")
      ->capture_default_str();
  c->callback([a, &out] { out.exitCode = runDemoCommand(*a); });
}

}  // namespace ocpvdr::cli
