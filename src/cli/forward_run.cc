// The forwarder's process: configuration, Kubernetes connection, webhook transport and
// credentials, the health/metrics listener, and SIGTERM/SIGINT handling (stop watching,
// persist, exit 0). Shared by `ocpv-dr forward` and the lean `ocpv-dr-forward` binary of the
// container image (forward_main.cc); both use the cpp-httplib transport.
#include "cli/forward_run.h"

#include <signal.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <memory>

#include "config/config.h"
#include "core/clock.h"
#include "core/files.h"
#include "core/httplib_client.h"
#include "core/instance_lock.h"
#include "core/json_util.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/url.h"
#include "forwarder/forwarder.h"
#include "kube/connect.h"
#include "server/http_server.h"

namespace ocpvdr::cli {
namespace {

int forwardFailure(const Error& e) {
  std::cerr << "ocpv-dr forward: " << e.message << "\n";
  return exitCodeFor(e.kind);
}

// One forwarder per spool (docs/forwarder.md): two would send every event twice and race on
// the spool. Without a spool there is no state to share (`instance` stays empty).
Status lockForwarderSpool(const config::Forwarder& f, InstanceLock& instance) {
  if (!f.spoolDir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(f.spoolDir, ec);
    auto l = InstanceLock::acquire(f.spoolDir + "/forwarder.lock", "ocpv-dr forward",
                                   "the spool " + f.spoolDir);
    if (!l.ok()) return l.error();
    instance = std::move(*l);
  }
  return Status::success();
}

void logForwardProxy(const ProxySettings& proxy) {
  if (!proxy.empty()) {
    log::info("forward: using the environment's proxy settings",
              {{"http_proxy", redactUrl(proxy.httpProxy)},
               {"https_proxy", redactUrl(proxy.httpsProxy)},
               {"no_proxy", proxy.noProxy}});
  }
}

forwarder::ForwarderOptions forwarderOptionsOf(const config::Config& cfg) {
  const config::Forwarder& f = cfg.forwarder;
  forwarder::ForwarderOptions opts;
  opts.cluster = cfg.primary.name;
  opts.spoolDir = f.spoolDir;
  opts.spoolMaxEvents = static_cast<std::size_t>(f.spoolMaxEvents);
  opts.settle = f.settle;
  opts.filter.storageClasses = cfg.replication.storageClasses;
  opts.filter.namespaces = cfg.replication.namespaces;
  opts.labelSelector = cfg.replication.labelSelector;
  opts.watchSnapshots = f.watchSnapshots;
  return opts;
}

}  // namespace

Status readWebhookSecrets(const config::Forwarder& f, Clock& clock, forwarder::SecretSource& token,
                          forwarder::SecretSource& hmac) {
  if (!f.tokenFile.empty()) {
    token = forwarder::SecretSource::fromFile(f.tokenFile, clock);
    auto t = token.value();
    if (!t) return t.error().wrap("forwarder.token_file");
  } else if (const char* env = std::getenv(f.tokenEnv.c_str()); env && *env) {
    token = forwarder::SecretSource::fromValue(env);
  } else {
    log::warn("no webhook token configured (forwarder.token_file, or $" + f.tokenEnv +
              "); POSTs carry no Authorization header");
  }
  if (!f.hmacSecretFile.empty()) {
    hmac = forwarder::SecretSource::fromFile(f.hmacSecretFile, clock);
    auto k = hmac.value();
    if (!k) return k.error().wrap("forwarder.hmac_secret_file");
  }
  return Status::success();
}

int runForward(const std::string& configPath, const std::string& readyFile) {
  // Signals are taken synchronously on this thread (sigtimedwait below); block them before any
  // thread exists so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto loaded = config::loadConfig(configPath);
  if (!loaded) return forwardFailure(loaded.error());
  const config::Config& cfg = *loaded;
  const config::Forwarder& f = cfg.forwarder;
  if (f.webhookUrl.empty()) {
    return forwardFailure(
        invalidError("forwarder.webhook_url is required (in " + configPath + ")"));
  }

  InstanceLock instance;
  if (Status st = lockForwarderSpool(f, instance); !st.ok()) return forwardFailure(st.error());

  RealClock clock;
  MetricsRegistry metrics;

  forwarder::SecretSource token, hmac;
  if (Status st = readWebhookSecrets(f, clock, token, hmac); !st.ok())
    return forwardFailure(st.error());

  // Both the API server and the webhook are reached through the environment's proxy settings,
  // as Kubernetes clients do (an OpenShift cluster-wide proxy injects them into the pod).
  const ProxySettings proxy = ProxySettings::fromEnvironment();
  if (Status st = checkProxySettings(proxy); !st.ok()) return forwardFailure(st.error());
  logForwardProxy(proxy);
  const HttpClientFactory transport = httplibHttpClients(proxy);
  auto kube = kube::connect(cfg.primary.kubernetes, clock, transport);
  if (!kube) return forwardFailure(kube.error().wrap("sites.primary.kubernetes"));

  TlsOptions tls;
  tls.caFile = f.caFile;
  tls.insecureSkipVerify = f.insecureSkipTlsVerify;
  std::unique_ptr<HttpClient> webhookHttp = transport(tls);

  const forwarder::ForwarderOptions opts = forwarderOptionsOf(cfg);
  forwarder::WebhookOptions wopts;
  wopts.url = f.webhookUrl;

  forwarder::Forwarder fwd(*kube->client, *webhookHttp, wopts, token, hmac, clock, metrics, opts);
  if (Status st = fwd.start(); !st.ok()) return forwardFailure(st.error());

  server::ServerOptions so;
  so.listen = f.listen;
  so.threads = 2;
  server::HttpServer http(so);
  http.addStandardEndpoints(metrics, [&fwd] { return fwd.readiness(); });
  auto port = http.start();
  if (!port) {
    (void)fwd.stop();
    return forwardFailure(port.error().wrap("forwarder.listen"));
  }
  auto hp = server::splitHostPort(f.listen);
  const std::string host = hp && hp->first != "0.0.0.0" ? hp->first : "127.0.0.1";
  const std::string url = "http://" + host + ":" + std::to_string(*port);
  log::info("forward: health and metrics listening",
            {{"url", url}, {"webhook", f.webhookUrl}, {"cluster", cfg.primary.name}});
  if (!readyFile.empty()) {
    if (Status st = writeFileAtomic(readyFile, url + "\n"); !st.ok()) {
      log::warn("forward: cannot write the ready file", {{"error", st.error().message}});
    }
  }

  int sig = 0;
  while (true) {
    fwd.publishMetrics();
    timespec wait{1, 0};
    sig = sigtimedwait(&signals, nullptr, &wait);
    if (sig == SIGTERM || sig == SIGINT) break;
  }
  log::info("forward: signal received; stopping", {{"signal", sig == SIGTERM ? "TERM" : "INT"}});
  Status st = fwd.stop();
  fwd.publishMetrics();
  http.stop();
  if (!st.ok()) return forwardFailure(st.error().wrap("persisting the spool at shutdown"));
  return 0;
}

}  // namespace ocpvdr::cli
