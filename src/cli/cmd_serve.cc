// `ocpv-dr serve`: the standalone engine (wiring only; logic in engine/engine.*). Runs until
// SIGTERM/SIGINT, then shuts down gracefully (docs/serve.md) and exits 0.
#include <signal.h>

#include <filesystem>
#include <iostream>
#include <memory>

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
  deps.notifyHttp = &notifyHttp;
  deps.kube = conn->client.get();

  engine::Engine engine(e.config, deps, opts);
  if (Status st = engine.start(); !st.ok()) return serveFailure(st.error());
  if (!a.readyFile.empty()) {
    auto hp = server::splitHostPort(opts.listen);
    const std::string host = hp.ok() && hp->first != "0.0.0.0" ? hp->first : "127.0.0.1";
    const std::string scheme = e.config.server.tls.certFile.empty() ? "http" : "https";
    const std::string url = scheme + "://" + host + ":" + std::to_string(engine.port());
    if (Status st = writeFileAtomic(a.readyFile, url + "\n"); !st.ok())
      log::warn("serve: cannot write the ready file", {{"error", st.error().message}});
  }
  int sig = 0;
  while (sig != SIGTERM && sig != SIGINT) {
    timespec wait{1, 0};
    sig = sigtimedwait(&signals, nullptr, &wait);
  }
  log::info("serve: signal received", {{"signal", sig == SIGTERM ? "TERM" : "INT"}});
  engine.shutdown();
  return 0;
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
