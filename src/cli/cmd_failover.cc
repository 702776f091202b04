// `ocpv-dr failover plan|run|resume|abandon|release|report`: wiring only — the workflow, journal
// and report live in src/failover (docs/failover.md is the runbook).
//
// Crash injection, in the test build ocpv-dr-testhooks only (cli/test_hooks.h):
// OCPVDR_FAILOVER_CRASH=<point>[,<point>...] (or the hidden --crash-at POINT) makes the process
// _exit(86) at that point: "after:<step>" right after the step is journaled done, "mid:<step>"
// part-way through it (see workflow.h). The product binary has neither.
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <utility>

#include "catalog/backup.h"
#include "cli/commands.h"
#include "cli/handler_env.h"
#include "cli/test_hooks.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/curl_http.h"
#include "core/log.h"
#include "failover/failover_report.h"
#include "failover/journal.h"
#include "failover/workflow.h"
#include "kube/connect.h"
#include "s3/s3_credentials.h"
#include "s3/s3_object_store.h"

namespace ocpvdr::cli {
namespace {

constexpr int kCrashExitCode = 86;

struct FailoverArgs {
  bool planned = false, unplanned = false;
  std::string backup;
  std::string point;  // --point latest|latest-consistent|<RFC 3339>
  bool json = false;
  bool dryRun = false;
  std::string runId;
  std::string reportDir;
  std::string format = "md";
  int pollMs = 2000;
  std::string crashAt;
  std::string reason;  // abandon / release
  bool force = false;  // abandon
};

std::vector<std::string> crashPoints(const std::string& flag) {
  std::string spec = flag.empty() ? testHooks().failoverCrash : flag;
  std::vector<std::string> points;
  std::stringstream ss(spec);
  std::string p;
  while (std::getline(ss, p, ','))
    if (!p.empty()) points.push_back(p);
  return points;
}

// Everything the workflow needs, built from the configuration. Members are declared in the
// order they must be built (later ones refer to earlier ones).
struct Wiring {
  std::unique_ptr<HandlerEnv> env;
  kube::KubeConnection dr;
  std::optional<kube::KubeConnection> primary;
  std::unique_ptr<CurlHttpClient> s3Http;
  std::unique_ptr<s3::S3ObjectStore> store;
};

Result<std::unique_ptr<Wiring>> wire(const GlobalOptions& g) {
  auto w = std::make_unique<Wiring>();
  OCPVDR_ASSIGN_OR_RETURN(w->env, openHandlerEnv(g.configPath, pinnedNow({})));
  const config::Config& cfg = w->env->config;
  auto dr = kube::connect(cfg.dr.kubernetes, *w->env->clock, curlHttpClients());
  if (!dr.ok()) return dr.error().wrap("DR cluster API (sites.dr.kubernetes)");
  w->dr = std::move(dr).value();
  // The primary answers quickly or not at all: an unplanned failover must not spend minutes
  // retrying a site that is down.
  kube::KubeClientOptions quick;
  quick.retry.maxAttempts = 2;
  quick.connectTimeout = std::chrono::seconds(5);
  quick.requestTimeout = std::chrono::seconds(20);
  auto primary = kube::connect(cfg.primary.kubernetes, *w->env->clock, curlHttpClients(), quick);
  if (primary.ok()) {
    w->primary = std::move(primary).value();
  } else {
    log::warn("primary cluster API not configured", {{"error", primary.error().message}});
  }
  const config::BackupStore& bs = cfg.backupStore;
  OCPVDR_ASSIGN_OR_RETURN(auto options, s3::s3OptionsFromConfig(bs));
  OCPVDR_ASSIGN_OR_RETURN(auto creds,
                          s3::loadCredentials(bs.credentialsFile, bs.profile, s3::processEnv()));
  w->s3Http = std::make_unique<CurlHttpClient>(s3::tlsOptionsFromConfig(bs));
  OCPVDR_ASSIGN_OR_RETURN(w->store,
                          s3::S3ObjectStore::create(options, creds, *w->s3Http, *w->env->clock));
  return w;
}

failover::WorkflowDeps depsOf(Wiring& w) {
  return failover::WorkflowDeps{
      w.env->config, *w.dr.client,           w.primary ? w.primary->client.get() : nullptr,
      *w.store,      *w.env->catalog,        *w.env->runner,
      *w.env->clock, w.env->replicator.get()};
}

Result<failover::Mode> modeOf(const FailoverArgs& a, bool required) {
  if (a.planned && a.unplanned) return invalidError("give --planned or --unplanned, not both");
  if (a.unplanned) return failover::Mode::Unplanned;
  if (a.planned || !required) return failover::Mode::Planned;
  return invalidError(
      "say which failover this is: --planned (primary up: stop VMs, fence, final sync) or "
      "--unplanned (primary down: restore from what DR has)");
}

failover::WorkflowOptions optionsOf(const FailoverArgs& a, failover::Mode mode) {
  failover::WorkflowOptions o;
  o.mode = mode;
  o.backup = a.backup;
  o.point = a.point;
  o.pollInterval = std::chrono::milliseconds(a.pollMs);
  o.reportDir = a.reportDir;
  o.runId = a.runId;
  auto points = crashPoints(a.crashAt);
  if (!points.empty()) {
    o.checkpoint = [points](std::string_view point) {
      for (const auto& p : points) {
        if (p == point) {
          std::cerr << "ocpv-dr: crash injected at " << point << "\n";
          std::fflush(nullptr);
          ::_exit(kCrashExitCode);
        }
      }
    };
  }
  return o;
}

void printPlan(const Json& plan, bool json) {
  if (json) {
    std::cout << plan.dump(2) << "\n";
    return;
  }
  std::cout << "Failover plan (" << plan.value("mode", "") << ")"
            << (plan.value("feasible", false) ? "" : " — NOT feasible") << "\n";
  if (plan.contains("backup") && plan["backup"].is_object())
    std::cout << "Backup: " << plan["backup"].value("name", "") << " (completed "
              << plan["backup"].value("completed", Json("-")).dump() << ")\n";
  if (plan.contains("checks") && !plan["checks"].empty()) {
    std::cout << "DR checks:\n";
    for (const auto& c : plan["checks"]) {
      std::string status = c.value("status", "");
      for (auto& ch : status) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      std::cout << "  [" << status << "] " << c.value("check", "") << ": " << c.value("summary", "")
                << "\n";
      if (!c.value("fix", "").empty())
        std::cout << "         what to do: " << c["fix"].get<std::string>() << "\n";
    }
  }
  for (const auto& p : plan["problems"]) std::cout << "PROBLEM: " << p.get<std::string>() << "\n";
  for (const auto& w : plan["warnings"]) std::cout << "warning: " << w.get<std::string>() << "\n";
  int n = 0;
  for (const auto& s : plan["steps"]) {
    std::cout << ++n << ". " << s["step"].get<std::string>();
    Json rest = s;
    rest.erase("step");
    if (s["step"] == "preflight") rest = Json::object();
    if (!rest.empty()) std::cout << "\n" << rest.dump(2);
    std::cout << "\n";
  }
}

void printOutcome(const failover::RunOutcome& r, bool json) {
  if (json) {
    Json doc = {{"run", r.runId},
                {"result", r.ok() ? "done" : "failed"},
                {"failedStep", r.failedStep.empty() ? Json(nullptr) : Json(r.failedStep)},
                {"error", r.error ? Json{{"kind", std::string(toString(r.error->kind))},
                                         {"message", r.error->message}}
                                  : Json(nullptr)},
                {"reportFiles", r.reportFiles},
                {"report", r.report}};
    std::cout << doc.dump(2) << "\n";
    return;
  }
  std::cout << failover::renderMarkdown(r.report);
  for (const auto& f : r.reportFiles) std::cout << "report written: " << f << "\n";
}

void finish(const Result<failover::RunOutcome>& r, bool json, Outcome& out) {
  if (!r.ok()) return reportFailure(r.error(), json, out);
  printOutcome(*r, json);
  if (r->error) {
    std::cerr << "ocpv-dr: failover run " << r->runId << " stopped: " << r->error->describe()
              << "\n  after fixing the cause: ocpv-dr failover resume --run " << r->runId << "\n";
    out.exitCode = exitCodeFor(r->error->kind);
    return;
  }
  out.exitCode = 0;
}

// Flags every run-type subcommand takes.
void addFailoverCommonFlags(CLI::App* c, FailoverArgs& a) {
  c->add_flag("--json", a.json, "Print one JSON document instead of text");
  c->add_option("--poll-interval-ms", a.pollMs, "How often waits re-check the clusters")
      ->check(CLI::Range(10, 600000))
      ->group("");  // tests
  if (testHooks().enabled)
    c->add_option("--crash-at", a.crashAt, "Crash injection point (tests)")->group("");
}

// --planned / --unplanned / --backup (plan and run).
void addFailoverModeFlags(CLI::App* c, FailoverArgs& a) {
  c->add_flag("--planned", a.planned,
              "Primary site up: stop VMs there, fence the export, final sync");
  c->add_flag("--unplanned", a.unplanned, "Primary site down: restore from the DR data as it is");
  c->add_option("--backup", a.backup, "Backup to restore (default: the latest Completed)");
  c->add_option("--point", a.point,
                "Recovery point per PV (extent mover): latest; latest-consistent — per VM / "
                "consistency group the newest application-consistent point common to all its "
                "PVs; or an RFC 3339 time — the newest point at or before it (default: the DR "
                "PV directories as they are)");
}

// abandon / release need only the configuration and the catalog: no cluster is contacted.
std::optional<std::pair<config::Config, std::unique_ptr<catalog::Catalog>>> openFailoverCatalog(
    const GlobalOptions& g, bool json, Outcome& o) {
  auto cfg = config::loadConfig(g.configPath);
  if (!cfg.ok()) {
    reportFailure(cfg.error(), json, o);
    return std::nullopt;
  }
  auto cat = catalog::Catalog::open(cfg->catalog.path);
  if (!cat.ok()) {
    reportFailure(cat.error(), json, o);
    return std::nullopt;
  }
  return std::make_pair(std::move(cfg).value(), std::move(cat).value());
}

void printFailoverAct(const Json& doc, bool json, const std::string& text) {
  if (json)
    std::cout << doc.dump(2) << "\n";
  else
    std::cout << text << "\n";
}

void addPlanCommand(CLI::App* cmd, GlobalOptions& g, Outcome& out,
                    const std::shared_ptr<FailoverArgs>& a) {
  auto* plan = cmd->add_subcommand("plan", "Show what a failover would do; changes nothing");
  addFailoverModeFlags(plan, *a);
  addFailoverCommonFlags(plan, *a);
  plan->callback([&g, &out, a] {
    auto mode = modeOf(*a, false);
    if (!mode.ok()) return reportFailure(mode.error(), a->json, out);
    auto w = wire(g);
    if (!w.ok()) return reportFailure(w.error(), a->json, out);
    failover::FailoverWorkflow wf(depsOf(**w), optionsOf(*a, *mode));
    auto p = wf.plan();
    if (!p.ok()) return reportFailure(p.error(), a->json, out);
    printPlan(*p, a->json);
    out.exitCode = p->value("feasible", false) ? 0 : exitCodeFor(ErrorKind::Refused);
  });
}

void addRunCommand(CLI::App* cmd, GlobalOptions& g, Outcome& out,
                   const std::shared_ptr<FailoverArgs>& a) {
  auto* run = cmd->add_subcommand("run", "Run a failover (journaled; resumable)");
  addFailoverModeFlags(run, *a);
  addFailoverCommonFlags(run, *a);
  run->add_flag("--dry-run", a->dryRun, "Same as `failover plan`");
  run->add_option("--report-dir", a->reportDir,
                  "Where the report goes (default <work_dir>/reports/<run id>)");
  run->add_option("--run-id", a->runId, "Run id to use (default: generated)")->group("");
  run->callback([&g, &out, a] {
    auto mode = modeOf(*a, !a->dryRun);
    if (!mode.ok()) return reportFailure(mode.error(), a->json, out);
    auto w = wire(g);
    if (!w.ok()) return reportFailure(w.error(), a->json, out);
    failover::FailoverWorkflow wf(depsOf(**w), optionsOf(*a, *mode));
    if (a->dryRun) {
      auto p = wf.plan();
      if (!p.ok()) return reportFailure(p.error(), a->json, out);
      printPlan(*p, a->json);
      out.exitCode = p->value("feasible", false) ? 0 : exitCodeFor(ErrorKind::Refused);
      return;
    }
    auto outcome = wf.run();
    // After every failover run, whatever its outcome: the journal it wrote is what a resume needs.
    (void)catalog::backupAfter(*(*w)->env->catalog, "failover run");
    finish(outcome, a->json, out);
  });
}

void addResumeCommand(CLI::App* cmd, GlobalOptions& g, Outcome& out,
                      const std::shared_ptr<FailoverArgs>& a) {
  auto* resume = cmd->add_subcommand(
      "resume", "Continue an unfinished failover run (finished steps are not redone)");
  addFailoverCommonFlags(resume, *a);
  resume->add_option("--run", a->runId, "Run id (default: the latest unfinished run)");
  resume->add_option("--report-dir", a->reportDir,
                     "Where the report goes (default <work_dir>/reports/<run id>)");
  resume->callback([&g, &out, a] {
    auto w = wire(g);
    if (!w.ok()) return reportFailure(w.error(), a->json, out);
    failover::FailoverWorkflow wf(depsOf(**w), optionsOf(*a, failover::Mode::Planned));
    auto outcome = wf.resume();
    (void)catalog::backupAfter(*(*w)->env->catalog, "failover resume");
    finish(outcome, a->json, out);
  });
}

void addAbandonCommand(CLI::App* cmd, GlobalOptions& g, Outcome& out,
                       const std::shared_ptr<FailoverArgs>& a) {
  auto* abandon = cmd->add_subcommand(
      "abandon",
      "Give up an unfinished failover run (journaled) so that a new run may start; refused once "
      "the run has changed the DR cluster unless --force");
  abandon->add_option("--run", a->runId, "Run id (see `ocpv-dr failover report`)")->required();
  abandon->add_option("--reason", a->reason, "Why (journaled)");
  abandon->add_flag("--force", a->force,
                    "Abandon even though the run already changed the DR cluster (clean up there "
                    "yourself; DR stays active until `failover release`)");
  abandon->add_flag("--json", a->json, "Print one JSON document instead of text");
  abandon->callback([&g, &out, a] {
    auto opened = openFailoverCatalog(g, a->json, out);
    if (!opened) return;
    RealClock clock;
    auto r =
        failover::abandonRun(opened->first, *opened->second, clock, a->runId, a->force, a->reason);
    if (!r.ok()) return reportFailure(r.error(), a->json, out);
    printFailoverAct(
        *r, a->json,
        "failover run " + a->runId + " abandoned" +
            (r->value("drActive", false)
                 ? "; DR is still active for it: after failback, `ocpv-dr failover release "
                   "--run " +
                       a->runId + "`"
                 : std::string()));
    out.exitCode = 0;
  });
}

void addReleaseCommand(CLI::App* cmd, GlobalOptions& g, Outcome& out,
                       const std::shared_ptr<FailoverArgs>& a) {
  auto* release = cmd->add_subcommand(
      "release",
      "After failback: lift the DR-active state a failover run set, so that replication from "
      "the primary may overwrite the DR copies again (journaled)");
  release->add_option("--run", a->runId, "The run that holds DR active (`ocpv-dr status`)")
      ->required();
  release->add_option("--reason", a->reason, "Why (journaled), e.g. the failback change ticket");
  release->add_flag("--json", a->json, "Print one JSON document instead of text");
  release->callback([&g, &out, a] {
    auto opened = openFailoverCatalog(g, a->json, out);
    if (!opened) return;
    RealClock clock;
    auto r = failover::releaseDrActive(opened->first, *opened->second, clock, a->runId, a->reason);
    if (!r.ok()) return reportFailure(r.error(), a->json, out);
    printFailoverAct(*r, a->json,
                     "DR active released (failover run " + a->runId +
                         "): replication from the primary will write the DR copies again");
    out.exitCode = 0;
  });
}

void addReportCommand(CLI::App* cmd, GlobalOptions& g, Outcome& out,
                      const std::shared_ptr<FailoverArgs>& a) {
  auto* report = cmd->add_subcommand("report", "Print and write the report of a failover run");
  report->add_option("--run", a->runId, "Run id (default: the latest run)");
  report->add_option("--format", a->format, "What to print: md | json | html")
      ->check(CLI::IsMember({"md", "json", "html"}))
      ->capture_default_str();
  report->add_option("--output", a->reportDir,
                     "Directory for report.{json,md,html} (default <work_dir>/reports/<run id>)");
  report->add_flag("--json", a->json, "Same as --format json");
  report->callback([&g, &out, a] {
    const bool json = a->json || a->format == "json";
    auto cfg = config::loadConfig(g.configPath);
    if (!cfg.ok()) return reportFailure(cfg.error(), json, out);
    auto cat = catalog::Catalog::open(cfg->catalog.path);
    if (!cat.ok()) return reportFailure(cat.error(), json, out);
    failover::Journal journal(**cat);
    auto rec = a->runId.empty() ? journal.latestRun() : journal.run(a->runId);
    if (!rec.ok()) return reportFailure(rec.error(), json, out);
    if (!*rec)
      return reportFailure(notFoundError(a->runId.empty() ? "no failover run in the journal"
                                                          : "no failover run " + a->runId),
                           json, out);
    RealClock clock;
    Json doc = failover::buildReport(**rec, clock.now());
    const std::string dir =
        a->reportDir.empty() ? cfg->failover.workDir + "/reports/" + (*rec)->runId : a->reportDir;
    auto files = failover::writeReportFiles(doc, dir);
    if (!files.ok()) return reportFailure(files.error(), json, out);
    if (json) {
      std::cout << doc.dump(2) << "\n";
    } else if (a->format == "html") {
      std::cout << failover::renderHtml(doc);
    } else {
      std::cout << failover::renderMarkdown(doc);
    }
    for (const auto& f : *files) std::cerr << "report written: " << f << "\n";
    out.exitCode = 0;
  });
}

}  // namespace

void registerFailover(CLI::App& app, GlobalOptions& g, Outcome& out) {
  auto* cmd = app.add_subcommand(
      "failover", "Fail the protected VMs over to the DR cluster (see docs/failover.md)");
  cmd->require_subcommand(1);
  cmd->fallthrough();
  auto a = std::make_shared<FailoverArgs>();
  addPlanCommand(cmd, g, out, a);
  addRunCommand(cmd, g, out, a);
  addResumeCommand(cmd, g, out, a);
  addAbandonCommand(cmd, g, out, a);
  addReleaseCommand(cmd, g, out, a);
  addReportCommand(cmd, g, out, a);
}

}  // namespace ocpvdr::cli
