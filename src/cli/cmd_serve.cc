// `ocpv-dr serve`: the standalone engine (wiring only; logic in engine/engine.*). Runs until
// SIGTERM/SIGINT, then shuts down gracefully (docs/serve.md) and exits 0.
#include <signal.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include "cli/commands.h"
#include "cli/handler_env.h"
#include "cli/test_hooks.h"
#include "config/config.h"
#include "core/curl_http.h"
#include "core/files.h"
#include "core/instance_lock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "engine/engine.h"
#include "engine/primary_api.h"
#include "kube/connect.h"
#include "kube/leader_election.h"
#include "server/http_server.h"

namespace ocpvdr::cli {
namespace {

struct ServeArgs {
  std::string listen, reportDir, readyFile, stateFile;
  bool noSchedule = false;
};

int serveFailure(const Error& e) {
  std::cerr << "ocpv-dr serve: " << e.message << "\n";
  return exitCodeFor(e.kind);
}

void writeReadyFile(const std::string& readyFile, const engine::EngineOptions& opts,
                    const config::Config& cfg, int port) {
  if (readyFile.empty()) return;
  auto hp = server::splitHostPort(opts.listen);
  const std::string host = hp.ok() && hp->first != "0.0.0.0" ? hp->first : "127.0.0.1";
  const std::string scheme = cfg.server.tls.certFile.empty() ? "http" : "https";
  const std::string url = scheme + "://" + host + ":" + std::to_string(port);
  if (Status st = writeFileAtomic(readyFile, url + "\n"); !st.ok())
    log::warn("serve: cannot write the ready file", {{"error", st.error().message}});
}

// Waits for SIGTERM/SIGINT (blocked in every thread, taken here synchronously) or `stop`.
int waitForSignal(const sigset_t& signals, std::stop_token stop) {
  int sig = 0;
  while (sig != SIGTERM && sig != SIGINT && !stop.stop_requested()) {
    timespec wait{0, 200'000'000};
    sig = sigtimedwait(&signals, nullptr, &wait);
  }
  return sig;
}

// server.leader_election: a standby until the Lease on the DR cluster is ours (docs/serve.md,
// "Active and standby"). While active, the engine runs as without election; it starts with a
// full reconcile pass (this instance's catalog may be behind the previous active one's). When
// renewal fails for renew_deadline the engine is shut down with a grace short enough to be over
// before the Lease can expire, and serve exits (Retryable exit code) so that its supervisor
// restarts it as a standby. SIGTERM: shut down, release the Lease, exit 0.
int runElected(const config::Config& cfg, engine::EngineDeps deps, engine::EngineOptions opts,
               const ServeArgs& a, const sigset_t& signals) {
  const auto& le = cfg.server.leaderElection;
  auto dr = kube::connect(cfg.dr.kubernetes, *deps.clock, curlHttpClients());
  if (!dr.ok())
    return serveFailure(dr.error().wrap("sites.dr.kubernetes (server.leader_election)"));
  kube::LeaseSettings ls;
  ls.ns = le.leaseNamespace;
  ls.name = le.leaseName;
  ls.identity = le.identity.empty() ? kube::defaultLeaseIdentity() : le.identity;
  ls.leaseDuration = le.leaseDuration;
  ls.renewDeadline = le.renewDeadline;
  ls.retryPeriod = le.retryPeriod;
  if (auto why = kube::validateLeaseSettings(ls); !why.empty())
    return serveFailure(invalidError("server.leader_election: " + why));
  kube::LeaderElector elector(*dr->client, *deps.clock, ls);
  // Stopping must be over before a standby may take the Lease (lease_duration after the last
  // renewal): half of that margin for the running syncs.
  opts.shutdownGrace = std::min<std::chrono::milliseconds>(
      opts.shutdownGrace, (ls.leaseDuration - ls.renewDeadline) / 2);
  deps.statusExtra = [&elector] { return Json{{"leader_election", elector.statusJson()}}; };

  std::stop_source stopAll;
  std::jthread signalWaiter([&](std::stop_token own) {
    int sig = waitForSignal(signals, own);
    if (sig == SIGTERM || sig == SIGINT) {
      log::info("serve: signal received", {{"signal", sig == SIGTERM ? "TERM" : "INT"}});
      stopAll.request_stop();
    }
  });
  log::info("serve: standby, waiting for the Lease",
            {{"lease", ls.ns + "/" + ls.name}, {"identity", ls.identity}});
  std::optional<Error> startError;
  const bool clean = elector.run(stopAll.get_token(), [&](std::stop_token leading) {
    log::info("serve: active", {{"lease", ls.ns + "/" + ls.name}, {"identity", ls.identity}});
    engine::Engine engine(cfg, deps, opts);
    if (Status st = engine.start(); !st.ok()) {
      startError = st.error();
      return;
    }
    writeReadyFile(a.readyFile, opts, cfg, engine.port());
    std::jthread takeover([&](std::stop_token) { (void)engine.runReconcile("takeover", leading); });
    while (!leading.stop_requested()) deps.clock->sleepFor(std::chrono::milliseconds(50), leading);
    engine.shutdown();
  });
  signalWaiter.request_stop();
  if (startError) return serveFailure(*startError);
  if (!clean) {
    log::error(
        "serve: lost the Lease (no renewal within renew_deadline); workers stopped, exiting "
        "so that a restart rejoins as a standby",
        {{"lease", ls.ns + "/" + ls.name}, {"identity", ls.identity}});
    return exitCodeFor(ErrorKind::Retryable);
  }
  return 0;
}

int runServe(const GlobalOptions& g, const ServeArgs& a) {
  // Signals are taken synchronously below; block them before any thread exists so every thread
  // inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // One serve per catalog (docs/serve.md): two would run the same queue and the same syncs twice
  // and race on the catalog. Taken before the catalog is opened; held until exit.
  auto cfg = config::loadConfig(g.configPath);
  if (!cfg.ok()) return serveFailure(cfg.error());
  const std::string catalogPath = cfg->catalog.path;
  if (auto parent = std::filesystem::path(catalogPath).parent_path(); !parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
  }
  auto instance =
      InstanceLock::acquire(catalogPath + ".lock", "ocpv-dr serve", "the catalog " + catalogPath);
  if (!instance.ok()) return serveFailure(instance.error());

  auto env = openHandlerEnv(g.configPath, pinnedNow({}));
  if (!env.ok()) return serveFailure(env.error());
  auto& e = **env;
  auto conn = kube::connect(e.config.primary.kubernetes, *e.clock, curlHttpClients());
  if (!conn.ok()) return serveFailure(conn.error().wrap("sites.primary.kubernetes"));
  engine::KubePrimary primary(*conn->client);
  CurlHttpClient notifyHttp;
  std::unique_ptr<MailSender> notifyMail = notifyMailSender(e.config.notify.email);
  MetricsRegistry metrics;

  engine::EngineOptions opts = engine::EngineOptions::fromConfig(e.config);
  if (!a.listen.empty()) opts.listen = a.listen;
  if (!a.reportDir.empty()) opts.reportDir = a.reportDir;
  if (!a.stateFile.empty()) opts.stateFile = a.stateFile;
  if (a.noSchedule) opts.schedule = false;
  engine::EngineDeps deps;
  deps.clock = e.clock.get();
  deps.catalog = e.catalog.get();
  deps.replicator = e.replicator.get();
  deps.objects = &primary;
  deps.lister = &primary;
  deps.metrics = &metrics;
  e.replicator->setMetrics(&metrics);  // guest freeze metrics (issue 17)
  deps.notifyHttp = &notifyHttp;
  deps.notifyMail = notifyMail.get();
  deps.kube = conn->client.get();
  deps.runner = e.runner.get();

  const auto& le = e.config.server.leaderElection;
  if (!le.enabled) {
    engine::Engine engine(e.config, deps, opts);
    if (Status st = engine.start(); !st.ok()) return serveFailure(st.error());
    writeReadyFile(a.readyFile, opts, e.config, engine.port());
    int sig = waitForSignal(signals, {});
    log::info("serve: signal received", {{"signal", sig == SIGTERM ? "TERM" : "INT"}});
    engine.shutdown();
    return 0;
  }
  return runElected(e.config, deps, opts, a, signals);
}

}  // namespace

void registerServe(CLI::App& app, GlobalOptions& g, Outcome& out) {
  auto a = std::make_shared<ServeArgs>();
  auto* cmd = app.add_subcommand(
      "serve",
      "Standalone engine: webhook receiver (POST /v1/events), work queue, optional watch of the "
      "primary, reconcile on schedule.cron, /v1/status /healthz /readyz /metrics");
  cmd->add_option("--listen", a->listen, "host:port (default server.listen; port 0 = any)");
  cmd->add_option("--report-dir", a->reportDir,
                  "Reports of scheduled reconciles (default <catalog dir>/reports)");
  cmd->add_option("--state-file", a->stateFile,
                  "Unfinished keys saved at shutdown (default <catalog dir>/serve-state.json)");
  cmd->add_flag("--no-schedule", a->noSchedule, "Do not run the scheduled reconcile");
  cmd->add_option("--ready-file", a->readyFile,
                  "Write the listening URL here once serving (scripts, tests)");
  cmd->callback([a, &g, &out] { out.exitCode = runServe(g, *a); });
}

}  // namespace ocpvdr::cli
