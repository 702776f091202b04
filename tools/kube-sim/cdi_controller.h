// The "cdi" controller and CDI's DataVolume admission rule: the parts of CDI
// (kubevirt/containerized-data-importer) that act on any PersistentVolumeClaim, so that a DR claim
// recreated with the wrong annotations visibly destroys its volume's data in kube-sim as it would
// on a real cluster (FACTS §6).
//
// Import rule (pkg/controller/import-controller.go Reconcile / shouldReconcilePVC, with
// checkPVC and shouldHandlePvc in pkg/controller/util.go, IsPVCComplete and
// IsMultiStageImportInProgress in pkg/controller/common/util.go): a claim that
//   - carries cdi.kubevirt.io/storage.import.endpoint or cdi.kubevirt.io/storage.import.source,
//   - has no cdi.kubevirt.io/externalPopulation,
//   - is not complete (cdi.kubevirt.io/storage.pod.phase is not Succeeded) or has a multi-stage
//     import in progress (storage.checkpoint.current without storage.checkpoint.done),
//   - is Bound (CDI's HonorWaitForFirstConsumer behaviour, the default),
//   - has no cdi.kubevirt.io/storage.import.fatalError "true" and no deletionTimestamp,
// gets an importer Pod: named by cdi.kubevirt.io/storage.import.importPodName when set, else
// importer-<pvc> (createImportPodNameFromPvc). A multi-stage import that is complete still runs.
// Upload rule (pkg/controller/upload-controller.go Reconcile / shouldReconcile and
// podSucceededFromPVC in pkg/controller/util.go): a Bound claim with
// cdi.kubevirt.io/storage.upload.target (an upload) or k8s.io/CloneRequest (a host-assisted clone
// target) whose storage.pod.phase is not Succeeded gets cdi-upload-<pvc>.
//
// What kube-sim does instead of running the pod (nothing is pulled or executed):
//   - creates the Pod object (status.phase Running, owned by the claim) once per claim;
//   - records a core/v1 Event on the claim (reason ImporterPodCreated / UploadPodCreated —
//   kube-sim's
//     own reasons; upstream the evidence is the pod and its kubelet events);
//   - marks the bound PV: annotation kube-sim.ocpv-dr.io/data-overwritten-by = "<ns>/<pod>" and an
//     Event DataOverwritten on the PV;
//   - when the PV's NFS export is mapped to a local directory (option cdi.nfs-exports), really
//     truncates <dir>/disk.img and writes a short marker, as the importer's data processor
//     (pkg/importer/data-processor.go) replaces the image — so a checksum check sees it.
// Not modelled: ImportTargetInUse (a pod already using the claim), scratch space, the pod's
// completion and the claim annotations CDI writes back from it.
//
// DataVolume admission (pkg/apiserver/webhooks/datavolume-validate.go admitDataVolume on Create,
// with ClaimMayExistBeforeDataVolume / AllowClaimAdoption in pkg/controller/common/util.go):
// creating a DataVolume whose namespace already holds a PVC of the same name is refused with
// "Destination PVC <ns>/<name> already exists" unless the claim's
// cdi.kubevirt.io/storage.populatedFor names the DataVolume, the DataVolume asks for claim
// adoption (annotation cdi.kubevirt.io/allowClaimAdoption "true"), or the claim's controller owner
// is a DataVolume. The claim adoption feature gate is taken as off (CDI's default).
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api_error.h"
#include "controller.h"

namespace kubesim {

// Where an NFS export's directory is on this machine: PVs of `server` (empty: any server) whose
// path lies under `exportPath` map to the same relative path under `localDir`.
struct NfsExportMapping {
  std::string server;
  std::string exportPath;
  std::filesystem::path localDir;
};

// Parses "server:/export=/local/dir[,...]" (server may be omitted: "/export=/local/dir").
// nullopt (and `error` set) on a malformed entry.
std::optional<std::vector<NfsExportMapping>> parseNfsExportMappings(const std::string& text,
                                                                    std::string* error);

inline constexpr const char* kDataOverwrittenAnnotation = "kube-sim.ocpv-dr.io/data-overwritten-by";

class CdiController final : public Controller {
 public:
  explicit CdiController(std::vector<NfsExportMapping> exports = {});
  std::string name() const override { return "cdi"; }
  void onEvent(const Event& event, Store& store) override;
  // Re-examines every claim (a PV or claim change that was missed is caught up).
  void tick(Store& store, ocpvdr::SystemTime now) override;

  // One claim; exposed for tests.
  void reconcileClaim(Store& store, const std::string& ns, const std::string& name);

 private:
  // The local directory of a PV's data, when an export mapping covers it.
  std::optional<std::filesystem::path> localDataDir(const Json& pv) const;
  void overwriteData(Store& store, const std::string& pvName, const std::string& ns,
                     const std::string& podName, const std::string& source);

  std::vector<NfsExportMapping> exports_;
};

// The DataVolume webhook's create check. `existingPvc` is the claim of the same namespace/name,
// or null. Returns the 422 the API server answers with when the webhook denies the request.
std::optional<ApiError> admitDataVolumeCreate(const Json& dataVolume, const Json* existingPvc);

}  // namespace kubesim
