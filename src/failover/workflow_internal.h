// Internal to the failover workflow's files (workflow*.cc, one per group of steps): the state of
// one run (Context) and the helpers the steps share. Not for other modules or files.
#pragma once

#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "backup/backup_discovery.h"
#include "backup/velero_tarball.h"
#include "failover/vm_control.h"
#include "failover/workflow.h"
#include "replication/path_map.h"

namespace ocpvdr::failover {
using backup::BackupDiscovery;
using backup::BackupSummary;
using backup::kPersistentVolumeClaims;
using backup::kPersistentVolumes;
using backup::kVirtualMachines;
using backup::readVeleroTarball;
using backup::TarballContents;
using backup::TarballItem;
using backup::validateBackupName;
using s3::ObjectStore;

struct FailoverWorkflow::Context {
  std::string runId;
  Mode mode = Mode::Planned;
  std::string requestedBackup;
  std::string pointSpec;  // --point ("" / "latest" / RFC 3339), from the run's options
  bool dryRun = false;
  std::string workDir;  // <work_dir>/<run id> (a temporary directory for plan)
  FailoverRunRecord record;
  std::optional<BackupSummary> backup;
  std::optional<TarballContents> contents;
  std::vector<std::string> namespaces;
  Json warnings = Json::array();   // of the step running now
  Json progress = Json::object();  // details written so far by the step running now

  // Details of a finished (or partly done) step of this run.
  const Json& details(std::string_view step) const {
    static const Json kEmpty = Json::object();
    const StepRecord* s = record.step(step);
    return s ? s->details : kEmpty;
  }
};

namespace detail {

std::string newRunId(SystemTime now);
std::string str(const Json& j, std::string_view path);
std::string joined(const std::vector<std::string>& v, const std::string& sep = ", ");

// One volume of the failover: the backup's PVC and PV, their DR versions and where the data is.
struct VolumePlan {
  std::string pv, pvcNs, pvcName;
  Json pvObject, pvcObject;  // as in the backup
  Json drPv, drPvc;          // rewritten
  replication::VolumePaths paths;
  std::string sourceKind;
};

Json volumeJson(const VolumePlan& v, bool dirExists);
std::string backupPhaseProblem(const BackupSummary& b);

// Refuses to take over an object of the same name that ocpv-dr did not create.
Status checkOurs(kube::KubeClient& dr, const kube::ResourceType& type, const Json& obj,
                 std::stop_token stop);

// The backup, its tarball and contents, and what they hold for this run: shared by the steps.
struct Helpers {
  const config::Config& cfg;
  ObjectStore& store;
  kube::KubeClient& dr;
  Clock& clock;
  std::stop_token stop;

  Status ensureBackup(FailoverWorkflow::Context& ctx);
  // The tarball in the run's work directory, downloaded unless an intact copy is there.
  Result<std::string> ensureTarball(FailoverWorkflow::Context& ctx);
  Status ensureContents(FailoverWorkflow::Context& ctx);
  Status ensureNamespaces(FailoverWorkflow::Context& ctx);
  bool isProtected(const FailoverWorkflow::Context& ctx, const std::string& ns) const;
  // The volumes to fail over: every PVC of a protected namespace (that names a volume) with its
  // PV. `problems` collects refusals (unmapped servers, unpaired objects, ...). PVCs of
  // DataVolumes that were unfinished at backup are left out, each with a warning and, when
  // `skipped` is given, an entry {claim, pv, dataVolume, reason} there.
  Result<std::vector<VolumePlan>> volumes(FailoverWorkflow::Context& ctx,
                                          std::vector<std::string>& problems,
                                          std::vector<std::string>& warnings,
                                          Json* skipped = nullptr);
  std::vector<VmRef> backupVms(const FailoverWorkflow::Context& ctx) const;
  // objects.json: what apply-volumes and start-vms act on (written by download).
  Result<Json> buildObjects(FailoverWorkflow::Context& ctx);
  Result<Json> loadObjects(FailoverWorkflow::Context& ctx);
};

}  // namespace detail
}  // namespace ocpvdr::failover
