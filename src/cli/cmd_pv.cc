// `ocpv-dr pv sync|delete`: the PV replication handlers (wiring only; logic in replication/).
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>

#include "cli/commands.h"
#include "cli/handler_env.h"
#include "cli/test_hooks.h"
#include "config/config.h"

namespace ocpvdr::cli {
namespace {

// ocpv-dr-testhooks only (OCPVDR_EXTENT_PAUSE, test_hooks.h): at that phase of the extent cycle
// the process writes its pid into OCPVDR_EXTENT_PAUSE_FILE and waits for the test to kill it.
Status pauseAtExtentPhase(std::string_view phase) {
  const auto& h = testHooks();
  if (phase != h.extentPause) return Status::success();
  {
    std::ofstream f(h.extentPauseFile + ".tmp");
    f << ::getpid() << "\n";
  }
  std::rename((h.extentPauseFile + ".tmp").c_str(), h.extentPauseFile.c_str());
  for (;;) ::pause();
}

struct PvArgs {
  std::string pvJson, pvName, eventId, wait = "0", now, policy, reason;
  bool force = false, noProgress = false, verify = false;
};

void addCommon(CLI::App* cmd, PvArgs& a) {
  auto* json = cmd->add_option("--pv-json", a.pvJson,
                               "The PV as JSON: a file, or - for stdin (bare object or "
                               "forwarder/EDA event)");
  auto* name = cmd->add_option("--pv", a.pvName, "Read the PV by name from the primary API");
  json->excludes(name);
  cmd->add_option("--event-id", a.eventId,
                  "Skip when this event id was already processed successfully (default: the "
                  "envelope's id)");
  cmd->add_option("--wait", a.wait,
                  "Wait this long for another sync of the same PV (\"30s\", \"5m\"); 0 = report "
                  "busy at once")
      ->capture_default_str();
  cmd->add_option("--now", a.now, "")->group("");  // tests: pin the wall clock (RFC 3339)
}

// Resolves input, runs `handler`, prints the report.
template <class F>
int runPv(const GlobalOptions& g, const PvArgs& a, const std::string& action, F handler) {
  using namespace replication;
  if (a.pvJson.empty() && a.pvName.empty())
    return emitReport(
        setupFailure(action, invalidError("give the PV with --pv-json FILE|- or --pv NAME")));
  auto wait = config::parseDuration(a.wait);
  if (!wait.ok()) return emitReport(setupFailure(action, wait.error().wrap("--wait")));
  std::optional<Json> doc;
  if (!a.pvJson.empty()) {
    auto j = readJsonInput(a.pvJson, "--pv-json");
    if (!j.ok()) return emitReport(setupFailure(action, j.error()));
    doc = std::move(*j);
  }
  auto env = openHandlerEnv(g.configPath, pinnedNow(a.now));
  if (!env.ok()) return emitReport(setupFailure(action, env.error()));
  std::string eventId = a.eventId;
  if (eventId.empty() && doc) eventId = envelopeEventId(*doc, "PersistentVolume");
  SyncReport report = handler(**env, doc, *wait, eventId);
  return emitReport(report);
}

}  // namespace

void registerPv(CLI::App& app, GlobalOptions& g, Outcome& out) {
  using namespace replication;
  auto* pv = app.add_subcommand("pv", "Replicate one PersistentVolume's NFS data to DR");
  pv->require_subcommand(1);

  auto sa = std::make_shared<PvArgs>();
  auto* sync = pv->add_subcommand(
      "sync", "replicate the PV's directory from the primary to DR (extent mover or rsync)");
  addCommon(sync, *sa);
  sync->add_flag("--force", sa->force,
                 "Override the empty-source guard (mirror an empty source; recorded)");
  sync->add_flag("--no-progress", sa->noProgress, "No progress line on a TTY");
  sync->callback([sa, &g, &out] {
    out.exitCode = runPv(g, *sa, "pv sync",
                         [&](HandlerEnv& env, const std::optional<Json>& doc,
                             std::chrono::milliseconds wait, const std::string& eventId) {
                           SyncOptions o;
                           o.force = sa->force;
                           o.wait = wait;
                           o.eventId = eventId;
                           std::string label = doc ? "pv sync" : "pv " + sa->pvName;
                           o.onProgress = ttyProgress(label, !sa->noProgress);
                           if (!testHooks().extentPause.empty())
                             o.extentApplyHook = pauseAtExtentPhase;
                           auto r = doc ? env.replicator->syncPv(*doc, o)
                                        : env.replicator->syncPvByName(sa->pvName, o);
                           endTtyProgress(!sa->noProgress);
                           return r.ok() ? *r : setupFailure("pv sync", r.error());
                         });
  });

  auto da = std::make_shared<PvArgs>();
  auto* del = pv->add_subcommand("delete", "Apply the delete policy to the PV's DR copy");
  addCommon(del, *da);
  del->add_option("--policy", da->policy,
                  "quarantine | keep | delete (default: replication.delete_policy)");
  del->add_option("--reason", da->reason, "Reason written into the trash manifest");
  del->add_flag("--verify", da->verify,
                "Confirm the delete before the DR copy moves: a live catalog replica at that "
                "path, the same uid, and the PV gone at the primary (event handlers)");
  del->callback([da, &g, &out] {
    out.exitCode =
        runPv(g, *da, "pv delete",
              [&](HandlerEnv& env, const std::optional<Json>& doc, std::chrono::milliseconds wait,
                  const std::string& eventId) {
                DeleteOptions o;
                o.wait = wait;
                o.eventId = eventId;
                o.reason = da->reason;
                o.verify = da->verify;
                auto policy = deletePolicyFlag(da->policy);
                if (!policy.ok()) return setupFailure("pv delete", policy.error());
                o.policy = *policy;
                if (!doc) {
                  if (env.primary == nullptr)
                    return setupFailure(
                        "pv delete", invalidError("no primary API access configured here: pass the "
                                                  "PV as JSON (--pv-json)"));
                  auto pvj = env.primary->getPersistentVolume(da->pvName);
                  if (!pvj.ok()) return setupFailure("pv delete", pvj.error());
                  auto r = env.replicator->deletePv(*pvj, o);
                  return r.ok() ? *r : setupFailure("pv delete", r.error());
                }
                auto r = env.replicator->deletePv(*doc, o);
                return r.ok() ? *r : setupFailure("pv delete", r.error());
              });
  });
}

}  // namespace ocpvdr::cli
