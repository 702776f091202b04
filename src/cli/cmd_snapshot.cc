// `ocpv-dr snapshot sync|delete`: VolumeSnapshot records and csi-driver-nfs archives at DR
// (wiring only; logic in replication/).
#include <memory>

#include "cli/commands.h"
#include "cli/handler_wiring.h"
#include "cli/test_hooks.h"
#include "config/config.h"

namespace ocpvdr::cli {
namespace {

struct SnapArgs {
  std::string snapshotJson, contentJson, eventId, wait = "0", now, policy, reason;
  bool verify = false;
  bool force = false, noProgress = false;
};

void addCommon(CLI::App* cmd, SnapArgs& a) {
  cmd->add_option("--snapshot-json", a.snapshotJson,
                  "The VolumeSnapshot as JSON: a file, or - for stdin (bare object or "
                  "forwarder/EDA event)")
      ->required();
  cmd->add_option("--event-id", a.eventId,
                  "Skip when this event id was already processed successfully (default: the "
                  "envelope's id)");
  cmd->add_option("--wait", a.wait, "Wait this long for another run on the same snapshot")
      ->capture_default_str();
  cmd->add_option("--now", a.now, "")->group("");  // tests: pin the wall clock (RFC 3339)
}

template <class F>
int runSnap(const GlobalOptions& g, const SnapArgs& a, const std::string& action, F handler) {
  using namespace replication;
  auto wait = config::parseDuration(a.wait);
  if (!wait.ok()) return emitReport(setupFailure(action, wait.error().wrap("--wait")));
  auto doc = readJsonInput(a.snapshotJson, "--snapshot-json");
  if (!doc.ok()) return emitReport(setupFailure(action, doc.error()));
  std::optional<Json> content;
  if (!a.contentJson.empty()) {
    auto c = readJsonInput(a.contentJson, "--content-json");
    if (!c.ok()) return emitReport(setupFailure(action, c.error()));
    content = std::move(*c);
  }
  auto env = openHandlerEnv(g.configPath, pinnedNow(a.now));
  if (!env.ok()) return emitReport(setupFailure(action, env.error()));
  std::string eventId = a.eventId.empty() ? envelopeEventId(*doc, "VolumeSnapshot") : a.eventId;
  auto r = handler(**env, *doc, content, *wait, eventId);
  return emitReport(r.ok() ? *r : setupFailure(action, r.error()));
}

}  // namespace

void registerSnapshot(CLI::App& app, GlobalOptions& g, Outcome& out) {
  using namespace replication;
  auto* snap =
      app.add_subcommand("snapshot", "Record VolumeSnapshots (and their NFS archives) at DR");
  snap->require_subcommand(1);

  auto sa = std::make_shared<SnapArgs>();
  auto* sync = snap->add_subcommand("sync", "Record a ready snapshot and replicate its archive");
  addCommon(sync, *sa);
  sync->add_option("--content-json", sa->contentJson,
                   "The bound VolumeSnapshotContent as JSON (handle, int64 time/size)");
  sync->add_flag("--force", sa->force, "Override the empty-source guard for the archive directory");
  sync->add_flag("--no-progress", sa->noProgress, "No progress line on a TTY");
  sync->callback([sa, &g, &out] {
    out.exitCode = runSnap(g, *sa, "snapshot sync",
                           [&](HandlerEnv& env, const Json& doc, const std::optional<Json>& content,
                               std::chrono::milliseconds wait, const std::string& eventId) {
                             SnapshotOptions o;
                             o.content = content;
                             o.force = sa->force;
                             o.wait = wait;
                             o.eventId = eventId;
                             o.onProgress = ttyProgress("snapshot sync", !sa->noProgress);
                             auto r = env.replicator->syncSnapshot(doc, o);
                             endTtyProgress(!sa->noProgress);
                             return r;
                           });
  });

  auto da = std::make_shared<SnapArgs>();
  auto* del = snap->add_subcommand(
      "delete", "Mark the snapshot deleted; its DR archive follows the delete policy");
  addCommon(del, *da);
  del->add_option("--policy", da->policy,
                  "quarantine | keep | delete (default: replication.delete_policy)");
  del->add_option("--reason", da->reason, "Reason written into the trash manifest");
  del->add_flag("--verify", da->verify,
                "Confirm with the primary API that the snapshot is gone before its archive "
                "moves (event handlers: still-present / primary-unreachable otherwise)");
  del->callback([da, &g, &out] {
    out.exitCode = runSnap(
        g, *da, "snapshot delete",
        [&](HandlerEnv& env, const Json& doc, const std::optional<Json>&,
            std::chrono::milliseconds wait, const std::string& eventId) -> Result<SyncReport> {
          DeleteOptions o;
          o.wait = wait;
          o.eventId = eventId;
          o.reason = da->reason;
          o.verify = da->verify;
          OCPVDR_ASSIGN_OR_RETURN(o.policy, deletePolicyFlag(da->policy));
          return env.replicator->deleteSnapshot(doc, o);
        });
  });
}

}  // namespace ocpvdr::cli
