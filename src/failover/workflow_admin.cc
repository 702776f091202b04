// `failover abandon` and `failover release` (see workflow.h).
#include "failover/workflow.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "backup/backup_discovery.h"
#include "backup/velero_tarball.h"
#include "core/log.h"
#include "failover/dr_namespaces.h"
#include "failover/failover_report.h"
#include "failover/fencing.h"
#include "failover/final_sync.h"
#include "failover/preflight.h"
#include "failover/restore_modifiers.h"
#include "failover/rewriter.h"
#include "failover/vm_control.h"
#include "failover/workflow_internal.h"
#include "kube/api_status.h"
#include "kube/resource_type.h"
#include "kube/views.h"
#include "replication/lock.h"
#include "replication/path_map.h"
#include "replication/pv_source.h"
#include "replication/ssh.h"
#include "replication/volume_lock.h"

namespace ocpvdr::failover {

namespace fs = std::filesystem;
namespace res = kube::resources;
using std::chrono::duration_cast;
using std::chrono::milliseconds;
using namespace detail;  // NOLINT: the workflow's own helpers (workflow_internal.h)

// --- abandon / release -------------------------------------------------------------------------

namespace {

// Held for the whole of abandon/release: a run executing on this host holds the same lock.
Result<replication::FileLock> notExecuting(const config::Config& cfg, Clock& clock,
                                           const std::string& what) {
  std::error_code ec;
  fs::create_directories(cfg.failover.workDir, ec);
  if (ec)
    return terminalError("cannot create failover.work_dir " + cfg.failover.workDir + ": " +
                         ec.message());
  auto lock =
      replication::FileLock::acquire(cfg.failover.workDir, "failover", milliseconds(0), clock);
  if (!lock.ok())
    return conflictError("an ocpv-dr failover is running on this host (lock " +
                         cfg.failover.workDir + "/failover.lock): " + what +
                         " only once it has ended or stopped");
  return lock;
}

}  // namespace

Result<Json> abandonRun(const config::Config& cfg, catalog::Catalog& catalog, Clock& clock,
                        const std::string& runId, bool force, const std::string& reason) {
  if (runId.empty()) return invalidError("name the run to abandon (--run ID)");
  OCPVDR_ASSIGN_OR_RETURN(auto lock, notExecuting(cfg, clock, "abandon a run"));
  Journal journal(catalog);
  OCPVDR_ASSIGN_OR_RETURN(auto rec, journal.run(runId));
  if (!rec) return notFoundError("no failover run " + runId + " in the journal");
  if (rec->finished())
    return conflictError("failover run " + runId + " is done; there is nothing to abandon");
  if (rec->abandoned())
    return conflictError("failover run " + runId + " was already abandoned at " +
                         formatTime(*rec->abandonedAt));
  OCPVDR_ASSIGN_OR_RETURN(auto actions, catalog.failoverActions(runId));
  bool setDrActive = false;
  for (const auto& a : actions)
    if (a.action == "dr-active") setDrActive = true;
  const bool changed = setDrActive || changedDr(*rec);
  OCPVDR_ASSIGN_OR_RETURN(auto active, catalog.drActive());
  const bool holdsDrActive = active && active->runId == runId;
  if (changed && !force) {
    std::string where;
    for (const auto& st : rec->steps)
      if (st.state != StepState::Done && st.state != StepState::Skipped) where = st.step;
    return refusedError(
        "failover run " + runId + " has already changed the DR cluster" +
        (where.empty() ? std::string() : " (it stopped at step " + where + ")") +
        ": its volumes, restored objects or VMs may exist at DR. Finish it with `ocpv-dr "
        "failover resume --run " +
        runId +
        "`, or clean up at DR yourself and abandon it with --force (DR stays active until "
        "`ocpv-dr failover release --run " +
        runId + "`)");
  }
  const std::string why = reason.empty() ? std::string("no reason given") : reason;
  Json details = {{"changedDr", changed},
                  {"runState", rec->state},
                  {"backup", rec->backup},
                  {"drActive", holdsDrActive}};
  OCPVDR_TRY(journal.markAbandoned(runId, clock.now(), force, why, details));
  log::warn("failover run abandoned",
            {{"run", runId}, {"forced", force}, {"changed_dr", changed}, {"reason", why}});
  return Json{{"run", runId},         {"abandoned", true},         {"forced", force},
              {"changedDr", changed}, {"drActive", holdsDrActive}, {"reason", why}};
}

Result<Json> releaseDrActive(const config::Config& cfg, catalog::Catalog& catalog, Clock& clock,
                             const std::string& runId, const std::string& reason) {
  if (runId.empty())
    return invalidError("name the failover run whose DR-active state to lift (--run ID)");
  OCPVDR_ASSIGN_OR_RETURN(auto lock, notExecuting(cfg, clock, "release DR"));
  OCPVDR_ASSIGN_OR_RETURN(auto active, catalog.drActive());
  if (!active) return notFoundError("DR is not active: nothing to release");
  Journal journal(catalog);
  OCPVDR_ASSIGN_OR_RETURN(auto rec, journal.run(runId));
  const std::string why = reason.empty() ? std::string("no reason given") : reason;
  OCPVDR_TRY(catalog.releaseDrActive(runId, clock.now(), why));
  log::warn("DR active released: replication from the primary may write DR again",
            {{"run", runId}, {"reason", why}});
  return Json{{"run", runId},
              {"released", true},
              {"since", formatTime(active->since)},
              {"runState", rec ? Json(rec->abandoned() ? std::string("abandoned") : rec->state)
                               : Json(nullptr)},
              {"reason", why}};
}

}  // namespace ocpvdr::failover
