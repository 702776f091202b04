// `ocpv-dr reconcile`: the scheduled full pass (wiring only; logic in engine/reconcile.*).
// Prints the JSON summary on stdout, writes report.{json,md,html}, exits with the report's code
// (docs/reconcile.md "Exit codes").
#include <unistd.h>

#include <iostream>
#include <memory>

#include "catalog/backup.h"
#include "cli/commands.h"
#include "cli/handler_env.h"
#include "cli/test_hooks.h"
#include "config/config.h"
#include "core/curl_http.h"
#include "core/log.h"
#include "core/text.h"
#include "engine/engine.h"
#include "engine/primary_api.h"
#include "engine/reconcile.h"
#include "kube/connect.h"

namespace ocpvdr::cli {
namespace {

struct ReconcileArgs {
  std::string reportDir, lockWait = "10m", now;
  int parallelism = 0;
  bool noProgress = false, noNotify = false;
};

int reconcileSetupFailure(const Error& e) {
  Json doc{{"action", "reconcile"},
           {"result", "failed"},
           {"exit_code", exitCodeFor(e.kind)},
           {"error", {{"kind", std::string(toString(e.kind))}, {"message", e.message}}},
           {"reports", Json::object()}};
  std::cout << doc.dump() << std::endl;
  return exitCodeFor(e.kind);
}

// "reconcile: 37/200 done  1.2 GiB  ETA 0:42" redrawn on one stderr line.
std::function<void(const engine::ReconcileProgress&)> reconcileTtyProgress(bool enabled) {
  if (!enabled || ::isatty(STDERR_FILENO) == 0) return nullptr;
  return [](const engine::ReconcileProgress& p) {
    long long eta = p.eta ? p.eta->count() / 1000 : 0;
    char etaText[32];
    std::snprintf(etaText, sizeof etaText, "%lld:%02lld:%02lld", eta / 3600, (eta / 60) % 60,
                  eta % 60);
    std::cerr << "\r\033[Kreconcile: " << p.done << "/" << p.total << " done  "
              << humanBytes(p.bytes) << "  ETA " << etaText << std::flush;
  };
}

int runReconcile(const GlobalOptions& g, const ReconcileArgs& a) {
  auto wait = config::parseDuration(a.lockWait);
  if (!wait.ok()) return reconcileSetupFailure(wait.error().wrap("--lock-wait"));
  if (a.parallelism < 0 || a.parallelism > 64)
    return reconcileSetupFailure(invalidError("--parallelism: expected 1..64"));
  auto env = openHandlerEnv(g.configPath, pinnedNow(a.now));
  if (!env.ok()) return reconcileSetupFailure(env.error());
  auto& e = **env;
  auto conn = kube::connect(e.config.primary.kubernetes, *e.clock, curlHttpClients());
  if (!conn.ok()) return reconcileSetupFailure(conn.error().wrap("sites.primary.kubernetes"));
  engine::KubePrimary primary(*conn->client);
  std::unique_ptr<CurlHttpClient> notifyHttp;
  if (!a.noNotify && !e.config.notify.urls.empty()) notifyHttp = std::make_unique<CurlHttpClient>();
  std::unique_ptr<MailSender> notifyMail;
  if (!a.noNotify) notifyMail = notifyMailSender(e.config.notify.email);

  engine::Reconciler reconciler(e.config, *e.replicator, *e.catalog, primary, primary, *e.clock);
  engine::ReconcileOptions opts;
  opts.parallelism = a.parallelism;
  opts.lockWait = *wait;
  opts.trigger = "cli";
  opts.onProgress = reconcileTtyProgress(!a.noProgress);
  const std::string reportDir =
      a.reportDir.empty() ? engine::defaultReportDir(e.config) : a.reportDir;
  auto report = engine::reconcileAndReport(
      reconciler, opts, reportDir, engine::NotifyChannels{notifyHttp.get(), notifyMail.get()},
      e.config.notify);
  if (opts.onProgress) std::cerr << "\r\033[K" << std::flush;
  e.replicator->closeConnections();
  // A backup copy after every pass (catalog/backup.h); a failure is logged, the pass stands.
  (void)catalog::backupAfter(*e.catalog, "reconcile");
  std::cout << report.summary().dump() << std::endl;
  return report.exitCode();
}

}  // namespace

void registerReconcile(CLI::App& app, GlobalOptions& g, Outcome& out) {
  auto a = std::make_shared<ReconcileArgs>();
  auto* cmd = app.add_subcommand(
      "reconcile",
      "Full pass: sync every selected PV and snapshot, report orphans (behind the circuit "
      "breaker), PVs never synced, failed and over the RPO target; write JSON/Markdown/HTML");
  cmd->add_option("--report-dir", a->reportDir,
                  "Where the report files go (a subdirectory per run); default "
                  "<catalog dir>/reports");
  cmd->add_option("--parallelism", a->parallelism,
                  "PVs synced at once (default replication.parallelism)");
  cmd->add_option("--lock-wait", a->lockWait,
                  "How long a sync waits for a PV another process is syncing")
      ->capture_default_str();
  cmd->add_flag("--no-progress", a->noProgress, "No progress line on a TTY");
  cmd->add_flag("--no-notify", a->noNotify,
                "Do not POST the summary to notify.urls nor mail the report (notify.email)");
  cmd->add_option("--now", a->now, "")->group("");  // tests: pin the wall clock (RFC 3339)
  cmd->callback([a, &g, &out] { out.exitCode = runReconcile(g, *a); });
}

}  // namespace ocpvdr::cli
