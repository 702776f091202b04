// CDI's import / upload rules on claims and its DataVolume admission check (see cdi_controller.h).
#include "cdi_controller.h"

#include <atomic>
#include <cstdio>
#include <fstream>
#include <system_error>

#include "core/json_util.h"
#include "core/time.h"

namespace kubesim {
namespace {

namespace fs = std::filesystem;

constexpr const char* kEndpoint = "cdi.kubevirt.io/storage.import.endpoint";
constexpr const char* kSource = "cdi.kubevirt.io/storage.import.source";
constexpr const char* kImportPod = "cdi.kubevirt.io/storage.import.importPodName";
constexpr const char* kFatalError = "cdi.kubevirt.io/storage.import.fatalError";
constexpr const char* kExternalPopulation = "cdi.kubevirt.io/externalPopulation";
constexpr const char* kPodPhase = "cdi.kubevirt.io/storage.pod.phase";
constexpr const char* kCurrentCheckpoint = "cdi.kubevirt.io/storage.checkpoint.current";
constexpr const char* kCheckpointDone = "cdi.kubevirt.io/storage.checkpoint.done";
constexpr const char* kUploadRequest = "cdi.kubevirt.io/storage.upload.target";
constexpr const char* kCloneRequest = "k8s.io/CloneRequest";
constexpr const char* kPopulatedFor = "cdi.kubevirt.io/storage.populatedFor";
constexpr const char* kAllowClaimAdoption = "cdi.kubevirt.io/allowClaimAdoption";

const ResourceType& typeOf(const Store& store, const char* plural) {
  return *store.table().find("", "v1", plural);
}

WriteOptions asCdi(const std::string& subresource = "") {
  WriteOptions o;
  o.fieldManager = "cdi-controller";
  o.subresource = subresource;
  return o;
}

bool has(const Json& annotations, const char* key) {
  return annotations.is_object() && annotations.contains(key);
}

std::string trimSlashes(std::string s) {
  while (!s.empty() && s.front() == '/') s.erase(s.begin());
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

std::atomic<unsigned> eventCounter{0};

// A core/v1 Event about `involved`, as an event recorder writes it.
void recordEvent(Store& store, const std::string& ns, const Json& involved, const std::string& type,
                 const std::string& reason, const std::string& message) {
  const std::string involvedName = str(child(involved, "metadata"), "name");
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, "%x%04x",
                static_cast<unsigned>(std::chrono::system_clock::now().time_since_epoch().count()),
                eventCounter.fetch_add(1) & 0xffff);
  const std::string ts = ocpvdr::formatTime(std::chrono::system_clock::now());
  Json ev = {{"apiVersion", "v1"},
             {"kind", "Event"},
             {"metadata", {{"name", involvedName + "." + suffix}, {"namespace", ns}}},
             {"involvedObject",
              {{"apiVersion", str(involved, "apiVersion")},
               {"kind", str(involved, "kind")},
               {"name", involvedName},
               {"uid", str(child(involved, "metadata"), "uid")}}},
             {"type", type},
             {"reason", reason},
             {"message", message},
             {"source", {{"component", "cdi-controller"}}},
             {"count", 1},
             {"firstTimestamp", ts},
             {"lastTimestamp", ts}};
  if (!str(child(involved, "metadata"), "namespace").empty())
    ev["involvedObject"]["namespace"] = str(child(involved, "metadata"), "namespace");
  (void)store.create(typeOf(store, "events"), ns, std::move(ev), asCdi());
}

}  // namespace

std::optional<std::vector<NfsExportMapping>> parseNfsExportMappings(const std::string& text,
                                                                    std::string* error) {
  std::vector<NfsExportMapping> out;
  std::size_t i = 0;
  while (i <= text.size()) {
    std::size_t j = text.find(',', i);
    if (j == std::string::npos) j = text.size();
    const std::string entry = text.substr(i, j - i);
    i = j + 1;
    if (entry.empty()) continue;
    const auto eq = entry.find('=');
    if (eq == std::string::npos) {
      *error = "\"" + entry + "\": expected [server:]/export=/local/dir";
      return std::nullopt;
    }
    NfsExportMapping m;
    std::string remote = entry.substr(0, eq);
    if (const auto colon = remote.find(':'); colon != std::string::npos) {
      m.server = remote.substr(0, colon);
      remote = remote.substr(colon + 1);
    }
    m.exportPath = "/" + trimSlashes(remote);
    m.localDir = entry.substr(eq + 1);
    if (remote.empty() || remote.front() != '/' || !m.localDir.is_absolute()) {
      *error = "\"" + entry + "\": the export and the local directory must be absolute paths";
      return std::nullopt;
    }
    out.push_back(std::move(m));
  }
  return out;
}

CdiController::CdiController(std::vector<NfsExportMapping> exports)
    : exports_(std::move(exports)) {}

std::optional<fs::path> CdiController::localDataDir(const Json& pv) const {
  const Json& spec = child(pv, "spec");
  std::string server, path;
  if (child(spec, "nfs").is_object()) {
    server = str(child(spec, "nfs"), "server");
    path = str(child(spec, "nfs"), "path");
  } else if (str(child(spec, "csi"), "driver") == "nfs.csi.k8s.io") {
    // csi-driver-nfs mounts <share>/<subdir>.
    const Json& attrs = child(child(spec, "csi"), "volumeAttributes");
    server = str(attrs, "server");
    path = "/" + trimSlashes(str(attrs, "share"));
    if (const std::string sub = trimSlashes(str(attrs, "subdir")); !sub.empty()) path += "/" + sub;
  } else {
    return std::nullopt;
  }
  const std::string clean = "/" + trimSlashes(path);
  for (const auto& m : exports_) {
    if (!m.server.empty() && m.server != server) continue;
    const std::string root = m.exportPath == "/" ? "" : m.exportPath;
    if (clean != root && clean.compare(0, root.size() + 1, root + "/") != 0) continue;
    const std::string rel = trimSlashes(clean.substr(root.size()));
    // Never leave the mapped directory, whatever the PV says.
    if (rel.find("..") != std::string::npos) return std::nullopt;
    return rel.empty() ? m.localDir : m.localDir / rel;
  }
  return std::nullopt;
}

void CdiController::overwriteData(Store& store, const std::string& pvName, const std::string& ns,
                                  const std::string& podName, const std::string& source) {
  auto pvGot = store.get(typeOf(store, "persistentvolumes"), "", pvName);
  if (!pvGot.ok()) return;
  const Json pv = pvGot.value()->object;
  std::string how = "kube-sim does not know where this volume's data is (cdi.nfs-exports)";
  if (auto dir = localDataDir(pv)) {
    std::error_code ec;
    if (fs::is_directory(*dir, ec)) {
      // What the importer's data processor does: the old image is gone, a new one is written.
      std::ofstream f(*dir / "disk.img", std::ios::binary | std::ios::trunc);
      f << "kube-sim: " << podName << " rewrote this disk from " << source << "\n";
      how = f ? "disk.img in " + dir->string() + " truncated and rewritten"
              : "could not rewrite " + (*dir / "disk.img").string();
    } else {
      how = dir->string() + " does not exist";
    }
  }
  (void)store.modify(
      typeOf(store, "persistentvolumes"), "", pvName,
      [&](Json& o) {
        o["metadata"]["annotations"][kDataOverwrittenAnnotation] = ns + "/" + podName;
      },
      asCdi());
  recordEvent(store, "default", pv, "Warning", "DataOverwritten",
              "CDI pod " + ns + "/" + podName + " overwrites this volume's data from " + source +
                  " (" + how + ")");
}

void CdiController::reconcileClaim(Store& store, const std::string& ns, const std::string& name) {
  auto got = store.get(typeOf(store, "persistentvolumeclaims"), ns, name);
  if (!got.ok()) return;
  const Json pvc = got.value()->object;
  const Json& md = child(pvc, "metadata");
  const Json& ann = child(md, "annotations");
  if (md.contains("deletionTimestamp")) return;
  // shouldHandlePvc: with HonorWaitForFirstConsumer only Bound claims are handled.
  if (str(child(pvc, "status"), "phase") != "Bound") return;
  const bool complete = str(ann, kPodPhase) == "Succeeded";

  std::string podName, reason, source;
  const bool importRequest = has(ann, kEndpoint) || has(ann, kSource);
  const bool multiStageRunning = has(ann, kCurrentCheckpoint) && !has(ann, kCheckpointDone);
  if (importRequest && !has(ann, kExternalPopulation) && (!complete || multiStageRunning) &&
      str(ann, kFatalError) != "true") {
    podName = str(ann, kImportPod);
    if (podName.empty()) podName = "importer-" + name;
    reason = "ImporterPodCreated";
    source = has(ann, kEndpoint) ? str(ann, kEndpoint) : "source " + str(ann, kSource);
  } else if ((has(ann, kUploadRequest) || has(ann, kCloneRequest)) && !complete) {
    // upload-controller.go refuses a claim with both; the upload pod serves either.
    if (has(ann, kUploadRequest) && has(ann, kCloneRequest)) return;
    podName = "cdi-upload-" + name;
    reason = "UploadPodCreated";
    source = has(ann, kUploadRequest) ? std::string("an upload")
                                      : "a clone of " + str(ann, kCloneRequest);
  } else {
    return;
  }
  const ResourceType& podType = typeOf(store, "pods");
  if (store.get(podType, ns, podName).ok()) return;  // once per claim

  const std::string container = reason == "ImporterPodCreated" ? "importer" : "cdi-upload-server";
  Json pod = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata",
       {{"name", podName},
        {"namespace", ns},
        {"labels", {{"app", "containerized-data-importer"}, {"cdi.kubevirt.io", container}}},
        {"ownerReferences",
         {{{"apiVersion", "v1"},
           {"kind", "PersistentVolumeClaim"},
           {"name", name},
           {"uid", str(md, "uid")},
           {"controller", true},
           {"blockOwnerDeletion", true}}}}}},
      {"spec",
       {{"restartPolicy", "OnFailure"},
        {"containers",
         {{{"name", container},
           {"image",
            "quay.io/kubevirt/cdi-" +
                std::string(reason == "ImporterPodCreated" ? "importer" : "uploadserver")}}}},
        {"volumes",
         {{{"name", "cdi-data-vol"}, {"persistentVolumeClaim", {{"claimName", name}}}}}}}}};
  auto created = store.create(podType, ns, std::move(pod), asCdi());
  if (!created.ok()) return;
  (void)store.modify(
      podType, ns, podName, [](Json& o) { o["status"]["phase"] = "Running"; }, asCdi("status"));
  recordEvent(
      store, ns, pvc, "Normal", reason,
      "Created pod " + podName + " for PersistentVolumeClaim " + name + " (" + source + ")");
  if (const std::string pv = str(child(pvc, "spec"), "volumeName"); !pv.empty())
    overwriteData(store, pv, ns, podName, source);
}

void CdiController::onEvent(const Event& event, Store& store) {
  if (event.kind == EventType::Deleted) return;
  if (event.type != &typeOf(store, "persistentvolumeclaims")) return;
  reconcileClaim(store, event.object->ns, event.object->name);
}

void CdiController::tick(Store& store, ocpvdr::SystemTime /*now*/) {
  ListRequest req;
  auto claims = store.list(typeOf(store, "persistentvolumeclaims"), req);
  if (!claims.ok()) return;
  for (const auto& c : claims.value().items) reconcileClaim(store, c->ns, c->name);
}

std::optional<ApiError> admitDataVolumeCreate(const Json& dataVolume, const Json* existingPvc) {
  if (!existingPvc) return std::nullopt;
  const Json& dvMd = child(dataVolume, "metadata");
  const std::string dvName = str(dvMd, "name");
  const Json& pvcMd = child(*existingPvc, "metadata");
  // ClaimIsPopulatedForDataVolume.
  if (str(child(pvcMd, "annotations"), kPopulatedFor) == dvName) return std::nullopt;
  // AllowClaimAdoption: the DV's own annotation decides, regardless of the feature gate.
  if (str(child(dvMd, "annotations"), kAllowClaimAdoption) == "true") return std::nullopt;
  // A claim controlled by a DataVolume is the DV controller's to sort out.
  for (const auto& ref : child(pvcMd, "ownerReferences")) {
    if (ref.is_object() && ref.value("controller", false) && str(ref, "kind") == "DataVolume")
      return std::nullopt;
  }
  const std::string msg =
      "Destination PVC " + str(pvcMd, "namespace") + "/" + str(pvcMd, "name") + " already exists";
  ApiError e;
  e.code = 422;
  e.reason = "Invalid";
  e.message =
      "admission webhook \"datavolume-validate.cdi.kubevirt.io\" denied the request:  " + msg;
  e.details = {{"causes", Json::array({{{"reason", "FieldValueDuplicate"},
                                        {"message", msg},
                                        {"field", "DataVolume.Name"}}})}};
  return e;
}

}  // namespace kubesim
