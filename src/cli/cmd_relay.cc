// `ocpv-dr relay`: continuous replication in the AAP shape (engine/change_relay.h). The change
// feed of serve (`ssh primary ocpv-dr-mover watch` per export root) turned into signed
// "DataChange" events for the EDA webhook — at most one per PV per window, leading and trailing —
// which the rulebook's throttled rule turns into runs of the "Sync NFS PV to DR" job template.
// Runs until SIGTERM/SIGINT (exit 0). docs/continuous.md, "The AAP shape".
#include <signal.h>

#include <iostream>
#include <memory>
#include <thread>

#include "cli/commands.h"
#include "cli/forward_run.h"
#include "cli/handler_env.h"
#include "core/files.h"
#include "core/httplib_client.h"
#include "core/log.h"
#include "engine/change_feed.h"
#include "engine/change_relay.h"
#include "forwarder/webhook.h"

namespace ocpvdr::cli {
namespace {

struct RelayArgs {
  std::string window = "60s";
  std::string readyFile;
};

int relayFailure(const Error& e) {
  std::cerr << "ocpv-dr relay: " << e.message << "\n";
  return exitCodeFor(e.kind);
}

// One POST through the forwarder's WebhookClient (Bearer token, x-hub-signature-256).
engine::ChangeRelay::Deliver webhookDelivery(forwarder::WebhookClient& client) {
  return [&client](const std::string& body, std::stop_token stop) -> Status {
    forwarder::DeliveryResult r = client.deliver(body, stop);
    if (r.disposition == forwarder::Disposition::Delivered) return Status::success();
    std::string what = r.status == 0 ? "no answer" : "HTTP " + std::to_string(r.status);
    if (!r.detail.empty()) what += ": " + r.detail;
    return retryableError("the webhook did not take the event (" + what + ")");
  };
}

int runRelay(const GlobalOptions& g, const RelayArgs& a) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto window = config::parseDuration(a.window);
  if (!window.ok() || window->count() <= 0)
    return relayFailure(invalidError("--window: expected a positive duration such as 60s, got \"" +
                                     a.window + "\""));
  auto env = openHandlerEnv(g.configPath, "");
  if (!env.ok()) return relayFailure(env.error());
  auto& e = **env;
  const config::Forwarder& f = e.config.forwarder;
  if (f.webhookUrl.empty())
    return relayFailure(
        invalidError("forwarder.webhook_url is required: the relay POSTs to the "
                     "same EDA webhook as the forwarder (in " +
                     g.configPath + ")"));
  forwarder::SecretSource token, hmac;
  if (Status st = readWebhookSecrets(f, *e.clock, token, hmac); !st.ok())
    return relayFailure(st.error());
  TlsOptions tls;
  tls.caFile = f.caFile;
  tls.insecureSkipVerify = f.insecureSkipTlsVerify;
  std::unique_ptr<HttpClient> http = httplibHttpClients(ProxySettings::fromEnvironment())(tls);
  forwarder::WebhookOptions wopts;
  wopts.url = f.webhookUrl;
  wopts.userAgent = "ocpv-dr-relay";
  forwarder::WebhookClient client(*http, wopts, token, hmac);

  engine::ChangeRelayOptions ro;
  ro.window = *window;
  engine::ChangeRelay relay(
      ro, *e.clock, [&e](const std::string& pv) { return e.primary->getPersistentVolume(pv); },
      webhookDelivery(client));
  engine::ChangeFeed feed(engine::ChangeFeedOptions::fromConfig(e.config), *e.clock, *e.runner,
                          *e.replicator, engine::ChangeFeed::activeReplicas(*e.catalog),
                          [&relay](const std::string& pv, SystemTime since,
                                   const std::string& why) { relay.onChange(pv, since, why); });
  feed.start();
  std::jthread pump([&relay](std::stop_token st) { relay.run(st); });
  log::info("relay: watching the primary's export roots; data changes go to the webhook",
            {{"webhook", f.webhookUrl}, {"window", a.window}});
  if (!a.readyFile.empty()) (void)writeFileAtomic(a.readyFile, std::to_string(::getpid()) + "\n");

  int sig = 0;
  auto lastLog = e.clock->monotonic();
  while (sig != SIGTERM && sig != SIGINT) {
    timespec wait{1, 0};
    sig = sigtimedwait(&signals, nullptr, &wait);
    if (e.clock->monotonic() - lastLog >= std::chrono::minutes(1)) {
      lastLog = e.clock->monotonic();
      log::info("relay: status", {{"feed", feed.status()}, {"relay", relay.status()}});
    }
  }
  log::info("relay: signal received; stopping", {{"signal", sig == SIGTERM ? "TERM" : "INT"}});
  pump.request_stop();
  pump.join();
  feed.stop();
  log::info("relay: stopped", {{"relay", relay.status()}});
  return 0;
}

}  // namespace

void registerRelay(CLI::App& app, GlobalOptions& g, Outcome& out) {
  auto a = std::make_shared<RelayArgs>();
  auto* cmd = app.add_subcommand(
      "relay",
      "Continuous replication for AAP: watch the primary's export roots (as serve does with "
      "replication.watch) and POST one signed DataChange event per changed PV and window to "
      "forwarder.webhook_url, for the rulebook's throttled sync rule");
  cmd->add_option("--window", a->window,
                  "At most one event per PV per window, plus one trailing event for the changes "
                  "made during it (default 60s)");
  cmd->add_option("--ready-file", a->readyFile,
                  "Write the PID here once watching (scripts, tests)");
  cmd->callback([a, &g, &out] { out.exitCode = runRelay(g, *a); });
}

}  // namespace ocpvdr::cli
